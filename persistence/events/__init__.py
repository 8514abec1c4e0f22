"""The events feature's store: events, their sessions (time slots with a capacity), sign-ups
with a waitlist, check-in, and the personal calendar feeds' secrets.

Guarantees (``tests/contract/test_events_store.py`` runs them against SQLite and PostgreSQL):

* **Places are rows, counted under the session's lock.** ``sign_up``, ``cancel``, ``remove``,
  ``set_capacity``, ``confirm`` and ``expire_offer`` each run in one transaction that first takes
  the session's row lock (PostgreSQL ``SELECT … FOR UPDATE``; SQLite ``BEGIN IMMEDIATE``, the only
  writer), then counts the stored rows. However many sign-ups arrive at once, in however many
  processes, a session never holds more seats than its capacity.
* **Arrival order.** A sign-up's id is drawn while the lock is held, so ids within a session are
  the order in which sign-ups were served; the waitlist is that order, and a place that frees
  goes to the earliest waiting sign-up that fits (strict order: a later, smaller sign-up never
  jumps one that does not fit yet).
* **One live sign-up per holder and session.** The holder is the person (``user:<id>``) or,
  when households count, the unit (``unit:<id>``); a second sign-up raises ``AlreadySignedUp``
  naming the first. A partial unique index holds it too.
* **Idempotent requests.** A sign-up carries the client's ``request_key``; the same user's same
  key returns the first sign-up (``replayed=True``) and takes nothing.
* **Promotion is in the same transaction as what freed the place**, and so is the confirmation
  timer of an offered place (``persistence.timers.sql.schedule_in``): a crash leaves either
  neither or both.
* **One check-in.** ``check_in`` marks a confirmed sign-up present once; a second raises
  ``AlreadyCheckedIn`` with who and when.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from linli.types import Millis, UserId
from persistence.errors import NotFound, StoreError

#: The timer kinds of the feature (``workers/timers.py`` runs them; ``web/events/actions.py``).
CONFIRM_TIMEOUT_KIND = "events.confirm_timeout"
REMINDER_KIND = "events.reminder"
PROMOTED_KIND = "events.promoted"
ENDED_KIND = "events.ended"


class EventState(enum.StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"


class Counting(enum.StrEnum):
    """Who holds a place: each person, or each household (unit)."""

    PERSON = "person"
    HOUSEHOLD = "household"


class SignupState(enum.StrEnum):
    CONFIRMED = "confirmed"
    #: Promoted from the waitlist; the place is held until ``offered_until``.
    OFFERED = "offered"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    REMOVED = "removed"
    EXPIRED = "expired"

    @property
    def live(self) -> bool:
        return self in _LIVE

    @property
    def holds_place(self) -> bool:
        return self in (SignupState.CONFIRMED, SignupState.OFFERED)


_LIVE = frozenset({SignupState.CONFIRMED, SignupState.OFFERED, SignupState.WAITLISTED})


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    #: The choices of a choice question; None for a text answer.
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see and sign up: everyone, some buildings, or one group's members."""

    everyone: bool = False
    buildings: tuple[int, ...] = ()
    group: str | None = None

    def text(self) -> str:
        if self.group is not None:
            return f"group:{self.group}"
        if self.buildings:
            return "buildings:" + ",".join(str(b) for b in self.buildings)
        return "everyone"

    @classmethod
    def parse(cls, text: str) -> Audience:
        kind, _, rest = text.partition(":")
        if kind == "group":
            return cls(group=rest)
        if kind == "buildings":
            return cls(buildings=tuple(int(b) for b in rest.split(",") if b))
        return cls(everyone=True)


@dataclass(frozen=True, slots=True)
class SessionDraft:
    label: str
    starts_at: Millis
    ends_at: Millis
    capacity: int


