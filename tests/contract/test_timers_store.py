"""The TimerStore contract, against SQLite and PostgreSQL (a fresh file or schema each)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from persistence.db import Database
from persistence.factory import open_database
from persistence.migrate import migrate
from persistence.timers import TimerEntry, TimerJob
from persistence.timers.sql import SqlTimerStore, cancel_in, schedule_in

NOW = 1_700_000_000_000
LEASE = 30_000


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await migrate(db_url)
    database = await open_database(db_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def store(db: Database) -> SqlTimerStore:
    return SqlTimerStore(db)


async def _entry(store: SqlTimerStore, key: str) -> TimerEntry:
    entry = await store.get(key)
    assert entry is not None, key
    return entry


async def test_schedule_inserts_and_get_reads_the_whole_row(store: SqlTimerStore) -> None:
    payload = {"poll_id": 42, "note": "投票結束", "nested": {"a": [1, 2.5, None, True]}}
    assert await store.get("polls.close:42") is None
    await store.schedule("polls.close:42", "polls.close", NOW + 60_000, payload, now=NOW)
    assert await store.get("polls.close:42") == TimerEntry(
        key="polls.close:42",
        kind="polls.close",
        due_at=NOW + 60_000,
        payload=payload,
        attempts=0,
        claimed_by=None,
        claimed_until=None,
        last_error=None,
        created_at=NOW,
    )
    assert await store.next_due() == NOW + 60_000


async def test_schedule_upserts_one_row_per_key(store: SqlTimerStore) -> None:
    await store.schedule("k", "polls.close", NOW + 1_000, {"v": 1}, now=NOW)
    assert len(await store.claim_due(now=NOW + 1_000, owner="w1", lease_ms=LEASE, limit=10)) == 1
    await store.fail("k", "w1", "boom", NOW + 2_000)
    assert (await _entry(store, "k")).attempts == 1
    # Moved later, new payload and kind: attempts and the error reset, created_at kept.
    await store.schedule("k", "polls.remind", NOW + 9_000, {"v": 2}, now=NOW + 5)
    entry = await _entry(store, "k")
    assert (entry.kind, entry.due_at, entry.payload) == ("polls.remind", NOW + 9_000, {"v": 2})
    assert (entry.attempts, entry.last_error, entry.created_at) == (0, None, NOW)
    # Moved earlier works as well: schedule always sets the given time.
    await store.schedule("k", "polls.remind", NOW + 3_000, {"v": 3}, now=NOW + 6)
    assert (await _entry(store, "k")).due_at == NOW + 3_000
    assert await store.next_due() == NOW + 3_000
    assert await store.claim_due(now=NOW + 2_999, owner="w1", lease_ms=LEASE, limit=10) == []


async def test_schedule_if_sooner_only_moves_earlier(store: SqlTimerStore) -> None:
    assert await store.schedule_if_sooner("k", "polls.close", NOW + 5_000, {"v": 1}, now=NOW)
    assert not await store.schedule_if_sooner("k", "polls.close", NOW + 5_000, {"v": 2}, now=NOW)
    assert not await store.schedule_if_sooner("k", "polls.close", NOW + 6_000, {"v": 3}, now=NOW)
    entry = await _entry(store, "k")
    assert (entry.due_at, entry.payload) == (NOW + 5_000, {"v": 1})
    assert await store.schedule_if_sooner("k", "polls.close", NOW + 4_000, {"v": 4}, now=NOW)
    entry = await _entry(store, "k")
    assert (entry.due_at, entry.payload) == (NOW + 4_000, {"v": 4})


async def test_cancel(store: SqlTimerStore) -> None:
    await store.schedule("a", "x", NOW, {}, now=NOW)
    await store.schedule("b", "x", NOW + 1, {}, now=NOW)
    assert await store.cancel("a") is True
    assert await store.cancel("a") is False
    assert await store.cancel("never-scheduled") is False
    assert await store.get("a") is None
    assert await store.next_due() == NOW + 1
    assert await store.cancel("b") is True
    assert await store.next_due() is None


async def test_cancel_while_claimed_makes_complete_and_fail_no_ops(store: SqlTimerStore) -> None:
    await store.schedule("a", "x", NOW, {}, now=NOW)
    await store.schedule("b", "x", NOW, {}, now=NOW)
    assert len(await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)) == 2
    assert await store.cancel("a") and await store.cancel("b")
    await store.complete("a", "w1")
    await store.fail("b", "w1", "boom", NOW + 1_000)
    assert await store.get("a") is None
    assert await store.get("b") is None


async def test_claim_takes_only_due_jobs_earliest_first(store: SqlTimerStore) -> None:
    for key, due in [("c", NOW + 30), ("a", NOW + 10), ("later", NOW + 1_000), ("b", NOW + 10)]:
        await store.schedule(key, "x", due, {"key": key}, now=NOW)
    assert await store.claim_due(now=NOW + 9, owner="w1", lease_ms=LEASE, limit=10) == []
    jobs = await store.claim_due(now=NOW + 30, owner="w1", lease_ms=LEASE, limit=10)
    assert jobs == [
        TimerJob("a", "x", NOW + 10, {"key": "a"}, 1),
        TimerJob("b", "x", NOW + 10, {"key": "b"}, 1),
        TimerJob("c", "x", NOW + 30, {"key": "c"}, 1),
    ]
    entry = await _entry(store, "b")
    assert (entry.claimed_by, entry.claimed_until) == ("w1", NOW + 30 + LEASE)
    later = await _entry(store, "later")
    assert (later.claimed_by, later.attempts) == (None, 0)


async def test_claim_limit_takes_the_earliest(store: SqlTimerStore) -> None:
    for index in range(5):
        await store.schedule(f"j{index}", "x", NOW + 10 - index, {}, now=NOW)
    first = await store.claim_due(now=NOW + 10, owner="w1", lease_ms=LEASE, limit=2)
    assert [job.key for job in first] == ["j4", "j3"]
    second = await store.claim_due(now=NOW + 10, owner="w2", lease_ms=LEASE, limit=10)
    assert [job.key for job in second] == ["j2", "j1", "j0"]
    assert await store.claim_due(now=NOW + 10, owner="w3", lease_ms=LEASE, limit=10) == []


async def test_lease_is_respected_and_expiry_reclaims(store: SqlTimerStore) -> None:
    await store.schedule("k", "x", NOW, {}, now=NOW)
    [job] = await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    assert job.attempts == 1
    # While the lease runs nobody else gets it, and next_due says when it ends.
    assert await store.claim_due(now=NOW + LEASE - 1, owner="w2", lease_ms=LEASE, limit=10) == []
    assert await store.next_due() == NOW + LEASE
    # At its end another worker takes it over, with one more attempt.
    [again] = await store.claim_due(now=NOW + LEASE, owner="w2", lease_ms=LEASE, limit=10)
    assert (again.key, again.attempts) == ("k", 2)
    entry = await _entry(store, "k")
    assert (entry.claimed_by, entry.claimed_until) == ("w2", NOW + 2 * LEASE)
    # The first worker, late, can neither complete, fail nor release it any more.
    await store.complete("k", "w1")
    await store.fail("k", "w1", "late", NOW + 1)
    await store.release("k", "w1")
    assert await store.get("k") == entry
    await store.complete("k", "w2")
    assert await store.get("k") is None
    assert await store.next_due() is None


async def test_complete_deletes_only_the_claimed_run(store: SqlTimerStore) -> None:
    await store.schedule("k", "x", NOW, {"v": 1}, now=NOW)
    await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    await store.complete("k", "w2")  # not the claimer: nothing happens
    assert (await _entry(store, "k")).claimed_by == "w1"
    await store.complete("k", "w1")
    assert await store.get("k") is None


async def test_complete_keeps_a_job_rescheduled_during_the_run(store: SqlTimerStore) -> None:
    await store.schedule("k", "x", NOW, {"v": 1}, now=NOW)
    assert len(await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)) == 1
    # While the handler runs, the organiser moves the closing time.
    await store.schedule("k", "x", NOW + 50_000, {"v": 2}, now=NOW + 10)
    entry = await _entry(store, "k")
    # The claim stays with the running worker: nobody else runs the key meanwhile.
    assert (entry.claimed_by, entry.attempts) == ("w1", 0)
    assert await store.claim_due(now=NOW + LEASE, owner="w2", lease_ms=LEASE, limit=10) == []
    await store.complete("k", "w1")
    entry = await _entry(store, "k")
    assert (entry.due_at, entry.payload, entry.attempts) == (NOW + 50_000, {"v": 2}, 0)
    assert (entry.claimed_by, entry.claimed_until) == (None, None)
    assert await store.next_due() == NOW + 50_000
    [rerun] = await store.claim_due(now=NOW + 50_000, owner="w2", lease_ms=LEASE, limit=10)
    assert rerun == TimerJob("k", "x", NOW + 50_000, {"v": 2}, 1)


async def test_complete_keeps_a_job_rescheduled_to_the_same_time(store: SqlTimerStore) -> None:
    """A reschedule to the very same due time (new payload) is still a reschedule: the marker is
    the attempts count, not the due time."""
    await store.schedule("k", "x", NOW, {"v": 1}, now=NOW)
    await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    await store.schedule("k", "x", NOW, {"v": 2}, now=NOW)
    await store.complete("k", "w1")
    [rerun] = await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    assert rerun == TimerJob("k", "x", NOW, {"v": 2}, 1)


async def test_fail_reschedules_with_the_error_recorded(store: SqlTimerStore) -> None:
    await store.schedule("k", "x", NOW, {"v": 1}, now=NOW)
    await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    await store.fail("k", "w2", "not mine", NOW + 1)  # not the claimer: nothing happens
    assert (await _entry(store, "k")).last_error is None
    await store.fail("k", "w1", "ConnectionError: broker down", NOW + 1_000)
    entry = await _entry(store, "k")
    assert (entry.due_at, entry.attempts, entry.last_error) == (
        NOW + 1_000,
        1,
        "ConnectionError: broker down",
    )
    assert (entry.claimed_by, entry.claimed_until) == (None, None)
    assert await store.claim_due(now=NOW + 999, owner="w1", lease_ms=LEASE, limit=10) == []
    [again] = await store.claim_due(now=NOW + 1_000, owner="w1", lease_ms=LEASE, limit=10)
    assert again.attempts == 2
    await store.complete("k", "w1")
    assert await store.get("k") is None


async def test_fail_keeps_the_time_of_a_reschedule_during_the_run(store: SqlTimerStore) -> None:
    await store.schedule("k", "x", NOW, {"v": 1}, now=NOW)
    await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    await store.schedule("k", "x", NOW + 90_000, {"v": 2}, now=NOW)
    await store.fail("k", "w1", "boom", NOW + 1_000)
    entry = await _entry(store, "k")
    assert (entry.due_at, entry.payload, entry.attempts) == (NOW + 90_000, {"v": 2}, 0)
    assert (entry.claimed_by, entry.last_error) == (None, "boom")


async def test_release_gives_the_job_back_untouched(store: SqlTimerStore) -> None:
    await store.schedule("k", "x", NOW, {"v": 1}, now=NOW)
    await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=10)
    await store.release("k", "w1")
    assert await store.get("k") == TimerEntry("k", "x", NOW, {"v": 1}, 0, None, None, None, NOW)
    [job] = await store.claim_due(now=NOW, owner="w2", lease_ms=LEASE, limit=10)
    assert job.attempts == 1


async def test_schedule_and_cancel_inside_a_callers_transaction(
    db: Database, store: SqlTimerStore
) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with db.transaction() as tx:
            await schedule_in(tx, "polls.close:9", "polls.close", NOW, {"poll_id": 9}, now=NOW)
            raise Abort  # the poll's own write failed: no job either
    assert await store.get("polls.close:9") is None
    async with db.transaction() as tx:
        await schedule_in(tx, "polls.close:9", "polls.close", NOW, {"poll_id": 9}, now=NOW)
    assert (await _entry(store, "polls.close:9")).payload == {"poll_id": 9}
    async with db.transaction() as tx:
        assert await cancel_in(tx, "polls.close:9") is True
        assert await cancel_in(tx, "polls.close:9") is False
    assert await store.get("polls.close:9") is None


async def test_argument_checks(store: SqlTimerStore) -> None:
    with pytest.raises(ValueError, match="key"):
        await store.schedule("", "x", NOW, {}, now=NOW)
    with pytest.raises(ValueError, match="kind"):
        await store.schedule("k", "", NOW, {}, now=NOW)
    with pytest.raises(TypeError, match="dict"):
        await store.schedule("k", "x", NOW, [1, 2], now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        await store.claim_due(now=NOW, owner="w1", lease_ms=LEASE, limit=0)
    assert await store.next_due() is None


async def test_two_concurrent_claimers_never_share_a_job(db_url: str, db: Database) -> None:
    """Two connections (two processes' worth: their own pool or their own SQLite connection)
    claim small batches as fast as they can; every job goes to exactly one of them."""
    jobs = 300
    store = SqlTimerStore(db)
    for index in range(jobs):
        # Few distinct due times, so that many rows tie and both claimers want the same ones.
        await store.schedule(f"job:{index:04d}", "x", NOW + index % 7, {"i": index}, now=NOW)
    second = await open_database(db_url)
    try:
        stores = [store, SqlTimerStore(second)]

        async def claimer(owner: str, claimer_store: SqlTimerStore) -> list[str]:
            claimed: list[str] = []
            for _ in range(jobs):  # bounded: each round either claims something or ends
                batch = await claimer_store.claim_due(
                    now=NOW + 10, owner=owner, lease_ms=LEASE, limit=7
                )
                if not batch:
                    break
                claimed.extend(job.key for job in batch)
                # A pause between rounds: SQLite's busy handler retries a waiting connection
                # after 1, 2, 5, 10 … ms, and it must find the lock free now and then, or one
                # claimer would take everything while the other waits.
                await asyncio.sleep(0.005)
            return claimed

        first_keys, second_keys = await asyncio.wait_for(
            asyncio.gather(claimer("w1", stores[0]), claimer("w2", stores[1])), timeout=60
        )
    finally:
        await second.close()
    assert not set(first_keys) & set(second_keys)
    assert len(first_keys) == len(set(first_keys))
    assert len(second_keys) == len(set(second_keys))
    assert sorted(first_keys + second_keys) == [f"job:{index:04d}" for index in range(jobs)]
    # Both took part (each round yields to the other), and the rows say who holds what.
    assert first_keys and second_keys
    entry = await _entry(store, second_keys[0])
    assert (entry.claimed_by, entry.attempts) == ("w2", 1)
