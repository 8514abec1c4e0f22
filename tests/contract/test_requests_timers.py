"""The requests' timer handlers (``web/requests/actions.py``) in both modes on the real
backends, at a fixed clock: ``requests.overdue`` marks a request past its target once and tells
its team only, or waits for the next target; ``requests.digest`` tells each team its open and
overdue counts once a day (never another team's), closes resolved requests past the reopen
window, and schedules itself for 08:00 local time the next day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.requests.events import DIGEST_TIMER, OVERDUE_TIMER
from linli.clock import ManualClock
from linli.config import Settings, load_settings
from linli.runtime import Runtime, open_runtime
from persistence.notifications.sql import SqlNotificationStore
from persistence.requests import DAY_MS, Category, NewRequest, Status
from persistence.requests.sql import SqlRequestStore
from persistence.store import Role
from persistence.timers import TimerJob
from web.requests import actions
from workers.notify import NotifyWorker

TAIPEI = ZoneInfo("Asia/Taipei")
HOUR = 3_600_000
#: 08:00 in Taipei on a Wednesday.
MORNING = int(datetime(2026, 3, 4, 8, 0, tzinfo=TAIPEI).timestamp() * 1000)


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "embedded":
        return load_settings({}, database_url=request.getfixturevalue("sqlite_url"))
    return load_settings(
        {},
        database_url=request.getfixturevalue("postgres_schema_url"),
        redis_url=request.getfixturevalue("redis_url"),
        key_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, migrate_first=True) as rt:
        rt.clock = ManualClock(MORNING - 3 * DAY_MS)
        yield rt


@dataclass
class People:
    ann: int
    fixer: int
    desk: int
    building: int


async def _people(rt: Runtime) -> People:
    store = rt.store
    building = await store.create_building("A", now=1)
    ids = {}
    for name, role, home in (
        ("ann", Role.RESIDENT, building.id),
        ("fixer", Role.MANAGEMENT, None),
        ("desk", Role.MANAGEMENT, None),
    ):
        user = await store.create_user(
            username=name,
            display_name=name.title(),
            password_hash="-",
            role=role,
            building_id=home,
            unit_label=None,
            now=1,
        )
        ids[name] = user.id
    requests = SqlRequestStore(rt.database)
    repairs = await requests.create_team("Repairs", now=1)
    desk = await requests.create_team("Desk", now=1)
    await requests.set_team_members(repairs.id, [ids["fixer"]])
    await requests.set_team_members(desk.id, [ids["desk"]])
    await requests.route(Category.REPAIR, team_id=repairs.id)
    for category in (Category.QUESTION, Category.SUGGESTION, Category.COMPLAINT, Category.FEEDBACK):
        await requests.route(category, team_id=desk.id)
    return People(ids["ann"], ids["fixer"], ids["desk"], building.id)


async def _inbox(rt: Runtime, user_id: int) -> list[str]:
    worker = NotifyWorker(
        rt.work_queue,
        SqlNotificationStore(rt.database),
        rt.broker,
        zone=TAIPEI,
        clock=rt.clock,
        email=False,
    )
    await worker.run_until_idle()
    return [n.text_en for n in await SqlNotificationStore(rt.database).inbox(user_id)]


def _job(kind: str, payload: dict[str, object], due: int) -> TimerJob:
    key = f"{kind}:{payload['request_id']}" if payload else kind
    return TimerJob(key=key, kind=kind, due_at=due, payload=payload, attempts=1)


async def test_overdue_marks_once_and_tells_the_team_only(runtime: Runtime) -> None:
    rt = runtime
    people = await _people(rt)
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    new = NewRequest(Category.REPAIR, "Leak", people.ann, people.building)
    request = await actions.file_request(rt, new)
    entry = await rt.timers.get(actions.overdue_key(request.id))
    assert entry is not None and entry.due_at == request.respond_by + 1
    job = _job(OVERDUE_TIMER, {"request_id": request.id}, request.respond_by + 1)

    # Early (a late-moved target): nothing marked, the job waits again.
    await actions.on_overdue_timer(rt, job)
    stored = await SqlRequestStore(rt.database).get_request(request.id)
    assert stored is not None and stored.overdue_at is None

    # Filed on a Sunday: the 1 working day is all of Monday; Monday 08:00 is not late yet.
    clock.advance(DAY_MS / 1000)
    await actions.on_overdue_timer(rt, job)
    assert (await SqlRequestStore(rt.database).get_request(request.id)).overdue_at is None  # type: ignore[union-attr]
    assert request.respond_by == MORNING - DAY_MS - 8 * 3_600_000  # Tuesday 00:00, Taipei
    clock.set_now_ms(request.respond_by + 1)
    await actions.on_overdue_timer(rt, job)
    await actions.on_overdue_timer(rt, job)  # delivered twice: still once
    stored = await SqlRequestStore(rt.database).get_request(request.id)
    assert stored is not None and stored.overdue_at == clock.now_ms()
    fixer = await _inbox(rt, people.fixer)
    assert [t for t in fixer if t.startswith("Overdue")] == [f"Overdue: #{request.id} Leak"]
    assert not [t for t in await _inbox(rt, people.desk) if "Overdue" in t]

    # Answered in time, the next target is the resolution's.
    answered = await actions.file_request(rt, new)
    await actions.change_status(rt, answered.id, Status.IN_PROGRESS, actor_id=people.fixer)
    entry = await rt.timers.get(actions.overdue_key(answered.id))
    assert entry is not None and entry.due_at == answered.resolve_by + 1


async def test_daily_digest_per_team_and_the_reopen_window(runtime: Runtime) -> None:
    rt = runtime
    people = await _people(rt)
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    store = SqlRequestStore(rt.database)
    repair = await actions.file_request(
        rt, NewRequest(Category.REPAIR, "Lift", people.ann, people.building)
    )
    await actions.file_request(
        rt, NewRequest(Category.QUESTION, "Fees?", people.ann, people.building)
    )
    done = await actions.file_request(
        rt, NewRequest(Category.REPAIR, "Door", people.ann, people.building)
    )
    await actions.change_status(rt, done.id, Status.RESOLVED, actor_id=people.fixer)
    clock.set_now_ms(done.created_at + 15 * DAY_MS)  # past the 14-day reopen window
    recent = await actions.file_request(
        rt, NewRequest(Category.REPAIR, "Bin", people.ann, people.building)
    )
    await actions.change_status(rt, recent.id, Status.RESOLVED, actor_id=people.fixer)
    clock.set_now_ms(MORNING + 15 * DAY_MS)
    morning = clock.now_ms()

    job = _job(DIGEST_TIMER, {}, morning)
    await actions.on_digest_timer(rt, job)
    await actions.on_digest_timer(rt, job)  # run twice the same day: told once
    assert (await store.get_request(done.id)).status is Status.CLOSED  # type: ignore[union-attr]
    assert (await store.get_request(recent.id)).status is Status.RESOLVED  # type: ignore[union-attr]
    fixer = [t for t in await _inbox(rt, people.fixer) if t.startswith("Open requests")]
    desk = [t for t in await _inbox(rt, people.desk) if t.startswith("Open requests")]
    assert fixer == ["Open requests today: 1, of which 1 overdue"]  # the lift, 15 days old
    assert desk == ["Open requests today: 1, of which 1 overdue"]
    assert repair.respond_by < morning < repair.resolve_by  # 14 working days: 20 March
    entry = await rt.timers.get(DIGEST_TIMER)
    assert entry is not None and entry.due_at == morning + DAY_MS  # 08:00 tomorrow, Taipei
    assert actions.next_digest(rt) == morning + DAY_MS
