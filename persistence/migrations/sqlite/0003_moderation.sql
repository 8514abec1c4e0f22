-- Moderation (issue 6), SQLite dialect. Keep in step with ../postgres/0003_moderation.sql: same
-- tables, columns, constraints and index names; only type names, id generation and the trigger
-- syntax differ. Numbered 0003: 0002 is the polls migration, written concurrently.

-- One row per resident per flagged message: the unique key makes a retried flag a no-op.
CREATE TABLE mod_flags (
    id          INTEGER PRIMARY KEY,
    channel     TEXT    NOT NULL,
    "offset"    BIGINT  NOT NULL,
    flagger_id  BIGINT  NOT NULL,
    reason      TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT mod_flags_once UNIQUE (channel, "offset", flagger_id)
);
CREATE INDEX mod_flags_created_at ON mod_flags (created_at);

-- The moderation state of a message that was flagged, held or acted on; messages without a row
-- are visible. visibility: visible | hidden | deleted. review: open (waiting for a moderator) |
-- handled. first_flag_at / first_action_at give the handling-speed figures. The text is a copy
-- taken when the row was created, so moderators can review a message whatever its state.
CREATE TABLE mod_messages (
    channel          TEXT    NOT NULL,
    "offset"         BIGINT  NOT NULL,
    author_id        BIGINT,
    author_name      TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    posted_at        BIGINT  NOT NULL,
    visibility       TEXT    NOT NULL,
    review           TEXT    NOT NULL,
    flag_count       INTEGER NOT NULL,
    auto_hidden      INTEGER NOT NULL,
    restored         INTEGER NOT NULL,
    first_flag_at    BIGINT,
    last_flag_at     BIGINT,
    first_action_at  BIGINT,
    updated_at       BIGINT  NOT NULL,
    PRIMARY KEY (channel, "offset")
);
CREATE INDEX mod_messages_review ON mod_messages (review, last_flag_at);
CREATE INDEX mod_messages_first_flag_at ON mod_messages (first_flag_at);

-- Messages the word list held back: kept out of the channel until a moderator approves (then
-- published, published_offset set) or rejects them. Unique per author and client_msg_id, so a
-- resent message is held once.
CREATE TABLE mod_held (
    id               INTEGER PRIMARY KEY,
    channel          TEXT    NOT NULL,
    author_id        BIGINT  NOT NULL,
    author_name      TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    cmid             TEXT    NOT NULL,
    matched          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    published_offset BIGINT,
    created_at       BIGINT  NOT NULL,
    decided_at       BIGINT,
    CONSTRAINT mod_held_once UNIQUE (author_id, channel, cmid)
);
CREATE INDEX mod_held_state ON mod_held (state, created_at);

-- Mutes, bans and warnings. channel NULL: everywhere. expires_at NULL: until lifted.
CREATE TABLE mod_sanctions (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    channel     TEXT,
    reason      TEXT    NOT NULL,
    created_by  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    lifted_at   BIGINT
);
CREATE INDEX mod_sanctions_user ON mod_sanctions (user_id, kind);

-- The word/pattern list: pattern is stored normalised (NFKC, case folded), unique.
CREATE TABLE mod_words (
    id          INTEGER PRIMARY KEY,
    pattern     TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    created_by  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT mod_words_pattern UNIQUE (pattern)
);

-- Settings of the moderation (the auto-hide threshold) and the publishing rules per language.
CREATE TABLE mod_settings (
    key         TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL
);

CREATE TABLE mod_rules (
    locale      TEXT    PRIMARY KEY,
    body        TEXT    NOT NULL,
    updated_by  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- The audit log: every moderation action, append-only. The store has no update or delete path;
-- the triggers refuse one made by hand too.
CREATE TABLE mod_audit (
    id              INTEGER PRIMARY KEY,
    at              BIGINT  NOT NULL,
    actor_id        BIGINT,
    action          TEXT    NOT NULL,
    channel         TEXT,
    "offset"        BIGINT,
    target_user_id  BIGINT,
    reason          TEXT    NOT NULL,
    detail          TEXT    NOT NULL
);
CREATE INDEX mod_audit_at ON mod_audit (at);

CREATE TRIGGER mod_audit_no_update BEFORE UPDATE ON mod_audit
BEGIN
    SELECT RAISE(ABORT, 'mod_audit is append-only');
END;

CREATE TRIGGER mod_audit_no_delete BEFORE DELETE ON mod_audit
BEGIN
    SELECT RAISE(ABORT, 'mod_audit is append-only');
END;
