"""The residents' requests feature's store: requests and their history, followers, teams routed
by category with targets, common areas, reply templates, ratings, and the plan's figures
counted from the stored rows.

Guarantees (``tests/contract/test_requests_store.py`` runs them on SQLite and PostgreSQL):

* **Statuses move along the lifecycle only** (``TRANSITIONS``): received → in progress →
  waiting on resident → resolved → closed, or rejected (with a reason); merged is set by
  ``merge`` alone. A change is conditional on the status read in the same transaction, so two
  staff changing one request at once cannot both apply a change from the same status: the
  second gets ``RequestStateError``.
* **The first response is stamped once**: the first staff reply to the resident or status change
  sets ``first_response_at``; internal notes never do.
* **Each resolution may be rated once** by the author: ratings are keyed by (request,
  resolution number), so a second rating of the same resolution raises ``AlreadyRated``
  whatever the concurrency; a reopen and a new resolution invite a new rating.
* **A merge keeps everyone**: the duplicate's author and followers follow the kept request; both
  histories record it; the duplicate is ``merged`` with ``merged_into`` set.
* **Reopen within the window**: only a resolved or closed request whose latest resolution is at
  most ``window_ms`` old; it goes back to in progress and its ``resolved_at`` is cleared.
* **Targets are working time** (``workdays.add_working_time``): Monday to Friday less the
  admins' holidays, local days of the store's zone; ``respond_by``, ``resolve_by`` and the
  figures' 7/30/365-day ends are fixed when the request is filed, so a holiday added later does
  not move them.
* **Figures are SQL over the stored rows** (``figures``; the definitions are on ``Figures``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol
from zoneinfo import ZoneInfo

from linli.types import BuildingId, Millis, UserId
from persistence.errors import NotFound, StoreError

DAY_MS = 86_400_000
#: The most characters and photos a request takes (the API's bounds, kept here with the data).
MAX_TEXT_CHARS = 2000
MAX_PHOTOS = 5


class Category(enum.StrEnum):
    REPAIR = "repair"  # 報修
    QUESTION = "question"  # 詢問
    SUGGESTION = "suggestion"  # 建議
    COMPLAINT = "complaint"  # 投訴
    FEEDBACK = "feedback"  # 意見回饋


class Status(enum.StrEnum):
    RECEIVED = "received"  # 已受理
    IN_PROGRESS = "in_progress"  # 處理中
    WAITING = "waiting"  # 待住戶回覆
    RESOLVED = "resolved"  # 已解決
    CLOSED = "closed"  # 已結案
    REJECTED = "rejected"  # 不受理
    MERGED = "merged"  # 已合併


OPEN_STATUSES = frozenset({Status.RECEIVED, Status.IN_PROGRESS, Status.WAITING})
DONE_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})
#: Counted apart in the figures, never in their denominators.
SET_APART = frozenset({Status.REJECTED, Status.MERGED})

#: What staff may change a status to, from each status.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset(
        {Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED, Status.REJECTED}
    ),
    Status.IN_PROGRESS: frozenset({Status.WAITING, Status.RESOLVED, Status.REJECTED}),
    Status.WAITING: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.REJECTED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.CLOSED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.MERGED: frozenset(),
}


class EventKind(enum.StrEnum):
    FILED = "filed"
    STATUS = "status"
    REPLY = "reply"
    NOTE = "note"
    ASSIGN = "assign"
    MERGED = "merged"
    MERGED_IN = "merged_in"
    REOPEN = "reopen"
    RATING = "rating"


@dataclass(frozen=True, slots=True)
class NewRequest:
    category: Category
    text: str
    author_id: UserId
    building_id: BuildingId
    private: bool = False
    floor: str = ""
    unit_id: int | None = None
    place_id: int | None = None
    #: Where it came from (a chat message ``/#building:1@42``, a forum post), or "".
    source_link: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    category: Category
    status: Status
    private: bool
    text: str
    author_id: UserId
    building_id: BuildingId
    floor: str
    unit_id: int | None
    place_id: int | None
    assignee_id: UserId | None
    source_link: str
    merged_into: int | None
    reject_reason: str
    version: int
    created_at: Millis
    updated_at: Millis
    respond_by: Millis
    resolve_by: Millis
    first_response_at: Millis | None
    resolved_at: Millis | None
    closed_at: Millis | None
    resolutions: int
    overdue_at: Millis | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue(self, now: Millis) -> bool:
        """Open and past a target: no first response by ``respond_by``, or not resolved by
        ``resolve_by`` (the figures' definition too)."""
        if not self.is_open:
            return False
        return self.resolve_by < now or (self.first_response_at is None and self.respond_by < now)


@dataclass(frozen=True, slots=True)
class RequestEvent:
    id: int
    request_id: int
    kind: EventKind
    actor_id: UserId | None
    actor_name: str
    #: The status after a status change (or a reopen); "" otherwise.
    status: str
    text: str
    internal: bool
    at: Millis


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo of a request: its original and thumbnail are blobs (``persistence/blobs``)."""

    request_id: int
    position: int
    blob_id: str
    thumb_id: str
    filename: str
    media_type: str
    width: int
    height: int
    added_by: UserId
    added_at: Millis


@dataclass(frozen=True, slots=True)
class CategoryRule:
    category: Category
    team_id: int | None
    first_response_ms: int
    resolution_ms: int


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    name: str
    member_ids: tuple[UserId, ...]
    categories: tuple[Category, ...]


@dataclass(frozen=True, slots=True)
class Place:
    id: int
    name: str
    building_id: BuildingId | None
    active: bool


@dataclass(frozen=True, slots=True)
class Holiday:
    """A local date that is not a working day (besides Saturdays and Sundays)."""

    day: date
    name: str


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Rating:
    request_id: int
    resolution: int
    user_id: UserId
    score: int
    comment: str
    rated_at: Millis


@dataclass(frozen=True, slots=True)
class Query:
    """A queue: which requests, in which order, how many."""

    categories: Sequence[Category] | None = None
    statuses: Sequence[Status] | None = None
    building_id: BuildingId | None = None
    assignee_id: UserId | None = None
    author_id: UserId | None = None
    #: "oldest" (filed first) or "overdue" (the earliest missed target first, then oldest).
    order: str = "oldest"
    limit: int = 100


@dataclass(frozen=True, slots=True)
class Bucket:
    """The figures of one group of requests (all, a category, a building, a month).

    Definitions (also written on the figures page):

    * ``filed``: every request filed in the period (created_at in [since, until)).
    * ``rejected``, ``merged``: counted apart; ``counted`` = filed − rejected − merged is the
      denominator of everything below.
    * ``resolved_<n>``: counted requests resolved or closed now whose latest resolution came at
      most n *working* days after filing; ``eligible_<n>``: counted requests whose outcome for n
      working days is known: resolved within them, or filed at least n working days before
      ``now``. A younger request still open is left out until it is decided either way. The
      share is resolved/eligible.
    * ``resolved_on_target`` / ``eligible_target``: the same with the request's own resolution
      target (``resolve_by``, working time) in place of n days.
    * ``open``: counted requests received, in progress or waiting; ``overdue``: open ones past a
      target (``Request.overdue``).
    * ``first_response_*``: ms from filing to the first staff reply or status change, over
      counted requests that have one; ``resolution_*``: ms from filing to the latest resolution,
      over counted requests resolved or closed now. Median = the value at rank ceil(n/2), p90 =
      at rank ceil(0.9 n) of the sorted values (nearest rank, a stored value, never interpolated).
    * ``ratings`` / ``rating_sum``: ratings of counted requests (average = sum / ratings);
      ``resolutions`` counts every resolution of counted requests, each of which invites one
      rating (response rate = ratings / resolutions).
    """

    key: str
    filed: int = 0
    rejected: int = 0
    merged: int = 0
    counted: int = 0
    open: int = 0
    overdue: int = 0
    eligible_7: int = 0
    resolved_7: int = 0
    eligible_30: int = 0
    resolved_30: int = 0
    eligible_365: int = 0
    resolved_365: int = 0
    eligible_target: int = 0
    resolved_on_target: int = 0
    first_response_median: int | None = None
    first_response_p90: int | None = None
    resolution_median: int | None = None
    resolution_p90: int | None = None
    ratings: int = 0
    rating_sum: int = 0
    resolutions: int = 0


@dataclass(frozen=True, slots=True)
class Figures:
    since: Millis
    until: Millis
    now: Millis
    zone: str
    total: Bucket
    by_category: dict[str, Bucket] = field(default_factory=dict)
    by_building: dict[str, Bucket] = field(default_factory=dict)
    #: Keyed "YYYY-MM", the months of the installation's zone that overlap the period.
    by_month: dict[str, Bucket] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TeamLoad:
    """For a team's daily digest: its open and overdue requests by category."""

    category: Category
    open: int
    overdue: int


class RequestStore(Protocol):
    # -- routing, places, templates -------------------------------------------------------
    async def create_team(self, name: str, *, now: Millis) -> Team: ...

    async def set_team_members(self, team_id: int, user_ids: Sequence[UserId]) -> None:
        """Replace the team's members. Raises RequestNotFound for an unknown team."""

    async def teams(self) -> list[Team]: ...

    async def route(
        self,
        category: Category,
        *,
        team_id: int | None,
        first_response_ms: int | None = None,
        resolution_ms: int | None = None,
    ) -> CategoryRule:
        """Route a category to a team (None: every holder of the duty) and set its targets."""

    async def rules(self) -> dict[Category, CategoryRule]: ...

    async def staff(self, roles: Sequence[str]) -> list[tuple[UserId, str]]:
        """(id, display name) of every user of these roles, by id: who may join a team."""

    async def handler_ids(self, category: Category) -> list[UserId] | None:
        """The members of the category's team; None when the category has no team."""

    async def add_place(
        self, name: str, *, building_id: BuildingId | None, now: Millis
    ) -> Place: ...

    async def set_place_active(self, place_id: int, active: bool) -> None: ...

    async def places(self, *, building_id: BuildingId | None = None) -> list[Place]:
        """Active and inactive, by name; with ``building_id``: those of every building and
        that building's own."""

    async def add_template(self, title: str, body: str, *, now: Millis) -> Template: ...

    async def set_holiday(self, day: date, name: str, *, now: Millis) -> Holiday:
        """Add the day to the holidays (or rename it). Targets of requests filed from now on
        skip it; those filed already keep theirs."""

    async def remove_holiday(self, day: date) -> bool: ...

    async def holidays(self, *, since: date | None = None) -> list[Holiday]:
        """By date; with ``since``: that day and later."""

    async def delete_template(self, template_id: int) -> bool: ...

    async def templates(self) -> list[Template]: ...

    # -- requests -------------------------------------------------------------------------
    async def create_request(self, new: NewRequest, *, now: Millis) -> Request:
        """A received request, its targets from the category's rule in working time (the store's
        zone and holidays), its author following it, and a ``filed`` event."""

    async def get_request(self, request_id: int) -> Request | None: ...

    async def list_requests(self, query: Query, *, now: Millis) -> list[Request]: ...

    async def from_sources(self, prefix: str, *, limit: int = 200) -> list[Request]:
        """Requests whose ``source_link`` starts with ``prefix`` (the posts of one forum topic:
        ``/forum/t/<id>?``), by id. ``prefix`` is made by the caller, never typed by a user."""

    async def followed_by(self, user_id: UserId, *, limit: int = 100) -> list[Request]:
        """Requests the user filed or follows, newest first."""

    async def similar_open(
        self,
        *,
        category: Category,
        building_id: BuildingId,
        place_id: int | None,
        floor: str,
        limit: int = 5,
    ) -> list[Request]:
        """Open public requests of the same category and place (the common area; without one,
        the same floor), oldest first: what a resident may follow instead of filing again."""

    async def events(self, request_id: int, *, internal: bool) -> list[RequestEvent]:
        """The history in order; internal notes only when ``internal``."""

    async def change_status(
        self,
        request_id: int,
        to: Status,
        *,
        actor_id: UserId,
        now: Millis,
        reply: str = "",
        reason: str = "",
        expected: Status | None = None,
    ) -> Request:
        """Staff move a request (``TRANSITIONS``); ``reply`` goes to the resident with it,
        ``reason`` is required for a rejection. Raises RequestNotFound, RequestStateError."""

    async def add_reply(
        self, request_id: int, *, actor_id: UserId, text: str, staff: bool, now: Millis
    ) -> RequestEvent:
        """A public reply (staff's counts as the first response)."""

    async def add_note(
        self, request_id: int, *, actor_id: UserId, text: str, now: Millis
    ) -> RequestEvent:
        """An internal note (staff only, never a response)."""

    async def assign(
        self, request_id: int, assignee_id: UserId | None, *, actor_id: UserId, now: Millis
    ) -> Request: ...

    async def follow(self, request_id: int, user_id: UserId, *, now: Millis) -> bool:
        """True when the user was not following yet."""

    async def unfollow(self, request_id: int, user_id: UserId) -> bool: ...

    async def follower_ids(self, request_id: int) -> list[UserId]: ...

    async def merge(
        self, duplicate_id: int, into_id: int, *, actor_id: UserId, now: Millis
    ) -> tuple[Request, Request]:
        """Merge an open duplicate into an open request (see the module docstring); returns
        (duplicate, kept). Raises RequestNotFound, RequestStateError."""

    async def reopen(
        self, request_id: int, *, actor_id: UserId, text: str, window_ms: int, now: Millis
    ) -> Request:
        """Raises RequestStateError when not resolved/closed, ReopenExpired past the window."""

    async def rate(
        self, request_id: int, *, user_id: UserId, score: int, comment: str, now: Millis
    ) -> Rating:
        """Rate the latest resolution. Raises RequestStateError when not resolved or closed,
        AlreadyRated when that resolution has a rating."""

    async def rating_of(self, request_id: int) -> Rating | None:
        """The latest resolution's rating, if any."""

    # -- photos ---------------------------------------------------------------------------
    async def add_photo(
        self,
        request_id: int,
        *,
        blob_id: str,
        thumb_id: str,
        filename: str,
        media_type: str,
        width: int,
        height: int,
        added_by: UserId,
        now: Millis,
    ) -> Photo:
        """The next position, at most ``MAX_PHOTOS`` (concurrent adds cannot pass it: the
        position is part of the key). Raises RequestNotFound, TooManyPhotos."""

    async def photos(self, request_id: int) -> list[Photo]: ...

    # -- timers ---------------------------------------------------------------------------
    async def mark_overdue(self, request_id: int, *, now: Millis) -> Request | None:
        """Stamp ``overdue_at`` on an open request past a target; the request when this call
        stamped it, None otherwise (not overdue yet, done, or stamped already)."""

    async def close_resolved(self, *, resolved_before: Millis, now: Millis) -> list[int]:
        """Close every resolved request whose latest resolution is before ``resolved_before``
        (the reopen window has passed); their ids."""

    async def team_load(self, categories: Sequence[Category], *, now: Millis) -> list[TeamLoad]: ...

    # -- figures --------------------------------------------------------------------------
    async def figures(
        self, *, since: Millis, until: Millis, now: Millis, zone: ZoneInfo
    ) -> Figures:
        """The plan's figures over requests filed in [since, until), by category, building and
        month of ``zone`` (definitions on ``Bucket``)."""


class RequestNotFound(NotFound):
    """No request (or team, place, template) has that id."""


class RequestStateError(StoreError):
    """The request is not in a status the change applies to."""

    def __init__(self, request_id: int, got: Status, wanted: str) -> None:
        super().__init__(f"request {request_id} is {got}: cannot {wanted}")
        self.got = got


class ReopenExpired(StoreError):
    """The reopen window passed since the latest resolution."""


class TooManyPhotos(StoreError):
    """The request has its ``MAX_PHOTOS`` photos."""


class AlreadyRated(StoreError):
    """This resolution has its rating."""
