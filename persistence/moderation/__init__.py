"""The moderation part of the store: flags, message states, held messages, sanctions, the word
list, settings, the publishing rules and the append-only audit log.

A separate interface from ``persistence.store.Store`` (one concept per module), implemented once
in SQL by ``persistence.moderation.sql.SqlModerationStore`` over the same ``Database`` as the
store; ``tests/contract/test_moderation_store.py`` runs it against SQLite and PostgreSQL.

Guarantees:

* **Idempotent writes.** A flag is unique per (channel, offset, flagger): recording it twice
  changes nothing the second time. A held message is unique per (author, channel, client_msg_id).
* **Every action is audited in its own transaction.** Each method that changes moderation state
  on a moderator's (or the auto-hide rule's) behalf writes its row of the one audit log
  (``persistence/audit/``, feature ``moderation``) in the same transaction, so there is
  never a change without its audit entry or the other way round.
* **The audit log is append-only.** The interface has no way to change or remove an entry, and
  the database refuses ``UPDATE`` and ``DELETE`` on it (triggers in both dialects).
* Times are milliseconds passed in by the caller (tests control time).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from linli.types import ChannelName, Millis, Offset, UserId
from persistence.audit import AuditEntry


class Visibility(enum.StrEnum):
    VISIBLE = "visible"
    HIDDEN = "hidden"
    DELETED = "deleted"


class Review(enum.StrEnum):
    OPEN = "open"
    HANDLED = "handled"


class MessageAction(enum.StrEnum):
    HIDE = "hide"
    RESTORE = "restore"
    DELETE = "delete"
    #: The flags were unfounded: close the review, and undo an automatic hide.
    DISMISS = "dismiss"


class SanctionKind(enum.StrEnum):
    WARN = "warn"
    MUTE = "mute"
    BAN = "ban"


class WordAction(enum.StrEnum):
    BLOCK = "block"
    HOLD = "hold"


class HeldState(enum.StrEnum):
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"


class AppealState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AppealOutcome(enum.StrEnum):
    """The moderator's choice when answering an appeal."""

    #: The decision stands.
    UPHELD = "upheld"
    #: The appeal is accepted: the decision is undone (a mute or ban lifted, a hidden message
    #: shown again, a warning withdrawn).
    GRANTED = "granted"


class FlagReason(enum.StrEnum):
    SPAM = "spam"
    HARASSMENT = "harassment"
    FALSE_INFORMATION = "false_information"
    PRIVATE_DATA = "private_data"
    OTHER = "other"


def normalise_text(text: str) -> str:
    """What the word list compares: NFKC (full-width Ｌｉｎｌｉ → Linli, compatibility CJK forms to
    their unified ideographs), case folded, with format characters (zero-width spaces and
    joiners, which are invisible and would split a phrase) removed. Spaces are kept: Chinese
    needs no word boundaries, so matching is by substring, and a pattern is found inside a
    sentence without spaces just as well."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def find_word(words: list[Word], text: str) -> Word | None:
    """The word-list entry ``text`` contains (after ``normalise_text``), block entries first
    (the gateway's check on publish, and the word-list page's test box)."""
    normalised = normalise_text(text)
    held: Word | None = None
    for word in words:
        if word.pattern in normalised:
            if word.action is WordAction.BLOCK:
                return word
            held = held or word
    return held


@dataclass(frozen=True, slots=True)
class NewFlag:
    channel: ChannelName
    offset: Offset
    flagger_id: UserId
    reason: FlagReason
    note: str
    #: A copy of the flagged message, as the gateway read it.
    author_id: UserId | None
    author_name: str
    body: str
    posted_at: Millis


@dataclass(frozen=True, slots=True)
class FlagResult:
    #: False when this flagger had flagged this message already (nothing changed).
    inserted: bool
    #: Distinct residents who flagged the message.
    flag_count: int
    visibility: Visibility


@dataclass(frozen=True, slots=True)
class Flag:
    channel: ChannelName
    offset: Offset
    flagger_id: UserId
    flagger_name: str
    reason: FlagReason
    note: str
    created_at: Millis


@dataclass(frozen=True, slots=True)
class ModeratedMessage:
    channel: ChannelName
    offset: Offset
    author_id: UserId | None
    author_name: str
    body: str
    posted_at: Millis
    visibility: Visibility
    review: Review
    flag_count: int
    auto_hidden: bool
    first_flag_at: Millis | None
    last_flag_at: Millis | None
    first_action_at: Millis | None
    #: When a moderator deleted it (its text is kept for moderators until the retention sweep).
    deleted_at: Millis | None = None
    #: The retention sweep blanked the deleted text (``body`` is empty).
    text_purged: bool = False


@dataclass(frozen=True, slots=True)
class MessageSnapshot:
    """The message a moderator acts on, for a message nobody flagged (no row yet)."""

    author_id: UserId | None
    author_name: str
    body: str
    posted_at: Millis


@dataclass(frozen=True, slots=True)
class ActionResult:
    #: False when the message was in that state already: nothing changed, nothing audited.
    changed: bool
    message: ModeratedMessage


@dataclass(frozen=True, slots=True)
class HeldMessage:
    id: int
    channel: ChannelName
    author_id: UserId
    author_name: str
    body: str
    cmid: str
    matched: str
    state: HeldState
    published_offset: Offset | None
    created_at: Millis


@dataclass(frozen=True, slots=True)
class Sanction:
    id: int
    user_id: UserId
    kind: SanctionKind
    #: None: everywhere.
    channel: ChannelName | None
    reason: str
    created_by: UserId
    created_at: Millis
    #: None: until lifted.
    expires_at: Millis | None
    #: The message that prompted it (a reported or flagged one on /mod); None: given without
    #: a message. Not the room it applies to (``channel``).
    source_channel: ChannelName | None = None
    source_offset: Offset | None = None

    def applies(self, channel: ChannelName, now: Millis) -> bool:
        return (self.channel is None or self.channel == channel) and (
            self.expires_at is None or self.expires_at > now
        )


@dataclass(frozen=True, slots=True)
class Word:
    id: int
    pattern: str
    action: WordAction


@dataclass(frozen=True, slots=True)
class Appeal:
    """An author's one appeal against a decision (a warning, a mute, a hidden message)."""

    id: int
    user_id: UserId
    user_name: str
    #: "warning:<audit id>", "sanction:<id>" or "message:<channel>:<offset>".
    subject: str
    #: The decision as the author saw it (its reason), for the moderators.
    summary: str
    note: str
    state: AppealState
    created_at: Millis
    handled_by: UserId | None
    handled_at: Millis | None
    answer: str
    #: Set when answered (None before migration 0038's appeals and while open).
    outcome: AppealOutcome | None = None
    #: When the author acknowledged the answer (``/appeals``).
    seen_at: Millis | None = None


