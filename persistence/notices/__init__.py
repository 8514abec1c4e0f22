"""The notices feature's store: notices (公告), their categories, revisions, attachments, and who
has seen and acknowledged them, per person and per household (unit).

Guarantees (``tests/contract/test_notices_store.py`` runs them against SQLite and PostgreSQL):

* **Reach is rows.** ``record_read`` writes the reader's own row (unread markers) and, when the
  reader has a unit, the unit's row; ``acknowledge`` writes the unit's acknowledgement (and its
  read). Primary keys make each one row however many residents of a unit do it, at the same
  moment or on different gateways: the second insert does nothing and says so
  (``ReadResult.unit_first``). Nothing counts in memory; ``reach`` counts the rows.
* **A reader without a unit never counts** for a household (staff accounts): their read is
  theirs only, and they cannot acknowledge.
* **State moves forward:** draft → scheduled → published → expired, and any of them → retracted
  (kept, with its reason; nothing is ever deleted). ``publish_due`` and ``expire_due`` change
  a notice only if it is still in the state the timer expected, so a late or repeated timer is
  a no-op.
* **Every edit is a revision:** revision 1 is the first text; ``edit`` adds the new text with
  who, when and which fields changed, and bumps ``version`` in the same transaction.
* Audience: everyone, buildings, floors (building, floor) or units. A unit's floor is read from
  its label by ``floor_of`` ("12A" → 12, "7F-2" → 7, "3樓C" → 3); a label with no leading
  number has no floor and is reached only through its building or by name.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Protocol

from linli.types import BuildingId, Millis, UserId
from persistence.errors import StoreError

_FLOOR_RE = re.compile(r"^\s*(\d{1,3})")


def floor_of(label: str) -> int | None:
    """The floor a unit's label names by its leading number, or None (``"Shop 2"``)."""
    found = _FLOOR_RE.match(label)
    return int(found.group(1)) if found else None


class NoticeState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    EXPIRED = "expired"
    RETRACTED = "retracted"


class AudienceKind(enum.StrEnum):
    ALL = "all"
    BUILDINGS = "buildings"
    FLOORS = "floors"
    UNITS = "units"


@dataclass(frozen=True, slots=True)
class Audience:
    kind: AudienceKind = AudienceKind.ALL
    buildings: tuple[BuildingId, ...] = ()
    #: (building, floor) pairs.
    floors: tuple[tuple[BuildingId, int], ...] = ()
    units: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        chosen = {
            AudienceKind.ALL: True,
            AudienceKind.BUILDINGS: bool(self.buildings),
            AudienceKind.FLOORS: bool(self.floors),
            AudienceKind.UNITS: bool(self.units),
        }
        if not chosen[self.kind]:
            raise ValueError(f"an audience of {self.kind} needs at least one")

    def includes_unit(self, building_id: BuildingId, unit_id: int, label: str) -> bool:
        if self.kind is AudienceKind.ALL:
            return True
        if self.kind is AudienceKind.BUILDINGS:
            return building_id in self.buildings
        if self.kind is AudienceKind.FLOORS:
            return (building_id, floor_of(label)) in self.floors
        return unit_id in self.units

    def includes(
        self, building_id: BuildingId | None, unit_id: int | None, label: str | None
    ) -> bool:
        """Whether a person of this building and unit is in the audience (everyone is in
        ``all``; a person with no building only in that)."""
        if self.kind is AudienceKind.ALL:
            return True
        if building_id is None:
            return False
        if self.kind is AudienceKind.BUILDINGS:
            return building_id in self.buildings
        if unit_id is None or label is None:
            return False
        return self.includes_unit(building_id, unit_id, label)


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    slug: str
    name_zh: str
    name_en: str
    position: int
    archived: bool


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """What a poster writes (and may edit later; each edit is a revision)."""

    category_id: int
    title: str
    body: str
    body_html: str
    audience: Audience = field(default_factory=Audience)
    urgent: bool = False
    requires_ack: bool = False
    pinned: bool = False
    publish_at: Millis | None = None
    expire_at: Millis | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    draft: NoticeDraft
    state: NoticeState
    published_at: Millis | None
    expired_at: Millis | None
    retracted_at: Millis | None
    retracted_by: UserId | None
    retract_reason: str | None
    version: int
    created_by: UserId
    created_at: Millis
    updated_at: Millis

    @property
    def readable(self) -> bool:
        """Residents in the audience may read it (it was published at some point)."""
        return self.state in {NoticeState.PUBLISHED, NoticeState.EXPIRED} or (
            self.state is NoticeState.RETRACTED and self.published_at is not None
        )


@dataclass(frozen=True, slots=True)
class Revision:
    notice_id: int
    revision: int
    title: str
    body: str
    category_id: int
    changed: tuple[str, ...]
    edited_by: UserId
    editor_name: str
    edited_at: Millis


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    notice_id: int
    blob_id: str
    thumb_id: str | None
    filename: str
    media_type: str
    size: int
    sha256: str
    width: int | None
    height: int | None
    added_by: UserId
    added_at: Millis


