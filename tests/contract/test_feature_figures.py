"""The features' slices of the community figures (``Feature.figures``) over the demo
neighbourhood, on both databases: each equals a count this test makes itself from the stored
rows (Python over a plain SELECT, not the features' SQL), for each of the last six months and
for the whole neighbourhood and each building."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from linli.clock import ManualClock
from linli.config import Settings
from linli.demo import seed_demo
from linli.periods import Period, periods
from persistence.db import Database
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Store
from web.events.figures import figure_source as events_figures
from web.notices.figures import figure_source as notices_figures

ZONE = ZoneInfo("Asia/Taipei")


@dataclass
class _Services:
    database: Database
    store: Store
    clock: ManualClock
    settings: Settings


@pytest.fixture
async def demo(db_url: str) -> AsyncIterator[_Services]:
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        assert await seed_demo(store, zone=ZONE)
        yield _Services(store.database, store, ManualClock(int(time.time() * 1000)), Settings())
    finally:
        await store.close()


def _values(figures: list[object]) -> dict[str, object]:
    return {f.key: f.value for f in figures}  # type: ignore[attr-defined]


async def _places(services: _Services) -> list[int | None]:
    return [None, *(b.id for b in await services.store.list_buildings())]


def _months(services: _Services) -> list[Period]:
    return periods("month", 6, services.clock.now_ms(), zone=ZONE)


async def test_events_figures_equal_the_sign_up_rows(demo: _Services) -> None:
    db = demo.database
    rows = await db.fetch(
        "SELECT s.created_at, s.state, s.attendance, s.checked_in_at, e.starts_at, u.building_id "
        "FROM event_signups s JOIN event_sessions e ON e.id = s.session_id "
        "JOIN users u ON u.id = s.user_id"
    )
    assert rows, "the demo has sign-ups"
    seen_any = False
    for building in await _places(demo):
        for period in _months(demo):
            mine = [r for r in rows if building is None or r["building_id"] == building]
            held = [
                r for r in mine
                if r["state"] == "confirmed" and period.start <= r["starts_at"] < period.end
            ]  # fmt: skip
            expected = {
                "events.signups": sum(
                    1 for r in mine if period.start <= r["created_at"] < period.end
                ),
                "events.confirmed": len(held),
                "events.attended": sum(
                    1
                    for r in held
                    if r["attendance"] == "present" or r["checked_in_at"] is not None
                ),
                "events.no_shows": sum(1 for r in held if r["attendance"] == "no_show"),
            }
            seen_any = seen_any or any(expected.values())
            assert _values(await events_figures(demo, period, building)) == expected  # type: ignore[arg-type]
    assert seen_any


async def test_notices_figures_equal_the_read_rows(demo: _Services) -> None:
    db = demo.database
    notices = await db.fetch("SELECT id, published_at, requires_ack FROM notices")
    reads = {
        (r["notice_id"], r["unit_id"])
        for r in await db.fetch("SELECT notice_id, unit_id FROM notice_unit_reads")
    }
    acks = {
        (r["notice_id"], r["unit_id"])
        for r in await db.fetch("SELECT notice_id, unit_id FROM notice_acks")
    }
    from persistence.notices.sql import SqlNoticeStore

    store = SqlNoticeStore(db)
    for building in await _places(demo):
        for period in _months(demo):
            published = [
                n for n in notices
                if n["published_at"] is not None and period.start <= n["published_at"] < period.end
            ]  # fmt: skip
            total = reached = asked = acked = 0
            for n in published:
                notice = await store.get_notice(n["id"])
                assert notice is not None
                audience_units = [
                    u for u in (await store.reach(n["id"], notice.draft.audience)).units
                    if building is None or u.building_id == building
                ]  # fmt: skip
                total += len(audience_units)
                reached += sum(1 for u in audience_units if (n["id"], u.unit_id) in reads)
                if n["requires_ack"]:
                    asked += len(audience_units)
                    acked += sum(1 for u in audience_units if (n["id"], u.unit_id) in acks)
            expected = {
                "notices.published": len(published),
                "notices.reach": None if total == 0 else reached / total,
                "notices.acknowledged": None if asked == 0 else acked / asked,
            }
            assert _values(await notices_figures(demo, period, building)) == expected  # type: ignore[arg-type]