@dataclass(frozen=True, slots=True)
class EventDraft:
    title: str
    body: str
    body_html: str
    place: str
    audience: Audience
    counting: Counting
    max_seats: int
    signup_opens: Millis
    signup_closes: Millis
    sessions: tuple[SessionDraft, ...]
    questions: tuple[Question, ...] = ()
    cost_note: str = ""
    cancel_until: Millis | None = None
    confirm_hours: int | None = None
    remind_hours: int | None = None
    #: The chat room its card is posted to (``building:<id>`` / ``group:<slug>``), if any.
    room: str | None = None
    #: A training session (教學說明會): the onboarding pages list it with its sign-up.
    training: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    event_id: int
    label: str
    starts_at: Millis
    ends_at: Millis
    capacity: int
    version: int


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    draft: EventDraft
    state: EventState
    created_by: UserId
    created_at: Millis
    cancelled_at: Millis | None
    sessions: tuple[Session, ...] = field(default=())

    @property
    def starts_at(self) -> Millis:
        return min((s.starts_at for s in self.sessions), default=0)

    @property
    def ends_at(self) -> Millis:
        return max((s.ends_at for s in self.sessions), default=0)

    def session(self, session_id: int) -> Session | None:
        return next((s for s in self.sessions if s.id == session_id), None)


@dataclass(frozen=True, slots=True)
class Signup:
    id: int
    session_id: int
    event_id: int
    user_id: UserId
    holder: str
    seats: int
    answers: tuple[str, ...]
    state: SignupState
    request_key: str
    code: str
    created_at: Millis
    offered_until: Millis | None
    confirmed_at: Millis | None
    ended_at: Millis | None
    checked_in_at: Millis | None
    checked_in_by: UserId | None
    attendance: str | None
    #: The sign-up's place on its session's waitlist (1 = next); None unless waitlisted.
    position: int | None = None


@dataclass(frozen=True, slots=True)
class NamedSignup:
    """A sign-up with the names an organiser sees."""

    signup: Signup
    display_name: str
    unit_label: str | None
    checked_in_by_name: str | None


@dataclass(frozen=True, slots=True)
class SignupResult:
    signup: Signup
    #: True when the request key had been used already: nothing was taken.
    replayed: bool


@dataclass(frozen=True, slots=True)
class Change:
    """What a place-freeing change did: the sign-up it changed, and whom it promoted (in
    order; ``offered`` when the event asks promoted people to confirm)."""

    signup: Signup | None
    promoted: tuple[Signup, ...] = ()
    session: Session | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """A session's live figures, counted from the stored rows in one statement."""

    session_id: int
    version: int
    capacity: int
    #: Seats held by confirmed and offered sign-ups.
    taken: int
    confirmed: int
    offered: int
    waitlisted: int
    waitlisted_seats: int
    checked_in: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)


def holder_of(counting: Counting, user_id: UserId, unit_id: int | None) -> str | None:
    """The key one place is held under; None when households count and the user has none."""
    if counting is Counting.HOUSEHOLD:
        return None if unit_id is None else f"unit:{unit_id}"
    return f"user:{user_id}"