@dataclass(frozen=True, slots=True)
class ReadResult:
    #: This call wrote the reader's own row (their first open).
    user_first: bool
    #: This call wrote the unit's row (the household's first open): reach changed.
    unit_first: bool


@dataclass(frozen=True, slots=True)
class UnitReach:
    unit_id: int
    building_id: BuildingId
    label: str
    floor: int | None
    read_at: Millis | None
    acked_at: Millis | None


@dataclass(frozen=True, slots=True)
class Reach:
    """The audience's units with whether each was reached and acknowledged, counted from the
    rows in one transaction."""

    notice_id: int
    units: tuple[UnitReach, ...]

    @property
    def total(self) -> int:
        return len(self.units)

    @property
    def reached(self) -> int:
        return sum(1 for u in self.units if u.read_at is not None)

    @property
    def acknowledged(self) -> int:
        return sum(1 for u in self.units if u.acked_at is not None)

    @property
    def version(self) -> int:
        """Grows with every new read or acknowledgement: a client keeps the highest."""
        return self.reached + self.acknowledged


class NoticeNotFound(StoreError):
    def __init__(self, notice_id: int) -> None:
        super().__init__(f"no notice {notice_id}")
        self.notice_id = notice_id


class NoticeStateError(StoreError):
    """The change needs another state (editing a retracted notice, acknowledging a draft)."""

    def __init__(self, notice_id: int, state: NoticeState, wanted: str) -> None:
        super().__init__(f"notice {notice_id} is {state}; {wanted}")
        self.notice_id, self.state = notice_id, state


class CategoryNotFound(StoreError):
    pass


class NoticeStore(Protocol):
    # -- categories
    async def list_categories(self) -> list[Category]: ...

    async def get_category(self, category_id: int) -> Category | None: ...

    async def save_category(
        self,
        *,
        category_id: int | None,
        slug: str,
        name_zh: str,
        name_en: str,
        position: int,
        archived: bool,
    ) -> Category:
        """Create (``category_id`` None) or update a category. Raises ``UniqueViolation`` for a
        slug in use and ``CategoryNotFound`` for an unknown id."""

    # -- notices
    async def create_notice(
        self, draft: NoticeDraft, *, state: NoticeState, created_by: UserId, now: Millis
    ) -> Notice:
        """A new notice (revision 1) in ``state`` (draft, scheduled or published; published
        sets ``published_at`` = ``now``)."""

    async def get_notice(self, notice_id: int) -> Notice | None: ...

    async def list_notices(self, *, states: frozenset[NoticeState] | None = None) -> list[Notice]:
        """Newest first (by published time, else created time)."""

    async def edit(
        self, notice_id: int, draft: NoticeDraft, *, editor: UserId, now: Millis
    ) -> tuple[Notice, tuple[str, ...]]:
        """Replace the text and settings; a revision with the changed fields' names. Not for a
        retracted or expired notice (``NoticeStateError``). Returns the notice and what
        changed (empty: nothing did, and no revision was written)."""

    async def publish_due(self, notice_id: int, *, now: Millis) -> Notice | None:
        """A draft or scheduled notice becomes published; None if it was not in either state
        (published already, retracted): a timer that comes late or twice changes nothing."""

    async def expire_due(self, notice_id: int, *, now: Millis) -> Notice | None:
        """A published notice becomes expired; None if it was not published."""

    async def retract(
        self, notice_id: int, *, by: UserId, reason: str, now: Millis
    ) -> Notice | None:
        """Retracted with its reason; None if it was retracted already."""

    async def revisions(self, notice_id: int) -> list[Revision]:
        """Oldest first."""

    # -- attachments
    async def add_attachment(
        self,
        notice_id: int,
        *,
        blob_id: str,
        thumb_id: str | None,
        filename: str,
        media_type: str,
        size: int,
        sha256: str,
        width: int | None,
        height: int | None,
        added_by: UserId,
        now: Millis,
    ) -> Attachment: ...

    async def attachments(self, notice_id: int) -> list[Attachment]: ...

    async def get_attachment(self, notice_id: int, attachment_id: int) -> Attachment | None: ...

    # -- reach
    async def record_read(
        self, notice_id: int, *, user_id: UserId, unit_id: int | None, now: Millis
    ) -> ReadResult: ...

    async def acknowledge(
        self, notice_id: int, *, user_id: UserId, unit_id: int, now: Millis
    ) -> bool:
        """The unit's acknowledgement (and its read); True when this call wrote it."""

    async def reach(self, notice_id: int, audience: Audience) -> Reach:
        """Every unit of the audience with its first read and acknowledgement."""

    async def read_by_user(self, user_id: UserId) -> set[int]:
        """The notices this person has opened (unread markers)."""

    async def acked_by_unit(self, unit_id: int) -> set[int]: ...

    async def read_by_unit(self, unit_id: int) -> set[int]: ...

    async def unit_label(self, unit_id: int) -> str | None: ...

    async def residents_of(self, unit_ids: list[int]) -> list[UserId]:
        """The people living in these units (a floors or units audience's notification)."""
