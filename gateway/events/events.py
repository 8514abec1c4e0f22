"""What of the events feature crosses processes: the live counts on ``event:<id>`` and the
audience rule both the gateway (who may watch) and the web layer (who may sign up) use.

An ``event:<id>`` channel carries the counts of every session of the event, never a delta; each
session's figures are counted from the stored sign-ups in one statement with the session's
``version`` (``EventStore.counts``), so a page keeps, per session, the figures with the highest
version, however it got them (a live ``pub`` or the HTTP API). Published with ``persist=False``::

    {"kind": "counts", "event_id": 7, "state": "open",
     "sessions": [{"session_id": 9, "version": 31, "capacity": 50, "taken": 50,
                   "confirmed": 49, "offered": 1, "waitlisted": 250, "checked_in": 0,
                   "free": 0}]}

A page that sees a session's version grow reloads the reader's own sign-up (a promotion shows
without a reload of the page).
"""

from __future__ import annotations

from typing import Any

import msgpack

from channels.access import MembershipCheck
from channels.broker import Broker
from channels.names import event_channel
from linli.roles import Can, may
from linli.types import BuildingId, Role, UserId
from persistence.events import Audience, Counts, EventStore


async def in_audience(
    audience: Audience,
    *,
    user_id: UserId,
    role: Role,
    building_id: BuildingId | None,
    is_member: MembershipCheck,
) -> bool:
    """Whether the user may see the event and sign up: its audience, or anyone who runs
    events."""
    if may(role, Can.RUN_EVENTS):
        return True
    if audience.group is not None:
        return await is_member(user_id, audience.group)
    if audience.buildings:
        return building_id in audience.buildings
    return True


def counts_json(counts: Counts) -> dict[str, Any]:
    return {
        "session_id": counts.session_id,
        "version": counts.version,
        "capacity": counts.capacity,
        "taken": counts.taken,
        "confirmed": counts.confirmed,
        "offered": counts.offered,
        "waitlisted": counts.waitlisted,
        "checked_in": counts.checked_in,
        "free": counts.free,
    }


async def counts_body(store: EventStore, event_id: int) -> dict[str, Any] | None:
    event = await store.get_event(event_id)
    if event is None:
        return None
    sessions = []
    for session in event.sessions:
        counts = await store.counts(session.id)
        if counts is not None:
            sessions.append(counts_json(counts))
    return {"kind": "counts", "event_id": event_id, "state": str(event.state), "sessions": sessions}


async def publish_counts(broker: Broker, store: EventStore, event_id: int) -> None:
    """Count the event's sessions now and publish the snapshot."""
    body = await counts_body(store, event_id)
    if body is not None:
        await broker.publish(event_channel(event_id), msgpack.packb(body), persist=False)
