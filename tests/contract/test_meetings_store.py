"""The meetings store on SQLite and PostgreSQL: the register and the roll fixed at convening,
proxies before check-in, one check-in and one vote per unit (concurrent retries included),
no vote from an absent unit or after the close, objections in their window, and snapshots
whose figures equal a count of the rows."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gateway.meetings.events import figures_body
from persistence.meetings import (
    AlreadyVoted,
    Ballot,
    CheckedInAlready,
    EmptyRegister,
    ItemDraft,
    ItemNotOpen,
    ItemState,
    MeetingDraft,
    MeetingKind,
    MeetingNotFound,
    MeetingState,
    MeetingStateError,
    MinutesState,
    NotOnRoll,
    NotPresent,
    ObjectionClosed,
    OwnerEntry,
    Proxy,
    QuestionState,
    RegisterEntry,
    Route,
    VoteNotFound,
)
from persistence.meetings.rules import DEFAULT_THRESHOLDS, Choice, ThresholdKind, tally
from persistence.meetings.sql import SqlMeetingStore
from persistence.store import Role, Store
from tests.contract.test_store import NOW, store  # noqa: F401  (fixture)

#: No unit over a fifth of the 200 (Art. 27 §2 would cut it): 40 is exactly a fifth.
SHARES = (30, 30, 30, 30, 40, 40)
DRAFT = MeetingDraft(
    kind=MeetingKind.REGULAR,
    title="2026 annual meeting",
    place="Lobby",
    starts_at=NOW + 86_400_000 * 20,
    items=(
        ItemDraft(
            "Repaint the walls", "Quotes attached", True, DEFAULT_THRESHOLDS[ThresholdKind.ART31]
        ),
        ItemDraft("Reports", "", False, DEFAULT_THRESHOLDS[ThresholdKind.MAJORITY]),
    ),
)


async def _community(store: Store, units: int = 6) -> tuple[list[int], list[int], int]:  # noqa: F811
    """A building of ``units`` units, one owner-user each (the first unit co-owned with a
    person without an account); unit ids, user ids, a committee member's id."""
    building = await store.create_building("Block A", now=NOW)
    users, unit_ids = [], []
    for i in range(units):
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
        users.append(user.id)
        unit_ids.append(user.unit_id)
    staff = await store.create_user(
        username="lam",
        display_name="Lam",
        password_hash="h",
        role=Role.COMMITTEE,
        building_id=building.id,
        unit_label=None,
        now=NOW,
    )
    entries = [
        RegisterEntry(
            unit_id=u,
            share=SHARES[i],
            owners=(OwnerEntry(f"Owner {i}", users[i]),)
            + ((OwnerEntry("Co-owner without account"),) if i == 0 else ()),
        )
        for i, u in enumerate(unit_ids)
    ]
    assert await SqlMeetingStore(store.database).replace_register(entries, now=NOW) == units
    return unit_ids, users, staff.id


async def _open(store: Store) -> tuple[SqlMeetingStore, int, list[int], list[int], int]:  # noqa: F811
    units, users, staff = await _community(store)
    meetings = SqlMeetingStore(store.database)
    meeting = await meetings.create_meeting(
        DRAFT, created_by=staff, projector_token="tok", checkin_code="123456", now=NOW
    )
    await meetings.convene(meeting.id, now=NOW + 1)
    await meetings.open_meeting(meeting.id, now=NOW + 2)
    return meetings, meeting.id, units, users, staff


async def test_register_and_roll_fixed_at_convening(store: Store) -> None:  # noqa: F811
    units, users, staff = await _community(store)
    meetings = SqlMeetingStore(store.database)
    register = await meetings.register()
    assert [r.unit_id for r in register] == units
    assert register[0].owners == (
        OwnerEntry("Owner 0", users[0]),
        OwnerEntry("Co-owner without account"),
    )
    assert register[0].voice == OwnerEntry("Owner 0", users[0])
    assert [r.share for r in register] == list(SHARES)
    meeting = await meetings.create_meeting(
        DRAFT, created_by=staff, projector_token="tok", checkin_code="123456", now=NOW
    )
    assert meeting.state is MeetingState.DRAFT and len(meeting.items) == 2
    assert meeting.items[0].draft == DRAFT.items[0]
    assert (await meetings.get_meeting_by_token("tok")) == meeting
    convened = await meetings.convene(meeting.id, now=NOW + 1)
    assert convened.state is MeetingState.CONVENED and convened.version > meeting.version
    roll = await meetings.roll(meeting.id)
    assert [(r.unit_id, r.share, r.user_id) for r in roll] == [
        (u, SHARES[i], users[i]) for i, u in enumerate(units)
    ]
    assert roll[0].owners == "Owner 0、Co-owner without account"
    # A later register edit leaves the convened roll alone.
    await meetings.replace_register(
        [RegisterEntry(units[0], 999, (OwnerEntry("Someone else"),))], now=NOW
    )
    assert [r.share for r in await meetings.roll(meeting.id)] == list(SHARES)
    with pytest.raises(MeetingStateError):
        await meetings.convene(meeting.id, now=NOW + 2)
    with pytest.raises(MeetingStateError):
        await meetings.update_meeting(meeting.id, DRAFT)


