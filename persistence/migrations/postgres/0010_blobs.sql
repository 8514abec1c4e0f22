-- The blob store's database backend (persistence/blobs/sql.py), PostgreSQL dialect. Keep in step
-- with ../sqlite/0010_blobs.sql.
--
-- Uploaded files' bytes by an id the store draws (32 hex characters); what a blob is (its name,
-- type, owner) lives in the feature's table that refers to it. size and sha256 beside the bytes
-- let a feature show a file's size and fingerprint without reading it.
CREATE TABLE blobs (
    id          TEXT    PRIMARY KEY,
    size        BIGINT  NOT NULL CHECK (size > 0),
    sha256      TEXT    NOT NULL,
    data        BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);
