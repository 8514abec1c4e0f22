"""The neighbourhood's time zone, changed on the admin settings page, end to end in both modes
(scaled: changed on one gateway process, seen on the other) and without a restart: the figures'
day windows start at the new zone's local midnight and the audit CSV writes the new zone's local
times, both computed here independently. A resident is refused; an unknown zone is refused on
its field; the change is audited old → new."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import httpx
import pytest

from persistence.audit.sql import SqlAuditLog
from tests.e2e.harness import Deployment, login, seed
from tests.e2e.test_admin import Http, _admin_user, _close_clients  # noqa: F401 (closes Http)
from tests.e2e.test_admin_settings import _servers

pytestmark = pytest.mark.timeout(240)

TAIPEI, NEW_YORK = ZoneInfo("Asia/Taipei"), ZoneInfo("America/New_York")


async def _day_starts(client: httpx.AsyncClient) -> list[int]:
    response = await client.get("/api/figures?period=day")
    assert response.status_code == 200, response.text
    return [p["start"] for p in response.json()["periods"]]


def _local_midnights(starts: list[int], zone: ZoneInfo) -> bool:
    return (
        all(datetime.fromtimestamp(s / 1000, zone).time() == clock_time(0) for s in starts)
        and datetime.fromtimestamp(starts[-1] / 1000, zone).date() == datetime.now(zone).date()
    )


async def _eventually_midnights(client: httpx.AsyncClient, zone: ZoneInfo) -> None:
    """Control reaches the other process over Redis a moment after the change's answer."""
    deadline = time.monotonic() + 10
    while not _local_midnights(starts := await _day_starts(client), zone):
        assert time.monotonic() < deadline, starts
        await asyncio.sleep(0.1)


async def test_time_zone_change_moves_day_windows_and_csv_times(deployment: Deployment) -> None:
    await seed(deployment)
    await _admin_user(deployment)
    async with _servers(deployment) as (one, two):
        admin = Http(one, await login(one, "boss"))
        watcher = Http(two, await login(two, "boss"))
        ann = Http(two, await login(two, "ann"))
        assert (await admin.get("/api/admin/settings"))["settings"]["time_zone"] == "Asia/Taipei"
        await _eventually_midnights(watcher.client, TAIPEI)

        refused = await ann.client.post("/api/admin/settings", json={"time_zone": "UTC"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        for bad_zone in ("Mars/Olympus", "", "../etc/passwd", "asia/taipei "):
            bad = await admin.post("/api/admin/settings", 400, time_zone=bad_zone)
            assert bad["error"]["code"] == "bad_setting", bad_zone
            assert bad["error"]["field"] == "time_zone"

        # The page offers a select of zones, Taipei and Hong Kong first.
        page = await admin.client.get("/admin/settings", headers={"Accept": "text/html"})
        options = page.text.split('<select id="time_zone"', 1)[1].split("</select>", 1)[0]
        assert options.index("Asia/Taipei") < options.index("Asia/Hong_Kong")
        assert options.index("Asia/Hong_Kong") < options.index("Africa/Abidjan")

        changed = await admin.post("/api/admin/settings", time_zone="America/New_York")
        assert changed["settings"]["time_zone"] == "America/New_York"
        await _eventually_midnights(watcher.client, NEW_YORK)

        # The audit CSV (read on the other process) writes the change's time in the new zone.
        store = await deployment.store()
        try:
            entries = await SqlAuditLog(store.database).entries(feature="admin", limit=10)
        finally:
            await store.close()
        assert [(e.action, e.detail) for e in entries] == [
            ("settings_change", {"changed": {"time_zone": ["Asia/Taipei", "America/New_York"]}})
        ]
        expected = datetime.fromtimestamp(entries[0].at / 1000, NEW_YORK).isoformat("T", "seconds")
        exported = await watcher.client.get("/audit.csv")
        assert exported.status_code == 200
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert any(expected in row for row in rows[1:]), (expected, rows[:3])
        assert expected.endswith(("-05:00", "-04:00"))