async def test_convening_needs_a_register(store: Store) -> None:  # noqa: F811
    building = await store.create_building("B", now=NOW)
    staff = await store.create_user(
        username="ho",
        display_name="Ho",
        password_hash="h",
        role=Role.MANAGEMENT,
        building_id=building.id,
        unit_label=None,
        now=NOW,
    )
    meetings = SqlMeetingStore(store.database)
    meeting = await meetings.create_meeting(
        DRAFT, created_by=staff.id, projector_token="t", checkin_code="1", now=NOW
    )
    with pytest.raises(EmptyRegister):
        await meetings.convene(meeting.id, now=NOW)


async def test_proxies_checkins_and_votes(store: Store) -> None:  # noqa: F811
    meetings, mid, units, users, staff = await _open(store)
    proxy = Proxy(
        unit_id=units[1],
        proxy_key=f"user:{users[0]}",
        proxy_user_id=users[0],
        proxy_name="Owner 0",
        route=Route.PAPER,
        reference="form 7",
        recorded_by=staff,
        created_at=NOW,
    )
    await meetings.set_proxy(mid, proxy)
    with pytest.raises(NotOnRoll):
        await meetings.set_proxy(mid, dataclasses.replace(proxy, unit_id=10_000))
    # Checked in: owner 0 in person, unit 2 through its proxy; a retry adds nothing.
    entries = [(units[0], None), (units[1], f"user:{users[0]}")]
    assert await meetings.check_in(
        mid, entries, route=Route.CODE, recorded_by=users[0], now=NOW + 3
    ) == [units[0], units[1]]
    assert (
        await meetings.check_in(mid, entries, route=Route.CODE, recorded_by=users[0], now=NOW + 4)
        == []
    )
    with pytest.raises(CheckedInAlready):
        await meetings.set_proxy(mid, proxy)
    with pytest.raises(CheckedInAlready):
        await meetings.remove_proxy(mid, units[1])
    item = (await meetings.get_meeting(mid)).items[0]  # type: ignore[union-attr]
    with pytest.raises(ItemNotOpen):
        await meetings.cast_votes(
            item.id, [Ballot(units[0], Choice.FOR, Route.PHONE)], cast_by=users[0], now=NOW
        )
    await meetings.open_item(mid, item.id, now=NOW + 5)
    with pytest.raises(MeetingStateError):
        await meetings.open_item(mid, (await meetings.get_meeting(mid)).items[1].id, now=NOW)  # type: ignore[union-attr]
    with pytest.raises(NotPresent):
        await meetings.cast_votes(
            item.id, [Ballot(units[2], Choice.FOR, Route.PHONE)], cast_by=users[2], now=NOW
        )
    recorded = await meetings.cast_votes(
        item.id,
        [Ballot(units[0], Choice.FOR, Route.PHONE), Ballot(units[1], Choice.AGAINST, Route.PROXY)],
        cast_by=users[0],
        now=NOW + 6,
    )
    assert recorded == [units[0], units[1]]
    with pytest.raises(AlreadyVoted) as again:
        await meetings.cast_votes(
            item.id, [Ballot(units[1], Choice.FOR, Route.PAPER)], cast_by=staff, now=NOW + 7
        )
    assert again.value.unit_ids == [units[1]]
    snap = await meetings.snapshot(mid)
    assert snap is not None
    assert snap.present == {units[0]: None, units[1]: f"user:{users[0]}"}
    assert snap.votes_of(item.id) == {units[0]: Choice.FOR, units[1]: Choice.AGAINST}
    assert [(p.unit_id, p.reference) for p in snap.proxies] == [(units[1], "form 7")]
    closed = await meetings.close_item(mid, item.id, now=NOW + 8)
    assert closed.items[0].state is ItemState.CLOSED and closed.items[0].closed_at == NOW + 8
    with pytest.raises(ItemNotOpen):  # a vote after the close
        await meetings.cast_votes(
            item.id, [Ballot(units[0], Choice.FOR, Route.PAPER)], cast_by=staff, now=NOW + 9
        )
    done = await meetings.set_item_result(mid, item.id, result="failed", figures={"a": 1})
    assert done.items[0].result == "failed" and done.items[0].figures == {"a": 1}
    # Closing the meeting with an item open is refused; then the minutes.
    await meetings.open_item(mid, done.items[1].id, now=NOW + 10)
    with pytest.raises(MeetingStateError):
        await meetings.close_meeting(mid, now=NOW + 11)
    await meetings.close_item(mid, done.items[1].id, now=NOW + 12)
    assert (await meetings.close_meeting(mid, now=NOW + 13)).state is MeetingState.CLOSED
    with pytest.raises(MeetingStateError):
        await meetings.check_in(
            mid, [(units[3], None)], route=Route.STAFF, recorded_by=staff, now=NOW
        )
    minutes = await meetings.save_minutes(
        mid, "# Minutes", MinutesState.APPROVED, by=staff, now=NOW
    )
    assert minutes.minutes == "# Minutes" and minutes.minutes_state is MinutesState.APPROVED


