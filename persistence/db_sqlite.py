"""The SQLite driver of ``persistence.db.Database``: one aiosqlite connection.

SQLite has one writer at a time anyway, so one connection is enough; an ``asyncio.Lock`` makes a
transaction exclusive, so that statements of other tasks cannot slip into it (they would share
the connection and so the transaction).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import aiosqlite

from persistence.db import Executor, ForeignKeyViolation, IntegrityViolation, Row, UniqueViolation

_PLACEHOLDER = re.compile(r"\$(\d+)")
_UNIQUE_ERRORS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})

#: Milliseconds a statement waits for another process's write lock before failing with "database
#: is locked" (a second process, e.g. a migration or the CLI, may share the file).
BUSY_TIMEOUT_MS = 5000


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if name in _UNIQUE_ERRORS:
            raise UniqueViolation(str(exc)) from exc
        if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
            raise ForeignKeyViolation(str(exc)) from exc
        raise IntegrityViolation(str(exc)) from exc


def split_script(script: str) -> list[str]:
    """The complete statements of a script, in order. ``sqlite3.complete_statement`` knows about
    string literals, comments and trigger bodies, so a ``;`` inside one does not split."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError(f"incomplete SQL statement at the end of the script: {pending.strip()!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


class _ConnectionExecutor:
    """Runs statements on the connection without taking the lock: the caller holds it."""

    def __init__(self, conn: aiosqlite.Connection, translate: dict[str, str]) -> None:
        self._conn = conn
        self._translated = translate

    def _sql(self, query: str) -> str:
        # The same few query strings recur all the time; translate each once.
        sql = self._translated.get(query)
        if sql is None:
            sql = _PLACEHOLDER.sub(r"?\1", query)
            self._translated[query] = sql
        return sql

    async def execute(self, query: str, *args: object) -> int:
        with _mapped_errors():
            async with self._conn.execute(self._sql(query), args) as cursor:
                return cursor.rowcount

    async def executemany(self, query: str, args: Iterable[Sequence[object]]) -> int | None:
        with _mapped_errors():
            async with self._conn.executemany(self._sql(query), args) as cursor:
                return cursor.rowcount

    async def executescript(self, script: str) -> None:
        # Not sqlite3's executescript: that COMMITs first, which would break the caller's
        # transaction (a migration and its version row must commit together).
        for statement in split_script(script):
            with _mapped_errors():
                await self._conn.execute(statement)

    async def fetch(self, query: str, *args: object) -> list[Row]:
        with _mapped_errors():
            return list(await self._conn.execute_fetchall(self._sql(query), args))

    async def fetchrow(self, query: str, *args: object) -> Row | None:
        with _mapped_errors():
            async with self._conn.execute(self._sql(query), args) as cursor:
                row: Row | None = await cursor.fetchone()
                return row

    async def fetchval(self, query: str, *args: object) -> Any:
        row = await self.fetchrow(query, *args)
        return None if row is None else row[0]


async def _enable_wal(conn: aiosqlite.Connection) -> None:
    """Switch the file to WAL (a lasting property of the file, so this is work only once).

    Two connections switching a new file at the same moment can deadlock on the lock upgrade, and
    then SQLite answers SQLITE_BUSY at once instead of calling the busy handler; so retry here."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}
            if not busy or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


class SqliteDatabase:
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._executor = _ConnectionExecutor(conn, {})

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        # isolation_level=None: the sqlite3 module opens no transactions behind our back; we
        # issue BEGIN/COMMIT ourselves in transaction().
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            # First: switching to WAL needs a lock that another connection may hold right now.
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # WAL: readers in other processes do not block the writer nor it them.
            # synchronous=NORMAL is safe from corruption under WAL; a power cut may lose the last
            # commits, not the database.
            await _enable_wal(conn)
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            # IMMEDIATE takes the write lock now, so a read-then-write transaction cannot fail
            # half way with SQLITE_BUSY because another process wrote in between.
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._executor
                await self._conn.execute("COMMIT")
            except BaseException:
                # Some errors (SQLITE_FULL, SQLITE_IOERR, …) already rolled back; a second
                # ROLLBACK would fail and hide the original error.
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise

    async def execute(self, query: str, *args: object) -> int:
        async with self._lock:
            return await self._executor.execute(query, *args)

    async def executemany(self, query: str, args: Iterable[Sequence[object]]) -> int | None:
        # Without BEGIN each row would be its own transaction: slow, and not all-or-nothing.
        async with self.transaction() as tx:
            return await tx.executemany(query, args)

    async def executescript(self, script: str) -> None:
        async with self.transaction() as tx:
            await tx.executescript(script)

    async def fetch(self, query: str, *args: object) -> list[Row]:
        async with self._lock:
            return await self._executor.fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> Row | None:
        async with self._lock:
            return await self._executor.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        async with self._lock:
            return await self._executor.fetchval(query, *args)
