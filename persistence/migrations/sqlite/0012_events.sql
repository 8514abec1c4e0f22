-- Events and sign-up, SQLite dialect. Keep in step with ../postgres/0012_events.sql.
--
-- A sign-up's place is a row, never a counter: a session's taken places are the sum of the
-- seats of its 'confirmed' and 'offered' rows, its waitlist the 'waitlisted' rows by id. A
-- sign-up runs in one transaction holding the session's row lock (PostgreSQL SELECT ... FOR
-- UPDATE; SQLite BEGIN IMMEDIATE), so ids within a session follow the order the lock was
-- granted: arrival order. The partial unique index holds "one live sign-up per holder and
-- session" even against a bug above it; the (user_id, request_key) index makes a retried
-- sign-up find the first one instead of taking a second place.
-- Flags are INTEGER 0/1 in both dialects.

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,  -- Markdown source
    body_html       TEXT    NOT NULL,  -- linli.richtext.render(body), sanitised
    place           TEXT    NOT NULL,
    starts_at       BIGINT  NOT NULL,
    ends_at         BIGINT  NOT NULL,
    audience        TEXT    NOT NULL,  -- 'everyone', 'buildings:1,2' or 'group:<slug>'
    room            TEXT,              -- the chat room its card goes to (building:<id>, group:<slug>)
    counting        TEXT    NOT NULL,  -- 'person' or 'household'
    max_seats       INTEGER NOT NULL,  -- seats one sign-up may ask for
    questions       TEXT    NOT NULL,  -- JSON array of {"text", "choices": [...]|null}
    cost_note       TEXT    NOT NULL,
    signup_opens    BIGINT  NOT NULL,
    signup_closes   BIGINT  NOT NULL,
    cancel_until    BIGINT,            -- residents may cancel until then (null: until the start)
    confirm_hours   INTEGER,           -- a promoted place must be confirmed within; null: none
    remind_hours    INTEGER,           -- reminder this long before a session; null: none
    state           TEXT    NOT NULL,  -- 'open' or 'cancelled'
    created_by      BIGINT  NOT NULL REFERENCES users (id),
    created_at      BIGINT  NOT NULL,
    cancelled_at    BIGINT
);
CREATE INDEX events_starts_at ON events (starts_at);

CREATE TABLE event_sessions (
    id              INTEGER PRIMARY KEY,
    event_id        BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    label           TEXT    NOT NULL,
    starts_at       BIGINT  NOT NULL,
    ends_at         BIGINT  NOT NULL,
    capacity        INTEGER NOT NULL CHECK (capacity >= 0),
    -- Grows with every change of the session's sign-ups: live counts with a higher version
    -- are newer, whichever way they reached a page.
    version         BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX event_sessions_event ON event_sessions (event_id);

CREATE TABLE event_signups (
    id              INTEGER PRIMARY KEY,
    session_id      BIGINT  NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
    event_id        BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL REFERENCES users (id),
    holder          TEXT    NOT NULL,  -- 'user:<id>' (per person) or 'unit:<id>' (per household)
    seats           INTEGER NOT NULL CHECK (seats >= 1),
    answers         TEXT    NOT NULL,  -- JSON array, one answer per question
    -- 'confirmed', 'offered' (promoted, to be confirmed by offered_until), 'waitlisted',
    -- 'cancelled' (by the resident), 'removed' (by an organiser), 'expired' (offer not confirmed)
    state           TEXT    NOT NULL,
    request_key     TEXT    NOT NULL,
    code            TEXT    NOT NULL,  -- the short check-in code (also in the QR code)
    created_at      BIGINT  NOT NULL,
    offered_until   BIGINT,
    confirmed_at    BIGINT,
    ended_at        BIGINT,
    checked_in_at   BIGINT,
    checked_in_by   BIGINT  REFERENCES users (id),
    attendance      TEXT               -- null, 'present' or 'no_show'
);
CREATE UNIQUE INDEX event_signups_request ON event_signups (user_id, request_key);
CREATE UNIQUE INDEX event_signups_code ON event_signups (event_id, code);
CREATE UNIQUE INDEX event_signups_live_holder ON event_signups (session_id, holder)
    WHERE state IN ('confirmed', 'offered', 'waitlisted');
CREATE INDEX event_signups_session_state ON event_signups (session_id, state, id);
CREATE INDEX event_signups_user ON event_signups (user_id);

-- A personal calendar feed's secret: revoking it is replacing it.
CREATE TABLE event_feed_tokens (
    user_id         BIGINT  NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX event_feed_tokens_token ON event_feed_tokens (token);