async def test_concurrent_votes_count_once_and_match_the_rows(store: Store) -> None:  # noqa: F811
    meetings, mid, units, users, staff = await _open(store)
    await meetings.check_in(
        mid, [(u, None) for u in units], route=Route.STAFF, recorded_by=staff, now=NOW + 3
    )
    item = (await meetings.get_meeting(mid)).items[0]  # type: ignore[union-attr]
    await meetings.open_item(mid, item.id, now=NOW + 4)
    choices = [Choice.FOR, Choice.FOR, Choice.AGAINST, Choice.FOR, Choice.ABSTAIN, Choice.FOR]

    async def vote(i: int) -> str:
        try:
            await meetings.cast_votes(
                item.id,
                [Ballot(units[i % 6], choices[i % 6], Route.PHONE)],
                cast_by=users[i % 6],
                now=NOW + 5,
            )
            return "ok"
        except AlreadyVoted:
            return "again"

    # Every unit's vote sent four times at once: one of each is recorded.
    outcomes = await asyncio.gather(*(vote(i) for i in range(24)))
    assert outcomes.count("ok") == 6 and outcomes.count("again") == 18
    snap = await meetings.snapshot(mid)
    assert snap is not None
    rows = await store.database.fetch(
        "SELECT unit_id, choice FROM meeting_votes WHERE item_id = $1", item.id
    )
    assert {r["unit_id"]: r["choice"] for r in rows} == {
        u: str(choices[i]) for i, u in enumerate(units)
    }
    t = tally(
        [r.member for r in snap.roll], snap.present, snap.votes_of(item.id), item.draft.threshold
    )
    # Shares 200: for = units 1, 2, 4, 6 = 30 + 30 + 30 + 40 = 130 of 200 (< 3/4),
    # heads 4 of 6 (< 3/4): fails. Counted by hand, not by the rules.
    assert t.counted[Choice.FOR].heads == 4 and t.counted[Choice.FOR].share == 130
    assert t.attendance.heads == 6 and t.attendance.share == 200
    assert not t.passes


async def test_objection_window(store: Store) -> None:  # noqa: F811
    meetings, mid, units, _users, staff = await _open(store)
    item = (await meetings.get_meeting(mid)).items[0]  # type: ignore[union-attr]
    with pytest.raises(ObjectionClosed):
        await meetings.add_objection(item.id, units[0], recorded_by=staff, now=NOW)
    await meetings.set_objection_window(item.id, NOW + 100)
    assert await meetings.add_objection(item.id, units[0], recorded_by=staff, now=NOW + 100)
    assert not await meetings.add_objection(item.id, units[0], recorded_by=staff, now=NOW + 50)
    with pytest.raises(NotOnRoll):
        await meetings.add_objection(item.id, 10_000, recorded_by=staff, now=NOW)
    with pytest.raises(ObjectionClosed):
        await meetings.add_objection(item.id, units[1], recorded_by=staff, now=NOW + 101)
    snap = await meetings.snapshot(mid)
    assert snap is not None and snap.objections == {item.id: (units[0],)}
    assert await meetings.finish_objections(item.id, "stands")
    assert not await meetings.finish_objections(item.id, "overturned")
    assert (await meetings.get_meeting(mid)).items[0].objection_result == "stands"  # type: ignore[union-attr]


