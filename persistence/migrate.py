"""Applies the SQL files under ``persistence/migrations/<dialect>/`` that a database has not had.

Deliberately small (alembic and yoyo would each bring a second, synchronous driver stack): files
are applied in name order, each in its own transaction together with its row in
``schema_migrations``, so a file is either applied and recorded or neither.

Several processes may migrate at once (e.g. every replica at start-up): on PostgreSQL each
transaction first takes an advisory lock, on SQLite ``BEGIN IMMEDIATE`` takes the database's write
lock; either way the check "already applied?" is made under the lock.

On SQLite, foreign keys are off while migrating, and each file's transaction runs
``PRAGMA foreign_key_check`` before it commits: SQLite changes a column's constraints only by
rebuilding its table (https://www.sqlite.org/lang_altertable.html#otheralter), and with foreign
keys on, dropping the old table would run ``ON DELETE CASCADE`` on every table that refers to it.
The pragma cannot change inside a transaction, so it is the runner's job, not a migration's.
"""

from __future__ import annotations

import time
from importlib.resources import files

from persistence.db import Database, Executor, ForeignKeyViolation
from persistence.factory import open_database

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    -- NOT NULL: SQLite lets a TEXT PRIMARY KEY be NULL unless told (0009_schema_parity.sql).
    version    TEXT   NOT NULL PRIMARY KEY,
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
    if db.dialect == "sqlite":
        # Start-up work: another task sharing this connection meanwhile would run without them.
        await db.execute("PRAGMA foreign_keys=OFF")
    try:
        return await _apply_pending(db)
    finally:
        if db.dialect == "sqlite":
            await db.execute("PRAGMA foreign_keys=ON")


async def pending_migrations(db: Database) -> list[str]:
    """The versions of the migrations not applied to ``db`` yet (``/readyz``)."""
    try:
        rows = await db.fetch("SELECT version FROM schema_migrations")
    except Exception:  # no table yet: nothing applied
        return [version for version, _ in migration_files(db.dialect)]
    done = {r["version"] for r in rows}
    return [version for version, _ in migration_files(db.dialect) if version not in done]


async def _apply_pending(db: Database) -> list[str]:
    applied_now: list[str] = []
    for version, sql in migration_files(db.dialect):
        async with db.transaction() as tx:
            await _lock(db, tx)
            # Checked under the lock: another process may have applied it since we started.
            done = await tx.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", version)
            if done is not None:
                continue
            await tx.executescript(sql)
            if db.dialect == "sqlite":
                await _check_foreign_keys(tx, version)
            await tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                version,
                time.time_ns() // 1_000_000,
            )
        applied_now.append(version)
    return applied_now


async def _check_foreign_keys(tx: Executor, version: str) -> None:
    """Refuse (and so roll back) a SQLite migration that leaves a row referring to nothing: with
    foreign keys off, SQLite would not have stopped it."""
    broken = await tx.fetch("PRAGMA foreign_key_check")
    if broken:
        first = ", ".join(f"{row[0]} rowid {row[1]} -> {row[2]}" for row in broken[:5])
        raise ForeignKeyViolation(
            f"migration {version} leaves {len(broken)} rows referring to nothing: {first}"
        )
