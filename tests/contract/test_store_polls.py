"""The polls part of the Store contract, against SQLite and PostgreSQL (``store`` fixture of
``test_store``): states, idempotent ballots, later-ballot-wins, first-ballot-stays, ballots after
the close ignored, and tallies equal to a count of the stored votes."""

from __future__ import annotations

import pytest

from persistence.db import UniqueViolation
from persistence.polls import (
    Ballot,
    Counting,
    PollDraft,
    PollNotFound,
    PollState,
    PollStateError,
    ResultsShown,
    Tally,
)
from persistence.polls.sql import SqlPollStore
from persistence.store import Role, Store
from tests.contract.test_store import NOW, store  # noqa: F401  (fixtures)

DRAFT = PollDraft(
    channel="building:1",
    question="Paint the lobby?",
    options=("green", "blue", "leave it"),
)


async def _organiser(store: Store) -> int:  # noqa: F811
    building = await store.create_building("Harbour View", now=NOW)
    user = await store.create_user(
        username="wong",
        display_name="Wong",
        password_hash="h",
        role=Role.ORGANISER,
        building_id=building.id,
        unit_label="3B",
        now=NOW,
    )
    return user.id


async def _open_poll(store: Store, draft: PollDraft = DRAFT, code: str = "J1") -> int:  # noqa: F811
    organiser = await _organiser(store) if code == "J1" else 1
    poll = await SqlPollStore(store.database).create_poll(
        draft, created_by=organiser, join_code=code, projector_token=f"t-{code}", now=NOW
    )
    await SqlPollStore(store.database).open_poll(poll.id, now=NOW + 1)
    return poll.id


def _ballot(
    poll_id: int, who: int, choices: tuple[int, ...], seq: int, *, cast_at: int = NOW + 10
) -> Ballot:
    return Ballot(
        poll_id=poll_id,
        voter_key=f"user:{who}",
        user_id=who,
        choices=choices,
        ballot_id=f"b{who}-{seq}",
        seq=seq,
        cast_at=cast_at,
    )


async def test_create_edit_open_close_states(store: Store) -> None:  # noqa: F811
    organiser = await _organiser(store)
    poll = await SqlPollStore(store.database).create_poll(
        DRAFT, created_by=organiser, join_code="ABC123", projector_token="tok", now=NOW
    )
    assert poll.state is PollState.DRAFT and poll.draft == DRAFT and poll.version == 0
    assert await SqlPollStore(store.database).get_poll(poll.id) == poll
    assert await SqlPollStore(store.database).get_poll_by_join_code("ABC123") == poll
    assert await SqlPollStore(store.database).get_poll_by_projector_token("tok") == poll
    assert await SqlPollStore(store.database).get_poll_by_join_code("nope") is None

    edited = PollDraft(
        channel="group:gardening",
        question="Plant what?",
        options=("roses", "herbs"),
        multiple=True,
        anonymous=False,
        allow_change=False,
        counting=Counting.UNIT,
        results=ResultsShown.AFTER_CLOSE,
        closes_at=NOW + 5000,
    )
    updated = await SqlPollStore(store.database).update_poll(poll.id, edited)
    assert updated.draft == edited and updated.version == 1
    assert [p.id for p in await SqlPollStore(store.database).list_polls("group:gardening")] == [
        poll.id
    ]
    assert await SqlPollStore(store.database).list_polls("building:1") == []

    opened = await SqlPollStore(store.database).open_poll(poll.id, now=NOW + 1)
    assert opened.state is PollState.OPEN and opened.opened_at == NOW + 1
    with pytest.raises(PollStateError):
        await SqlPollStore(store.database).update_poll(poll.id, DRAFT)
    with pytest.raises(PollStateError):
        await SqlPollStore(store.database).open_poll(poll.id, now=NOW + 2)

    closed, changed = await SqlPollStore(store.database).close_poll(poll.id, now=NOW + 3)
    assert changed and closed.state is PollState.CLOSED and closed.closed_at == NOW + 3
    again, changed = await SqlPollStore(store.database).close_poll(poll.id, now=NOW + 4)
    assert not changed and again.closed_at == NOW + 3
    with pytest.raises(PollNotFound):
        await SqlPollStore(store.database).open_poll(9999, now=NOW)


async def test_join_codes_are_unique(store: Store) -> None:  # noqa: F811
    organiser = await _organiser(store)
    await SqlPollStore(store.database).create_poll(
        DRAFT, created_by=organiser, join_code="SAME", projector_token="t1", now=NOW
    )
    with pytest.raises(UniqueViolation):
        await SqlPollStore(store.database).create_poll(
            DRAFT, created_by=organiser, join_code="SAME", projector_token="t2", now=NOW
        )


