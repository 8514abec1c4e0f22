-- Satisfaction surveys, sqlite dialect. Keep in step with ../postgres/0014_surveys.sql.
--
-- Anonymity is in the shape of the tables (design 0020): a response is keyed by a token, the
-- HMAC of the respondent's key ('user:<id>' or 'unit:<id>') under the survey's own random
-- response_key. Neither survey_responses nor survey_answers has a user column for an anonymous
-- survey (user_id stays NULL), nor any time of answering. While the survey is open the server
-- can recompute a resident's token (to resume, change and remind); at the close response_key is
-- erased, and from then on nothing links an answer to a person.
-- The one-response rule is the primary key of survey_responses: every submission of one
-- resident (or household) lands on the same row, however many arrive at once.
-- Flags are INTEGER 0/1 in both dialects (asyncpg will not bind a Python bool to an integer).

CREATE TABLE surveys (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    intro         TEXT    NOT NULL,
    questions     TEXT    NOT NULL,  -- JSON array of questions (persistence/surveys Question)
    audience      TEXT    NOT NULL,  -- 'everyone', 'buildings' or 'group'
    buildings     TEXT    NOT NULL,  -- JSON array of building ids (audience 'buildings')
    group_slug    TEXT    NOT NULL,  -- the group (audience 'group'), '' otherwise
    counting      TEXT    NOT NULL,  -- 'resident' or 'unit'
    anonymous     INTEGER NOT NULL,
    allow_change  INTEGER NOT NULL,
    state         TEXT    NOT NULL,  -- 'draft', 'scheduled', 'open', 'closed'
    opens_at      BIGINT,
    closes_at     BIGINT,
    remind_at     BIGINT,
    -- The shipped template it was made from ('monthly') and its month ('2026-11'); NULL for a
    -- survey written by hand (NULLs never clash in the unique index).
    template      TEXT,
    period        TEXT,
    response_key  TEXT,              -- random, hex; NULL from the close on
    version       BIGINT  NOT NULL DEFAULT 0,
    created_by    BIGINT  NOT NULL REFERENCES users (id),
    created_at    BIGINT  NOT NULL,
    opened_at     BIGINT,
    closed_at     BIGINT
);
CREATE INDEX surveys_state ON surveys (state);
CREATE UNIQUE INDEX surveys_template_period ON surveys (template, period);

CREATE TABLE survey_responses (
    survey_id     BIGINT  NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    token         TEXT    NOT NULL,
    building_id   BIGINT,            -- the respondent's building, for results per building
    user_id       BIGINT,            -- named surveys only; NULL whenever the survey is anonymous
    submitted     INTEGER NOT NULL,  -- 0 while being filled in (saved as they go)
    -- The client's id of the submission that submitted it: a retry of it is a no-op.
    submission_id TEXT    NOT NULL,
    revision      BIGINT  NOT NULL,  -- grows with every save
    PRIMARY KEY (survey_id, token)
);

-- One row per answer value: a scale or NPS answer is its number, a choice its option index (a
-- multiple choice has a row per option), a text answer value 0 and its text. Results are
-- GROUP BY counts of these rows, never stored counters.
CREATE TABLE survey_answers (
    survey_id     BIGINT  NOT NULL,
    token         TEXT    NOT NULL,
    question      TEXT    NOT NULL,
    value         INTEGER NOT NULL,
    text          TEXT,
    PRIMARY KEY (survey_id, token, question, value),
    FOREIGN KEY (survey_id, token) REFERENCES survey_responses (survey_id, token) ON DELETE CASCADE
);
CREATE INDEX survey_answers_question ON survey_answers (survey_id, question, value);

-- The shipped monthly template's schedule: one row per template, present when an admin turned it
-- on (the timers' surveys.monthly job reads it).
CREATE TABLE survey_series (
    template      TEXT    NOT NULL PRIMARY KEY,
    enabled       INTEGER NOT NULL,
    audience      TEXT    NOT NULL,
    counting      TEXT    NOT NULL,
    updated_by    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
