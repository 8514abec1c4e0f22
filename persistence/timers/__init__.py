"""Timers: one table of due jobs for every time-based transition of every feature (a poll's
closing time, a reminder, a waitlist deadline, an expiry), run by ``workers/timers.py``.

A job is named by the caller's idempotency key (``polls.close:42``): scheduling the same key again
moves the one job instead of adding a second, so "the organiser moved the closing time" is one
call. Its ``kind`` (``polls.close``) says which handler runs it and its ``payload`` (a JSON object)
what the handler needs. Times are ``Millis`` passed in by the caller, never read from the
database's clock, so tests and every process agree on one notion of "now".

How a job's life goes, and what each state change guarantees:

* ``schedule`` makes it due at a time; ``claim_due`` hands it to one worker under a lease;
  ``complete`` deletes it once its handler succeeded, ``fail`` gives it back with a later due time
  and the error, ``release`` gives it back untouched (a worker stopping before it ran it).
* A claimed job is invisible to other claimers until its lease (``claimed_until``) passes; a
  worker that dies mid-run therefore delays its jobs by at most one lease, after which any worker
  claims them again. Delivery is at least once: a handler that succeeded just before its process
  died runs again. Handlers must be idempotent.
* ``attempts`` counts the claims since the job was last scheduled. A claim always makes it at
  least 1 and a schedule resets it to 0, so a claimed job with ``attempts = 0`` was rescheduled
  while its handler ran: ``complete`` then keeps it (and frees it to run at its new time) instead
  of deleting it, and ``fail`` keeps the new time. No reschedule is lost, and no version column
  is needed for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from linli.types import Millis

#: A job's payload: a JSON object (orjson round-trips it; keys are strings).
Payload = dict[str, Any]


@dataclass(frozen=True)
class TimerJob:
    """A job as a handler sees it. ``attempts`` includes the current run (1 on the first)."""

    key: str
    kind: str
    due_at: Millis
    payload: Payload
    attempts: int


@dataclass(frozen=True)
class TimerEntry:
    """A job's whole row, for inspection (tests, an admin console) rather than for running it."""

    key: str
    kind: str
    due_at: Millis
    payload: Payload
    attempts: int
    claimed_by: str | None
    claimed_until: Millis | None
    last_error: str | None
    created_at: Millis

    @property
    def job(self) -> TimerJob:
        return TimerJob(self.key, self.kind, self.due_at, self.payload, self.attempts)


class TimerStore(Protocol):
    """The due-jobs table. Safe to use from several processes at once: every method is one atomic
    statement or one transaction, and every change a worker makes is conditional on its still
    holding the claim (``owner``), so a worker whose lease expired cannot undo another's work."""

    async def schedule(
        self, key: str, kind: str, due_at: Millis, payload: Payload, *, now: Millis
    ) -> None:
        """Make ``key`` due at ``due_at`` (an upsert).

        A new key is inserted with ``created_at = now``. An existing key gets the new kind, due
        time and payload, its attempts reset to 0 and its last error cleared; ``created_at`` is
        kept. A claim held on it is kept too: the run in progress finishes, and its ``complete``
        or ``fail`` then leaves the job due at the new time (see the module docstring), so one key
        never runs on two healthy workers at once. A due time in the past makes the job due at
        once."""

    async def schedule_if_sooner(
        self, key: str, kind: str, due_at: Millis, payload: Payload, *, now: Millis
    ) -> bool:
        """Like ``schedule``, but an existing key is changed only when ``due_at`` is earlier than
        its current due time. True when the job was inserted or moved, False when it already fell
        due no later (then nothing changed, payload included)."""

    async def cancel(self, key: str) -> bool:
        """Delete the job whatever its state; True when there was one. A handler already running
        is not stopped: its ``complete`` or ``fail`` then finds no job and does nothing, so the
        handler itself must check that its transition still applies (it must be idempotent
        anyway)."""

    async def claim_due(
        self, *, now: Millis, owner: str, lease_ms: int, limit: int
    ) -> list[TimerJob]:
        """Claim up to ``limit`` jobs with ``due_at <= now`` whose lease is free or has passed
        (``claimed_until <= now``), earliest due first (ties by key), and return them in that
        order.

        Each claimed job gets ``claimed_by = owner``, ``claimed_until = now + lease_ms`` and one
        more attempt. Atomic across processes: two claimers running at once never get the same
        job, and a job stays with its claimer until the lease passes or the claimer completes,
        fails or releases it. Leases are compared with the callers' ``now``, so the processes'
        clocks must agree to well within a lease."""

    async def complete(self, key: str, owner: str) -> None:
        """The handler of a job claimed by ``owner`` succeeded: delete the job, unless it was
        rescheduled since the claim (``attempts = 0``), in which case it is only unclaimed and
        runs again at its new due time. Does nothing when ``owner`` no longer holds the claim (the
        lease passed and another worker claimed it, or the job was cancelled)."""

    async def fail(self, key: str, owner: str, error: str, retry_at: Millis) -> None:
        """The handler of a job claimed by ``owner`` raised: unclaim it, record ``error`` as its
        last error and make it due at ``retry_at``, keeping its attempts (the back-off is the
        caller's, from ``attempts``). If the job was rescheduled since the claim, the new due time
        wins over ``retry_at`` (the failure was of the superseded run). Does nothing when
        ``owner`` no longer holds the claim."""

    async def release(self, key: str, owner: str) -> None:
        """Give back a job ``owner`` claimed but did not run (a worker stopping, or one whose
        lease would run out before the job's turn): unclaimed, the claim's attempt not counted,
        due time unchanged, so another worker can claim it at once. Does nothing when ``owner``
        no longer holds the claim."""

    async def next_due(self) -> Millis | None:
        """The earliest time at which ``claim_due`` could return a job: over all jobs, the later
        of its due time and its lease's end (a job claimed by someone cannot be claimed before
        the lease passes). None when there are no jobs. A time in the past means "claimable now".
        """

    async def get(self, key: str) -> TimerEntry | None: ...
