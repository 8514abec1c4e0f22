"""The meetings feature's store: the owners' register (unit shares, owners, each unit's voice),
meetings with their agenda, and on the night the roll, proxies, check-ins, votes and objections.

Guarantees (``tests/contract/test_meetings_store.py`` runs them against SQLite and PostgreSQL):

* **The roll is fixed when a meeting is convened**: the register is copied into
  ``meeting_members`` in the convening transaction; later edits of the register do not move
  that meeting's figures.
* **One check-in, one proxy, one vote per unit** (primary keys): a retried check-in or vote
  changes nothing; a second vote of the same unit on an item is refused (``AlreadyVoted``),
  whoever sends it (the owner, their proxy, staff).
* **A paper form and its scan are written together** (``set_proxies``): the proxies of the
  form's units and their scan rows in one transaction, or nothing; a scan is only for a paper
  proxy (``NotPaperProxy``), may follow later (``scan_to_follow``) and be replaced; a new
  proxy or its removal drops the unit's scan row. Scans change nothing the figures count.
* **A check-out ends a stay, and keeps it**: the unit's check-in row moves to
  ``meeting_checkouts`` with when and by whom, in one transaction on an open meeting; the unit
  may check in again (a new stay). Stays of a unit never overlap, so who was present at any
  moment is a count of rows (``Snapshot.present_at``). Votes already cast are not touched.
* **A vote counts only from a present unit on an open item** of an open meeting, checked in
  the vote's own transaction: a vote after the close is refused (``ItemNotOpen``).
* **Every change bumps the meeting's ``version``** in its own transaction, and ``snapshot``
  reads the meeting, roll, attendance and votes on one consistent view, so a snapshot with a
  higher version is newer and its figures (``rules.py``) equal a fresh count of the rows.
* **State moves forward only**: draft → convened → open → closed; items pending → open →
  closed, at most one open at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from linli.types import Millis, UserId
from persistence.errors import StoreError
from persistence.meetings.rules import Choice, Member, Threshold, ThresholdKind


class MeetingKind(enum.StrEnum):
    REGULAR = "regular"
    EXTRAORDINARY = "extraordinary"
    RECONVENED = "reconvened"


class MeetingState(enum.StrEnum):
    DRAFT = "draft"
    CONVENED = "convened"
    OPEN = "open"
    CLOSED = "closed"


class ItemState(enum.StrEnum):
    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"


class MinutesState(enum.StrEnum):
    NONE = "none"
    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"


class QuestionState(enum.StrEnum):
    QUEUED = "queued"
    SHOWN = "shown"
    ANSWERED = "answered"
    HIDDEN = "hidden"


#: The states everyone sees (a queued question is the moderators' until they show it).
PUBLIC_QUESTIONS = (QuestionState.SHOWN, QuestionState.ANSWERED)


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    user_id: UserId
    text: str
    state: QuestionState
    created_at: Millis
    #: Counted from the upvote rows.
    votes: int


class Route(enum.StrEnum):
    """How a check-in, proxy or vote reached Linli."""

    CODE = "code"
    STAFF = "staff"
    PHONE = "phone"
    PAPER = "paper"
    PROXY = "proxy"
    #: The owner's personal QR, scanned by the desk.
    QR = "qr"


@dataclass(frozen=True, slots=True)
class OwnerEntry:
    name: str
    user_id: UserId | None = None


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """One unit of the owners' register, as admins enter it (or a CSV import)."""

    unit_id: int
    share: int
    owners: tuple[OwnerEntry, ...]
    #: Index into ``owners`` of the one who holds the unit's voice (Art. 27 §1).
    voice: int = 0

    def __post_init__(self) -> None:
        if self.share <= 0:
            raise ValueError("a unit's share must be positive")
        if not self.owners or not 0 <= self.voice < len(self.owners):
            raise ValueError("a unit needs at least one owner, and its voice among them")


@dataclass(frozen=True, slots=True)
class RegisteredUnit:
    unit_id: int
    label: str
    building_id: int
    share: int
    owners: tuple[OwnerEntry, ...]
    voice: OwnerEntry
    voice_owner_id: int


