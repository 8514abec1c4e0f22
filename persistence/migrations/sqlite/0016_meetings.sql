-- Owners' meetings (區分所有權人會議), SQLite dialect. Keep in step with ../postgres/0016_meetings.sql
-- (docs/design/0022-meetings.md).
--
-- The owners' register is community-wide: each unit's share (區分所有權比例, any integer unit:
-- the fraction is share / the sum of shares) and the owner who holds its one voice (Art. 27 §1),
-- with every co-owner beside. A meeting copies the register into its roll when it is convened,
-- so its figures never move when the register is edited later. Attendance, proxies, votes and
-- objections are rows; every figure is counted from them (persistence/meetings/rules.py), never
-- a stored counter. Booleans are INTEGER 0/1 as elsewhere.

CREATE TABLE meeting_owners (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    -- The owner's Linli account, when they have one (they check in and vote with it).
    user_id     BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX meeting_owners_user ON meeting_owners (user_id);

CREATE TABLE meeting_units (
    unit_id         BIGINT  NOT NULL PRIMARY KEY REFERENCES units (id),
    share           BIGINT  NOT NULL CHECK (share > 0),
    voice_owner_id  BIGINT  NOT NULL REFERENCES meeting_owners (id)
);

CREATE TABLE meeting_unit_owners (
    unit_id     BIGINT  NOT NULL REFERENCES meeting_units (unit_id) ON DELETE CASCADE,
    owner_id    BIGINT  NOT NULL REFERENCES meeting_owners (id) ON DELETE CASCADE,
    PRIMARY KEY (unit_id, owner_id)
);

CREATE TABLE meetings (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,  -- 'regular', 'extraordinary', 'reconvened'
    title           TEXT    NOT NULL,
    place           TEXT    NOT NULL,
    starts_at       BIGINT  NOT NULL,
    state           TEXT    NOT NULL,  -- 'draft', 'convened', 'open', 'closed'
    projector_token TEXT    NOT NULL,
    -- What an owner types (or a QR at the door carries) to check in: only someone at the venue
    -- sees it.
    checkin_code    TEXT    NOT NULL,
    -- Grows with every change (check-in, proxy, vote, state): screens keep the newest snapshot.
    version         BIGINT  NOT NULL DEFAULT 0,
    created_by      BIGINT  NOT NULL REFERENCES users (id),
    created_at      BIGINT  NOT NULL,
    convened_at     BIGINT,
    opened_at       BIGINT,
    closed_at       BIGINT,
    minutes         TEXT,
    minutes_state   TEXT    NOT NULL DEFAULT 'none',  -- 'none', 'draft', 'approved', 'published'
    minutes_by      BIGINT,
    minutes_at      BIGINT
);
CREATE UNIQUE INDEX meetings_projector_token ON meetings (projector_token);

CREATE TABLE meeting_items (
    id              INTEGER PRIMARY KEY,
    meeting_id      BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    title           TEXT    NOT NULL,
    explanation     TEXT    NOT NULL,
    resolution      INTEGER NOT NULL,
    -- The threshold as numbers, copied from the kind's defaults or typed (custom): what the
    -- item was decided by stays with it.
    threshold       TEXT    NOT NULL,  -- 'art31', 'art32', 'majority', 'custom'
    rule            TEXT    NOT NULL,  -- JSON: quorum/pass ratios and the minimum present
    state           TEXT    NOT NULL,  -- 'pending', 'open', 'closed'
    opened_at       BIGINT,
    closed_at       BIGINT,
    result          TEXT,              -- 'passed', 'failed' once closed (resolutions)
    figures         TEXT,              -- JSON: the figures at the close, as the minutes give them
    objection_until BIGINT,            -- Art. 32: the end of the written-objection window
    objection_result TEXT              -- 'stands', 'overturned' when the window closed
);
CREATE UNIQUE INDEX meeting_items_position ON meeting_items (meeting_id, position);

CREATE TABLE meeting_members (
    meeting_id  BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    unit_id     BIGINT  NOT NULL,
    owner_key   TEXT    NOT NULL,  -- 'owner:<id>' of the voice: Art. 27 §2 groups by it
    voice_owner_id BIGINT NOT NULL,
    user_id     BIGINT,            -- the voice's account, if any, when convened
    share       BIGINT  NOT NULL,
    label       TEXT    NOT NULL,  -- building and unit, for lists and the minutes
    owners      TEXT    NOT NULL,  -- every co-owner's name, for the signature book
    PRIMARY KEY (meeting_id, unit_id)
);
CREATE INDEX meeting_members_user ON meeting_members (meeting_id, user_id);

-- One proxy per unit and meeting (Art. 27 §3). proxy_key groups a proxy's principals for the
-- cap: 'user:<id>' for an account, 'name:<name>' for a person staff typed from a paper form.
CREATE TABLE meeting_proxies (
    meeting_id    BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    unit_id       BIGINT  NOT NULL,
    proxy_key     TEXT    NOT NULL,
    proxy_user_id BIGINT,
    proxy_name    TEXT    NOT NULL,
    route         TEXT    NOT NULL,  -- 'phone' (the owner on Linli) or 'paper' (a 委託書)
    reference     TEXT    NOT NULL,  -- the paper form's number or scan reference
    recorded_by   BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (meeting_id, unit_id)
);
CREATE INDEX meeting_proxies_user ON meeting_proxies (meeting_id, proxy_user_id);

CREATE TABLE meeting_checkins (
    meeting_id  BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    unit_id     BIGINT  NOT NULL,
    proxy_key   TEXT,               -- NULL: in person
    route       TEXT    NOT NULL,   -- 'code' (typed or from the door's QR), 'staff'
    recorded_by BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    PRIMARY KEY (meeting_id, unit_id)
);

-- One vote per item and unit: a second is refused (the primary key), never counted twice.
CREATE TABLE meeting_votes (
    item_id     BIGINT  NOT NULL REFERENCES meeting_items (id) ON DELETE CASCADE,
    unit_id     BIGINT  NOT NULL,
    choice      TEXT    NOT NULL,   -- 'for', 'against', 'abstain'
    route       TEXT    NOT NULL,   -- 'phone', 'proxy', 'paper'
    cast_by     BIGINT  NOT NULL,
    cast_at     BIGINT  NOT NULL,
    PRIMARY KEY (item_id, unit_id)
);

CREATE TABLE meeting_objections (
    item_id     BIGINT  NOT NULL REFERENCES meeting_items (id) ON DELETE CASCADE,
    unit_id     BIGINT  NOT NULL,
    recorded_by BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    PRIMARY KEY (item_id, unit_id)
);

-- Questions from the floor (Slido-style): anyone signed in asks; staff moderate (queued ->
-- shown -> answered, or hidden); one upvote per person and question.
CREATE TABLE meeting_questions (
    id          INTEGER PRIMARY KEY,
    meeting_id  BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL,
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL,  -- 'queued', 'shown', 'answered', 'hidden'
    created_at  BIGINT  NOT NULL
);
CREATE INDEX meeting_questions_meeting ON meeting_questions (meeting_id, id);

CREATE TABLE meeting_question_votes (
    question_id BIGINT  NOT NULL REFERENCES meeting_questions (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL,
    PRIMARY KEY (question_id, user_id)
);
