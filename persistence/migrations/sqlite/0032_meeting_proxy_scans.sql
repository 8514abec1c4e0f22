-- The scan of a paper proxy form (委託書), SQLite dialect. Keep in step with
-- ../postgres/0032_meeting_proxy_scans.sql (docs/design/0022-meetings.md, "Proxy scans").
--
-- Art. 34 keeps the proxy forms with the minutes. A paper proxy (route 'paper') carries the
-- scan staff attached when they typed it, or is marked "scan to follow" (scan_to_follow = 1)
-- when the paper came without a way to scan it on the night; the scan can be added later.
-- The bytes are a blob (persistence/blobs), checked by content at upload (web/uploads.py).
-- One form may cover several units of one owner: each unit's row names the same blob.
-- A replaced scan's blob is kept (the audit log names both by their SHA-256).
ALTER TABLE meeting_proxies ADD COLUMN scan_to_follow INTEGER NOT NULL DEFAULT 0;

CREATE TABLE meeting_proxy_scans (
    meeting_id  BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    unit_id     BIGINT  NOT NULL,
    blob_id     TEXT    NOT NULL,
    filename    TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    sha256      TEXT    NOT NULL,
    added_by    BIGINT  NOT NULL REFERENCES users (id),
    added_at    BIGINT  NOT NULL,
    PRIMARY KEY (meeting_id, unit_id)
);
