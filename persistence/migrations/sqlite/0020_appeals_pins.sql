-- Residents told about moderation (docs/design/0029-moderation-residents.md): an author's one
-- appeal per decision, kept for the moderators' queue; and the pinned message of a chat room
-- (one per room, management and admins pin). The two dialects differ only in the id column.
CREATE TABLE mod_appeals (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    -- What is appealed: "warning:<audit id>", "sanction:<id>" or "message:<channel>:<offset>".
    subject     TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    handled_by  BIGINT  REFERENCES users (id),
    handled_at  BIGINT,
    answer      TEXT    NOT NULL DEFAULT '',
    UNIQUE (user_id, subject)
);
CREATE INDEX mod_appeals_state ON mod_appeals (state, created_at);

CREATE TABLE chat_pins (
    channel     TEXT    NOT NULL PRIMARY KEY,
    "offset"    BIGINT  NOT NULL,
    author_id   BIGINT,
    author_name TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    official    INTEGER NOT NULL,
    posted_at   BIGINT  NOT NULL,
    pinned_by   BIGINT  NOT NULL REFERENCES users (id),
    pinned_at   BIGINT  NOT NULL
);
