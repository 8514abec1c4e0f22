-- Linli schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql: same tables, columns,
-- constraints and index names; only type names and id generation differ.
--
-- Timestamps are BIGINT milliseconds since the Unix epoch, passed in by the application.
-- Statements end with ";" at the end of a line: the migration runner splits on complete statements.

CREATE TABLE buildings (
    id          INTEGER PRIMARY KEY,  -- rowid alias: SQLite assigns it on insert
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- label_key is the label with spaces collapsed and case folded (computed by the application, so
-- both dialects agree on Unicode case folding); it is what makes a unit unique in its building.
CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    building_id BIGINT  NOT NULL REFERENCES buildings (id),
    label       TEXT    NOT NULL,
    label_key   TEXT    NOT NULL,
    CONSTRAINT units_building_label_key UNIQUE (building_id, label_key)
);

-- role is not constrained by a CHECK: the application validates it against its enum, and adding a
-- role must not need a table rebuild (SQLite cannot alter a CHECK in place).
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL,
    username_lower TEXT    NOT NULL,  -- case-folded username: the uniqueness key
    display_name   TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    building_id    BIGINT  REFERENCES buildings (id),
    unit_id        BIGINT  REFERENCES units (id),
    password_hash  TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL
);
CREATE UNIQUE INDEX users_username_lower ON users (username_lower);

CREATE TABLE invites (
    code        TEXT    PRIMARY KEY,
    building_id BIGINT  NOT NULL REFERENCES buildings (id),
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- One row per failed login, so counts within any window are exact; rows older than the window
-- are pruned when a new failure is recorded.
CREATE TABLE login_failures (
    key         TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE groups (
    slug        TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    created_by  BIGINT  NOT NULL REFERENCES users (id),
    created_at  BIGINT  NOT NULL
);

CREATE TABLE group_members (
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    slug        TEXT    NOT NULL REFERENCES groups (slug) ON DELETE CASCADE,
    joined_at   BIGINT  NOT NULL,
    PRIMARY KEY (user_id, slug)
);
-- member counts look members up by group
CREATE INDEX group_members_slug ON group_members (slug);

-- The persisted channel history. No foreign key on author_id: the persist worker copies what the
-- gateway published, and one row naming an unknown user must not make a whole batch unwritable.
-- Offsets start at 1 (0 means "before the first message" in history paging).
-- WITHOUT ROWID clusters rows by (channel, offset), which is how history is read.
CREATE TABLE messages (
    channel     TEXT    NOT NULL,
    "offset"    BIGINT  NOT NULL CHECK ("offset" > 0),
    epoch       BIGINT  NOT NULL,
    data        BLOB    NOT NULL,
    author_id   BIGINT,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (channel, "offset")
) WITHOUT ROWID;
