"""RedisBroker across a Redis crash and restart that loses everything (scripts, counters,
history): the pub/sub link comes back by itself, and the channel gets a new, greater epoch with
offsets continuing from the seed."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from channels.broker import BrokerUnavailable, Publication
from channels.broker_redis import RedisBroker
from linli.types import ChannelName
from tests.conftest import IN_CI, free_port, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class Recorder:
    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.reconnects = 0

    def on_publication(self, publication: Publication) -> None:
        self.publications.append(publication)

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        pass

    def on_reconnect(self) -> None:
        self.reconnects += 1


class RedisServer:
    """A redis-server of the test's own, keeping nothing on disk."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        self.launch()
        client = aioredis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:

            async def up() -> bool:
                try:
                    return bool(await client.ping())
                except Exception:
                    return False

            await wait_until(up, timeout=10)
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SIGKILL: no shutdown, no goodbye to the clients
            self.process.wait(timeout=10)


@pytest.fixture
def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server binary not found: cannot test a Redis restart"
        if IN_CI:
            pytest.fail(f"{message} (CI=true)")
        pytest.skip(message)
    return binary


@pytest.fixture
def servers(redis_binary: str) -> Iterator[list[RedisServer]]:
    started: list[RedisServer] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


async def test_broker_survives_a_redis_restart(
    redis_binary: str, servers: list[RedisServer]
) -> None:
    port = free_port()
    first = RedisServer(redis_binary, port)
    servers.append(first)
    await first.start()

    seeds: dict[ChannelName, int] = {"room:1": 100}

    async def seed(channel: ChannelName) -> int:
        return seeds.get(channel, 0)

    # One quick retry, so that commands fail fast while Redis is down.
    client = aioredis.Redis(
        port=port, socket_connect_timeout=0.5, socket_timeout=2, retry=Retry(NoBackoff(), 1)
    )
    broker = RedisBroker(client, seed, prefix="restart:", subscribe_timeout=1.0)
    events = Recorder()
    try:
        await asyncio.wait_for(broker.start(events), 5)
        await broker.subscribe("room:1")
        before = await broker.publish("room:1", b"before")
        assert before.offset == 101
        await wait_until(lambda: [p.offset for p in events.publications] == [101])

        first.kill()
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.publish("room:1", b"lost"), 5)
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.history("room:1"), 5)
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.position("room:1"), 5)
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.subscribe("room:2"), 5)
        assert events.reconnects == 0

        # Meanwhile the persist worker stored up to 250; the new Redis knows nothing.
        seeds["room:1"] = 250
        second = RedisServer(redis_binary, port)
        servers.append(second)
        await second.start()

        await wait_until(lambda: events.reconnects == 1, timeout=10)
        after = await asyncio.wait_for(broker.publish("room:1", b"after"), 5)
        assert after.offset == 251
        assert after.epoch > before.epoch
        assert after.duplicate is False
        # The subscription was restored: the live publication arrives.
        await wait_until(lambda: len(events.publications) == 2, timeout=5)
        assert events.publications[1] == Publication("room:1", 251, after.epoch, b"after")

        history = await broker.history("room:1")
        assert [(p.offset, p.epoch, p.data) for p in history.publications] == [
            (251, after.epoch, b"after")
        ]
        assert history.first_retained == 251
        # A subscription made after the restart works too.
        await broker.subscribe("room:2")
        await broker.publish("room:2", b"hi")
        await wait_until(lambda: events.publications[-1].channel == "room:2", timeout=5)
        assert events.reconnects == 1
    finally:
        await broker.close()
        await client.aclose()
