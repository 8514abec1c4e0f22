"""The timers worker over the real store, on SQLite and PostgreSQL.

Most tests drive the worker with a clock of their own (``ManualClock``) and ``run_until_idle``,
so back-off and leases are checked to the millisecond without waiting for them; the ``run`` tests
use the system clock and bound every wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from persistence.db import Database
from persistence.factory import open_database
from persistence.migrate import migrate
from persistence.timers import TimerEntry, TimerJob
from persistence.timers.sql import SqlTimerStore
from tests.conftest import wait_until
from workers.timers import (
    DEFAULT_LEASE_MS,
    LEASE_MARGIN_MS,
    MAX_RETRY_MS,
    Handler,
    TimerWorker,
    retry_delay_ms,
)

T0 = 1_700_000_000_000


class ManualClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


class Recorder:
    """Handlers that write down what they ran (key, attempts, the clock's time)."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock
        self.runs: list[tuple[str, int, int]] = []

    def keys(self) -> list[str]:
        return [key for key, _, _ in self.runs]

    async def __call__(self, job: TimerJob) -> None:
        now = self.clock.now if self.clock else time.time_ns() // 1_000_000
        self.runs.append((job.key, job.attempts, now))


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


def _worker(
    store: SqlTimerStore, handlers: dict[str, Handler], clock: ManualClock, **options: Any
) -> TimerWorker:
    return TimerWorker(store, handlers, clock=clock, **options)


def test_retry_delays_double_from_one_second_to_five_minutes() -> None:
    delays = [retry_delay_ms(attempts) for attempts in range(1, 12)]
    doubling = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000]
    assert delays == [*doubling, MAX_RETRY_MS, MAX_RETRY_MS]
    assert MAX_RETRY_MS == 300_000
    assert retry_delay_ms(0) == 1_000
    assert retry_delay_ms(10**9) == MAX_RETRY_MS


async def test_lease_must_outlast_a_handler(store: SqlTimerStore) -> None:
    with pytest.raises(ValueError, match="lease_ms"):
        TimerWorker(store, {}, lease_ms=10_000 + LEASE_MARGIN_MS, handler_timeout=10)
    TimerWorker(store, {}, lease_ms=10_000 + LEASE_MARGIN_MS + 1, handler_timeout=10)
    with pytest.raises(ValueError, match="positive"):
        TimerWorker(store, {}, batch_size=0)


async def test_runs_due_handlers_in_time_order(store: SqlTimerStore) -> None:
    clock = ManualClock(T0)
    record = Recorder(clock)
    # Neither the key order nor the order of scheduling is the due order.
    dues = {"a": T0 - 5, "e": T0 - 50, "b": T0, "f": T0 - 90, "c": T0 - 20, "d": T0 - 30}
    for key, due in dues.items():
        await store.schedule(key, "polls.close", due, {"key": key}, now=T0 - 100)
    await store.schedule("0-later", "polls.close", T0 + 1, {}, now=T0 - 100)
    # Batches of two: the order holds across batches too.
    worker = _worker(store, {"polls.close": record}, clock, batch_size=2)
    assert await worker.run_until_idle() == 6
    assert record.keys() == ["f", "e", "d", "c", "a", "b"]
    assert (worker.completed, worker.failed) == (6, 0)
    for key in dues:
        assert await store.get(key) is None
    assert await store.next_due() == T0 + 1
    # Nothing left that is due: a second drain runs nothing.
    assert await worker.run_until_idle() == 0
    clock.now = T0 + 1
    assert await worker.run_until_idle() == 1
    assert record.keys()[-1] == "0-later"