@dataclass(frozen=True, slots=True)
class ItemDraft:
    title: str
    explanation: str
    resolution: bool
    threshold: Threshold


@dataclass(frozen=True, slots=True)
class MeetingDraft:
    kind: MeetingKind
    title: str
    place: str
    starts_at: Millis
    items: tuple[ItemDraft, ...]


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    position: int
    draft: ItemDraft
    state: ItemState
    opened_at: Millis | None
    closed_at: Millis | None
    result: str | None
    figures: Mapping[str, Any] | None
    objection_until: Millis | None
    objection_result: str | None


@dataclass(frozen=True, slots=True)
class Meeting:
    id: int
    kind: MeetingKind
    title: str
    place: str
    starts_at: Millis
    state: MeetingState
    projector_token: str
    checkin_code: str
    version: int
    created_by: UserId
    created_at: Millis
    convened_at: Millis | None
    opened_at: Millis | None
    closed_at: Millis | None
    minutes: str | None
    minutes_state: MinutesState
    minutes_by: UserId | None
    minutes_at: Millis | None
    items: tuple[Item, ...]
    #: The notice the published minutes went out as (``persistence/notices``), if any.
    minutes_notice_id: int | None = None


@dataclass(frozen=True, slots=True)
class RollEntry:
    unit_id: int
    owner_key: str
    voice_owner_id: int
    user_id: UserId | None
    share: int
    label: str
    owners: str

    @property
    def member(self) -> Member:
        return Member(self.unit_id, self.owner_key, self.share)


@dataclass(frozen=True, slots=True)
class Proxy:
    unit_id: int
    proxy_key: str
    proxy_user_id: UserId | None
    proxy_name: str
    route: Route
    reference: str
    recorded_by: UserId
    created_at: Millis
    #: A paper proxy typed without its scan, the scan promised for later (design 0022).
    scan_to_follow: bool = False


@dataclass(frozen=True, slots=True)
class ScanFile:
    """A checked upload stored as a blob, to attach to paper proxies."""

    blob_id: str
    filename: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ProxyScan:
    """The scan of a unit's paper proxy form (委託書); its bytes are a blob."""

    unit_id: int
    file: ScanFile
    added_by: UserId
    added_at: Millis


@dataclass(frozen=True, slots=True)
class CheckIn:
    unit_id: int
    proxy_key: str | None
    route: Route
    recorded_by: UserId
    at: Millis


@dataclass(frozen=True, slots=True)
class CheckOut:
    """A stay that ended: the check-in it began with, and the check-out."""

    unit_id: int
    proxy_key: str | None
    route: Route
    recorded_by: UserId
    at: Millis
    out_at: Millis
    out_by: UserId


@dataclass(frozen=True, slots=True)
class StoredVote:
    item_id: int
    unit_id: int
    choice: Choice
    route: Route
    cast_by: UserId
    cast_at: Millis


#: Files an agenda item takes (quotes, plans): a few, not an archive.
MAX_ITEM_FILES = 10


@dataclass(frozen=True, slots=True)
class ItemFile:
    """A file attached to an agenda item; its bytes are a blob (``persistence/blobs``)."""

    id: int
    item_id: int
    blob_id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    added_by: UserId
    added_at: Millis


