-- A chat message's identity as its author's client gave it (issue 24 item 4,
-- docs/design/0033-acked-publications-survive-redis-loss.md), postgres dialect. Keep in step with
-- ../sqlite/0036_acked_publications.sql.
--
-- The publishing gateway re-submits a message that Redis lost before it was persisted, under
-- the same client_msg_id, into a new epoch (at a new offset). A worker that had read the lost
-- entry before the loss may still write the first copy late; this index lets the store keep one
-- row per message whichever copy comes first (persistence/store.py, insert_messages).
-- NULL for everything that is not a chat message (edits, moderation events, older rows).
ALTER TABLE messages ADD COLUMN client_msg_id TEXT;
CREATE UNIQUE INDEX messages_client_msg_id ON messages (channel, author_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
