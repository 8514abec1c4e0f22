"""Fixtures of the contract suites: every store's contract runs on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of this test's own: a SQLite file, or a PostgreSQL schema."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_schema_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[Store]:
    """The core store on that database, migrated to the newest schema."""
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        yield store
    finally:
        await store.close()