@dataclass(frozen=True, slots=True)
class VoteCorrection:
    """Staff changed a recorded vote (a paper ballot typed in wrongly): what it was and why."""

    id: int
    item_id: int
    unit_id: int
    old_choice: Choice
    new_choice: Choice
    reason: str
    corrected_by: UserId
    corrected_at: Millis


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a meeting's figures are counted from, read on one consistent view."""

    meeting: Meeting
    roll: tuple[RollEntry, ...]
    proxies: tuple[Proxy, ...]
    checkins: tuple[CheckIn, ...]
    votes: tuple[StoredVote, ...]
    objections: Mapping[int, tuple[int, ...]]
    questions: tuple[Question, ...] = ()
    corrections: tuple[VoteCorrection, ...] = ()
    #: The stays that ended (check-outs), oldest first.
    checkouts: tuple[CheckOut, ...] = ()

    @property
    def present(self) -> dict[int, str | None]:
        return {c.unit_id: c.proxy_key for c in self.checkins}

    def present_at(self, at: Millis) -> dict[int, str | None]:
        """The units present at ``at`` (unit -> the proxy's key, or None in person): the stays
        begun by then and not ended by then (one who checked out at ``at`` has left)."""
        found = {c.unit_id: c.proxy_key for c in self.checkouts if c.at <= at < c.out_at}
        found.update({c.unit_id: c.proxy_key for c in self.checkins if c.at <= at})
        return found

    def stay_key(self, unit_id: int, at: Millis) -> str | None:
        """The proxy key of the unit's stay under way at ``at`` (a vote's time): its check-in
        now, else the latest ended stay begun by then."""
        now = next((c for c in self.checkins if c.unit_id == unit_id and c.at <= at), None)
        if now is not None:
            return now.proxy_key
        ended = [c for c in self.checkouts if c.unit_id == unit_id and c.at <= at]
        return max(ended, key=lambda c: (c.at, c.out_at)).proxy_key if ended else None

    def votes_of(self, item_id: int) -> dict[int, Choice]:
        return {v.unit_id: v.choice for v in self.votes if v.item_id == item_id}


@dataclass(frozen=True, slots=True)
class Held:
    """What one user holds in a meeting, read with a few indexed queries (the hot path of
    check-in and votes must not read the whole roll)."""

    #: Units whose voice the user is.
    own: tuple[int, ...]
    #: Units entrusted to the user (proxies), not their own.
    entrusted: tuple[int, ...]
    #: Of those, the units checked in that the user speaks for: their own checked in in
    #: person, and those they brought in as the proxy (a unit's vote is its check-in's).
    present: tuple[int, ...]
    #: Of those, the units that voted on the item asked about.
    voted: tuple[int, ...]
    #: Of ``units``, those checked in now, whoever brought them (the owner's page shows them).
    checked_in: tuple[int, ...] = ()

    @property
    def units(self) -> tuple[int, ...]:
        return self.own + self.entrusted


@dataclass(frozen=True, slots=True)
class Ballot:
    unit_id: int
    choice: Choice
    route: Route


