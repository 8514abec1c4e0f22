"""The time zone changed on the settings page reaches the timers worker that was already running
(issue 21): in the embedded mode the server's own worker task, in the scaled mode a separate
``linli worker timers`` process (the server runs no workers there). The daily jobs planned in
local time — the e-mail digest at 08:00 and the retention sweep at 03:30 — move to the new zone's
08:00 and 03:30 without a restart, computed here independently."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from persistence.timers.sql import SqlTimerStore
from tests.e2e.harness import Deployment, Worker, login, running, seed
from tests.e2e.test_admin import Http, _admin_user, _close_clients  # noqa: F401 (closes Http)

pytestmark = pytest.mark.timeout(180)

TAIPEI, NEW_YORK = ZoneInfo("Asia/Taipei"), ZoneInfo("America/New_York")
DIGEST, PRUNE = "notifications.digest", "notifications.prune"


def _next_local(zone: ZoneInfo, hour: int, minute: int, after_ms: int) -> int:
    day = datetime.fromtimestamp(after_ms / 1000, zone).date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if at.timestamp() * 1000 > after_ms:
            return int(at.timestamp() * 1000)
        day += timedelta(days=1)


async def _due(deployment: Deployment) -> dict[str, int]:
    store = await deployment.store()
    try:
        timers = SqlTimerStore(store.database)
        found = {kind: await timers.get(kind) for kind in (DIGEST, PRUNE)}
    finally:
        await store.close()
    return {kind: entry.due_at for kind, entry in found.items() if entry is not None}


async def _eventually(deployment: Deployment, wanted: dict[str, int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        due = await _due(deployment)
        if all(due.get(kind) == at for kind, at in wanted.items()):
            return
        assert time.monotonic() < deadline, (due, wanted)
        await asyncio.sleep(0.2)


async def test_a_running_timers_worker_follows_a_time_zone_change(
    deployment: Deployment,
) -> None:
    await seed(deployment)
    await _admin_user(deployment)
    worker = Worker(deployment, "timers") if deployment.mode == "scaled" else None
    async with running(deployment) as server:
        try:
            if worker is not None:
                worker.start()
            now = int(time.time() * 1000)
            await _eventually(
                deployment,
                {DIGEST: _next_local(TAIPEI, 8, 0, now), PRUNE: _next_local(TAIPEI, 3, 30, now)},
                30,
            )

            admin = Http(server, await login(server, "boss"))
            changed = await admin.post("/api/admin/settings", time_zone="America/New_York")
            assert changed["settings"]["time_zone"] == "America/New_York"
            now = int(time.time() * 1000)
            # Within seconds (the control command), not the 60 s refresh.
            await _eventually(
                deployment,
                {
                    DIGEST: _next_local(NEW_YORK, 8, 0, now),
                    PRUNE: _next_local(NEW_YORK, 3, 30, now),
                },
                10,
            )
        finally:
            if worker is not None:
                worker.stop()
