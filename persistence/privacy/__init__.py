"""Privacy records (issue 21, docs/design/0028-privacy.md): consent to the privacy notice,
deleted accounts, retention per kind of record, and a resident's own data for the export.

Guarantees of every ``PrivacyStore``:

* ``erase_account`` is one transaction: the user's row becomes a tombstone (display name
  ``DELETED_NAME``, username ``deleted-<id>``, no unit, a password hash nothing verifies), their
  sessions, push devices, e-mail address, calendar-feed token, notifications and group
  memberships are gone, and every copy of their name kept beside their messages (the stored
  chat bodies, moderation's snapshots, the search index) says ``DELETED_NAME``. What they wrote
  stays, without ``data.photo`` (their photos are deleted before, ``web/photos/actions.py``).
  Anonymous survey answers carry no user id and are not touched. Idempotent.
* ``export`` returns only rows of that user: never another person's name or words, except the
  titles of the things they took part in (a poll's question, an event's title).
* ``purge(kind, before)`` deletes that kind's records created before ``before`` and says how
  many; the audit log's delete guard lets through exactly those rows (migration 0024).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from linli.types import Millis, UserId

#: What a deleted account's messages and posts show where the name was, in both languages (it
#: is stored, so CSV exports, search results and every list show it alike).
DELETED_NAME: Final = "已刪除的用戶 / Deleted user"


class RetentionKind(enum.StrEnum):
    CHAT = "chat"  # chat messages (the persisted history and their search entries)
    AUDIT = "audit"  # the audit log of staff actions
    ACTIVITY = "activity"  # product events (logins, visits) behind the community's figures
    NOTIFICATIONS = "notifications"  # the residents' notifications and their deliveries


#: Days kept when an administrator has set nothing; None: for ever (notifications: as long as
#: ``LINLI_NOTIFICATION_DAYS`` says, the notifications' own sweep).
RETENTION_DEFAULTS: Final[dict[RetentionKind, int | None]] = {
    RetentionKind.CHAT: None,
    RetentionKind.AUDIT: 5 * 365,
    RetentionKind.ACTIVITY: 400,
    RetentionKind.NOTIFICATIONS: None,
}
MIN_RETENTION_DAYS: Final = 1
MAX_RETENTION_DAYS: Final = 36_500


@dataclass(frozen=True, slots=True)
class Consent:
    user_id: UserId
    notice_version: str
    at: Millis
    how: str
    by_user_id: UserId | None


class PrivacyStore(Protocol):
    async def record_consent(
        self,
        user_id: UserId,
        notice_version: str,
        *,
        at: Millis,
        how: str = "register",
        by_user_id: UserId | None = None,
    ) -> None:
        """Idempotent per (user, version): the first record stays."""

    async def consents(self, user_id: UserId) -> list[Consent]: ...

    async def deleted_among(self, user_ids: Iterable[int]) -> set[int]:
        """Which of ``user_ids`` are deleted accounts."""

    async def erase_account(self, user_id: UserId, *, at: Millis) -> bool:
        """See the module's guarantees; False if the user does not exist."""

    async def retention(self) -> dict[RetentionKind, int | None]:
        """Every kind's days (the defaults filled in)."""

    async def set_retention(self, kind: RetentionKind, days: int | None, *, at: Millis) -> None: ...

    async def purge(self, kind: RetentionKind, *, before: Millis) -> int: ...

    async def export(self, user_id: UserId) -> dict[str, list[dict[str, Any]]]:
        """The user's data by section (profile, messages, forum_topics, forum_posts, votes,
        requests, request_updates, event_signups, survey_answers, notifications, consents)."""
