-- Privacy (docs/design/0034-privacy.md, issue 21): consent to the privacy notice, deleted
-- accounts, retention per kind of record.
--
-- A consent row is written with the registration it came with: which version of the notice
-- (/privacy) the resident agreed to, when, and how (``register``: the resident ticked the box;
-- staff registering a resident at the desk record ``desk`` and themselves in by_user_id).
CREATE TABLE privacy_consents (
    user_id        BIGINT  NOT NULL REFERENCES users (id),
    notice_version TEXT    NOT NULL,
    at             BIGINT  NOT NULL,
    how            TEXT    NOT NULL,
    by_user_id     BIGINT,
    PRIMARY KEY (user_id, notice_version)
);

-- A deleted account: the users row stays as a tombstone (messages and posts keep their author
-- id and show "已刪除的用戶"), its personal fields erased; this row says when.
CREATE TABLE privacy_deletions (
    user_id     BIGINT  NOT NULL PRIMARY KEY,
    at          BIGINT  NOT NULL
);

-- How many days each kind of record is kept (chat, audit, activity, notifications); NULL keeps
-- it for ever. A kind without a row has the default of persistence/privacy RETENTION_DEFAULTS.
CREATE TABLE privacy_retention (
    kind        TEXT    NOT NULL PRIMARY KEY,
    days        INTEGER,
    updated_at  BIGINT  NOT NULL
);

-- The audit log stays append-only, except that the retention sweep may delete entries older than
-- purge_before (which it sets, in the same transaction, just before it deletes them).
CREATE TABLE audit_purge (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    purge_before BIGINT  NOT NULL
);

DROP TRIGGER audit_log_no_delete;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.at >= COALESCE((SELECT purge_before FROM audit_purge WHERE id = 1), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
