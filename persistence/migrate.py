"""Applies the SQL files under ``persistence/migrations/<dialect>/`` that a database has not had.

Deliberately small (alembic and yoyo would each bring a second, synchronous driver stack): files
are applied in name order, each in its own transaction together with its row in
``schema_migrations``, so a file is either applied and recorded or neither.

Several processes may migrate at once (e.g. every replica at start-up): on PostgreSQL each
transaction first takes an advisory lock, on SQLite ``BEGIN IMMEDIATE`` takes the database's write
lock; either way the check "already applied?" is made under the lock.
"""

from __future__ import annotations

import time
from importlib.resources import files

from persistence.db import Database, Executor
from persistence.factory import open_database

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT   PRIMARY KEY,
    applied_at BIGINT NOT NULL
);
"""

# PostgreSQL only. Keyed by schema, so that migrations of different schemas of one database (the
# test suite gives every test its own) do not wait for each other. coalesce: current_schema() is
# NULL when the search_path names no existing schema, and the lock function ignores NULL.
_PG_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('linli.migrate:' || coalesce(current_schema(), '')))"
)


def migration_files(dialect: str) -> list[tuple[str, str]]:
    """(version, SQL) of every migration of the dialect, in the order to apply them; the
    version is the file name without ``.sql``."""
    directory = files("persistence") / "migrations" / dialect
    found = [entry for entry in directory.iterdir() if entry.name.endswith(".sql")]
    return [
        (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in sorted(found, key=lambda entry: entry.name)
    ]


async def _lock(db: Database, tx: Executor) -> None:
    if db.dialect == "postgres":
        await tx.fetchval(_PG_LOCK)


async def migrate(url: str) -> list[str]:
    """Apply the pending migrations to the database at ``url``; return the versions applied by
    this call, in order (empty when the schema was current)."""
    db = await open_database(url)
    try:
        return await migrate_database(db)
    finally:
        await db.close()


async def migrate_database(db: Database) -> list[str]:
    async with db.transaction() as tx:
        await _lock(db, tx)
        await tx.executescript(_CREATE_TABLE)
    applied_now: list[str] = []
    for version, sql in migration_files(db.dialect):
        async with db.transaction() as tx:
            await _lock(db, tx)
            # Checked under the lock: another process may have applied it since we started.
            done = await tx.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", version)
            if done is not None:
                continue
            await tx.executescript(sql)
            await tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                version,
                time.time_ns() // 1_000_000,
            )
        applied_now.append(version)
    return applied_now
