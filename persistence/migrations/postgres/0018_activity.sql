-- Product activity for the community's figures (docs/design/0025-figures.md). Raw events as they
-- happened (a login, a page or API request, a WebSocket connection), one row each, keyed by the
-- id the web app or gateway gave it so a replayed batch writes nothing twice; and the rollup by
-- local day and user, recomputed from the raw rows of the days a batch touched, so recomputing
-- any past day gives the same numbers.
CREATE TABLE activity_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX activity_events_user_at ON activity_events (user_id, at);

-- day: the local date (LINLI_TIME_ZONE) as YYYY-MM-DD; building_id: the user's building when
-- the day was last rolled up (NULL for staff of no building).
CREATE TABLE activity_days (
    day         TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL,
    building_id BIGINT,
    logins      INTEGER NOT NULL,
    visits      INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (day, user_id)
);
CREATE INDEX activity_days_user ON activity_days (user_id, day);

-- The figures count chat posts and votes by time (persistence/figures/sql.py).
CREATE INDEX messages_created_at ON messages (created_at);
CREATE INDEX poll_votes_cast_at ON poll_votes (cast_at);
