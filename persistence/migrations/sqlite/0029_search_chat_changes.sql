-- The chat index's memory of edits and deletes, SQLite dialect. Keep in step with
-- ../postgres/0029_search_chat_changes.sql (docs/design/0023-search.md).

-- The newest edit or delete the chat indexer has seen per message (ref '<channel>/<offset>'):
-- its publication's offset, and the new text (NULL: deleted). A message's own publication that
-- arrives after its edit (a crashed indexer's batch, reclaimed) is indexed with this text, or
-- not at all, so an edit is never undone and a deleted message never found again.
CREATE TABLE search_chat_changes (
    ref         TEXT    NOT NULL PRIMARY KEY,
    "offset"    BIGINT  NOT NULL,
    body        TEXT
);
