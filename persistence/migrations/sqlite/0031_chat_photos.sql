-- Photos in chat rooms (issue 22, docs/design/0032-chat-photos.md). Keep both dialects in step.
--
-- A photo is uploaded over HTTP first (checked by web/uploads.py, its bytes in the blob store),
-- then named by the publish that carries it. cmid: the client_msg_id of the one message that
-- claimed it (a retry of the same publish claims it again); "offset": that message's offset
-- once published. Readers of the room may fetch it while that message is visible to them.
CREATE TABLE chat_photos (
    id          TEXT    NOT NULL PRIMARY KEY,
    channel     TEXT    NOT NULL,
    uploader_id BIGINT  NOT NULL,
    blob_id     TEXT    NOT NULL,
    thumb_id    TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    filename    TEXT    NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    size        BIGINT  NOT NULL,
    cmid        TEXT,
    "offset"    BIGINT,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX chat_photos_message ON chat_photos (channel, "offset");