class MeetingStore(Protocol):
    # -- the owners' register --------------------------------------------------------------
    async def replace_register(self, entries: Sequence[RegisterEntry], *, now: Millis) -> int:
        """Replace the whole register in one transaction (an import); the number of units.
        Raises ``persistence.db.IntegrityViolation`` for an unknown unit or user."""

    async def ensure_unit(self, building_id: int, label: str) -> int:
        """The building's unit of that label, made when missing (an import)."""

    async def register(self) -> list[RegisteredUnit]:
        """Every registered unit, by building and label."""

    # -- meetings --------------------------------------------------------------------------
    async def create_meeting(
        self,
        draft: MeetingDraft,
        *,
        created_by: UserId,
        projector_token: str,
        checkin_code: str,
        now: Millis,
    ) -> Meeting: ...

    async def update_meeting(self, meeting_id: int, draft: MeetingDraft) -> Meeting:
        """Replace a draft's content and agenda. Raises MeetingNotFound, MeetingStateError."""

    async def get_meeting(self, meeting_id: int) -> Meeting | None: ...

    async def get_meeting_by_token(self, token: str) -> Meeting | None: ...

    async def list_meetings(self) -> list[Meeting]:
        """Every meeting, the latest start first."""

    async def convene(self, meeting_id: int, *, now: Millis) -> Meeting:
        """Draft → convened, copying the register into the roll. Raises MeetingStateError, or
        EmptyRegister when no unit is registered."""

    async def open_meeting(self, meeting_id: int, *, now: Millis) -> Meeting:
        """Convened → open (check-in and votes start)."""

    async def close_meeting(self, meeting_id: int, *, now: Millis) -> Meeting:
        """Open → closed; an item still open is refused (MeetingStateError)."""

    # -- the night -------------------------------------------------------------------------
    async def roll(self, meeting_id: int) -> list[RollEntry]: ...

    async def set_proxy(self, meeting_id: int, proxy: Proxy) -> Meeting:
        """Record (or replace) a unit's proxy; before the unit checks in only (CheckedInAlready),
        on a convened or open meeting, for a unit on the roll (NotOnRoll)."""

    async def set_proxies(
        self, meeting_id: int, proxies: Sequence[Proxy], scan: ScanFile | None = None
    ) -> Meeting:
        """``set_proxy`` for several units in one transaction, all or nothing, each with
        ``scan`` (one paper form covering them): no proxy row is written without its scan."""

    async def remove_proxy(self, meeting_id: int, unit_id: int) -> bool:
        """Remove the unit's proxy and its scan's row (a new proxy is a new form)."""

    async def set_proxy_scan(
        self, meeting_id: int, unit_id: int, scan: ScanFile, *, by: UserId, now: Millis
    ) -> ProxyScan | None:
        """Attach (or replace) the scan of the unit's paper proxy, in any state after the
        draft (the scan may come after the night); clears its "scan to follow". Raises
        NotPaperProxy when the unit has no proxy or not a paper one. The scan it replaced."""

    async def proxy_scans(self, meeting_id: int) -> list[ProxyScan]:
        """The meeting's proxy scans, by unit."""

    async def check_in(
        self,
        meeting_id: int,
        entries: Sequence[tuple[int, str | None]],
        *,
        route: Route,
        recorded_by: UserId,
        now: Millis,
    ) -> list[int]:
        """Check units in (unit id, the proxy's key or None in person) on an open meeting;
        the units this call checked in (a unit in already is left as it is)."""

    async def check_out(
        self, meeting_id: int, unit_ids: Sequence[int], *, recorded_by: UserId, now: Millis
    ) -> list[CheckOut]:
        """End the stays of these units on an open meeting (NotInSession otherwise), all or
        nothing: each on the roll (NotOnRoll) and checked in now (NotCheckedIn). The stays
        ended, in ``unit_ids``' order; the units may check in again."""

    async def holders(self, meeting_id: int, unit_ids: Sequence[int]) -> list[UserId]:
        """The accounts whose meeting page shows these units: each one's voice, and the
        proxy entrusted with it (if an account)."""

    async def owner_token(
        self, meeting_id: int, user_id: UserId, token: str, *, now: Millis
    ) -> str:
        """The user's check-in token for the meeting: ``token`` if they had none yet, else the
        one they have (so a QR printed or shown earlier keeps working)."""

    async def token_user(self, meeting_id: int, token: str) -> UserId | None: ...

    async def add_item_file(
        self,
        item_id: int,
        *,
        blob_id: str,
        filename: str,
        media_type: str,
        size: int,
        sha256: str,
        added_by: UserId,
        now: Millis,
    ) -> ItemFile:
        """Raises MeetingNotFound (no such item), TooManyFiles (``MAX_ITEM_FILES`` already;
        the item's row lock orders concurrent adds)."""

    async def item_files(self, meeting_id: int) -> list[ItemFile]:
        """The files of every item of the meeting, by item then upload."""

    async def open_item(self, meeting_id: int, item_id: int, *, now: Millis) -> Meeting:
        """Pending → open, on an open meeting with no other item open."""

    async def close_item(self, meeting_id: int, item_id: int, *, now: Millis) -> Meeting:
        """Open → closed: once it returns, no vote on the item can be recorded any more."""

    async def set_item_result(
        self, meeting_id: int, item_id: int, *, result: str | None, figures: Mapping[str, Any]
    ) -> Meeting:
        """The result and figures counted after the close (idempotent: counted from rows)."""

    async def cast_votes(
        self, item_id: int, ballots: Sequence[Ballot], *, cast_by: UserId, now: Millis
    ) -> list[int]:
        """Record ballots in one transaction; the units recorded. Raises ItemNotOpen (the item
        or meeting is not open), NotPresent (a unit not checked in), AlreadyVoted (a unit voted
        on this item already; nothing of the call is recorded)."""

    async def correct_vote(
        self,
        item_id: int,
        unit_id: int,
        choice: Choice,
        *,
        reason: str,
        corrected_by: UserId,
        now: Millis,
    ) -> VoteCorrection:
        """Change a recorded vote while the meeting is open (its item open, or closed: the caller
        counts the item's result again), keeping the old choice, the reason, who and when.
        Raises ItemNotOpen (the meeting is not open), VoteNotFound (the unit has not voted on
        the item), MeetingStateError (the vote is that choice already). Takes the item's row
        lock, so it is ordered with votes and the close."""

    async def snapshot(self, meeting_id: int) -> Snapshot | None: ...

    async def held(self, meeting_id: int, user_id: UserId, item_id: int | None = None) -> Held:
        """What the user holds: their own units, those entrusted to them, which are present,
        and which voted on ``item_id``."""

    async def proxy_keys(self, meeting_id: int, unit_ids: Sequence[int]) -> dict[int, str]:
        """The recorded proxies' keys of these units."""

    # -- after -----------------------------------------------------------------------------
    async def save_minutes(
        self, meeting_id: int, text: str, state: MinutesState, *, by: UserId, now: Millis
    ) -> Meeting: ...

    async def set_minutes_notice(self, meeting_id: int, notice_id: int) -> None:
        """Link the meeting to the notice its published minutes went out as."""

    async def set_objection_window(self, item_id: int, until: Millis) -> None: ...

    async def add_objection(
        self, item_id: int, unit_id: int, *, recorded_by: UserId, now: Millis
    ) -> bool:
        """Record a unit's written objection while the window is open (ObjectionClosed)."""

    async def finish_objections(self, item_id: int, outcome: str) -> bool:
        """Record the outcome once; False if it was recorded already."""

    # -- questions from the floor ------------------------------------------------------------
    async def ask(self, meeting_id: int, user_id: UserId, text: str, *, now: Millis) -> int:
        """A new queued question on a convened or open meeting; its id."""

    async def upvote(self, meeting_id: int, question_id: int, user_id: UserId) -> bool:
        """One upvote per person (False: theirs is counted already). MeetingNotFound for a
        question not of this meeting or not shown."""

    async def set_question_state(
        self, meeting_id: int, question_id: int, state: QuestionState
    ) -> bool: ...

    async def questions(self, meeting_id: int) -> list[Question]:
        """Every question, the most upvoted first, then the oldest."""


