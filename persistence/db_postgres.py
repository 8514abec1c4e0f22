"""The PostgreSQL driver of ``persistence.db.Database``: an asyncpg connection pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import asyncpg

from persistence.db import Executor, ForeignKeyViolation, IntegrityViolation, Row, UniqueViolation


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise UniqueViolation(str(exc)) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise ForeignKeyViolation(str(exc)) from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityViolation(str(exc)) from exc


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag (``INSERT 0 5``, ``UPDATE 2``, ``CREATE TABLE``); the row
    count, when there is one, is its last word."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _ConnectionExecutor:
    """Runs statements on one connection, which the caller holds (inside a transaction)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, query: str, *args: object) -> int:
        with _mapped_errors():
            return _rowcount(await self._conn.execute(query, *args))

    async def executemany(self, query: str, args: Iterable[Sequence[object]]) -> int | None:
        with _mapped_errors():
            await self._conn.executemany(query, args)
        return None

    async def executescript(self, script: str) -> None:
        # Without arguments asyncpg uses the simple query protocol, which accepts several
        # statements; inside a transaction block they do not commit on their own.
        with _mapped_errors():
            await self._conn.execute(script)

    async def fetch(self, query: str, *args: object) -> list[Row]:
        with _mapped_errors():
            return list(await self._conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: object) -> Row | None:
        with _mapped_errors():
            row: Row | None = await self._conn.fetchrow(query, *args)
            return row

    async def fetchval(self, query: str, *args: object) -> Any:
        with _mapped_errors():
            return await self._conn.fetchval(query, *args)


class PostgresDatabase:
    """Each statement outside a transaction borrows a pooled connection just for itself."""

    dialect: Literal["postgres"] = "postgres"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        # Unknown URL query parameters (e.g. search_path) become server settings.
        pool = await asyncpg.create_pool(dsn=url, min_size=min_size, max_size=max_size)
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _ConnectionExecutor(conn)

    async def execute(self, query: str, *args: object) -> int:
        async with self._pool.acquire() as conn:
            return await _ConnectionExecutor(conn).execute(query, *args)

    async def executemany(self, query: str, args: Iterable[Sequence[object]]) -> int | None:
        # asyncpg's executemany is atomic by itself (it runs in an implicit transaction).
        async with self._pool.acquire() as conn:
            return await _ConnectionExecutor(conn).executemany(query, args)

    async def executescript(self, script: str) -> None:
        async with self._pool.acquire() as conn:
            await _ConnectionExecutor(conn).executescript(script)

    async def fetch(self, query: str, *args: object) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _ConnectionExecutor(conn).fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> Row | None:
        async with self._pool.acquire() as conn:
            return await _ConnectionExecutor(conn).fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        async with self._pool.acquire() as conn:
            return await _ConnectionExecutor(conn).fetchval(query, *args)
