-- Schema parity, SQLite dialect (tests/contract/test_schema_parity.py). Pairs with
-- ../postgres/0009_schema_parity.sql, which has nothing to change.
--
-- SQLite lets a PRIMARY KEY column hold NULL unless it is an INTEGER PRIMARY KEY, the table is
-- WITHOUT ROWID, or the column says NOT NULL (https://www.sqlite.org/lang_createtable.html, "a
-- long-standing coding oversight"). PostgreSQL's primary keys are NOT NULL, so the TEXT primary
-- keys below were nullable here only. The application never writes a NULL key; a row with one
-- would make this migration fail (NOT NULL constraint failed) rather than be dropped silently.
--
-- SQLite adds NOT NULL to a column only by rebuilding the table, in the steps of
-- https://www.sqlite.org/lang_altertable.html#otheralter: create the new table, copy the rows,
-- drop the old one, rename the new one, recreate its indexes. The runner has foreign keys off
-- for this (persistence/migrate.py), so dropping groups cascades into no table that refers to it,
-- and it checks the foreign keys before the transaction commits.

CREATE TABLE new_invites (
    code        TEXT    NOT NULL PRIMARY KEY,
    building_id BIGINT  NOT NULL REFERENCES buildings (id),
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);
INSERT INTO new_invites (code, building_id, uses_left, expires_at, created_at)
    SELECT code, building_id, uses_left, expires_at, created_at FROM invites;
DROP TABLE invites;
ALTER TABLE new_invites RENAME TO invites;

CREATE TABLE new_sessions (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);
INSERT INTO new_sessions (token_hash, user_id, expires_at, created_at)
    SELECT token_hash, user_id, expires_at, created_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE new_sessions RENAME TO sessions;
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE new_groups (
    slug        TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    created_by  BIGINT  NOT NULL REFERENCES users (id),
    created_at  BIGINT  NOT NULL
);
INSERT INTO new_groups (slug, name, description, created_by, created_at)
    SELECT slug, name, description, created_by, created_at FROM groups;
DROP TABLE groups;
ALTER TABLE new_groups RENAME TO groups;

CREATE TABLE new_mod_settings (
    key         TEXT    NOT NULL PRIMARY KEY,
    value       TEXT    NOT NULL
);
INSERT INTO new_mod_settings (key, value) SELECT key, value FROM mod_settings;
DROP TABLE mod_settings;
ALTER TABLE new_mod_settings RENAME TO mod_settings;

CREATE TABLE new_mod_rules (
    locale      TEXT    NOT NULL PRIMARY KEY,
    body        TEXT    NOT NULL,
    updated_by  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
INSERT INTO new_mod_rules (locale, body, updated_by, updated_at)
    SELECT locale, body, updated_by, updated_at FROM mod_rules;
DROP TABLE mod_rules;
ALTER TABLE new_mod_rules RENAME TO mod_rules;

-- The runner's own table: it creates it NOT NULL since 0009, databases made before have it
-- nullable. The runner records this file in the new table, in this same transaction.
CREATE TABLE new_schema_migrations (
    version    TEXT   NOT NULL PRIMARY KEY,
    applied_at BIGINT NOT NULL
);
INSERT INTO new_schema_migrations (version, applied_at)
    SELECT version, applied_at FROM schema_migrations;
DROP TABLE schema_migrations;
ALTER TABLE new_schema_migrations RENAME TO schema_migrations;