class MeetingNotFound(StoreError):
    """No meeting (or item) has that id."""


class MeetingStateError(StoreError):
    """The meeting or item is not in the state the operation needs."""


class EmptyRegister(StoreError):
    """No unit has an owner and a share yet: nobody could count."""


class NotOnRoll(StoreError):
    """The unit is not on this meeting's roll."""


class CheckedInAlready(StoreError):
    """The unit checked in already; its proxy can no longer change."""


class NotPaperProxy(StoreError):
    """The unit has no proxy typed from a paper form (none, or appointed on the phone)."""


class NotInSession(MeetingStateError):
    """The meeting is not under way (not open): nobody checks out of it."""


class NotCheckedIn(StoreError):
    """A check-out of a unit that is not checked in now."""

    def __init__(self, unit_ids: Sequence[int]) -> None:
        super().__init__(f"units {list(unit_ids)} are not checked in")
        self.unit_ids = list(unit_ids)


class ItemNotOpen(StoreError):
    """The item is not open for votes (not yet, or closed)."""


class NotPresent(StoreError):
    """A unit that has not checked in cannot vote."""


class AlreadyVoted(StoreError):
    """The unit voted on this item already."""

    def __init__(self, unit_ids: Sequence[int]) -> None:
        super().__init__(f"units {list(unit_ids)} voted already")
        self.unit_ids = list(unit_ids)


class TooManyFiles(StoreError):
    """The item has its ``MAX_ITEM_FILES`` files."""


class VoteNotFound(StoreError):
    """The unit has no vote on the item to correct."""


class ObjectionClosed(StoreError):
    """The item takes no objections (none asked for, or the window has closed)."""


__all__ = [
    "Choice",
    "ThresholdKind",
]