async def test_a_units_vote_belongs_to_whoever_brought_it_in(store: Store) -> None:  # noqa: F811
    meetings, mid, units, users, staff = await _open(store)
    # Owner 1 appointed owner 0; owner 0 checks unit 1 in as the proxy.
    await meetings.set_proxy(
        mid,
        Proxy(units[1], f"user:{users[0]}", users[0], "Owner 0", Route.PHONE, "", users[1], NOW),
    )
    await meetings.check_in(
        mid,
        [(units[0], None), (units[1], f"user:{users[0]}")],
        route=Route.CODE,
        recorded_by=users[0],
        now=NOW + 3,
    )
    proxy = await meetings.held(mid, users[0])
    assert proxy.own == (units[0],) and proxy.entrusted == (units[1],)
    assert proxy.present == (units[0], units[1])
    # The owner who gave the proxy holds the unit but does not speak for it from home.
    owner = await meetings.held(mid, users[1])
    assert owner.own == (units[1],) and owner.present == ()
    nobody = await meetings.held(mid, staff)
    assert nobody.units == ()


async def test_questions_from_the_floor(store: Store) -> None:  # noqa: F811
    meetings, mid, _units, users, staff = await _open(store)
    first = await meetings.ask(mid, users[0], "When is the lift fixed?", now=NOW + 1)
    second = await meetings.ask(mid, users[1], "Who pays?", now=NOW + 2)
    with pytest.raises(MeetingNotFound):  # a queued question takes no upvotes yet
        await meetings.upvote(mid, first, users[2])
    await meetings.set_question_state(mid, first, QuestionState.SHOWN)
    await meetings.set_question_state(mid, second, QuestionState.SHOWN)
    assert await meetings.upvote(mid, second, users[2])
    assert not await meetings.upvote(mid, second, users[2])  # once per person
    assert await meetings.upvote(mid, second, users[3])
    found = await meetings.questions(mid)
    assert [(q.id, q.votes) for q in found] == [(second, 2), (first, 0)]
    await meetings.set_question_state(mid, first, QuestionState.HIDDEN)
    snap = await meetings.snapshot(mid)
    assert snap is not None
    body = figures_body(snap)
    # Only moderated questions reach every screen.
    assert [(q["id"], q["votes"]) for q in body["questions"]] == [(second, 2)]
    with pytest.raises(MeetingNotFound):
        await meetings.set_question_state(mid, 10_000, QuestionState.SHOWN)
    del staff


async def test_staff_correct_a_recorded_vote(store: Store) -> None:  # noqa: F811
    meetings, mid, units, _users, staff = await _open(store)
    await meetings.check_in(
        mid, [(u, None) for u in units], route=Route.STAFF, recorded_by=staff, now=NOW + 3
    )
    item = (await meetings.get_meeting(mid)).items[0]  # type: ignore[union-attr]
    with pytest.raises(ItemNotOpen):  # pending: nothing to correct
        await meetings.correct_vote(
            item.id, units[0], Choice.FOR, reason="x", corrected_by=staff, now=NOW + 4
        )
    await meetings.open_item(mid, item.id, now=NOW + 4)
    await meetings.cast_votes(
        item.id, [Ballot(units[0], Choice.FOR, Route.PAPER)], cast_by=staff, now=NOW + 5
    )
    version = (await meetings.get_meeting(mid)).version  # type: ignore[union-attr]
    with pytest.raises(VoteNotFound):
        await meetings.correct_vote(
            item.id, units[1], Choice.FOR, reason="x", corrected_by=staff, now=NOW + 6
        )
    with pytest.raises(MeetingStateError):
        await meetings.correct_vote(
            item.id, units[0], Choice.FOR, reason="x", corrected_by=staff, now=NOW + 6
        )
    fixed = await meetings.correct_vote(
        item.id, units[0], Choice.AGAINST, reason="misread", corrected_by=staff, now=NOW + 7
    )
    assert (fixed.old_choice, fixed.new_choice, fixed.reason) == (
        Choice.FOR,
        Choice.AGAINST,
        "misread",
    )
    snap = await meetings.snapshot(mid)
    assert snap is not None and snap.meeting.version == version + 1
    assert snap.votes_of(item.id) == {units[0]: Choice.AGAINST}
    assert [(c.unit_id, c.old_choice, c.new_choice) for c in snap.corrections] == [
        (units[0], Choice.FOR, Choice.AGAINST)
    ]
    assert figures_body(snap)["item"]["corrections"] == [
        {"at": NOW + 7, "from": "for", "to": "against"}
    ]
    # Closed, the meeting still open: correctable (the caller counts the result again).
    await meetings.close_item(mid, item.id, now=NOW + 8)
    await meetings.correct_vote(
        item.id, units[0], Choice.ABSTAIN, reason="second look", corrected_by=staff, now=NOW + 9
    )
    await meetings.close_meeting(mid, now=NOW + 10)
    with pytest.raises(ItemNotOpen):
        await meetings.correct_vote(
            item.id, units[0], Choice.FOR, reason="late", corrected_by=staff, now=NOW + 9
        )