async def test_draft_cannot_be_closed_or_voted(store: Store) -> None:  # noqa: F811
    organiser = await _organiser(store)
    poll = await SqlPollStore(store.database).create_poll(
        DRAFT, created_by=organiser, join_code="D", projector_token="d", now=NOW
    )
    with pytest.raises(PollStateError):
        await SqlPollStore(store.database).close_poll(poll.id, now=NOW)
    assert (
        await SqlPollStore(store.database).record_ballots([_ballot(poll.id, 5, (0,), 1)]) == set()
    )
    assert await SqlPollStore(store.database).poll_tally(poll.id) == Tally(
        poll.id, 0, PollState.DRAFT, (0, 0, 0), 0
    )


async def test_ballots_are_idempotent_and_later_ballot_wins(store: Store) -> None:  # noqa: F811
    poll_id = await _open_poll(store)
    first = [_ballot(poll_id, who, (who % 3,), seq=100) for who in range(1, 31)]
    assert await SqlPollStore(store.database).record_ballots(first) == {poll_id}
    tally = await SqlPollStore(store.database).poll_tally(poll_id)
    assert tally is not None and tally.counts == (10, 10, 10) and tally.voters == 30
    version = tally.version

    # A redelivered batch changes nothing, not even the version.
    assert await SqlPollStore(store.database).record_ballots(first) == set()
    assert await SqlPollStore(store.database).poll_tally(poll_id) == tally

    # Voters 1-10 change to option 2; an older ballot arriving afterwards is ignored, whatever
    # the order within the batch.
    changes = [_ballot(poll_id, who, (2,), seq=200) for who in range(1, 11)]
    stale = [_ballot(poll_id, who, (0,), seq=150) for who in range(1, 11)]
    assert await SqlPollStore(store.database).record_ballots([*changes, *stale]) == {poll_id}
    assert await SqlPollStore(store.database).record_ballots(stale) == set()
    tally = await SqlPollStore(store.database).poll_tally(poll_id)
    expected = [0, 0, 0]
    for who in range(1, 31):
        expected[2 if who <= 10 else who % 3] += 1
    assert tally is not None and tally.counts == tuple(expected) and tally.voters == 30
    assert tally.version == version + 10

    vote = await SqlPollStore(store.database).get_vote(poll_id, "user:1")
    assert vote is not None and vote.choices == (2,) and vote.ballot_id == "b1-200"
    votes = await SqlPollStore(store.database).list_votes(poll_id)
    assert len(votes) == 30
    assert sum(len(v.choices) for v in votes) == sum(tally.counts)


async def test_first_ballot_stays_when_changes_not_allowed(store: Store) -> None:  # noqa: F811
    draft = PollDraft(channel="building:1", question="Q", options=("a", "b"), allow_change=False)
    poll_id = await _open_poll(store, draft)
    await SqlPollStore(store.database).record_ballots([_ballot(poll_id, 1, (0,), seq=1)])
    assert (
        await SqlPollStore(store.database).record_ballots([_ballot(poll_id, 1, (1,), seq=2)])
        == set()
    )
    tally = await SqlPollStore(store.database).poll_tally(poll_id)
    assert tally is not None and tally.counts == (1, 0)


async def test_multiple_choice_and_units(store: Store) -> None:  # noqa: F811
    draft = PollDraft(
        channel="building:1",
        question="Q",
        options=("a", "b", "c"),
        multiple=True,
        counting=Counting.UNIT,
    )
    poll_id = await _open_poll(store, draft)
    # Two residents of unit 7: the second one's ballot replaces the household's vote.
    household = [
        Ballot(poll_id, "unit:7", 1, (0, 1), "x", seq=1, cast_at=NOW + 10),
        Ballot(poll_id, "unit:7", 2, (1, 2), "y", seq=2, cast_at=NOW + 11),
        Ballot(poll_id, "unit:8", 3, (2,), "z", seq=1, cast_at=NOW + 12),
    ]
    await SqlPollStore(store.database).record_ballots(household)
    tally = await SqlPollStore(store.database).poll_tally(poll_id)
    assert tally is not None and tally.counts == (0, 1, 2) and tally.voters == 2
    vote = await SqlPollStore(store.database).get_vote(poll_id, "unit:7")
    assert vote is not None and vote.user_id == 2 and vote.choices == (1, 2)


async def test_ballots_cast_after_close_are_ignored(store: Store) -> None:  # noqa: F811
    poll_id = await _open_poll(store)
    await SqlPollStore(store.database).close_poll(poll_id, now=NOW + 100)
    cast_before = _ballot(poll_id, 1, (0,), seq=1, cast_at=NOW + 99)
    cast_after = _ballot(poll_id, 2, (0,), seq=1, cast_at=NOW + 101)
    assert await SqlPollStore(store.database).record_ballots([cast_before, cast_after]) == {poll_id}
    tally = await SqlPollStore(store.database).poll_tally(poll_id)
    assert tally is not None and tally.counts == (1, 0, 0) and tally.state is PollState.CLOSED


