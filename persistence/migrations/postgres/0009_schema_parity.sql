-- Schema parity, PostgreSQL dialect. Pairs with ../sqlite/0009_schema_parity.sql, which makes
-- SQLite's TEXT primary keys NOT NULL as PostgreSQL's primary keys always are; nothing changes
-- here. The file exists so that both dialects keep the same list of versions
-- (tests/contract/test_migrate.py) and tests/contract/test_schema_parity.py compares like with
-- like.
-- A statement all the same: asyncpg fails on a script of comments only.
SELECT 1;
