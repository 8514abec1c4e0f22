"""Opening a store or a bare database from a URL (the ``LINLI_DATABASE_URL`` kind).

``sqlite:///relative/path.sqlite3`` or ``sqlite:////absolute/path.sqlite3`` (the path is what
follows ``sqlite:///``; ``sqlite:///:memory:`` is a private in-memory database, which
``migrate(url)`` cannot reach: use ``migrate_database`` on the ``open_database`` result), or
``postgresql://…`` / ``postgres://…`` as asyncpg understands it (query parameters it does not know,
such as ``search_path``, become server settings).

Nothing here migrates: run ``persistence.migrate.migrate(url)`` first.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from persistence.db import Database
from persistence.store import Store

_SQLITE_PREFIX = "sqlite:///"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def is_sqlite(url: str) -> bool:
    return url.startswith(_SQLITE_PREFIX)


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL (percent-escapes decoded)."""
    if not is_sqlite(url):
        raise ValueError(f"not a sqlite:/// URL: {url!r}")
    path = unquote(url[len(_SQLITE_PREFIX) :])
    if not path:
        raise ValueError(f"no path in {url!r}")
    return path


async def open_database(url: str) -> Database:
    """The driver for the URL's database. Raises ValueError for an unsupported URL."""
    if is_postgres(url):
        from persistence.db_postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    if is_sqlite(url):
        from persistence.db_sqlite import SqliteDatabase

        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return await SqliteDatabase.open(path)
    scheme = url.split(":", 1)[0]
    raise ValueError(f"unsupported database URL scheme {scheme!r} (sqlite:/// or postgresql://)")


async def open_store(url: str) -> Store:
    from persistence.store_sql import SqlStore

    return SqlStore(await open_database(url))
