"""Checking out of a meeting, on SQLite and PostgreSQL (session 6): a check-out ends a stay and
keeps it; the attendance and the quorum drop exactly, counted from the rows; a vote already
cast stays cast and counted for its item; the unit may check in again; bad input changes
nothing (not checked in, not on the roll, a meeting not under way); a check-out racing a vote
or another check-out of the same unit counts once.

The expected figures are counted here by hand from ``SHARES`` (30, 30, 30, 30, 40, 40: 200),
never by ``rules.py``."""

from __future__ import annotations

import asyncio

import pytest

from gateway.meetings.events import figures_body, item_tally
from persistence.meetings import (
    Ballot,
    MeetingStateError,
    NotCheckedIn,
    NotInSession,
    NotOnRoll,
    NotPresent,
    Proxy,
    Route,
)
from persistence.meetings.rules import Choice
from persistence.meetings.sql import SqlMeetingStore
from persistence.store import Store
from tests.contract.test_meetings_store import DRAFT, SHARES, _community, _open
from tests.contract.test_store import NOW, store  # noqa: F401  (fixture)

TOTAL = sum(SHARES)


async def _rows(store: Store, meeting_id: int) -> tuple[set[int], int]:  # noqa: F811
    """The units present now and their shares, straight from the tables."""
    rows = await store.database.fetch(
        "SELECT c.unit_id, m.share FROM meeting_checkins c JOIN meeting_members m "
        "ON m.meeting_id = c.meeting_id AND m.unit_id = c.unit_id WHERE c.meeting_id = $1",
        meeting_id,
    )
    return {int(r["unit_id"]) for r in rows}, sum(int(r["share"]) for r in rows)


async def test_check_out_drops_the_figures_and_keeps_the_stay(store: Store) -> None:  # noqa: F811
    meetings, mid, units, users, staff = await _open(store)
    proxy = Proxy(
        unit_id=units[1],
        proxy_key=f"user:{users[0]}",
        proxy_user_id=users[0],
        proxy_name="Owner 0",
        route=Route.PHONE,
        reference="linli",
        recorded_by=users[1],
        created_at=NOW,
    )
    await meetings.set_proxy(mid, proxy)
    # Units 0-4 come: 0 in person with unit 1 by proxy, 2-4 in person (5 of 6, 160 of 200).
    await meetings.check_in(
        mid,
        [(units[0], None), (units[1], f"user:{users[0]}")],
        route=Route.CODE,
        recorded_by=users[0],
        now=NOW + 10,
    )
    await meetings.check_in(
        mid, [(u, None) for u in units[2:5]], route=Route.STAFF, recorded_by=staff, now=NOW + 11
    )
    before = await meetings.snapshot(mid)
    assert before is not None
    att = figures_body(before)["attendance"]
    assert att["present_units"] == 5 and att["share"] == [160, 1]
    # Art. 31: 5/6 >= 2/3 and 160/200 >= 2/3.
    assert figures_body(before)["quorum"]["art31"]["met"] is True

    item = before.meeting.items[0]
    await meetings.open_item(mid, item.id, now=NOW + 12)
    await meetings.cast_votes(
        item.id, [Ballot(units[2], Choice.FOR, Route.PHONE)], cast_by=users[2], now=NOW + 13
    )

    # Bad input changes nothing: a unit not in (all or nothing), one not on the roll.
    with pytest.raises(NotCheckedIn) as absent:
        await meetings.check_out(mid, [units[3], units[5]], recorded_by=staff, now=NOW + 14)
    assert absent.value.unit_ids == [units[5]]
    with pytest.raises(NotOnRoll):
        await meetings.check_out(mid, [10_000], recorded_by=staff, now=NOW + 14)
    assert (await _rows(store, mid))[0] == set(units[:5])

    # Owner 0 leaves with the unit they hold by proxy; unit 2 leaves after voting; unit 3 too.
    version = (await meetings.get_meeting(mid)).version  # type: ignore[union-attr]
    ended = await meetings.check_out(mid, [units[0], units[1]], recorded_by=users[0], now=NOW + 20)
    assert [(s.unit_id, s.proxy_key, s.at, s.out_at, s.out_by) for s in ended] == [
        (units[0], None, NOW + 10, NOW + 20, users[0]),
        (units[1], f"user:{users[0]}", NOW + 10, NOW + 20, users[0]),
    ]
    await meetings.check_out(mid, [units[2], units[3]], recorded_by=staff, now=NOW + 21)
    assert (await meetings.get_meeting(mid)).version == version + 2  # type: ignore[union-attr]

    snap = await meetings.snapshot(mid)
    assert snap is not None
    present, share = await _rows(store, mid)
    assert present == {units[4]} and share == SHARES[4] == 40
    body = figures_body(snap)
    att = body["attendance"]
    assert att["present_units"] == 1 and att["heads"] == [1, 1] and att["share"] == [40, 1]
    assert att["in_person_units"] == 1 and att["proxy_units"] == 0
    # 1/6 and 40/200 = 1/5: below every quorum, the Art. 32 one included (1/6 < 1/5).
    assert body["quorum"]["art31"]["met"] is False
    assert body["quorum"]["art32"]["share_met"] is True
    assert body["quorum"]["art32"]["heads_met"] is False
    # The stays are kept: who was present when.
    assert [(c.unit_id, c.at, c.out_at, c.out_by) for c in snap.checkouts] == [
        (units[0], NOW + 10, NOW + 20, users[0]),
        (units[1], NOW + 10, NOW + 20, users[0]),
        (units[2], NOW + 11, NOW + 21, staff),
        (units[3], NOW + 11, NOW + 21, staff),
    ]
    assert set(snap.present_at(NOW + 15)) == set(units[:5])
    assert snap.present_at(NOW + 15)[units[1]] == f"user:{users[0]}"
    assert set(snap.present_at(NOW + 20)) == set(units[2:5])  # out at 20: gone at 20
    assert set(snap.present_at(NOW + 21)) == {units[4]}

    # The vote cast stays cast, and its unit counts for that item: present 2 (units 2, 4),
    # 70 of the shares; for 1 unit and 30.
    assert snap.votes_of(item.id) == {units[2]: Choice.FOR}
    t = item_tally(snap, item)
    assert t.attendance.present_units == 2 and t.attendance.share == 70
    assert t.counted[Choice.FOR].heads == 1 and t.counted[Choice.FOR].share == 30
    # Gone, it cannot vote again (nor on another item); still there, unit 4 can.
    with pytest.raises(NotPresent):
        await meetings.cast_votes(
            item.id, [Ballot(units[3], Choice.FOR, Route.PAPER)], cast_by=staff, now=NOW + 22
        )
    await meetings.cast_votes(
        item.id, [Ballot(units[4], Choice.AGAINST, Route.PHONE)], cast_by=users[4], now=NOW + 23
    )

    # Owner 0 comes back (a new stay, now in person only); unit 3 comes back after the close.
    assert await meetings.check_in(
        mid, [(units[0], None)], route=Route.CODE, recorded_by=users[0], now=NOW + 30
    ) == [units[0]]
    await meetings.close_item(mid, item.id, now=NOW + 31)
    await meetings.check_in(
        mid, [(units[3], None)], route=Route.STAFF, recorded_by=staff, now=NOW + 32
    )
    snap = await meetings.snapshot(mid)
    assert snap is not None
    present, share = await _rows(store, mid)
    assert present == {units[0], units[3], units[4]} and share == 30 + 30 + 40
    assert figures_body(snap)["attendance"]["share"] == [100, 1]
    closed = next(i for i in snap.meeting.items if i.id == item.id)
    # At the close (31): units 0 and 4 present, unit 2 by its vote; unit 3 came back later.
    t = item_tally(snap, closed)
    assert t.attendance.present_units == 3 and t.attendance.share == 30 + 40 + 30
    assert t.counted[Choice.FOR].share == 30 and t.counted[Choice.AGAINST].share == 40
    assert t.not_voted.heads == 1 and t.not_voted.share == 30  # owner 0, back but silent

    # A meeting not under way: nobody checks out of it.
    await meetings.close_meeting(mid, now=NOW + 40)
    with pytest.raises(NotInSession):
        await meetings.check_out(mid, [units[0]], recorded_by=staff, now=NOW + 41)
    assert issubclass(NotInSession, MeetingStateError)


