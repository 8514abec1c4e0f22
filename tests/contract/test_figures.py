"""The community's figures on both databases: a generated month of activity for 300 residents
(and staff, who never count) goes through the metrics worker, and every figure equals the value
this test computes on its own from the events it generated; a replayed batch changes nothing;
the cohort view and the "< 5" rule."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from channels.workqueue import WorkItem
from linli.clock import ManualClock
from linli.config import Settings
from linli.feature import Figure
from linli.periods import Period, day_period, local_date, midnight
from persistence.activity import ActivityEvent, ActivityKind, encode_event
from persistence.activity.sql import SqlActivityStore
from persistence.db import Database
from persistence.factory import open_store
from persistence.figures.sql import SqlFiguresStore
from persistence.migrate import migrate
from persistence.store import Role, Store, StoredMessage
from web.figures.actions import COHORT_DAYS, cohorts, shown, span_of
from workers.activity import ActivityWorker

ZONE = ZoneInfo("Asia/Taipei")
GAP = 30 * 60_000
RESIDENTS = 300


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    local = datetime(year, month, day, hour, minute, tzinfo=ZONE)
    return int(local.astimezone(UTC).timestamp() * 1000)


NOVEMBER = Period(midnight(date(2026, 11, 1), ZONE), midnight(date(2026, 12, 1), ZONE), "2026-11")


@dataclass
class World:
    store: Store
    residents: dict[int, tuple[int, int]]  # id -> (building id, joined at)
    staff: list[int]
    buildings: list[int]
    events: list[ActivityEvent]
    items: list[WorkItem]
    posts: list[tuple[int, int]]  # (author, at) in rooms
    votes: list[tuple[int, int]]  # (voter, at)


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    await migrate(db_url)
    store = await open_store(db_url)
    rng = random.Random(20261130)
    buildings = [(await store.create_building(n, now=0)).id for n in ("A", "B")]
    residents: dict[int, tuple[int, int]] = {}
    for i in range(RESIDENTS):
        building = buildings[i % 2]
        # Registered from mid-September to the end of November, some in each cohort.
        joined = ms(2026, 9, 15) + rng.randrange(0, 76 * 86_400_000)
        user = await store.create_user(
            username=f"r{i}", display_name=f"R{i}", password_hash="h", role=Role.RESIDENT,
            building_id=building, unit_label=f"{i // 3}F", now=joined,
        )  # fmt: skip
        residents[user.id] = (building, joined)
    staff = []
    for name, role in (("ho", Role.MANAGEMENT), ("lam", Role.COMMITTEE)):
        user = await store.create_user(
            username=name, display_name=name, password_hash="h", role=role, building_id=None,
            unit_label=None, now=ms(2026, 9, 1),
        )  # fmt: skip
        staff.append(user.id)
    events: list[ActivityEvent] = []
    for user_id in [*residents, *staff]:
        joined = residents.get(user_id, (0, ms(2026, 9, 1)))[1]
        habit = rng.random()
        at = joined
        while at < ms(2026, 12, 3):
            # Bursts of a few events minutes apart, then a gap of hours or days.
            for _ in range(rng.randint(1, 4)):
                kind = rng.choice([ActivityKind.VISIT, ActivityKind.CONNECT, ActivityKind.LOGIN])
                events.append(ActivityEvent(f"e{len(events)}", user_id, kind, at))
                at += rng.randrange(60_000, 40 * 60_000)
            at += int(rng.expovariate(habit + 0.05) * 86_400_000)
    rng.shuffle(events)  # the worker gets them in any order, in batches
    items = [WorkItem(str(i), "", 0, 0, encode_event(e), 1) for i, e in enumerate(events)]
    posts, votes = [], []
    rooms = [f"building:{buildings[0]}", "group:garden"]
    for n in range(400):
        author = rng.choice([*residents, *staff])
        at = ms(2026, 10, 25) + rng.randrange(0, 40 * 86_400_000)
        channel = rng.choice([*rooms, "poll:1"])  # a poll's channel is not a room
        await store.insert_messages([StoredMessage(channel, n + 1, 1, b"x", author, at)])
        if channel != "poll:1":
            posts.append((author, at))
    creator = staff[0]
    await store.database.execute(
        "INSERT INTO polls (id, channel, question, options, multiple, anonymous, allow_change, "
        "counting, results, state, join_code, projector_token, version, created_by, created_at) "
        "VALUES (1, 'building:1', 'q', '[\"a\"]', 0, 0, 1, 'person', 'live', 'open', 'J', 'T', "
        "1, $1, 0)",
        creator,
    )
    for voter in rng.sample([*residents, *staff], 150):
        at = ms(2026, 10, 28) + rng.randrange(0, 30 * 86_400_000)
        await store.database.execute(
            "INSERT INTO poll_votes (poll_id, voter_key, user_id, ballot_id, seq, cast_at) "
            "VALUES (1, $1, $2, $3, 1, $4)",
            f"user:{voter}", voter, f"b{voter}", at,
        )  # fmt: skip
        votes.append((voter, at))
    try:
        yield World(store, residents, staff, buildings, events, items, posts, votes)
    finally:
        await store.close()


async def _run_worker(db: Database, items: list[WorkItem]) -> None:
    worker = ActivityWorker(None, SqlActivityStore(db), zone=ZONE)  # type: ignore[arg-type]
    for start in range(0, len(items), 700):
        await worker.handle(items[start : start + 700])


def _expected(world: World, period: Period, building: int | None) -> dict[str, int]:
    """The figures, from the generated events alone."""
    first, last = local_date(period.start, ZONE), local_date(period.end - 1, ZONE)

    def here(user: int) -> bool:
        return user in world.residents and (
            building is None or world.residents[user][0] == building
        )

    by_user: dict[int, list[ActivityEvent]] = defaultdict(list)
    for e in world.events:
        by_user[e.user_id].append(e)
    active_days: dict[int, set[date]] = defaultdict(set)
    logins: dict[int, int] = defaultdict(int)
    visits = 0
    for user, evs in by_user.items():
        if not here(user):
            continue
        evs.sort(key=lambda e: e.at)
        previous = None
        for e in evs:
            day = local_date(e.at, ZONE)
            if first <= day <= last:
                active_days[user].add(day)
                logins[user] += e.kind is ActivityKind.LOGIN
                if previous is None or e.at - previous > GAP:
                    visits += 1
            previous = e.at
    residents = [u for u in world.residents if here(u) and world.residents[u][1] < period.end]
    return {
        "residents": len(residents),
        "active": len(active_days),
        "user_days": sum(len(d) for d in active_days.values()),
        "logins": sum(logins.values()),
        "residents_logged_in": sum(1 for n in logins.values() if n),
        "visits": visits,
        "registrations": sum(
            1
            for u in world.residents
            if here(u) and period.start <= world.residents[u][1] < period.end
        ),
        "chat_posts": sum(
            1 for a, at in world.posts if here(a) and period.start <= at < period.end
        ),
        "votes": sum(1 for v, at in world.votes if here(v) and period.start <= at < period.end),
    }


async def test_every_figure_equals_the_count_from_the_events(world: World) -> None:
    db = world.store.database
    await _run_worker(db, world.items)
    figures = SqlFiguresStore(db)
    week = Period(midnight(date(2026, 11, 9), ZONE), midnight(date(2026, 11, 16), ZONE), "W46")
    day = day_period(date(2026, 11, 20), ZONE)
    for period in (NOVEMBER, week, day):
        for building in (None, *world.buildings):
            core = await figures.core(span_of(period, ZONE), building)
            expected = _expected(world, period, building)
            got = {k: getattr(core, k) for k in expected}
            assert got == expected, (period.label, building)
            assert expected["active"] > 0 and expected["visits"] > expected["active"] // 2


async def test_a_replayed_batch_changes_nothing(world: World) -> None:
    db = world.store.database
    await _run_worker(db, world.items)
    store = SqlActivityStore(db)
    before = await store.days("2026-09-01", "2026-12-31")
    assert before
    # Redelivered (a worker killed before its ack): the same entries again, in another order.
    again = list(reversed(world.items[: len(world.items) // 2]))
    await _run_worker(db, again)
    assert await store.days("2026-09-01", "2026-12-31") == before
    # Recomputing any past day from the raw events gives the same row.
    some = before[len(before) // 2]
    recomputed = await store.roll_up(some.user_id, day_period(date.fromisoformat(some.day), ZONE))
    assert recomputed == some


@dataclass
class _Services:
    database: Database
    clock: ManualClock
    settings: Settings


async def test_cohorts_count_residents_active_in_the_week_before_day_n(world: World) -> None:
    db = world.store.database
    await _run_worker(db, world.items)
    now = ms(2026, 12, 2, 12)
    services = _Services(db, ManualClock(now), Settings(time_zone="Asia/Taipei"))
    rows = await cohorts(services, 3, None)  # type: ignore[arg-type]
    assert [r.month for r in rows] == ["2026-10", "2026-11", "2026-12"]
    today = local_date(now, ZONE)
    days_of: dict[int, set[date]] = defaultdict(set)
    for e in world.events:
        days_of[e.user_id].add(local_date(e.at, ZONE))
    for row in rows:
        start = date.fromisoformat(row.month + "-01")
        end = (start + timedelta(days=32)).replace(day=1)
        members = [
            (u, local_date(at, ZONE))
            for u, (_, at) in world.residents.items()
            if start <= local_date(at, ZONE) < end
        ]
        assert row.joined == len(members)
        for n in COHORT_DAYS:
            if any(joined + timedelta(days=n) > today for _, joined in members):
                assert row.active_at[n] is None
                continue
            expected = sum(
                1
                for u, joined in members
                if any(joined + timedelta(days=n - k) in days_of[u] for k in range(7))
            )
            assert row.active_at[n] == expected
    assert rows[0].active_at[30] is not None  # October's residents have reached day 30


def test_fewer_than_five_people_are_not_shown() -> None:
    assert shown(Figure("a", "", "", 4, unit="people")).unit == "few"
    assert shown(Figure("a", "", "", 5, unit="people")).value == 5
    assert shown(Figure("a", "", "", 0, unit="people")).value == 0
    assert shown(Figure("s", "", "", 0.5, unit="share", people=4)).unit == "few"
    assert shown(Figure("s", "", "", 0.5, unit="share", people=5)).value == 0.5
    assert shown(Figure("c", "", "", 3)).value == 3  # things, not people
