"""The migration runner against both real databases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from persistence.factory import open_database
from persistence.migrate import migrate, migration_files


def test_both_dialects_have_the_same_versions() -> None:
    sqlite = [version for version, _ in migration_files("sqlite")]
    postgres = [version for version, _ in migration_files("postgres")]
    assert sqlite == postgres
    assert sqlite[0] == "0001_init"
    assert sqlite == sorted(sqlite)


async def _versions(url: str) -> list[str]:
    db = await open_database(url)
    try:
        rows = await db.fetch("SELECT version FROM schema_migrations ORDER BY version")
        return [str(row["version"]) for row in rows]
    finally:
        await db.close()


async def test_migrate_twice(db_url: str) -> None:
    expected = [version for version, _ in migration_files("sqlite")]
    assert await migrate(db_url) == expected
    assert await migrate(db_url) == []
    assert await _versions(db_url) == expected
    db = await open_database(db_url)
    try:  # the schema is there
        assert await db.fetchval('SELECT count(*) FROM messages WHERE "offset" > 0') == 0
    finally:
        await db.close()


async def test_concurrent_migrations_postgres(postgres_schema_url: str) -> None:
    expected = [version for version, _ in migration_files("postgres")]
    results = await asyncio.gather(*(migrate(postgres_schema_url) for _ in range(3)))
    _each_applied_once(results, expected)
    assert await _versions(postgres_schema_url) == expected


async def test_concurrent_migrations_sqlite(sqlite_url: str) -> None:
    """Two connections to one file, as two processes would have."""
    expected = [version for version, _ in migration_files("sqlite")]
    results = await asyncio.gather(migrate(sqlite_url), migrate(sqlite_url))
    _each_applied_once(results, expected)
    assert await _versions(sqlite_url) == expected


def _each_applied_once(results: Sequence[list[str]], expected: list[str]) -> None:
    """Concurrent migrators may share the files between them (each file is its own
    transaction), but every file is applied by exactly one of them, and each in order."""
    applied = [version for result in results for version in result]
    assert sorted(applied) == expected
    for result in results:
        assert result == sorted(result)
