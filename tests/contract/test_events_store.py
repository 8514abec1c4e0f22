"""The events store's contract on SQLite and PostgreSQL (``persistence/events``): places exact
under concurrent sign-ups, the waitlist in arrival order, one live sign-up per holder,
idempotent requests, promotion on every place-freeing change (with and without a confirmation
window), one check-in, no-shows, a cancelled event, and the calendar feeds' tokens."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from persistence.events import (
    CONFIRM_TIMEOUT_KIND,
    AlreadyCheckedIn,
    AlreadySignedUp,
    Audience,
    CapacityTooLow,
    Counting,
    Event,
    EventCancelled,
    EventDraft,
    NotConfirmed,
    NotOffered,
    SessionDraft,
    SignupNotFound,
    SignupState,
)
from persistence.events.sql import HOUR_MS, SqlEventStore, confirm_timer_key
from persistence.store import Role, Store
from persistence.timers.sql import SqlTimerStore
from tests.contract.test_store import NOW, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)


def _draft(capacity: int, **overrides: object) -> EventDraft:
    fields: dict[str, object] = {
        "title": "中秋烤肉",
        "body": "**BBQ**",
        "body_html": "<p><strong>BBQ</strong></p>",
        "place": "Podium garden",
        "audience": Audience(everyone=True),
        "counting": Counting.PERSON,
        "max_seats": 4,
        "signup_opens": NOW - HOUR_MS,
        "signup_closes": NOW + 48 * HOUR_MS,
        "sessions": (SessionDraft("evening", NOW + 72 * HOUR_MS, NOW + 75 * HOUR_MS, capacity),),
        "remind_hours": 24,
    }
    fields.update(overrides)
    return EventDraft(**fields)  # type: ignore[arg-type]


async def _people(store: Store, count: int, *, per_unit: int = 1) -> list[tuple[int, int]]:  # noqa: F811
    """``count`` residents, ``per_unit`` to a unit: (user id, unit id)."""
    building = await store.create_building("Harbour View", now=NOW)
    found = []
    for i in range(count):
        user = await store.create_user(
            username=f"r{i}",
            display_name=f"Resident {i}",
            password_hash="h",
            role=Role.RESIDENT,
            building_id=building.id,
            unit_label=f"{i // per_unit}F",
            now=NOW,
        )
        assert user.unit_id is not None
        found.append((user.id, user.unit_id))
    return found


async def test_rush_takes_exactly_the_capacity_and_queues_the_rest_in_order(
    store: Store,  # noqa: F811
) -> None:
    people = await _people(store, 120)
    events = SqlEventStore(store.database)
    event = await events.create_event(_draft(20), created_by=people[0][0], now=NOW)
    session = event.sessions[0].id

    async def sign_up(i: int, user_id: int) -> tuple[int, SignupState, int | None]:
        result = await events.sign_up(
            session,
            user_id=user_id,
            holder=f"user:{user_id}",
            seats=1,
            answers=[],
            request_key=f"k{i}",
            code=f"C{i:05d}",
            now=NOW,
        )
        return result.signup.id, result.signup.state, result.signup.position

    results = await asyncio.gather(*(sign_up(i, u) for i, (u, _) in enumerate(people)))
    states = Counter(state for _, state, _ in results)
    assert states == {SignupState.CONFIRMED: 20, SignupState.WAITLISTED: 100}
    by_id = sorted(results)
    # Arrival order is id order: the first 20 served hold the places, the rest wait in turn.
    assert [s for _, s, _ in by_id[:20]] == [SignupState.CONFIRMED] * 20
    assert [p for _, _, p in by_id[20:]] == list(range(1, 101))
    counts = await events.counts(session)
    assert counts is not None
    assert (counts.taken, counts.confirmed, counts.waitlisted, counts.free) == (20, 20, 100, 0)
    rows = await store.database.fetch(
        "SELECT state, count(*) AS n FROM event_signups GROUP BY state ORDER BY state"
    )
    assert {r["state"]: r["n"] for r in rows} == {"confirmed": 20, "waitlisted": 100}


async def test_same_request_key_never_takes_a_second_place(store: Store) -> None:  # noqa: F811
    people = await _people(store, 3)
    events = SqlEventStore(store.database)
    event = await events.create_event(_draft(1), created_by=people[0][0], now=NOW)
    session = event.sessions[0].id
    args = {"holder": f"user:{people[0][0]}", "seats": 1, "answers": [], "now": NOW}
    results = await asyncio.gather(
        *(
            events.sign_up(session, user_id=people[0][0], request_key="same", code=f"X{i}", **args)  # type: ignore[arg-type]
            for i in range(10)
        )
    )
    assert len({r.signup.id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    counts = await events.counts(session)
    assert counts is not None and counts.confirmed == 1


async def test_one_place_per_household_when_households_count(store: Store) -> None:  # noqa: F811
    (ann, unit), (amy, unit2) = await _people(store, 2, per_unit=2)
    assert unit == unit2
    events = SqlEventStore(store.database)
    event = await events.create_event(
        _draft(10, counting=Counting.HOUSEHOLD), created_by=ann, now=NOW
    )
    session = event.sessions[0].id
    first = await events.sign_up(
        session, user_id=ann, holder=f"unit:{unit}", seats=2, answers=["yes"],
        request_key="a", code="A1", now=NOW,
    )  # fmt: skip
    with pytest.raises(AlreadySignedUp) as refused:
        await events.sign_up(
            session, user_id=amy, holder=f"unit:{unit}", seats=1, answers=[],
            request_key="b", code="A2", now=NOW,
        )  # fmt: skip
    assert refused.value.existing.id == first.signup.id
    assert refused.value.existing.user_id == ann
    # After a cancel the household may sign up again.
    await events.cancel(first.signup.id, now=NOW)
    again = await events.sign_up(
        session, user_id=amy, holder=f"unit:{unit}", seats=1, answers=[],
        request_key="b", code="A2", now=NOW,
    )  # fmt: skip
    assert again.signup.state is SignupState.CONFIRMED


async def _filled(
    store: Store,  # noqa: F811
    capacity: int,
    people: int,
    **draft: object,
) -> tuple[SqlEventStore, Event, int, list[int]]:
    found = await _people(store, people)
    events = SqlEventStore(store.database)
    event = await events.create_event(_draft(capacity, **draft), created_by=found[0][0], now=NOW)
    session = event.sessions[0].id
    ids = []
    for i, (user, _) in enumerate(found):
        result = await events.sign_up(
            session, user_id=user, holder=f"user:{user}", seats=1, answers=[],
            request_key=f"k{i}", code=f"C{i}", now=NOW,
        )  # fmt: skip
        ids.append(result.signup.id)
    return events, event, session, ids


async def test_cancel_promotes_the_first_waiting_at_once(store: Store) -> None:  # noqa: F811
    events, _, _, ids = await _filled(store, 2, 5)
    change = await events.cancel(ids[0], now=NOW + 1)
    assert change.signup is not None and change.signup.state is SignupState.CANCELLED
    assert [s.id for s in change.promoted] == [ids[2]]
    assert change.promoted[0].state is SignupState.CONFIRMED
    assert [(await events.get_signup(i)).position for i in ids[3:]] == [1, 2]  # type: ignore[union-attr]
    # Cancelling again changes nothing and promotes nobody.
    assert (await events.cancel(ids[0], now=NOW + 2)).promoted == ()
    # A waitlisted sign-up's cancel frees no place.
    assert (await events.cancel(ids[3], now=NOW + 3)).promoted == ()
    assert (await events.get_signup(ids[4])).position == 1  # type: ignore[union-attr]


async def test_an_unconfirmed_offer_passes_the_place_on(store: Store) -> None:  # noqa: F811
    events, _, session, ids = await _filled(store, 1, 3, confirm_hours=2)
    timers = SqlTimerStore(store.database)
    change = await events.cancel(ids[0], now=NOW)
    offered = change.promoted[0]
    assert (offered.id, offered.state) == (ids[1], SignupState.OFFERED)
    assert offered.offered_until == NOW + 2 * HOUR_MS
    job = await timers.get(confirm_timer_key(ids[1]))
    assert job is not None and job.kind == CONFIRM_TIMEOUT_KIND
    assert job.due_at == NOW + 2 * HOUR_MS
    counts = await events.counts(session)
    assert counts is not None and (counts.taken, counts.offered, counts.waitlisted) == (1, 1, 1)
    # Not yet due: nothing changes.
    early = await events.expire_offer(ids[1], now=NOW + HOUR_MS)
    assert early.promoted == () and early.signup is not None
    assert early.signup.state is SignupState.OFFERED
    # Due: expired, and the next is offered with its own window.
    late = await events.expire_offer(ids[1], now=NOW + 2 * HOUR_MS)
    assert late.signup is not None and late.signup.state is SignupState.EXPIRED
    assert [(s.id, s.state) for s in late.promoted] == [(ids[2], SignupState.OFFERED)]
    # A second run of the same job (a redelivery) changes nothing.
    assert (await events.expire_offer(ids[1], now=NOW + 3 * HOUR_MS)).promoted == ()
    confirmed = await events.confirm(ids[2], now=NOW + 2 * HOUR_MS + 5)
    assert confirmed.state is SignupState.CONFIRMED
    assert await timers.get(confirm_timer_key(ids[2])) is None
    with pytest.raises(NotOffered):
        await events.confirm(ids[2], now=NOW + 2 * HOUR_MS + 6)
    # The confirmed place is not expired by a late timer.
    assert (await events.expire_offer(ids[2], now=NOW + 9 * HOUR_MS)).promoted == ()


async def test_waitlist_is_strict_order_by_seats(store: Store) -> None:  # noqa: F811
    people = await _people(store, 4)
    events = SqlEventStore(store.database)
    event = await events.create_event(_draft(4), created_by=people[0][0], now=NOW)
    session = event.sessions[0].id
    got = []
    for i, ((user, _), seats) in enumerate(zip(people, (3, 3, 1, 1), strict=True)):
        result = await events.sign_up(
            session, user_id=user, holder=f"user:{user}", seats=seats, answers=[],
            request_key=f"k{i}", code=f"C{i}", now=NOW,
        )  # fmt: skip
        got.append(result.signup)
    # 3 confirmed; 3 seats wait although 1 is free; 1 seat after it waits too (no jumping).
    assert [s.state for s in got] == [SignupState.CONFIRMED] + [SignupState.WAITLISTED] * 3
    change = await events.set_capacity(session, 7, now=NOW)
    assert [s.id for s in change.promoted] == [got[1].id, got[2].id]
    with pytest.raises(CapacityTooLow):
        await events.set_capacity(session, 6, now=NOW)
    change = await events.set_capacity(session, 8, now=NOW)
    assert [s.id for s in change.promoted] == [got[3].id]


async def test_check_in_once_and_no_shows(store: Store) -> None:  # noqa: F811
    events, event, session, ids = await _filled(store, 2, 3)
    signups = {s.signup.id: s.signup for s in await events.list_signups(event.id)}
    staff = signups[ids[0]].user_id
    first = await events.check_in(event.id, signups[ids[0]].code, by=staff, now=NOW + 5)
    assert (first.checked_in_at, first.checked_in_by, first.attendance) == (
        NOW + 5,
        staff,
        "present",
    )
    with pytest.raises(AlreadyCheckedIn) as twice:
        await events.check_in(event.id, signups[ids[0]].code, by=staff, now=NOW + 6)
    assert twice.value.signup.checked_in_at == NOW + 5
    assert twice.value.by_name == "Resident 0"
    with pytest.raises(NotConfirmed):
        await events.check_in(event.id, signups[ids[2]].code, by=staff, now=NOW + 7)
    with pytest.raises(SignupNotFound):
        await events.check_in(event.id, "NOPE", by=staff, now=NOW + 7)
    counts = await events.counts(session)
    assert counts is not None and counts.checked_in == 1
    assert await events.mark_no_shows(event.id) == 1
    assert await events.mark_no_shows(event.id) == 0
    named = {s.signup.id: s for s in await events.list_signups(event.id)}
    assert named[ids[1]].signup.attendance == "no_show"
    assert named[ids[0]].checked_in_by_name == "Resident 0"
    assert named[ids[2]].signup.attendance is None  # waitlisted: neither


async def test_a_cancelled_event_ends_every_sign_up_and_takes_no_more(store: Store) -> None:  # noqa: F811
    events, event, session, ids = await _filled(store, 1, 3)
    cancelled, ended = await events.cancel_event(event.id, now=NOW + 9)
    assert cancelled.state == "cancelled"
    assert [s.id for s in ended] == ids
    assert (await events.cancel_event(event.id, now=NOW + 10))[1] == []
    with pytest.raises(EventCancelled):
        await events.sign_up(
            session, user_id=1, holder="user:1", seats=1, answers=[],
            request_key="late", code="L", now=NOW,
        )  # fmt: skip


async def test_feed_tokens_are_made_once_and_replaced_on_revoke(store: Store) -> None:  # noqa: F811
    (ann, _), (amy, _) = await _people(store, 2)
    events = SqlEventStore(store.database)
    token = await events.feed_token(ann, new_token="t1", now=NOW)
    assert await events.feed_token(ann, new_token="t2", now=NOW) == "t1"
    assert await events.user_of_feed_token("t1") == ann
    assert await events.replace_feed_token(ann, new_token="t3", now=NOW) == "t3"
    assert await events.user_of_feed_token(token) is None
    assert await events.user_of_feed_token("t3") == ann
    assert await events.user_of_feed_token("t2") is None
    assert await events.feed_token(amy, new_token="t4", now=NOW) == "t4"