async def test_a_failing_handler_is_retried_with_back_off(
    store: SqlTimerStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    calls: list[int] = []

    async def flaky(job: TimerJob) -> None:
        calls.append(job.attempts)
        if len(calls) <= 3:
            raise ConnectionError("broker down")

    await store.schedule("polls.close:7", "polls.close", T0, {"poll_id": 7}, now=T0)
    worker = _worker(store, {"polls.close": flaky}, clock)
    expected_due = T0
    for attempt, delay in [(1, 1_000), (2, 2_000), (3, 4_000)]:
        with caplog.at_level(logging.WARNING, logger="workers.timers"):
            assert await worker.run_until_idle() == 1
        entry = await _entry(store, "polls.close:7")
        expected_due = clock.now + delay
        assert (entry.due_at, entry.attempts, entry.last_error, entry.claimed_by) == (
            expected_due,
            attempt,
            "ConnectionError: broker down",
            None,
        )
        # Not before its back-off has passed.
        clock.now = expected_due - 1
        assert await worker.run_until_idle() == 0
        clock.now = expected_due
    assert await worker.run_until_idle() == 1
    assert await store.get("polls.close:7") is None
    assert calls == [1, 2, 3, 4]
    assert (worker.completed, worker.failed) == (1, 3)
    assert sum("failed on attempt" in record.message for record in caplog.records) == 3


async def test_an_unknown_kind_is_logged_and_backed_off_not_dropped(
    store: SqlTimerStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    await store.schedule("surveys.close:3", "surveys.close", T0, {}, now=T0)
    worker = _worker(store, {"polls.close": Recorder(clock)}, clock)
    with caplog.at_level(logging.ERROR, logger="workers.timers"):
        assert await worker.run_until_idle() == 1
    entry = await _entry(store, "surveys.close:3")
    assert entry.due_at == T0 + 1_000
    assert entry.attempts == 1
    assert entry.last_error is not None
    assert entry.last_error.startswith("UnknownKind: no handler for timer kind 'surveys.close'")
    assert [record.levelno for record in caplog.records] == [logging.ERROR]
    assert "surveys.close:3" in caplog.records[0].message
    # Once a process with the handler runs it, the job goes through.
    record = Recorder(clock)
    clock.now = T0 + 1_000
    assert await _worker(store, {"surveys.close": record}, clock).run_until_idle() == 1
    assert record.runs == [("surveys.close:3", 2, T0 + 1_000)]
    assert await store.get("surveys.close:3") is None


async def test_a_stuck_handler_times_out_and_is_retried(store: SqlTimerStore) -> None:
    clock = ManualClock(T0)

    async def stuck(job: TimerJob) -> None:
        await asyncio.sleep(30)

    await store.schedule("k", "stuck", T0, {}, now=T0)
    worker = _worker(store, {"stuck": stuck}, clock, handler_timeout=0.05)
    started = time.monotonic()
    assert await worker.run_until_idle() == 1
    assert time.monotonic() - started < 5
    entry = await _entry(store, "k")
    assert (entry.last_error, entry.due_at, entry.claimed_by) == ("TimeoutError", T0 + 1_000, None)


async def test_a_job_rescheduled_by_its_own_run_runs_again_at_the_new_time(
    store: SqlTimerStore,
) -> None:
    clock = ManualClock(T0)
    runs: list[dict[str, object]] = []

    async def close(job: TimerJob) -> None:
        runs.append(job.payload)
        if len(runs) == 1:
            # The organiser moves the closing time while the first close runs.
            await store.schedule(job.key, job.kind, T0 + 5_000, {"v": 2}, now=clock.now)

    await store.schedule("polls.close:1", "polls.close", T0, {"v": 1}, now=T0)
    worker = _worker(store, {"polls.close": close}, clock)
    assert await worker.run_until_idle() == 1
    entry = await _entry(store, "polls.close:1")
    assert (entry.due_at, entry.attempts, entry.claimed_by) == (T0 + 5_000, 0, None)
    assert await worker.run_until_idle() == 0
    clock.now = T0 + 5_000
    assert await worker.run_until_idle() == 1
    assert runs == [{"v": 1}, {"v": 2}]
    assert await store.get("polls.close:1") is None


async def test_a_crashed_workers_job_reruns_once_its_lease_passes(store: SqlTimerStore) -> None:
    """At least once: the claim of a worker that died is taken over after the lease."""
    clock = ManualClock(T0)
    await store.schedule("k", "x", T0, {}, now=T0)
    assert len(await store.claim_due(now=T0, owner="dead", lease_ms=DEFAULT_LEASE_MS, limit=1))
    record = Recorder(clock)
    worker = _worker(store, {"x": record}, clock)
    assert await worker.run_until_idle() == 0
    clock.now = T0 + DEFAULT_LEASE_MS - 1
    assert await worker.run_until_idle() == 0
    clock.now = T0 + DEFAULT_LEASE_MS
    assert await worker.run_until_idle() == 1
    assert record.runs == [("k", 2, T0 + DEFAULT_LEASE_MS)]
    assert await store.get("k") is None


async def test_jobs_a_lease_cannot_cover_are_given_back_and_run_afresh(
    store: SqlTimerStore,
) -> None:
    """A batch whose first handlers used up most of the lease: the rest are released (attempt
    not counted) and claimed again with a new lease rather than run past the old one."""
    clock = ManualClock(T0)
    lease_ms, handler_timeout = 20_000, 1.0  # budget per job: 1 s + the 5 s margin
    seen: list[tuple[str, int, int]] = []
    lease_left: list[int] = []

    async def slow(job: TimerJob) -> None:
        seen.append((job.key, job.attempts, clock.now))
        entry = await _entry(store, job.key)
        assert entry.claimed_until is not None
        lease_left.append(entry.claimed_until - clock.now)
        clock.now += 15_000  # the handler "took" 15 s of the 20 s lease

    for index, key in enumerate("abc"):
        await store.schedule(key, "slow", T0 + index, {}, now=T0)
    clock.now = T0 + 2
    worker = _worker(
        store, {"slow": slow}, clock, lease_ms=lease_ms, handler_timeout=handler_timeout
    )
    assert await worker.run_until_idle() == 3
    assert seen == [("a", 1, T0 + 2), ("b", 1, T0 + 15_002), ("c", 1, T0 + 30_002)]
    # Each ran with a whole lease ahead of it, never on the 5 s left of the first.
    assert lease_left == [lease_ms] * 3
    assert await store.next_due() is None


async def test_two_workers_run_each_job_once(db_url: str, store: SqlTimerStore) -> None:
    """Two workers (each on its own connection, as two processes would be) share the due jobs;
    every handler runs exactly once."""
    jobs = 60
    now = time.time_ns() // 1_000_000
    for index in range(jobs):
        await store.schedule(f"job:{index:03d}", "x", now - index, {}, now=now)
    second_db = await open_database(db_url)
    runs: list[tuple[str, str]] = []

    def handler_for(name: str) -> Handler:
        async def handler(job: TimerJob) -> None:
            runs.append((name, job.key))
            await asyncio.sleep(0.001)  # a database write's worth: the other worker gets turns

        return handler

    stop = asyncio.Event()
    workers = [
        TimerWorker(store, {"x": handler_for("w1")}, batch_size=5),
        TimerWorker(SqlTimerStore(second_db), {"x": handler_for("w2")}, batch_size=5),
    ]
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        await wait_until(lambda: len(runs) >= jobs, timeout=30)
        await wait_until(lambda: workers[0].completed + workers[1].completed == jobs, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        await second_db.close()
    keys = [key for _, key in runs]
    assert sorted(keys) == [f"job:{index:03d}" for index in range(jobs)]
    # Both took part (each handler yields for a millisecond, in which the other one claims).
    assert {name for name, _ in runs} == {"w1", "w2"}
    assert await store.next_due() is None


async def test_run_sleeps_until_the_next_job_wakes_on_wake_and_stops_promptly(
    store: SqlTimerStore,
) -> None:
    record = Recorder()
    # A poll interval far longer than the test: every run below comes from next_due or wake().
    worker = TimerWorker(store, {"x": record}, poll_interval=60)
    now = time.time_ns() // 1_000_000
    await store.schedule("first", "x", now + 300, {}, now=now)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_until(lambda: record.keys() == ["first"], timeout=10)
        assert record.runs[0][2] >= now + 300  # not before it was due
        # The worker sleeps now (nothing left, a 60 s poll); a job due soon plus wake():
        soon = time.time_ns() // 1_000_000 + 100
        await store.schedule("second", "x", soon, {}, now=soon - 100)
        worker.wake()
        await wait_until(lambda: record.keys() == ["first", "second"], timeout=10)
        assert record.runs[1][2] >= soon
    finally:
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 1.0
    assert await store.next_due() is None


async def test_run_sees_jobs_of_other_processes_within_the_poll_interval(
    store: SqlTimerStore,
) -> None:
    record = Recorder()
    worker = TimerWorker(store, {"x": record}, poll_interval=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.05)  # the worker has looked and found nothing
        now = time.time_ns() // 1_000_000
        await store.schedule("elsewhere", "x", now, {}, now=now)  # no wake(): another process
        started = time.monotonic()
        await wait_until(lambda: record.keys() == ["elsewhere"], timeout=10)
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def test_stop_gives_back_the_jobs_not_yet_started(store: SqlTimerStore) -> None:
    clock = ManualClock(T0)
    stop = asyncio.Event()
    ran: list[str] = []

    async def first_stops(job: TimerJob) -> None:
        ran.append(job.key)
        stop.set()

    for index, key in enumerate("abc"):
        await store.schedule(key, "x", T0 - 10 + index, {}, now=T0)
    worker = _worker(store, {"x": first_stops}, clock)
    await asyncio.wait_for(worker.run(stop), timeout=5)
    assert ran == ["a"]
    assert await store.get("a") is None
    for key in "bc":
        entry = await _entry(store, key)
        assert (entry.claimed_by, entry.attempts) == (None, 0)
    # Another worker takes them at once, not after the stopped worker's lease.
    assert await _worker(store, {"x": Recorder(clock)}, clock).run_until_idle() == 2
