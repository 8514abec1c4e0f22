"""Product activity: what residents did, when (logins, visits, connections), kept for the
community's figures (``web/figures/``). Nothing is computed on the hot path: the web app and the
gateway queue an ``ActivityEvent``; ``workers/activity.py`` writes it here and rolls its day up.

Definitions (the figures page states them too):

* an **active day** of a user is a local day (``LINLI_TIME_ZONE``) with at least one event;
* a **visit** is a run of a user's events with no gap longer than ``VISIT_GAP_MS`` (30 min),
  counted on the day it starts;
* a **login** is a password login that started a session.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import msgpack

from linli.periods import Period
from linli.types import BuildingId, Millis, UserId

#: A gap longer than this between two events of a user starts a new visit.
VISIT_GAP_MS: Final = 30 * 60_000


class ActivityKind(enum.StrEnum):
    LOGIN = "login"
    #: An authenticated page or API request (queued at most every few minutes per user).
    VISIT = "visit"
    #: A WebSocket connection opened (the residents' app kept open all day counts too).
    CONNECT = "connect"


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    id: str
    user_id: UserId
    kind: ActivityKind
    at: Millis


@dataclass(frozen=True, slots=True)
class UserDay:
    """A user's activity on one local day (one row of the rollup)."""

    day: str
    user_id: UserId
    building_id: BuildingId | None
    logins: int
    visits: int
    events: int


def visits_in(times: Sequence[Millis], start: Millis, end: Millis, before: Millis | None) -> int:
    """Visits starting in ``[start, end)`` among a user's event times (sorted), given the time of
    their last event before ``start`` (``None``: none)."""
    visits, previous = 0, before
    for at in times:
        if start <= at < end and (previous is None or at - previous > VISIT_GAP_MS):
            visits += 1
        previous = at
    return visits


class ActivityStore(Protocol):
    async def record(self, events: Sequence[ActivityEvent]) -> None:
        """Write the events not written yet (by id): a replayed event is a no-op."""

    async def roll_up(self, user_id: UserId, period: Period) -> UserDay | None:
        """Recompute the user's row for the local day ``period`` (``linli.periods.day_period``)
        from the raw events (None: no events, and no row)."""

    async def roll_up_many(self, days: Sequence[tuple[UserId, Period]]) -> None:
        """``roll_up`` for many (user, day) pairs, in a few statements."""

    async def days(self, start_day: str, end_day: str) -> list[UserDay]:
        """The rollup rows of days ``start_day`` … ``end_day`` (inclusive, YYYY-MM-DD)."""


#: The work queue the web app and the gateway put activity on (``workers/activity.py`` reads it).
ACTIVITY_QUEUE: Final = "activity"


def encode_event(event: ActivityEvent) -> bytes:
    data: bytes = msgpack.packb([event.id, event.user_id, str(event.kind), event.at])
    return data


def decode_event(data: bytes) -> ActivityEvent:
    """Raises ``ValueError`` for anything that is not an encoded event."""
    try:
        event_id, user_id, kind, at = msgpack.unpackb(data)
        if not (isinstance(event_id, str) and isinstance(user_id, int) and isinstance(at, int)):
            raise TypeError
        return ActivityEvent(event_id, user_id, ActivityKind(kind), at)
    except (TypeError, ValueError, msgpack.UnpackException) as exc:
        raise ValueError(f"not an activity event ({len(data)} bytes)") from exc
