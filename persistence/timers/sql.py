"""``TimerStore`` in SQL, once for SQLite and PostgreSQL over ``persistence.db.Database``.

Every statement is in the dialects' common subset (``ON CONFLICT … DO UPDATE … WHERE``, a CTE
before ``UPDATE … RETURNING``), except one clause: PostgreSQL's claim locks the rows it picks with
``FOR UPDATE SKIP LOCKED``, which SQLite has no use for (nor syntax) since its ``BEGIN IMMEDIATE``
already makes a claim the only writer of the whole database.

Each guarantee of ``TimerStore`` rests on a ``WHERE`` of one statement: a change a worker makes
names the key *and* its own claim (``claimed_by = owner``), so it does nothing once the claim has
passed to someone else.

``schedule_in`` and ``cancel_in`` run the same statements on a caller's transaction, so a feature
store can commit a state change and the timer it implies together.
"""

from __future__ import annotations

from typing import Final

import orjson

from linli.types import Millis
from persistence.db import Database, Executor, Row
from persistence.timers import Payload, TimerEntry, TimerJob

_COLUMNS: Final = (
    "key, kind, due_at, payload, attempts, claimed_by, claimed_until, last_error, created_at"
)

_UPSERT: Final = """
    INSERT INTO timer_jobs (key, kind, due_at, payload, attempts, created_at)
    VALUES ($1, $2, $3, $4, 0, $5)
    ON CONFLICT (key) DO UPDATE SET
        kind = excluded.kind,
        due_at = excluded.due_at,
        payload = excluded.payload,
        attempts = 0,
        last_error = NULL
"""

# The claim in one statement: the CTE picks the due rows whose lease is free or has passed, the
# UPDATE stamps them. {lock} is FOR UPDATE SKIP LOCKED on PostgreSQL: a row another claimer has
# locked is skipped rather than waited for, and a row it changed and committed after this
# statement's snapshot is re-checked against the WHERE before it is locked (so a fresh lease
# excludes it). MATERIALIZED (PostgreSQL >= 12, SQLite >= 3.35) says what PostgreSQL does anyway
# for a CTE with row locks: it is evaluated once, so its LIMIT picks one set of rows, never one
# per probe of the IN. On SQLite the claim runs under BEGIN IMMEDIATE: no other connection writes
# until it commits.
_CLAIM: Final = """
    WITH due AS MATERIALIZED (
        SELECT key FROM timer_jobs
        WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
        ORDER BY due_at, key
        LIMIT $4{lock}
    )
    UPDATE timer_jobs
    SET claimed_by = $2, claimed_until = $3, attempts = attempts + 1
    WHERE key IN (SELECT key FROM due)
    RETURNING key, kind, due_at, payload, attempts
"""

# A claim whose attempts are 0 was rescheduled after it was taken (schedule resets attempts, a
# claim makes them at least 1): complete and fail must not lose the new due time.
_COMPLETE_DELETE: Final = (
    "DELETE FROM timer_jobs WHERE key = $1 AND claimed_by = $2 AND attempts > 0"
)
_UNCLAIM: Final = (
    "UPDATE timer_jobs SET claimed_by = NULL, claimed_until = NULL "
    "WHERE key = $1 AND claimed_by = $2"
)
_FAIL: Final = """
    UPDATE timer_jobs
    SET claimed_by = NULL, claimed_until = NULL, last_error = $3,
        due_at = CASE WHEN attempts > 0 THEN CAST($4 AS BIGINT) ELSE due_at END
    WHERE key = $1 AND claimed_by = $2
"""
_RELEASE: Final = """
    UPDATE timer_jobs
    SET claimed_by = NULL, claimed_until = NULL,
        attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
    WHERE key = $1 AND claimed_by = $2
"""
# The later of the due time and the lease's end (a NULL lease compares as unknown: ELSE). A scan
# of the table rather than an index probe; the table holds only pending jobs (thousands), and a
# worker asks once per wake-up.
_NEXT_DUE: Final = """
    SELECT MIN(CASE WHEN claimed_until > due_at THEN claimed_until ELSE due_at END)
    FROM timer_jobs
"""


