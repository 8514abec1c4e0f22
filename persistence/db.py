"""The small database interface ``SqlStore`` is written against, so its SQL exists once for both
SQLite and PostgreSQL.

Queries use PostgreSQL's ``$1, $2, …`` placeholders; the SQLite driver rewrites them to ``?1, ?2,
…`` (same numbering, so a parameter may be used twice). Rows are indexable by column name (and by
position) in both drivers.

Each driver maps its library's constraint errors to the exceptions below, so callers catch one
thing whichever database is underneath.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from persistence.errors import StoreError

Dialect = Literal["sqlite", "postgres"]


class IntegrityViolation(StoreError):
    """A statement broke a constraint (unique, foreign key, check, not null).

    A subclass of ``StoreError`` so that a violation the store does not translate into a more
    specific error (say, a duplicate invite code) still reads as "this request cannot be carried
    out" rather than as a crash of the driver."""


class UniqueViolation(IntegrityViolation):
    """A unique or primary-key constraint was violated."""


class ForeignKeyViolation(IntegrityViolation):
    """A row referred to a row that does not exist."""


class Row(Protocol):
    """``asyncpg.Record`` and ``sqlite3.Row`` both satisfy this."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Executor(Protocol):
    """Runs statements: on the database directly (each statement on its own) or inside a
    transaction (see ``Database.transaction``)."""

    async def execute(self, query: str, *args: object) -> int:
        """Run one statement; return the number of rows it inserted, updated or deleted (0 for
        statements that change no rows)."""

    async def executemany(self, query: str, args: Iterable[Sequence[object]]) -> int | None:
        """Run one statement once per argument tuple; return the total rows changed where the
        driver can tell (SQLite), None where it cannot (asyncpg reports no per-row status)."""

    async def executescript(self, script: str) -> None:
        """Run several ``;``-separated statements without parameters (migrations). Inside a
        transaction they are part of it: neither driver commits implicitly."""

    async def fetch(self, query: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: object) -> Row | None: ...

    async def fetchval(self, query: str, *args: object) -> Any:
        """The first column of the first row, or None when there is no row."""


class Database(Executor, Protocol):
    @property
    def dialect(self) -> Dialect:
        """For the few statements that must differ (in ``SqlStore`` and ``migrate``, commented)."""

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Statements run on the yielded executor commit together when the block exits normally
        and roll back when it raises. Do not nest, and do not use the ``Database`` itself inside
        the block (on SQLite that would wait for the transaction's own lock)."""

    async def close(self) -> None: ...
