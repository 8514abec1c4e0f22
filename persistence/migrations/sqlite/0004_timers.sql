-- Timers (docs/design/0011-timers.md), SQLite dialect. Keep in step with
-- ../postgres/0004_timers.sql: same columns, types, nullability, defaults and index names.
--
-- One row per pending time-based transition of any feature (a poll's close, a reminder, a
-- waitlist deadline). key is the caller's idempotency key ('polls.close:42'), so scheduling the
-- same thing twice moves one row instead of adding a second; kind names the handler.
-- payload is a JSON object as text. A row is claimed by a worker while claimed_until (a lease,
-- ms) lies ahead; attempts counts the claims since the row was last scheduled, so a claimed row
-- with attempts = 0 was rescheduled while its handler ran (see persistence/timers/__init__.py).
-- The row is deleted when its handler has succeeded.
--
-- key is NOT NULL explicitly: SQLite lets a non-integer PRIMARY KEY of a rowid table hold NULL.
-- WITHOUT ROWID: rows come and go all the time and are found by key; the table is then the key's
-- B-tree itself, so an insert or delete touches two B-trees (it and the due_at index), not three.
CREATE TABLE timer_jobs (
    key           TEXT    NOT NULL PRIMARY KEY,
    kind          TEXT    NOT NULL,
    due_at        BIGINT  NOT NULL,
    payload       TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    claimed_until BIGINT,
    last_error    TEXT,
    created_at    BIGINT  NOT NULL
) WITHOUT ROWID;
-- claim_due takes the earliest due rows first.
CREATE INDEX timer_jobs_due_at ON timer_jobs (due_at);