async def test_scheduled_close_happens_once(store: Store) -> None:  # noqa: F811
    due = PollDraft(channel="building:1", question="Q", options=("a", "b"), closes_at=NOW + 50)
    later = PollDraft(channel="building:1", question="Q", options=("a", "b"), closes_at=NOW + 900)
    poll_id = await _open_poll(store, due)
    later_id = await _open_poll(store, later, code="J2")
    assert await SqlPollStore(store.database).open_poll_ids() == [poll_id, later_id]
    assert await SqlPollStore(store.database).close_due_polls(now=NOW + 49) == []
    assert await SqlPollStore(store.database).close_due_polls(now=NOW + 60) == [poll_id]
    assert await SqlPollStore(store.database).close_due_polls(now=NOW + 70) == []
    poll = await SqlPollStore(store.database).get_poll(poll_id)
    assert poll is not None and poll.state is PollState.CLOSED and poll.closed_at == NOW + 50
    other = await SqlPollStore(store.database).get_poll(later_id)
    assert other is not None and other.state is PollState.OPEN
    assert await SqlPollStore(store.database).open_poll_ids() == [later_id]


async def test_schedule_close_only_brings_the_close_forward(store: Store) -> None:  # noqa: F811
    later = PollDraft(channel="building:1", question="Q", options=("a", "b"), closes_at=NOW + 900)
    open_ended = await _open_poll(store)
    scheduled = await _open_poll(store, later, code="J2")
    moved = await SqlPollStore(store.database).schedule_close(open_ended, at=NOW + 500)
    assert moved.state is PollState.OPEN and moved.draft.closes_at == NOW + 500
    assert moved.version == 2  # opened, then moved: screens learn of it
    assert (
        await SqlPollStore(store.database).schedule_close(open_ended, at=NOW + 600)
    ).draft.closes_at == NOW + 500
    # The caller may move its own schedule later.
    again = await SqlPollStore(store.database).schedule_close(
        open_ended, at=NOW + 650, replacing=NOW + 500
    )
    assert again.draft.closes_at == NOW + 650
    assert (
        await SqlPollStore(store.database).schedule_close(scheduled, at=NOW + 300)
    ).draft.closes_at == NOW + 300
    assert await SqlPollStore(store.database).close_due_polls(now=NOW + 650) == [
        open_ended,
        scheduled,
    ]
    closed = await SqlPollStore(store.database).get_poll(open_ended)
    assert closed is not None and closed.closed_at == NOW + 650
    unchanged = await SqlPollStore(store.database).schedule_close(open_ended, at=NOW + 10)
    assert unchanged.draft.closes_at == NOW + 650 and unchanged.version == closed.version
    draft = await SqlPollStore(store.database).create_poll(
        DRAFT, created_by=1, join_code="J3", projector_token="t3", now=NOW
    )
    with pytest.raises(PollStateError):
        await SqlPollStore(store.database).schedule_close(draft.id, at=NOW)
    with pytest.raises(PollNotFound):
        await SqlPollStore(store.database).schedule_close(9999, at=NOW)


async def test_one_batch_over_several_polls_and_rules(store: Store) -> None:  # noqa: F811
    changeable = await _open_poll(store)
    once = await _open_poll(
        store,
        PollDraft(channel="building:1", question="Q", options=("a", "b"), allow_change=False),
        code="J2",
    )
    batch = [
        _ballot(changeable, 1, (0,), seq=5),
        _ballot(once, 1, (1,), seq=5),
        _ballot(changeable, 1, (2,), seq=7),  # newer: replaces
        _ballot(once, 1, (0,), seq=3),  # cast first: stays
        _ballot(changeable, 2, (1,), seq=1),
        _ballot(changeable, 2, (0,), seq=1),  # the same seq again: not newer, ignored
    ]
    assert await SqlPollStore(store.database).record_ballots(batch) == {changeable, once}
    first = await SqlPollStore(store.database).poll_tally(changeable)
    second = await SqlPollStore(store.database).poll_tally(once)
    assert first is not None and first.counts == (0, 1, 1) and first.voters == 2
    assert second is not None and second.counts == (1, 0) and second.voters == 1
    assert first.version == 1 + 2 and second.version == 1 + 1  # open + one per written vote
    assert await SqlPollStore(store.database).record_ballots(batch) == set()


async def test_only_a_draft_can_be_deleted(store: Store) -> None:  # noqa: F811
    polls = SqlPollStore(store.database)
    organiser = await _organiser(store)
    draft = await polls.create_poll(
        DRAFT, created_by=organiser, join_code="D1", projector_token="t-D1", now=NOW
    )
    kept = await polls.create_poll(
        DRAFT, created_by=organiser, join_code="D2", projector_token="t-D2", now=NOW
    )
    await polls.open_poll(kept.id, now=NOW + 1)
    await polls.delete_poll(draft.id)
    assert await polls.get_poll(draft.id) is None
    assert await polls.get_poll_by_join_code("D1") is None
    with pytest.raises(PollNotFound):
        await polls.delete_poll(draft.id)
    with pytest.raises(PollStateError):
        await polls.delete_poll(kept.id)
    still = await polls.get_poll(kept.id)
    assert still is not None and still.state is PollState.OPEN
    assert [p.id for p in await polls.list_polls("building:1")] == [kept.id]
