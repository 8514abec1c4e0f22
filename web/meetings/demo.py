"""The meetings' part of the demo: an owners' register for the demo's units and some more
(co-owned units and one owner of several among them), an upcoming annual owners' meeting with
its agenda, convened, and last year's, closed, with its attendance, proxies, votes, results and
published minutes. Straight into the store, like every demo seed."""

from __future__ import annotations

from gateway.meetings.events import item_result, item_tally, tally_json
from linli.feature import Demo
from persistence.meetings import (
    Ballot,
    ItemDraft,
    MeetingDraft,
    MeetingKind,
    MinutesState,
    OwnerEntry,
    Proxy,
    RegisterEntry,
    Route,
)
from persistence.meetings.rules import DEFAULT_THRESHOLDS, Choice, ThresholdKind
from persistence.meetings.sql import SqlMeetingStore
from web.meetings import minutes
from web.meetings.search import reindex

DAY = 86_400_000
ART31 = DEFAULT_THRESHOLDS[ThresholdKind.ART31]
MAJORITY = DEFAULT_THRESHOLDS[ThresholdKind.MAJORITY]
#: Other owners of the two blocks (no Linli accounts): (block index, unit, share, owners).
OTHERS = (
    (0, "1A", 52, ("張志明",)),
    (0, "1B", 48, ("王美玲", "王大同")),
    (0, "2A", 52, ("劉家豪",)),
    (0, "2B", 48, ("許雅婷",)),
    (0, "5B", 48, ("吳建國", "吳林秀英")),
    (0, "7A", 52, ("蔡宗翰",)),
    (1, "1A", 60, ("鄭文華",)),
    (1, "2A", 60, ("謝淑芬",)),
    (1, "3A", 60, ("周俊傑",)),
    (1, "6A", 60, ("周俊傑",)),  # one owner of two units
    (1, "7A", 60, ("楊麗華",)),
    (1, "9B", 40, ("黃志強",)),
)
#: The demo people who own their unit, with its share.
OWNERS = {"chan": 52, "lee": 48, "wong": 40, "lam": 60}


async def seed_demo(demo: Demo) -> None:
    meetings = SqlMeetingStore(demo.store.database)
    entries = []
    for username, share in OWNERS.items():
        user = demo.users[username]
        assert user.unit_id is not None
        entries.append(
            RegisterEntry(user.unit_id, share, (OwnerEntry(user.display_name, user.id),))
        )
    for block, label, share, names in OTHERS:
        unit_id = await meetings.ensure_unit(demo.buildings[block], label)
        entries.append(RegisterEntry(unit_id, share, tuple(OwnerEntry(n) for n in names)))
    await meetings.replace_register(entries, now=demo.now)
    staff = demo.users["lam"].id
    now = demo.now

    # Last year's meeting: closed, with its results and minutes.
    past = await meetings.create_meeting(
        MeetingDraft(
            kind=MeetingKind.REGULAR,
            title="2025 年度區分所有權人會議 Annual owners' meeting 2025",
            place="B座大堂 Block B lobby",
            starts_at=now - 300 * DAY,
            items=(
                ItemDraft("管委會工作報告 Committee's report", "", False, MAJORITY),
                ItemDraft(
                    "更換電梯 Replace the lifts",
                    "兩部電梯使用已逾二十五年，報價三家附後。Two quotes attached.",
                    True,
                    ART31,
                ),
                ItemDraft("調整管理費 Raise the fee by 5 %", "", True, ART31),
            ),
        ),
        created_by=staff,
        projector_token="demo-past-meeting",
        checkin_code="202501",
        now=now - 320 * DAY,
    )
    await meetings.convene(past.id, now=now - 320 * DAY)
    await meetings.open_meeting(past.id, now=now - 300 * DAY)
    roll = await meetings.roll(past.id)
    by_label = {r.label.split(" ", 2)[-1] + ("A" if "A座" in r.label else "B"): r for r in roll}
    chan, lee = demo.users["chan"], demo.users["lee"]
    # Mr Lee could not come: Mrs Chan holds his proxy (a paper form).
    lee_unit = next(r.unit_id for r in roll if r.user_id == lee.id)
    await meetings.set_proxy(
        past.id,
        Proxy(
            lee_unit,
            f"user:{chan.id}",
            chan.id,
            chan.display_name,
            Route.PAPER,
            "委託書 #1",
            staff,
            now - 301 * DAY,
            scan_to_follow=True,
        ),
    )
    absent = {r.unit_id for r in roll[-3:]}
    entries_in = [
        (r.unit_id, f"user:{chan.id}" if r.unit_id == lee_unit else None)
        for r in roll
        if r.unit_id not in absent
    ]
    await meetings.check_in(
        past.id, entries_in, route=Route.STAFF, recorded_by=staff, now=now - 300 * DAY
    )
    del by_label
    present = [u for u, _ in entries_in]
    plans = {
        2: lambda i: Choice.FOR if i % 7 else Choice.AGAINST,
        3: lambda i: Choice.AGAINST if i % 2 else Choice.FOR,
    }
    snapshot = await meetings.snapshot(past.id)
    assert snapshot is not None
    for item in snapshot.meeting.items:
        at = now - 300 * DAY + item.position * 600_000
        await meetings.open_item(past.id, item.id, now=at)
        plan = plans.get(item.position)
        if plan is not None:
            for i, unit in enumerate(present):
                await meetings.cast_votes(
                    item.id,
                    [Ballot(unit, plan(i), Route.PROXY if unit == lee_unit else Route.PAPER)],
                    cast_by=staff,
                    now=at + 1000,
                )
        await meetings.close_item(past.id, item.id, now=at + 300_000)
        snap = await meetings.snapshot(past.id)
        assert snap is not None
        closed = next(i for i in snap.meeting.items if i.id == item.id)
        t = item_tally(snap, closed)
        await meetings.set_item_result(
            past.id, item.id, result=item_result(closed, t), figures=tally_json(t)
        )
    await meetings.close_meeting(past.id, now=now - 300 * DAY + 3 * 3_600_000)
    final = await meetings.snapshot(past.id)
    assert final is not None
    from zoneinfo import ZoneInfo

    text = minutes.draft(final, ZoneInfo("Asia/Taipei"))
    await meetings.save_minutes(
        past.id, text, MinutesState.PUBLISHED, by=staff, now=now - 295 * DAY
    )

    # This year's: convened, in two weeks.
    upcoming = await meetings.create_meeting(
        MeetingDraft(
            kind=MeetingKind.REGULAR,
            title="2026 年度區分所有權人會議 Annual owners' meeting 2026",
            place="B座大堂 Block B lobby",
            starts_at=now + 14 * DAY,
            items=(
                ItemDraft(
                    "管委會工作及財務報告 Committee's and accounts' report", "", False, MAJORITY
                ),
                ItemDraft(
                    "外牆修繕 Repair the outer walls",
                    "外牆磁磚剝落，擬動用公共基金修繕。Tiles are falling; use the reserve fund.",
                    True,
                    ART31,
                ),
                ItemDraft(
                    "修訂規約：寵物 Bylaws: pets in the lifts",
                    "寵物須由主人抱著或裝籠搭乘電梯。Pets carried or caged in the lifts.",
                    True,
                    ART31,
                ),
                ItemDraft("選舉管理委員 Elect the committee", "", True, MAJORITY),
            ),
        ),
        created_by=staff,
        projector_token="demo-annual-meeting",
        checkin_code="202602",
        now=now - 2 * DAY,
    )
    await meetings.convene(upcoming.id, now=now - 2 * DAY)
    await reindex(demo.store, now)  # searchable from the start
