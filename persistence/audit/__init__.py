"""The one audit log: every staff action of every feature, append-only.

Guarantees (``tests/contract/test_audit.py`` runs them against SQLite and PostgreSQL):

* **Append-only.** The interface has no way to change or remove an entry, and the database's
  triggers refuse an ``UPDATE`` or ``DELETE`` made by hand.
* **Written with the change.** A feature whose action changes its own rows writes the entry
  with ``persistence.audit.sql.write_entry`` on the same transaction, so there is never a change
  without its entry or the other way round; ``AuditLog.append`` is for actions whose effect is
  outside the database (a warning pushed to a user).
* Entries are listed newest first, by id (ids grow with every entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from linli.types import ChannelName, Millis, Offset, UserId


@dataclass(frozen=True, slots=True)
class NewEntry:
    """What an action records."""

    #: The feature the action belongs to (its folder name: ``moderation``, ``polls``).
    feature: str
    #: What was done, in the feature's own words (``hide``, ``ban``, ``poll_close``).
    action: str
    #: None: the system (an automatic rule, a timer).
    actor_id: UserId | None
    reason: str
    at: Millis
    channel: ChannelName | None = None
    offset: Offset | None = None
    target_user_id: UserId | None = None
    #: The object acted on when it is neither a message nor a user, as ``<kind>:<id>``.
    subject: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: Millis
    feature: str
    #: None: the system (the auto-hide rule, a timer).
    actor_id: UserId | None
    actor_name: str | None
    action: str
    channel: ChannelName | None
    offset: Offset | None
    target_user_id: UserId | None
    subject: str | None
    reason: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A filter of the log (every field optional; all given ones must hold): the audit page's
    who / action / target / date range, and an item's history on ``/mod``."""

    feature: str | None = None
    actor_id: UserId | None = None
    action: str | None = None
    channel: ChannelName | None = None
    offset: Offset | None = None
    target_user_id: UserId | None = None
    #: ``at`` in ``[since, until)``.
    since: Millis | None = None
    until: Millis | None = None
    before_id: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class AuditFacets:
    """What the log holds to filter by (the audit page's pickers): actors (id, name), actions,
    target users (id, name) and channels."""

    actors: list[tuple[UserId, str]]
    actions: list[str]
    targets: list[tuple[UserId, str]]
    channels: list[ChannelName]


class AuditLog(Protocol):
    async def append(self, entry: NewEntry) -> int:
        """Record one entry in a transaction of its own; its id."""

    async def entries(
        self, *, feature: str | None = None, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest first, of one feature or all, older than ``before_id`` when given."""

    async def search(self, query: AuditQuery) -> list[AuditEntry]:
        """The entries ``query`` matches, newest first, at most ``query.limit``."""

    async def facets(self, *, feature: str | None = None) -> AuditFacets:
        """The distinct actors, actions, target users and channels of one feature or all."""
