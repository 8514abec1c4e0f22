"""Shared fixtures: the real Redis and PostgreSQL servers, each test isolated in its own key prefix
or schema.

Outside CI a test whose server is unreachable is skipped with the reason; with ``CI=true`` it
fails, so a CI run can never pass by skipping the scaled mode.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get(
    "LINLI_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Hypothesis profiles (docs/design/0036-openapi-and-fuzzing.md). "ci" bounds the run: the
# default 100 examples per property (each state machine takes its own multiple of it, see
# tests/fuzzing.py), no per-example deadline (the CI machine is shared, so a slow example is
# noise, not a finding), and the failing example printed so it can be replayed. "fuzz" is for a
# long run by hand: HYPOTHESIS_PROFILE=fuzz, ten times the examples.
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "fuzz", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def _reachable(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc})"


def require_server(url: str, default_port: int, what: str) -> None:
    problem = _reachable(url, default_port)
    if problem is None:
        return
    message = f"{what} needed: {problem}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: an unreachable server fails the run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_server(REDIS_URL, 6379, "Redis")
    return REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"linlitest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A 3-master, 3-replica Redis Cluster of this test process's own (``bench/redis_cluster``),
    started at its first use and torn down at the end of the session."""
    from bench.redis_cluster import ClusterUnavailable, LocalCluster

    try:
        cluster = LocalCluster().start()
    except (ClusterUnavailable, OSError) as exc:
        message = f"a local Redis Cluster could not start: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a cluster that cannot start fails the run)")
        pytest.skip(message)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_prefix(redis_cluster_url: str) -> str:
    """A key prefix of this test's own on the session's cluster (torn down with it)."""
    return f"linlitest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require_server(DATABASE_URL, 5432, "PostgreSQL")
    return DATABASE_URL


@pytest.fixture
async def postgres_schema_url(postgres_url: str) -> AsyncIterator[str]:
    """A database URL whose ``search_path`` is a fresh schema of this test's own, dropped
    afterwards (asyncpg passes unknown URL query parameters on as server settings)."""
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}search_path={schema}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def sqlite_url(tmp_path: object) -> Iterator[str]:
    yield f"sqlite:///{tmp_path}/linli.sqlite3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate: object, timeout: float = 5.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` (a callable, sync or async) until it is truthy or fail after
    ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