class AlreadyAppealed(Exception):
    """The user appealed this decision already (one appeal each)."""


@dataclass(frozen=True, slots=True)
class HandlingRow:
    """One flagged message, for the handling-speed figures."""

    first_flag_at: Millis
    first_action_at: Millis | None


class ModerationStore(Protocol):
    # -- flags and message states -------------------------------------------------------------
    async def record_flag(self, flag: NewFlag, *, now: Millis) -> FlagResult:
        """Record the flag (once per flagger and message) and count it on the message, which
        goes back to review ``open``."""

    async def auto_hide(
        self, channel: ChannelName, offset: Offset, *, threshold: int, now: Millis
    ) -> bool:
        """Hide the message if it is visible, was never restored by a moderator and has at least
        ``threshold`` flags; audited as ``auto_hide`` by the system. True when it hid it."""

    async def act_on_message(
        self,
        channel: ChannelName,
        offset: Offset,
        action: MessageAction,
        *,
        actor_id: UserId,
        reason: str,
        now: Millis,
        snapshot: MessageSnapshot | None = None,
    ) -> ActionResult:
        """Apply a moderator's action. A message without a row needs ``snapshot`` (else
        ``NotFound``). Any action closes the review and sets the first action time."""

    async def get_message(
        self, channel: ChannelName, offset: Offset
    ) -> ModeratedMessage | None: ...

    async def hidden_states(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, Visibility]:
        """The messages of ``first ≤ offset ≤ last`` that are not visible."""

    async def queue(
        self, *, review: Review | None, channel_prefix: str | None, limit: int
    ) -> list[ModeratedMessage]:
        """Flagged messages, most recently flagged first."""

    async def flags_of(self, channel: ChannelName, offset: Offset) -> list[Flag]:
        """Oldest first."""

    async def flagged_by(self, user_id: UserId, channel: ChannelName) -> list[Offset]:
        """Offsets of the channel's messages this user flagged, ascending."""

    # -- held messages ------------------------------------------------------------------------
    async def hold_message(
        self,
        *,
        channel: ChannelName,
        author_id: UserId,
        author_name: str,
        body: str,
        cmid: str,
        matched: str,
        now: Millis,
    ) -> tuple[HeldMessage, bool]:
        """Keep a message back for review; (the held message, whether it is new)."""

    async def get_held(self, held_id: int) -> HeldMessage | None: ...

    async def list_held(
        self, *, state: HeldState | None, author_id: UserId | None = None, limit: int = 100
    ) -> list[HeldMessage]:
        """Newest first."""

    async def decide_held(
        self,
        held_id: int,
        *,
        approve: bool,
        actor_id: UserId,
        reason: str,
        now: Millis,
        published_offset: Offset | None = None,
    ) -> bool:
        """Approve (with the offset it was published at) or reject a held message, audited.
        False when it was decided already. Raises NotFound."""

    # -- sanctions ----------------------------------------------------------------------------
    async def add_sanction(
        self,
        user_id: UserId,
        kind: SanctionKind,
        *,
        channel: ChannelName | None,
        expires_at: Millis | None,
        actor_id: UserId,
        reason: str,
        now: Millis,
        channel_context: tuple[ChannelName, Offset] | None = None,
    ) -> Sanction:
        """Audited as the sanction's kind; ``channel_context`` names the message it was for
        (recorded on the sanction: ``source_channel``, ``source_offset``)."""

    async def lift_sanctions(
        self,
        user_id: UserId,
        kind: SanctionKind,
        *,
        actor_id: UserId,
        reason: str,
        now: Millis,
    ) -> int:
        """End the user's active sanctions of ``kind`` (audited as ``un<kind>``); how many."""

    async def active_sanctions(self, user_id: UserId, *, now: Millis) -> list[Sanction]:
        """Mutes and bans in force (not lifted, not expired), oldest first."""

    # -- word list ----------------------------------------------------------------------------
    async def list_words(self) -> list[Word]:
        """Sorted by pattern."""

    async def add_word(
        self, pattern: str, action: WordAction, *, actor_id: UserId, reason: str, now: Millis
    ) -> Word:
        """Stores ``normalise_text(pattern)``; adding an existing pattern changes its action."""

    async def remove_word(
        self, word_id: int, *, actor_id: UserId, reason: str, now: Millis
    ) -> bool: ...

    # -- settings and rules -------------------------------------------------------------------
    async def get_setting(self, key: str) -> str | None: ...

    async def set_setting(
        self, key: str, value: str, *, actor_id: UserId, reason: str, now: Millis
    ) -> None: ...

    async def get_rules(self, locale: str) -> tuple[str, Millis] | None:
        """(body, updated_at) of the rules in ``locale``, None if never edited."""

    async def set_rules(
        self, locale: str, body: str, *, actor_id: UserId, reason: str, now: Millis
    ) -> None: ...

    # -- what the author is told ------------------------------------------------------------
    async def decision_reasons(
        self, channel: ChannelName, offsets: list[Offset]
    ) -> dict[Offset, str]:
        """The reason of the latest hide or delete of each message (from the audit log); an
        automatic hide has the reason "auto"."""

    async def warnings_of(self, user_id: UserId, *, since: Millis) -> list[AuditEntry]:
        """The user's warnings given since ``since``, newest first."""

    async def get_warning(self, audit_id: int) -> AuditEntry | None:
        """The audit entry of a warning (None when ``audit_id`` is no warning)."""

    async def get_sanction(self, sanction_id: int) -> Sanction | None: ...

    async def add_appeal(
        self, user_id: UserId, subject: str, *, summary: str, note: str, now: Millis
    ) -> Appeal:
        """Record the appeal, audited as ``appeal`` by its author. Raises ``AlreadyAppealed``
        when the user appealed ``subject`` before (whatever became of it)."""

    async def appeals(
        self, *, state: AppealState | None, user_id: UserId | None = None, limit: int = 100
    ) -> list[Appeal]:
        """Newest first."""

    async def close_appeal(
        self,
        appeal_id: int,
        *,
        actor_id: UserId,
        answer: str,
        outcome: AppealOutcome,
        now: Millis,
    ) -> Appeal:
        """Close an open appeal with the moderator's answer and outcome, audited as
        ``appeal_closed``; closing a closed one changes nothing. Raises NotFound."""

    async def appeal_seen(self, appeal_id: int, user_id: UserId, *, now: Millis) -> Appeal:
        """The author acknowledged the answer of their closed appeal: ``seen_at`` is set once
        (a second acknowledgement keeps the first time). Raises NotFound for an appeal that is
        not the user's or not answered yet."""

    # -- audit and figures --------------------------------------------------------------------
    async def add_audit(
        self,
        action: str,
        *,
        actor_id: UserId | None,
        reason: str,
        now: Millis,
        channel: ChannelName | None = None,
        offset: Offset | None = None,
        target_user_id: UserId | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append an entry for an action that changes no other state (a warning); its id."""

    async def audit_log(
        self, *, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest first."""

    async def message_history(self, channel: ChannelName, offset: Offset) -> list[AuditEntry]:
        """Every moderation audit entry about this message (its hide, a warning for it), newest
        first: the item's history on ``/mod``."""

    async def purge_deleted_text(self, *, before: Millis, now: Millis) -> int:
        """Blank the text of messages deleted before ``before`` (kept until then so moderators
        can read what was deleted); how many."""

    async def handling_rows(self, *, since: Millis, until: Millis) -> list[HandlingRow]:
        """The messages first flagged in ``[since, until)``."""

    async def count_flags(self, *, since: Millis, until: Millis) -> int:
        """Flags received in ``[since, until)``."""