class EventStore(Protocol):
    async def create_event(self, draft: EventDraft, *, created_by: UserId, now: Millis) -> Event:
        """A new open event with its sessions."""

    async def get_event(self, event_id: int) -> Event | None: ...

    async def list_events(self, *, after: Millis | None = None) -> list[Event]:
        """Every event (ending at or after ``after`` when given), by start time."""

    async def cancel_event(self, event_id: int, *, now: Millis) -> tuple[Event, list[Signup]]:
        """Open → cancelled; returns the event and the sign-ups that were live (now cancelled).
        Raises EventNotFound; a second call returns an empty list."""

    async def sign_up(
        self,
        session_id: int,
        *,
        user_id: UserId,
        holder: str,
        seats: int,
        answers: Sequence[str],
        request_key: str,
        code: str,
        now: Millis,
    ) -> SignupResult:
        """Take a place or join the waitlist (see the module docstring). Raises
        SessionNotFound, EventCancelled, AlreadySignedUp."""

    async def cancel(self, signup_id: int, *, now: Millis, removed: bool = False) -> Change:
        """The resident's cancel (``removed``: an organiser's removal); promotes whom the freed
        place lets in. A sign-up no longer live is returned unchanged with nobody promoted."""

    async def confirm(self, signup_id: int, *, now: Millis) -> Signup:
        """Offered → confirmed (cancels its timer). Raises SignupNotFound, NotOffered."""

    async def expire_offer(self, signup_id: int, *, now: Millis) -> Change:
        """An offer past ``offered_until`` → expired, and the place passes on. Anything else
        (confirmed meanwhile, not yet due, cancelled) changes nothing."""

    async def set_capacity(self, session_id: int, capacity: int, *, now: Millis) -> Change:
        """A new capacity (not below the seats taken: raises CapacityTooLow); a larger one
        promotes."""

    async def get_signup(self, signup_id: int) -> Signup | None: ...

    async def signup_by_request(self, user_id: UserId, request_key: str) -> Signup | None:
        """The sign-up the user made with ``request_key``, with its position."""

    async def signups_of_user(self, user_id: UserId) -> list[Signup]:
        """The user's sign-ups (with waitlist positions), newest first."""

    async def live_signup(self, session_id: int, holder: str) -> Signup | None:
        """The holder's live sign-up of the session, with its position."""

    async def list_signups(self, event_id: int) -> list[NamedSignup]:
        """Every sign-up of the event with names, in arrival order."""

    async def counts(self, session_id: int) -> Counts | None: ...

    async def check_in(self, event_id: int, code: str, *, by: UserId, now: Millis) -> Signup:
        """Mark a confirmed sign-up present. Raises SignupNotFound (no such code),
        NotConfirmed, AlreadyCheckedIn."""

    async def mark_no_shows(self, event_id: int) -> int:
        """Confirmed sign-ups never checked in become ``no_show``; returns how many."""

    async def feed_token(self, user_id: UserId, *, new_token: str, now: Millis) -> str:
        """The user's calendar feed token, made with ``new_token`` if there is none."""

    async def replace_feed_token(self, user_id: UserId, *, new_token: str, now: Millis) -> str:
        """Revoke the user's feed token: ``new_token`` replaces it."""

    async def user_of_feed_token(self, token: str) -> UserId | None: ...


class EventNotFound(NotFound):
    """No event has that id."""


class SessionNotFound(NotFound):
    """No session has that id."""


class SignupNotFound(NotFound):
    """No sign-up has that id (or that check-in code)."""


class EventCancelled(StoreError):
    """The event was cancelled."""


class AlreadySignedUp(StoreError):
    """The holder has a live sign-up of the session already (``existing``)."""

    def __init__(self, existing: Signup) -> None:
        super().__init__(f"holder {existing.holder} already has sign-up {existing.id}")
        self.existing = existing


class NotOffered(StoreError):
    """Only an offered place can be confirmed."""

    def __init__(self, state: SignupState) -> None:
        super().__init__(f"expected an offered sign-up, but it is {state}")
        self.state = state


class NotConfirmed(StoreError):
    """Only a confirmed sign-up can be checked in."""

    def __init__(self, state: SignupState) -> None:
        super().__init__(f"expected a confirmed sign-up, but it is {state}")
        self.state = state


class AlreadyCheckedIn(StoreError):
    """The sign-up was checked in already, by ``by`` at ``at``."""

    def __init__(self, signup: Signup, by_name: str | None) -> None:
        super().__init__(f"sign-up {signup.id} checked in at {signup.checked_in_at}")
        self.signup, self.by_name = signup, by_name


class CapacityTooLow(StoreError):
    """A capacity below the seats already taken."""

    def __init__(self, taken: int) -> None:
        super().__init__(f"{taken} seats are taken already")
        self.taken = taken
