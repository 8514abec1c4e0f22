"""Deployments for end-to-end tests: ``embedded`` (SQLite file, in-process broker) and ``scaled``
(PostgreSQL schema + Redis key prefix of the test's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import Deployment


@pytest.fixture(params=["embedded", "scaled"])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    if request.param == "embedded":
        yield Deployment("embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path)
        return
    redis_url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    database_url = request.getfixturevalue("postgres_schema_url")
    yield Deployment("scaled", database_url, redis_url, prefix, tmp_path)


@pytest.fixture
async def scaled(tmp_path: Path, redis_url: str, redis_prefix: str,
                 postgres_schema_url: str) -> AsyncIterator[Deployment]:
    yield Deployment("scaled", postgres_schema_url, redis_url, redis_prefix, tmp_path)