async def test_check_out_before_the_meeting_opens_is_refused(store: Store) -> None:  # noqa: F811
    units, _users, staff = await _community(store)
    meetings = SqlMeetingStore(store.database)
    meeting = await meetings.create_meeting(
        DRAFT, created_by=staff, projector_token="t", checkin_code="1", now=NOW
    )
    with pytest.raises(NotInSession):
        await meetings.check_out(meeting.id, [units[0]], recorded_by=staff, now=NOW)
    await meetings.convene(meeting.id, now=NOW + 1)
    with pytest.raises(NotInSession):
        await meetings.check_out(meeting.id, [units[0]], recorded_by=staff, now=NOW + 2)


async def test_check_out_races_count_once(store: Store) -> None:  # noqa: F811
    """The same unit checked out twice at once (a retry, the desk and the owner): one ends the
    stay, the other finds it gone. A vote racing the check-out either lands before it (and
    stays) or is refused as not present: never a vote recorded after the unit left."""
    meetings, mid, units, users, staff = await _open(store)
    await meetings.check_in(
        mid, [(u, None) for u in units], route=Route.STAFF, recorded_by=staff, now=NOW + 3
    )
    item = (await meetings.get_meeting(mid)).items[0]  # type: ignore[union-attr]
    await meetings.open_item(mid, item.id, now=NOW + 4)

    async def out(unit: int) -> str:
        try:
            await meetings.check_out(mid, [unit], recorded_by=staff, now=NOW + 5)
            return "out"
        except NotCheckedIn:
            return "gone"

    async def vote(unit: int, user: int) -> str:
        try:
            await meetings.cast_votes(
                item.id, [Ballot(unit, Choice.FOR, Route.PHONE)], cast_by=user, now=NOW + 5
            )
            return "voted"
        except NotPresent:
            return "refused"

    outcomes = await asyncio.gather(*(out(units[0]) for _ in range(4)))
    assert sorted(outcomes) == ["gone", "gone", "gone", "out"]
    raced = await asyncio.gather(
        *(f for u, user in zip(units[1:], users[1:], strict=True) for f in (out(u), vote(u, user)))
    )
    assert raced[0::2] == ["out"] * 5
    snap = await meetings.snapshot(mid)
    assert snap is not None and snap.present == {}
    rows = await store.database.fetch(
        "SELECT v.unit_id, v.cast_at, o.out_at FROM meeting_votes v JOIN meeting_checkouts o "
        "ON o.unit_id = v.unit_id AND o.meeting_id = $2 WHERE v.item_id = $1",
        item.id,
        mid,
    )
    voted = {int(r["unit_id"]) for r in rows}
    assert len(voted) == raced[1::2].count("voted")
    # Every recorded vote counts, each unit once, for the item; nobody is present now.
    t = item_tally(snap, item)
    assert t.votes == len(voted) and t.attendance.present_units == len(voted)
    assert t.counted[Choice.FOR].share == sum(SHARES[units.index(u)] for u in voted)
    assert len(await store.database.fetch("SELECT id FROM meeting_checkouts")) == 6
