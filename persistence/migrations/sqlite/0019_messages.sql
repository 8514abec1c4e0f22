-- Chat message basics (issue 22, docs/design/0026-chat-messages.md): read positions per user and
-- room, and authors' edits and deletes of their own messages. Keep both dialects in step.

-- How far a user has read a room: the highest offset they saw, shared by all their devices.
-- It only moves forward (a stale device cannot move it back).
CREATE TABLE chat_reads (
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel     TEXT    NOT NULL,
    read_offset BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, channel)
);

-- The current state of a message its author edited or deleted (messages without a row are as
-- published). text: the current text, kept after a delete for moderators.
CREATE TABLE chat_message_state (
    channel     TEXT    NOT NULL,
    "offset"    BIGINT  NOT NULL,
    author_id   BIGINT  NOT NULL,
    text        TEXT    NOT NULL,
    edited_at   BIGINT,
    deleted_at  BIGINT,
    PRIMARY KEY (channel, "offset")
);

-- Every edit and delete, for moderators: the text before and after (NULL after a delete).
CREATE TABLE chat_message_edits (
    id          INTEGER PRIMARY KEY,
    channel     TEXT    NOT NULL,
    "offset"    BIGINT  NOT NULL,
    editor_id   BIGINT  NOT NULL,
    action      TEXT    NOT NULL,
    old_text    TEXT    NOT NULL,
    new_text    TEXT,
    at          BIGINT  NOT NULL
);
CREATE INDEX chat_message_edits_message ON chat_message_edits (channel, "offset", id);
