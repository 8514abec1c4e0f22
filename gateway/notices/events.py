"""What of the notices feature crosses processes: the timer kinds and the reach snapshots on
``notice:<id>`` (read by the staff who post notices, ``gateway/notices/ops.py``).

A ``notice:<id>`` publication is the notice's whole reach, counted from the stored rows, never a
delta, with a ``version`` that grows with every new read or acknowledgement: the poster's page
keeps whichever snapshot has the highest version (a live ``pub`` or the HTTP API's answer).
Published with ``persist=False``: the store keeps the reads, not the snapshots.

``data`` (msgpack, like every publication's data)::

    {"kind": "reach", "notice_id": 7, "version": 12, "total": 120, "reached": 83,
     "acknowledged": 61,
     "buildings": [{"building_id": 1, "total": 60, "reached": 50, "acknowledged": 40}],
     "floors": [{"building_id": 1, "floor": 12, "total": 4, "reached": 3, "acknowledged": 2}],
     "not_reached": [{"unit_id": 9, "building_id": 1, "label": "12C"}], "ts": 1700000000000}

``floor`` is null for units whose label names no floor.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from channels.broker import Broker
from channels.names import notice_channel
from persistence.notices import Reach, UnitReach

#: Timer kinds (``workers/timers.py``): publish a scheduled notice, expire a published one.
PUBLISH_TIMER = "notices.publish"
EXPIRE_TIMER = "notices.expire"


def _counts(units: list[UnitReach]) -> dict[str, int]:
    return {
        "total": len(units),
        "reached": sum(1 for u in units if u.read_at is not None),
        "acknowledged": sum(1 for u in units if u.acked_at is not None),
    }


def reach_body(reach: Reach) -> dict[str, Any]:
    buildings: dict[int, list[UnitReach]] = {}
    floors: dict[tuple[int, int | None], list[UnitReach]] = {}
    for unit in reach.units:
        buildings.setdefault(unit.building_id, []).append(unit)
        floors.setdefault((unit.building_id, unit.floor), []).append(unit)
    return {
        "kind": "reach",
        "notice_id": reach.notice_id,
        "version": reach.version,
        "total": reach.total,
        "reached": reach.reached,
        "acknowledged": reach.acknowledged,
        "buildings": [
            {"building_id": b, **_counts(units)} for b, units in sorted(buildings.items())
        ],
        "floors": [
            {"building_id": b, "floor": f, **_counts(units)}
            for (b, f), units in sorted(floors.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))
        ],
        "not_reached": [
            {"unit_id": u.unit_id, "building_id": u.building_id, "label": u.label}
            for u in reach.units
            if u.read_at is None
        ],
        "ts": int(time.time() * 1000),
    }


async def publish_reach(broker: Broker, reach: Reach) -> None:
    await broker.publish(
        notice_channel(reach.notice_id), msgpack.packb(reach_body(reach)), persist=False
    )
