"""The timers worker: runs every feature's time-based transitions (a poll's close, a reminder, a
waitlist deadline) from the one due-jobs table of ``persistence.timers`` (docs/design/0011).

A feature schedules a job with ``TimerStore.schedule(key, kind, due_at, payload)`` and registers a
handler for its ``kind``; the worker claims due jobs, runs each kind's handler, deletes the job
when the handler returns and retries it with back-off when it raises.

Delivery is at least once, so handlers must be idempotent: a process that dies after its handler
succeeded but before the job was deleted leaves the job claimed, and once the lease passes
another worker runs it again. A handler should therefore check that its transition still applies
(the poll is still open, the reminder not yet sent) and do nothing otherwise; the same check
covers a job cancelled or rescheduled while it ran. Jobs are claimed earliest due first and a
worker runs its batch one job after another, so a worker runs the jobs due at once in due order
(a reminder before the close it announces); a job that failed waits for its back-off while later
ones go ahead.

A job that must always exist (a daily digest, a retention sweep) is a feature's recurring job
(``Feature.recurring``): the worker schedules it when it starts if it is missing or due later,
and each run of its handler schedules the next, so there is one job per kind, whatever number of
workers start.

The worker is not a ``workers.base.Worker``: it reads no work-queue stream. It has the same
``queue`` name, ``run(stop)`` and ``run_until_idle()``, which is what the embedded mode and
``linli worker`` use.

Several workers (one per process) may run over the same table: the store's claim guarantees that
at most one holds a job at a time, and each keeps a job's run shorter than its lease (the
handler's timeout plus a margin), so on healthy workers a job runs on one of them only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar, Final, Protocol

from linli.clock import system_clock
from linli.types import Millis
from persistence.timers import TimerJob, TimerStore

log = logging.getLogger(__name__)

Handler = Callable[[TimerJob], Awaitable[None]]

#: The first retry of a failed job comes this long after the failure, and each further one twice
#: as long after the previous: a database fail-over or a broker reconnect is usually over within
#: a second or two, and a transition that is due should be late by as little as that.
FIRST_RETRY_MS: Final = 1_000
#: The longest wait between retries, reached after the 9th failure (1 + 2 + … + 256 s ≈ 8.5 min
#: of trying). Once the cause is fixed, a job is at most this much later; until then a job that
#: keeps failing costs 12 attempts (and log lines) an hour, not a flood. There is no last
#: attempt: a transition is never dropped, its error stays in ``last_error`` for an operator.
MAX_RETRY_MS: Final = 300_000
#: Longest stored error text: a one-line reason, not a traceback (those go to the log).
MAX_ERROR_CHARS: Final = 1_000
#: Longer than a handler may run plus the write that completes its job and the clocks' skew
#: between processes; what a crashed worker's jobs wait at most before another worker runs them.
DEFAULT_LEASE_MS: Final = 60_000
#: A handler makes a few database writes and a publish (milliseconds); one still running after
#: this long is stuck (on a dead connection, say) and is cancelled, failed and retried.
DEFAULT_HANDLER_TIMEOUT: Final = 10.0
#: How late a job scheduled by another process (which cannot ``wake`` this worker) runs at most,
#: when it falls due before what this worker last saw; also how often an idle worker asks the
#: store (one small query a second).
DEFAULT_POLL_INTERVAL: Final = 1.0
#: Jobs claimed at once: enough to catch up quickly after an outage, few enough that a stopping
#: worker has little to give back.
DEFAULT_BATCH_SIZE: Final = 20
#: Kept free at the end of a lease: the write completing the job and clock skew between processes.
LEASE_MARGIN_MS: Final = 5_000
#: Longest wait between attempts to reach a failing store.
MAX_STORE_RETRY: Final = 30.0


def retry_delay_ms(attempts: int) -> int:
    """How long after its ``attempts``-th failed run a job runs again: 1 s, 2 s, 4 s, … 256 s,
    then 300 s for ever."""
    exponent = max(attempts, 1) - 1
    if exponent >= 20:  # far past the cap; avoids building a huge int for a huge count
        return MAX_RETRY_MS
    return min(FIRST_RETRY_MS << exponent, MAX_RETRY_MS)


class WallClock(Protocol):
    """What the worker needs of a clock (``linli.clock.Clock`` has it)."""

    def now_ms(self) -> Millis: ...


class UnknownKind(LookupError):
    """A due job names a kind no handler is registered for (a feature not installed in this
    process, or a typo). Failed with back-off like any error, so that it is retried once the
    handler is deployed, and visible in the log and in ``last_error`` meanwhile."""


class TimerWorker:
    #: The worker registry names workers by this (``linli worker timers``).
    queue: ClassVar[str] = "timers"

    def __init__(
        self,
        store: TimerStore,
        handlers: Mapping[str, Handler],
        *,
        clock: WallClock | None = None,
        owner: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        lease_ms: int = DEFAULT_LEASE_MS,
        handler_timeout: float = DEFAULT_HANDLER_TIMEOUT,
        batch_size: int = DEFAULT_BATCH_SIZE,
        recurring: Mapping[str, Millis] | None = None,
    ) -> None:
        if poll_interval <= 0 or handler_timeout <= 0 or batch_size < 1:
            raise ValueError("poll_interval, handler_timeout and batch_size must be positive")
        budget_ms = int(handler_timeout * 1000) + LEASE_MARGIN_MS
        if lease_ms <= budget_ms:
            raise ValueError(
                f"lease_ms must exceed handler_timeout plus {LEASE_MARGIN_MS} ms "
                f"({budget_ms} ms), got {lease_ms}: a job would outlive its lease"
            )
        self.store = store
        self.handlers = dict(handlers)
        #: Recurring jobs (``Feature.recurring``): kind -> first due time, made sure of once
        #: before the first round (``_ensure_recurring``).
        self.recurring = dict(recurring or {})
        unhandled = sorted(set(self.recurring) - set(self.handlers))
        if unhandled:
            raise ValueError(f"recurring jobs without a handler: {unhandled}")
        self._recurring_ensured = False
        #: Plans to move recurring jobs to (``replan``), applied at the next round.
        self._replans: list[tuple[dict[str, Millis], dict[str, Millis]]] = []
        self.clock: WallClock = clock or system_clock
        # Unique per worker, not just per process: two workers of one process (the embedded mode,
        # tests) must not be able to complete each other's claims.
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.poll_interval = poll_interval
        self.lease_ms = lease_ms
        self.handler_timeout = handler_timeout
        self.batch_size = batch_size
        self._budget_ms = budget_ms
        self._wakeup = asyncio.Event()
        #: Jobs whose handler returned / raised, since the worker was made.
        self.completed = 0
        self.failed = 0

    def wake(self) -> None:
        """Look at the table now rather than at the next planned time: call it after scheduling
        a job that may be due before anything else, in the process running this worker (other
        processes' workers see it within their poll interval). From the worker's event loop."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run due jobs until ``stop`` is set. Between rounds it sleeps until the next job falls
        due or the poll interval passes, whichever is sooner, and wakes at once on ``wake()`` or
        ``stop``. A handler running when ``stop`` is set finishes (within its timeout); the jobs
        of the batch not yet started are given back for another worker."""
        watcher = asyncio.create_task(self._wake_on(stop), name="timers-stop")
        store_failures = 0
        try:
            while not stop.is_set():
                # Cleared before looking, so a wake() while a round runs makes another round.
                self._wakeup.clear()
                try:
                    await self._apply_replans()
                    await self._ensure_recurring()
                    delay = await self._round(stop)
                    store_failures = 0
                except Exception:
                    store_failures += 1
                    delay = min(retry_delay_ms(store_failures) / 1000, MAX_STORE_RETRY)
                    log.exception("timers: the store failed; trying again in %.0f s", delay)
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), delay)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def run_until_idle(self) -> int:
        """Run every job due now, batch after batch, until none is (tests, a graceful drain);
        return how many ran. A job that fails is due again only after its back-off, so it runs
        once here unless the drain outlasts that. Jobs held by other workers are not waited for.
        """
        ran = 0
        never = asyncio.Event()
        await self._apply_replans()
        await self._ensure_recurring()
        while True:
            claimed, started = await self._run_batch(never)
            ran += started
            if claimed == 0:
                return ran

    async def _ensure_recurring(self) -> None:
        """Schedule each recurring job (key = kind) unless it exists due no later: idempotent
        across processes and restarts (``schedule_if_sooner``), so every worker may do it."""
        if self._recurring_ensured:
            return
        now = self.clock.now_ms()
        for kind, due_at in self.recurring.items():
            await self.store.schedule_if_sooner(kind, kind, due_at, {}, now=now)
        self._recurring_ensured = True

    def replan(self, before: Mapping[str, Millis], after: Mapping[str, Millis]) -> None:
        """The recurring jobs' first due times changed from ``before`` to ``after`` (the
        neighbourhood's time zone did: 08:00 is another instant). At the next round, each job
        still waiting as ``before`` planned it (unclaimed, no payload, due at exactly that time)
        is moved to its ``after`` time; a job that has run since, or is a continuation
        (``payload``), keeps its time, and its next run is planned in the new zone anyway.
        Every process hearing the change computes the same ``after``, so doing it everywhere
        is idempotent. From the worker's event loop."""
        self._replans.append((dict(before), dict(after)))
        self.recurring.update(after)
        self.wake()

    async def _apply_replans(self) -> None:
        while self._replans:
            before, after = self._replans[0]
            now = self.clock.now_ms()
            for kind, due_at in after.items():
                if kind not in self.recurring or before.get(kind) == due_at:
                    continue
                entry = await self.store.get(kind)
                waiting = entry is not None and entry.claimed_by is None and not entry.payload
                if waiting and entry is not None and entry.due_at == before.get(kind):
                    await self.store.schedule(kind, kind, due_at, {}, now=now)
                    log.info("timers: %s moved to %d (the time zone changed)", kind, due_at)
            self._replans.pop(0)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()

    async def _round(self, stop: asyncio.Event) -> float:
        """Run a batch if anything is due; return how long to sleep before the next round."""
        next_due = await self.store.next_due()
        now = self.clock.now_ms()
        if next_due is None:
            return self.poll_interval
        if next_due > now:
            return min(self.poll_interval, (next_due - now) / 1000)
        claimed, _ = await self._run_batch(stop)
        # Claimed some: more may be due (a full batch, jobs that fell due meanwhile), look again
        # at once. Claimed none: another worker took them between the two queries; its lease is
        # what the next round sees. The pause only guards against spinning should the two
        # queries ever disagree.
        return 0.0 if claimed else 0.01

    async def _run_batch(self, stop: asyncio.Event) -> tuple[int, int]:
        """Claim a batch and run it in due order; return (jobs claimed, jobs run)."""
        now = self.clock.now_ms()
        jobs = await self.store.claim_due(
            now=now, owner=self.owner, lease_ms=self.lease_ms, limit=self.batch_size
        )
        lease_end = now + self.lease_ms
        for index, job in enumerate(jobs):
            # Give back the rest rather than start a job that could outlive the lease (slow
            # handlers ahead of it) or make a stopping worker wait: another worker, or the next
            # batch, claims them at once instead of after the lease. The first job always runs
            # (the lease is longer than its budget), so every batch makes progress.
            out_of_lease = index > 0 and self.clock.now_ms() + self._budget_ms > lease_end
            if stop.is_set() or out_of_lease:
                for rest in jobs[index:]:
                    await self.store.release(rest.key, self.owner)
                return len(jobs), index
            await self._run_one(job)
        return len(jobs), len(jobs)

    async def _run_one(self, job: TimerJob) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise UnknownKind(
                    f"no handler for timer kind {job.kind!r} (known: {sorted(self.handlers)})"
                )
            async with asyncio.timeout(self.handler_timeout):
                await handler(job)
        except Exception as exc:
            await self._fail(job, exc)
            return
        await self.store.complete(job.key, self.owner)
        self.completed += 1

    async def _fail(self, job: TimerJob, exc: Exception) -> None:
        delay = retry_delay_ms(job.attempts)
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, UnknownKind):
            log.error("timers: job %s: %s; retrying in %d s", job.key, exc, delay // 1000)
        else:
            log.warning(
                "timers: job %s (%s) failed on attempt %d; retrying in %d s",
                job.key,
                job.kind,
                job.attempts,
                delay // 1000,
                exc_info=exc,
            )
        await self.store.fail(
            job.key, self.owner, reason[:MAX_ERROR_CHARS], self.clock.now_ms() + delay
        )
        self.failed += 1
