-- Residents' requests, SQLite dialect. Keep in step with ../postgres/0013_requests.sql
-- (docs/design/0019-requests.md). Times are BIGINT milliseconds; flags INTEGER 0/1.

-- A team handles the categories routed to it; only its members (and admins) act on them.
CREATE TABLE request_teams (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE request_team_members (
    team_id     BIGINT  NOT NULL REFERENCES request_teams (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX request_team_members_user ON request_team_members (user_id);

-- One row per category: where it is routed (NULL: every holder of the duty) and its targets.
CREATE TABLE request_categories (
    category          TEXT    NOT NULL PRIMARY KEY,
    team_id           BIGINT  REFERENCES request_teams (id) ON DELETE SET NULL,
    first_response_ms BIGINT  NOT NULL,
    resolution_ms     BIGINT  NOT NULL
);
INSERT INTO request_categories (category, team_id, first_response_ms, resolution_ms) VALUES
    ('repair', NULL, 86400000, 1209600000),
    ('question', NULL, 86400000, 259200000),
    ('suggestion', NULL, 259200000, 2592000000),
    ('complaint', NULL, 86400000, 1209600000),
    ('feedback', NULL, 259200000, 2592000000);

-- The common areas residents pick from (電梯, 大廳, 停車場 …); building_id NULL: every building.
CREATE TABLE request_places (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    building_id BIGINT  REFERENCES buildings (id),
    active      INTEGER NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- Reply templates kept by admins.
CREATE TABLE request_templates (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- status: received, in_progress, waiting, resolved, closed, rejected, merged.
-- respond_by / resolve_by: the category's targets from created_at, fixed when filed.
-- resolved_at: the latest resolution (NULL while open again after a reopen); resolutions counts
-- them (each one may be rated once).
CREATE TABLE requests (
    id                INTEGER PRIMARY KEY,
    category          TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    private           INTEGER NOT NULL,
    text              TEXT    NOT NULL,
    author_id         BIGINT  NOT NULL REFERENCES users (id),
    building_id       BIGINT  NOT NULL REFERENCES buildings (id),
    floor             TEXT    NOT NULL,
    unit_id           BIGINT  REFERENCES units (id),
    place_id          BIGINT  REFERENCES request_places (id),
    assignee_id       BIGINT  REFERENCES users (id),
    source_link       TEXT    NOT NULL,
    merged_into       BIGINT  REFERENCES requests (id),
    reject_reason     TEXT    NOT NULL,
    version           BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    respond_by        BIGINT  NOT NULL,
    resolve_by        BIGINT  NOT NULL,
    first_response_at BIGINT,
    resolved_at       BIGINT,
    closed_at         BIGINT,
    resolutions       INTEGER NOT NULL,
    overdue_at        BIGINT
);
CREATE INDEX requests_status_created ON requests (status, created_at);
CREATE INDEX requests_building_category ON requests (building_id, category, status);
CREATE INDEX requests_author ON requests (author_id);
CREATE INDEX requests_created_at ON requests (created_at);

CREATE TABLE request_followers (
    request_id  BIGINT  NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since       BIGINT  NOT NULL,
    PRIMARY KEY (request_id, user_id)
);
CREATE INDEX request_followers_user ON request_followers (user_id);

-- The history. kind: filed, status, reply, note (internal), assign, merged, merged_in, reopen,
-- rating, follow. internal = 1: staff only.
CREATE TABLE request_events (
    id          INTEGER PRIMARY KEY,
    request_id  BIGINT  NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    actor_id    BIGINT  REFERENCES users (id),
    status      TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    internal    INTEGER NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX request_events_request ON request_events (request_id, id);

-- One rating per resolution: the primary key makes "once" a constraint, not a check.
CREATE TABLE request_ratings (
    request_id  BIGINT  NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    resolution  INTEGER NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    score       INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     TEXT    NOT NULL,
    rated_at    BIGINT  NOT NULL,
    PRIMARY KEY (request_id, resolution)
);

-- Up to five photos a request (persistence/requests MAX_PHOTOS): the bytes are blobs
-- (persistence/blobs), the original and its JPEG thumbnail; position 1..5 in upload order.
CREATE TABLE request_photos (
    request_id  BIGINT  NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL CHECK (position BETWEEN 1 AND 5),
    blob_id     TEXT    NOT NULL,
    thumb_id    TEXT    NOT NULL,
    filename    TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    added_by    BIGINT  NOT NULL REFERENCES users (id),
    added_at    BIGINT  NOT NULL,
    PRIMARY KEY (request_id, position)
);
