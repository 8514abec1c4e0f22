"""Deployments for end-to-end tests: ``embedded`` (SQLite file, in-process broker) and ``scaled``
(PostgreSQL schema + Redis key prefix of the test's own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Deployment


# Synchronous on purpose: it asks for the async server fixtures by name only for the scaled
# parameter, which an async fixture cannot do from inside the running event loop.
@pytest.fixture(params=["embedded", "scaled"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    if request.param == "embedded":
        return Deployment(
            "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path
        )
    redis_url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    database_url = request.getfixturevalue("postgres_schema_url")
    return Deployment("scaled", database_url, redis_url, prefix, tmp_path)


@pytest.fixture
def scaled(
    tmp_path: Path, redis_url: str, redis_prefix: str, postgres_schema_url: str
) -> Deployment:
    return Deployment("scaled", postgres_schema_url, redis_url, redis_prefix, tmp_path)