def _payload_text(payload: Payload) -> str:
    if not isinstance(payload, dict):
        raise TypeError(f"a timer payload must be a dict (a JSON object), got {type(payload)}")
    return orjson.dumps(payload).decode()


def _check(key: str, kind: str) -> None:
    if not key:
        raise ValueError("a timer key must not be empty")
    if not kind:
        raise ValueError("a timer kind must not be empty")


def _job(row: Row) -> TimerJob:
    return TimerJob(
        key=row["key"],
        kind=row["kind"],
        due_at=row["due_at"],
        payload=orjson.loads(row["payload"]),
        attempts=row["attempts"],
    )


async def schedule_in(
    tx: Executor, key: str, kind: str, due_at: Millis, payload: Payload, *, now: Millis
) -> None:
    """``TimerStore.schedule`` on a given executor: a feature's SQL store calls it inside its own
    transaction, so that the state change that makes a job due (a poll opened with a closing
    time) and the job commit together or not at all."""
    _check(key, kind)
    await tx.execute(_UPSERT, key, kind, due_at, _payload_text(payload), now)


async def cancel_in(tx: Executor, key: str) -> bool:
    """``TimerStore.cancel`` on a given executor (see ``schedule_in``)."""
    return await tx.execute("DELETE FROM timer_jobs WHERE key = $1", key) > 0


class SqlTimerStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        lock = "\n        FOR UPDATE SKIP LOCKED" if db.dialect == "postgres" else ""
        self._claim = _CLAIM.format(lock=lock)

    async def schedule(
        self, key: str, kind: str, due_at: Millis, payload: Payload, *, now: Millis
    ) -> None:
        await schedule_in(self._db, key, kind, due_at, payload, now=now)

    async def schedule_if_sooner(
        self, key: str, kind: str, due_at: Millis, payload: Payload, *, now: Millis
    ) -> bool:
        _check(key, kind)
        # The conflict's WHERE skips the update (0 rows on both drivers) when not sooner.
        changed = await self._db.execute(
            _UPSERT + "    WHERE excluded.due_at < timer_jobs.due_at",
            key,
            kind,
            due_at,
            _payload_text(payload),
            now,
        )
        return changed > 0

    async def cancel(self, key: str) -> bool:
        return await cancel_in(self._db, key)

    async def claim_due(
        self, *, now: Millis, owner: str, lease_ms: int, limit: int
    ) -> list[TimerJob]:
        if lease_ms <= 0 or limit <= 0:
            raise ValueError(f"lease_ms and limit must be positive, got {lease_ms}, {limit}")
        # A transaction even for one statement: on SQLite, BEGIN IMMEDIATE takes the write lock
        # before the read, so a claim never fails half way with SQLITE_BUSY because another
        # process wrote between its read and its write (a deferred one can: SQLITE_BUSY_SNAPSHOT).
        async with self._db.transaction() as tx:
            rows = await tx.fetch(self._claim, now, owner, now + lease_ms, limit)
        # RETURNING follows no ORDER BY; sorted here (and by code point, whatever the collation).
        return sorted((_job(row) for row in rows), key=lambda job: (job.due_at, job.key))

    async def complete(self, key: str, owner: str) -> None:
        if await self._db.execute(_COMPLETE_DELETE, key, owner) == 0:
            # Rescheduled while it ran (or no longer ours: then this changes nothing either).
            await self._db.execute(_UNCLAIM, key, owner)

    async def fail(self, key: str, owner: str, error: str, retry_at: Millis) -> None:
        await self._db.execute(_FAIL, key, owner, error, retry_at)

    async def release(self, key: str, owner: str) -> None:
        await self._db.execute(_RELEASE, key, owner)

    async def next_due(self) -> Millis | None:
        value = await self._db.fetchval(_NEXT_DUE)
        return None if value is None else int(value)

    async def get(self, key: str) -> TimerEntry | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM timer_jobs WHERE key = $1", key)
        if row is None:
            return None
        return TimerEntry(
            key=row["key"],
            kind=row["kind"],
            due_at=row["due_at"],
            payload=orjson.loads(row["payload"]),
            attempts=row["attempts"],
            claimed_by=row["claimed_by"],
            claimed_until=row["claimed_until"],
            last_error=row["last_error"],
            created_at=row["created_at"],
        )
