-- Polls, SQLite dialect. Keep in step with ../postgres/0002_polls.sql.
--
-- A vote is one row per (poll, voter_key): voter_key is 'user:<id>' when each resident counts,
-- 'unit:<id>' when each household does, so one unique constraint serves both counting rules.
-- Its choices are rows of poll_choices, so a tally is a GROUP BY count, never a stored counter.
-- Flags are INTEGER 0/1 in both dialects (asyncpg will not bind a Python bool to an integer).

CREATE TABLE polls (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL,  -- the channel whose readers may vote: building:<id>, group:<slug>
    question        TEXT    NOT NULL,
    options         TEXT    NOT NULL,  -- JSON array of 2-10 option texts
    multiple        INTEGER NOT NULL,
    anonymous       INTEGER NOT NULL,
    allow_change    INTEGER NOT NULL,
    counting        TEXT    NOT NULL,  -- 'resident' or 'unit'
    results         TEXT    NOT NULL,  -- 'live' or 'after_close'
    state           TEXT    NOT NULL,  -- 'draft', 'open', 'closed'
    closes_at       BIGINT,
    join_code       TEXT    NOT NULL,
    projector_token TEXT    NOT NULL,
    -- Grows with every recorded vote change and state change: clients keep the tally with the
    -- highest version, whichever way it reached them.
    version         BIGINT  NOT NULL DEFAULT 0,
    created_by      BIGINT  NOT NULL REFERENCES users (id),
    created_at      BIGINT  NOT NULL,
    opened_at       BIGINT,
    closed_at       BIGINT
);
CREATE UNIQUE INDEX polls_join_code ON polls (join_code);
CREATE UNIQUE INDEX polls_projector_token ON polls (projector_token);
CREATE INDEX polls_channel ON polls (channel);
CREATE INDEX polls_state_closes_at ON polls (state, closes_at);

-- seq orders ballots of one voter_key: a ballot replaces the stored vote only when its seq is
-- higher, so a redelivered or reclaimed older ballot never overwrites a newer one.
CREATE TABLE poll_votes (
    poll_id     BIGINT  NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    voter_key   TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL,
    ballot_id   TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    cast_at     BIGINT  NOT NULL,
    PRIMARY KEY (poll_id, voter_key)
);

CREATE TABLE poll_choices (
    poll_id     BIGINT  NOT NULL,
    voter_key   TEXT    NOT NULL,
    choice      INTEGER NOT NULL CHECK (choice >= 0),
    PRIMARY KEY (poll_id, voter_key, choice),
    FOREIGN KEY (poll_id, voter_key) REFERENCES poll_votes (poll_id, voter_key) ON DELETE CASCADE
);
CREATE INDEX poll_choices_poll_choice ON poll_choices (poll_id, choice);
