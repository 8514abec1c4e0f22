"""The meetings' actions over a real runtime on both databases (embedded broker, a manual
clock): a reconvened meeting decided under Art. 32, its minutes published, the 7-day
objection window opened with its timer, objections refused after it, and the window's timer
closing it on time with the outcome counted against all owners and shares; and the demo."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from linli.clock import ManualClock
from linli.config import load_settings
from linli.features import FEATURES, timers_of
from linli.runtime import Runtime, open_runtime
from persistence.meetings import (
    ItemDraft,
    MeetingDraft,
    MeetingKind,
    MeetingState,
    MinutesState,
    ObjectionClosed,
    OwnerEntry,
    RegisterEntry,
)
from persistence.meetings.rules import DEFAULT_THRESHOLDS, Choice, ThresholdKind
from persistence.meetings.sql import SqlMeetingStore
from persistence.store import Role
from persistence.timers import TimerJob
from web.meetings import actions

NOW = 1_700_000_000_000
DAY = 86_400_000
#: Ten units; nine of 10 and one of 20: 110 in all, nobody over a fifth (22).
SHARES = (20, 10, 10, 10, 10, 10, 10, 10, 10, 10)


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    settings = load_settings({}, database_url=db_url)
    async with open_runtime(settings, migrate_first=True) as opened:
        yield dataclasses.replace(opened, clock=ManualClock(NOW))


async def _community(runtime: Runtime) -> tuple[list[int], int]:
    store = runtime.store
    building = await store.create_building("Block A", now=NOW)
    units = []
    for i in range(len(SHARES)):
        user = await store.create_user(
            username=f"owner{i}",
            display_name=f"Owner {i}",
            password_hash="h",
            role=Role.RESIDENT,
            building_id=building.id,
            unit_label=f"{i + 1}F",
            now=NOW,
        )
        assert user.unit_id is not None
        units.append(user.unit_id)
    staff = await store.create_user(
        username="lam",
        display_name="Lam",
        password_hash="h",
        role=Role.COMMITTEE,
        building_id=building.id,
        unit_label=None,
        now=NOW,
    )
    await SqlMeetingStore(runtime.database).replace_register(
        [
            RegisterEntry(u, SHARES[i], (OwnerEntry(f"Owner {i}", i + 1),))
            for i, u in enumerate(units)
        ],
        now=NOW,
    )
    return units, staff.id


async def test_reconvened_meeting_and_its_objection_window(runtime: Runtime) -> None:
    units, staff = await _community(runtime)
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    meeting = await actions.create_meeting(
        runtime,
        MeetingDraft(
            MeetingKind.RECONVENED,
            "Reconvened",
            "Lobby",
            NOW + 11 * DAY,
            (ItemDraft("Fix the roof", "", True, DEFAULT_THRESHOLDS[ThresholdKind.ART32]),),
        ),
        actor_id=staff,
    )
    mid, item_id = meeting.id, meeting.items[0].id
    await actions.convene(runtime, mid, actor_id=staff)
    # A day before, the reminder is due; opening the meeting cancels it.
    reminder = await runtime.timers.get(actions.reminder_key(mid))
    assert reminder is not None and reminder.due_at == NOW + 10 * DAY
    clock.advance(11 * DAY / 1000)
    await actions.open_meeting(runtime, mid, actor_id=staff)
    assert await runtime.timers.get(actions.reminder_key(mid)) is None
    # Four of ten present (1/5 needs 2, and Art. 32 needs 3 owners): 20 + 10 + 10 + 10 = 50.
    await actions.check_in_by_staff(runtime, mid, units[:4], by_proxy=False, actor_id=staff)
    await actions.open_item(runtime, mid, item_id, actor_id=staff)
    for unit, choice in zip(
        units[:4], (Choice.FOR, Choice.FOR, Choice.AGAINST, Choice.FOR), strict=True
    ):
        await actions.paper_vote(runtime, mid, item_id, unit, choice, actor_id=staff)
    closed = await actions.close_item(runtime, mid, item_id, actor_id=staff)
    # For: 3 of 4 heads (> 1/2) and 20 + 10 + 10 = 40 of 50 shares (> 1/2): passed.
    assert closed.items[0].result == "passed"
    figures = closed.items[0].figures
    assert figures is not None and figures["counted"]["for"]["share"] == [40, 1]
    await actions.close_meeting(runtime, mid, actor_id=staff)
    await actions.save_minutes(runtime, mid, "minutes", MinutesState.APPROVED, actor_id=staff)
    published_at = clock.now_ms()
    published = await actions.save_minutes(
        runtime, mid, "minutes", MinutesState.PUBLISHED, actor_id=staff
    )
    assert published.state is MeetingState.CLOSED
    until = published_at + 7 * DAY
    item = (await SqlMeetingStore(runtime.database).get_meeting(mid)).items[0]  # type: ignore[union-attr]
    assert item.objection_until == until
    job = await runtime.timers.get(actions.objections_key(item_id))
    assert job is not None and job.due_at == until and job.kind == "meetings.objections"
    # The minutes went out as a notice in 會議紀錄 to the roll's households, linked both ways,
    # asking for an acknowledgement and showing the Art. 32 window's end in Taipei time.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from web.notices.actions import notices_store, reach_of

    notice_id = published.minutes_notice_id
    assert notice_id is not None
    notice = await notices_store(runtime).get_notice(notice_id)
    assert notice is not None and notice.readable
    category = await notices_store(runtime).get_category(notice.draft.category_id)
    assert category is not None and (category.slug, category.name_zh) == ("minutes", "會議紀錄")
    assert sorted(notice.draft.audience.units) == sorted(units)
    assert notice.draft.requires_ack and notice.draft.title == "會議紀錄 Minutes：Reconvened"
    stamp = datetime.fromtimestamp(until / 1000, ZoneInfo("Asia/Taipei")).strftime("%Y-%m-%d %H:%M")
    assert f"書面異議期限：{stamp}" in notice.draft.body
    assert f"Written objections until {stamp}" in notice.draft.body
    assert f"(/meetings/{mid})" in notice.draft.body and notice.draft.body.endswith("minutes")
    # Reach per household, from the rows: ten units, one opened by its resident.
    reach = await reach_of(runtime, notice)
    assert (reach.total, reach.reached) == (len(units), 0)
    reader = await runtime.store.get_user_by_username("owner3")
    assert reader is not None
    from web.notices.actions import record_open

    assert await record_open(runtime, notice, reader)
    reach = await reach_of(runtime, notice)
    assert (reach.total, reach.reached) == (len(units), 1)
    handler = timers_of(FEATURES, runtime)["meetings.objections"]

    # Six objections: 6/10 heads (> 1/2), but 10 x 6 = 60 of 110 shares is > 1/2 too.
    for unit in units[4:]:
        assert await actions.add_objection(runtime, mid, item_id, unit, actor_id=staff)
    # The timer run early (a clock a little behind) changes nothing and comes back at the end.
    clock.advance(3 * DAY / 1000)
    await handler(TimerJob(job.key, job.kind, job.due_at, job.payload, 1))
    item = (await SqlMeetingStore(runtime.database).get_meeting(mid)).items[0]  # type: ignore[union-attr]
    assert item.objection_result is None
    clock.advance(4 * DAY / 1000)  # exactly the end of the window
    await handler(TimerJob(job.key, job.kind, job.due_at, job.payload, 1))
    item = (await SqlMeetingStore(runtime.database).get_meeting(mid)).items[0]  # type: ignore[union-attr]
    assert item.objection_result == "overturned"
    # Run again (at least once delivery): nothing changes; a late objection is refused.
    await handler(TimerJob(job.key, job.kind, job.due_at, job.payload, 2))
    clock.advance(1)
    with pytest.raises(ObjectionClosed):
        await actions.add_objection(runtime, mid, item_id, units[0], actor_id=staff)
    entries = await runtime.audit.entries(feature="meetings")
    assert {"meeting_convene", "item_close", "objection", "objections_closed"} <= {
        e.action for e in entries
    }


async def test_convening_keeps_the_notice_period(runtime: Runtime) -> None:
    _, staff = await _community(runtime)
    meeting = await actions.create_meeting(
        runtime,
        MeetingDraft(
            MeetingKind.REGULAR,
            "Too soon",
            "Lobby",
            NOW + 10 * DAY - 1,  # a millisecond short of ten days
            (ItemDraft("x", "", True, DEFAULT_THRESHOLDS[ThresholdKind.ART31]),),
        ),
        actor_id=staff,
    )
    with pytest.raises(actions.NoticeTooShort):
        await actions.convene(runtime, meeting.id, actor_id=staff)
    urgent = await actions.create_meeting(
        runtime,
        MeetingDraft(
            MeetingKind.EXTRAORDINARY,
            "Urgent",
            "Lobby",
            NOW + 2 * DAY,  # exactly two days: enough for an extraordinary meeting
            (ItemDraft("x", "", True, DEFAULT_THRESHOLDS[ThresholdKind.ART31]),),
        ),
        actor_id=staff,
    )
    assert (
        await actions.convene(runtime, urgent.id, actor_id=staff)
    ).state is MeetingState.CONVENED


async def test_the_demo_has_a_past_and_an_upcoming_meeting(runtime: Runtime) -> None:
    from linli.demo import seed_demo

    assert await seed_demo(runtime.store)
    meetings = await SqlMeetingStore(runtime.database).list_meetings()
    upcoming, past = meetings
    assert upcoming.state is MeetingState.CONVENED and len(upcoming.items) == 4
    assert past.state is MeetingState.CLOSED and past.minutes_state is MinutesState.PUBLISHED
    assert [i.result for i in past.items] == [None, "passed", "failed"]
    assert past.minutes is not None and "結果：**通過**" in past.minutes
    assert "結果：**未通過**" in past.minutes
    register = await SqlMeetingStore(runtime.database).register()
    assert len(register) == 16
    assert any(len(u.owners) == 2 for u in register)  # co-owned units


async def test_meetings_and_minutes_are_searchable_by_who_may_read_them(runtime: Runtime) -> None:
    """A draft meeting is staff's only; convened, everyone's. Minutes: staff's until published."""
    from persistence.search import SearchFilters
    from persistence.search.sql import SqlSearchStore
    from web.meetings import search as meetings_search
    from web.search import actions as search
    from workers.search import SearchWorker

    units, staff_id = await _community(runtime)
    staff = await runtime.store.get_user(staff_id)
    owner = await runtime.store.get_user_by_username("owner0")
    assert staff is not None and owner is not None
    worker = SearchWorker(runtime.work_queue, SqlSearchStore(runtime.database))
    only = SearchFilters(kinds=("meeting",))

    async def refs(who: object, query: str) -> list[str]:
        await worker.run_until_idle()
        page = await search.search(runtime, who, query, filters=only)  # type: ignore[arg-type]
        return sorted(h.ref for h in page.hits)

    item = ItemDraft("外牆修繕", "外牆**磁磚**剝落", True, DEFAULT_THRESHOLDS[ThresholdKind.ART31])
    meeting = await actions.create_meeting(
        runtime,
        MeetingDraft(MeetingKind.REGULAR, "區權會", "大堂", NOW + 30 * DAY, (item,)),
        actor_id=staff_id,
    )
    mid = str(meeting.id)
    assert await refs(staff, "磁磚") == [mid]
    assert await refs(owner, "磁磚") == []  # a draft
    await actions.convene(runtime, meeting.id, actor_id=staff_id)
    assert await refs(owner, "外牆") == [mid]
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    clock.advance(30 * DAY / 1000)
    await actions.open_meeting(runtime, meeting.id, actor_id=staff_id)
    await actions.close_meeting(runtime, meeting.id, actor_id=staff_id)
    await actions.save_minutes(
        runtime, meeting.id, "決議：外牆工程下月招標", MinutesState.APPROVED, actor_id=staff_id
    )
    assert await refs(staff, "招標") == [f"{mid}:minutes"]
    assert await refs(owner, "招標") == []  # approved, not yet published
    await actions.save_minutes(
        runtime, meeting.id, "決議：外牆工程下月招標", MinutesState.PUBLISHED, actor_id=staff_id
    )
    assert await refs(owner, "招標") == [f"{mid}:minutes"]
    assert await refs(owner, "外牆") == [mid, f"{mid}:minutes"]
    assert await meetings_search.reindex(runtime.store, clock.now_ms()) == 2
    assert await refs(owner, "外牆") == [mid, f"{mid}:minutes"]
    assert len(units) == len(SHARES)
