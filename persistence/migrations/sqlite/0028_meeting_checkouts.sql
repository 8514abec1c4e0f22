-- Checking out of an owners' meeting (leaving before the end), SQLite dialect. Keep in step
-- with ../postgres/0028_meeting_checkouts.sql (docs/design/0022-meetings.md, session 6).
--
-- meeting_checkins keeps the units present now (one row a unit: its primary key). A check-out
-- moves the unit's row here, with when and by whom it ended, in one transaction; checking in
-- again makes a new meeting_checkins row. So "who was present when" is every row of both
-- tables (a unit's stays do not overlap), and the figures at any moment (an item's close) are
-- counted from them, never a stored counter.
CREATE TABLE meeting_checkouts (
    id          INTEGER PRIMARY KEY,
    meeting_id  BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    unit_id     BIGINT  NOT NULL,
    -- The check-in this stay began with, as meeting_checkins had it.
    proxy_key   TEXT,               -- NULL: in person
    route       TEXT    NOT NULL,
    recorded_by BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    -- The check-out: when, who recorded it (the owner, their proxy, or staff at the door).
    out_at      BIGINT  NOT NULL,
    out_by      BIGINT  NOT NULL
);
CREATE INDEX meeting_checkouts_meeting ON meeting_checkouts (meeting_id, unit_id, out_at);
