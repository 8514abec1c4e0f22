"""The Broker contract (channels/broker.py), one suite run against every backend."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from channels.broker import Broker, Publication, PublishResult, StreamPosition
from channels.broker_memory import MemoryBroker
from channels.workqueue import PERSIST_QUEUE, WorkQueue
from linli.types import ChannelName
from tests.conftest import wait_until

BACKENDS = ["memory", "redis", "redis-resp2", "redis-cluster"]


class Recorder:
    """BrokerEvents that records what it receives."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.ephemeral: list[tuple[ChannelName, bytes]] = []
        self.reconnects = 0

    def on_publication(self, publication: Publication) -> None:
        self.publications.append(publication)

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        self.ephemeral.append((channel, data))

    def on_reconnect(self) -> None:
        self.reconnects += 1

    def offsets(self, channel: ChannelName) -> list[int]:
        return [p.offset for p in self.publications if p.channel == channel]


class Seeds:
    """An OffsetSeed whose answers the test sets, recording its calls."""

    def __init__(self) -> None:
        self.values: dict[ChannelName, int] = {}
        self.calls: list[ChannelName] = []

    async def __call__(self, channel: ChannelName) -> int:
        self.calls.append(channel)
        return self.values.get(channel, 0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    """One backend: makes brokers (several for Redis, as several gateway processes would) and
    reads what they appended to the persist queue."""

    name: str
    seeds: Seeds
    make: Callable[..., Awaitable[tuple[Broker, Recorder]]]
    work_queue: Callable[[Broker], WorkQueue]
    #: Lets the dedupe window pass (a fake clock in memory, real time in Redis).
    pass_time: Callable[[float], Awaitable[None]]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def broker(self, **kwargs: Any) -> tuple[Broker, Recorder]:
        return await self.make(**kwargs)


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    if request.param == "redis-cluster":
        request.getfixturevalue("redis_cluster_prefix")  # skips (or fails in CI) without one
    elif request.param.startswith("redis"):
        request.getfixturevalue("redis_prefix")  # skips (or fails in CI) without Redis
    return str(request.param)


@pytest.fixture
async def env(backend_name: str, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    seeds = Seeds()
    closers: list[Callable[[], Awaitable[None]]] = []
    clock = FakeClock()

    if backend_name == "memory":

        async def make_memory(**kwargs: Any) -> tuple[Broker, Recorder]:
            broker = MemoryBroker(seeds, clock=clock, **kwargs)
            recorder = Recorder()
            await broker.start(recorder)
            closers.append(broker.close)
            return broker, recorder

        async def advance(seconds: float) -> None:
            clock.now += seconds

        def memory_queue(broker: Broker) -> WorkQueue:
            assert isinstance(broker, MemoryBroker)
            return broker.work_queue

        yield Env(backend_name, seeds, make_memory, memory_queue, advance, closers)
    else:
        import redis.asyncio as aioredis

        from channels.broker_redis import RedisBroker
        from channels.keys import ClusterKeys, Keys
        from channels.workqueue_redis import RedisWorkQueue

        client: aioredis.Redis | aioredis.RedisCluster
        if backend_name == "redis-cluster":
            prefix = request.getfixturevalue("redis_cluster_prefix")
            url = request.getfixturevalue("redis_cluster_url")
            client = aioredis.RedisCluster.from_url(url)
            keys: Keys = ClusterKeys(prefix, shards=4)
        else:
            prefix = request.getfixturevalue("redis_prefix")
            url = request.getfixturevalue("redis_url")
            protocol = 2 if backend_name == "redis-resp2" else 3
            client = aioredis.Redis.from_url(url, protocol=protocol)
            keys = Keys(prefix)

        async def make_redis(**kwargs: Any) -> tuple[Broker, Recorder]:
            kwargs.setdefault("wait_replicas", 1)
            broker = RedisBroker(client, seeds, keys=keys, **kwargs)
            recorder = Recorder()
            await broker.start(recorder)
            closers.append(broker.close)
            return broker, recorder

        def redis_queue(broker: Broker) -> WorkQueue:
            return RedisWorkQueue(client, keys=keys)

        closers.append(client.aclose)
        yield Env(backend_name, seeds, make_redis, redis_queue, asyncio.sleep, closers)

    for close in reversed(closers):
        await close()


@pytest.fixture
async def broker(env: Env) -> tuple[Broker, Recorder]:
    return await env.broker()


def channel_name() -> ChannelName:
    return f"building:{uuid.uuid4().hex[:8]}"


async def persisted(queue: WorkQueue) -> list[tuple[str, int, int, bytes]]:
    """Everything in the persist queue, read by a group of the test's own."""
    items = await queue.read(
        PERSIST_QUEUE, f"inspect-{uuid.uuid4().hex[:6]}", "c", count=10_000, block_ms=0
    )
    return [(i.channel, i.offset, i.epoch, i.data) for i in items]


def recent_epoch(epoch: int) -> bool:
    now = time.time_ns() // 1_000_000
    return now - 60_000 < epoch <= now + 1000


async def test_offsets_are_dense_from_the_seed(broker: tuple[Broker, Recorder]) -> None:
    b, _ = broker
    ch = channel_name()
    results = [await b.publish(ch, b"m%d" % i) for i in range(5)]
    assert [r.offset for r in results] == [1, 2, 3, 4, 5]
    epoch = results[0].epoch
    assert recent_epoch(epoch)
    assert all(r.epoch == epoch and r.duplicate is False for r in results)
    assert await b.position(ch) == StreamPosition(5, epoch)


async def test_first_offset_follows_the_seed(env: Env, broker: tuple[Broker, Recorder]) -> None:
    b, _ = broker
    ch = channel_name()
    env.seeds.values[ch] = 41
    first = await b.publish(ch, b"x")
    assert first.offset == 42
    assert (await b.publish(ch, b"y")).offset == 43
    assert env.seeds.calls == [ch]  # seeded once, not per publish


async def test_position_of_a_fresh_channel_seeds_it(
    env: Env, broker: tuple[Broker, Recorder]
) -> None:
    b, _ = broker
    ch = channel_name()
    env.seeds.values[ch] = 7
    position = await b.position(ch)
    assert position.offset == 7
    assert recent_epoch(position.epoch)
    assert env.seeds.calls == [ch]
    assert await b.publish(ch, b"x") == PublishResult(8, position.epoch, False)
    assert env.seeds.calls == [ch]


async def test_concurrent_first_publishes_seed_once(
    env: Env, broker: tuple[Broker, Recorder]
) -> None:
    b, _ = broker
    ch = channel_name()
    env.seeds.values[ch] = 10
    results = await asyncio.gather(*(b.publish(ch, b"x") for _ in range(20)))
    assert sorted(r.offset for r in results) == list(range(11, 31))
    assert len({r.epoch for r in results}) == 1
    assert env.seeds.calls == [ch]


async def test_idempotent_publish(env: Env, broker: tuple[Broker, Recorder]) -> None:
    b, recorder = broker
    ch = channel_name()
    await b.subscribe(ch)
    first = await b.publish(ch, b"hello", idempotency_key="k1")
    again = await b.publish(ch, b"hello, again", idempotency_key="k1")
    assert first == PublishResult(1, first.epoch, False)
    assert again == PublishResult(1, first.epoch, True)
    other = await b.publish(ch, b"other", idempotency_key="k2")
    assert other.offset == 2 and other.duplicate is False
    # The key belongs to the channel: another channel may use it.
    elsewhere = channel_name()
    assert (await b.publish(elsewhere, b"x", idempotency_key="k1")).duplicate is False

    history = await b.history(ch)
    assert [(p.offset, p.data) for p in history.publications] == [(1, b"hello"), (2, b"other")]
    in_queue = [entry for entry in await persisted(env.work_queue(b)) if entry[0] == ch]
    assert in_queue == [(ch, 1, first.epoch, b"hello"), (ch, 2, first.epoch, b"other")]
    await wait_until(lambda: len(recorder.offsets(ch)) == 2)
    await asyncio.sleep(0.05)
    assert recorder.offsets(ch) == [1, 2]


async def test_dedupe_window_expires(env: Env) -> None:
    b, _ = await env.broker(dedupe_ttl=1)
    ch = channel_name()
    first = await b.publish(ch, b"a", idempotency_key="k")
    assert (await b.publish(ch, b"a", idempotency_key="k")).duplicate is True
    await env.pass_time(1.3)
    later = await b.publish(ch, b"a", idempotency_key="k")
    assert later == PublishResult(first.offset + 1, first.epoch, False)


async def test_concurrent_publishes_get_every_offset_once_and_arrive_in_order(
    broker: tuple[Broker, Recorder],
) -> None:
    b, recorder = broker
    ch = channel_name()
    await b.subscribe(ch)
    results = await asyncio.gather(*(b.publish(ch, b"m%d" % i) for i in range(200)))
    assert sorted(r.offset for r in results) == list(range(1, 201))
    await wait_until(lambda: len(recorder.offsets(ch)) == 200)
    assert recorder.offsets(ch) == list(range(1, 201))
    by_offset = {r.offset: b"m%d" % i for i, r in enumerate(results)}
    assert all(p.data == by_offset[p.offset] for p in recorder.publications)
    assert {p.epoch for p in recorder.publications} == {results[0].epoch}


async def test_live_publication_carries_everything(broker: tuple[Broker, Recorder]) -> None:
    b, recorder = broker
    ch, other = channel_name(), channel_name()
    await b.subscribe(ch)
    await b.subscribe(ch)  # idempotent
    # Arbitrary bytes, spaces and frame-like prefixes included.
    data = b"P1 2 \x00\xff E \r\n*3\r\n" + bytes(range(256))
    await b.publish(other, b"not subscribed")
    result = await b.publish(ch, data)
    await wait_until(lambda: recorder.publications)
    await asyncio.sleep(0.05)
    assert recorder.publications == [Publication(ch, 1, result.epoch, data)]


async def test_large_publications_arrive_whole_and_in_order(
    broker: tuple[Broker, Recorder],
) -> None:
    b, recorder = broker
    ch = channel_name()
    await b.subscribe(ch)
    sizes = [3 * 1024 * 1024, 10, 300_000, 0, 70_000]
    payloads = [bytes([i + 1]) * size for i, size in enumerate(sizes)]
    results = await asyncio.gather(*(b.publish(ch, p, persist=False) for p in payloads))
    await b.publish_ephemeral(ch, b"e" * 200_000)
    await wait_until(lambda: len(recorder.publications) == 5 and recorder.ephemeral)
    assert [p.offset for p in recorder.publications] == [1, 2, 3, 4, 5]
    by_offset = {r.offset: p for r, p in zip(results, payloads, strict=True)}
    assert all(p.data == by_offset[p.offset] for p in recorder.publications)
    assert recorder.ephemeral == [(ch, b"e" * 200_000)]


async def test_history_ranges(broker: tuple[Broker, Recorder]) -> None:
    b, _ = broker
    ch = channel_name()
    epoch = 0
    for i in range(1, 11):
        epoch = (await b.publish(ch, b"m%d" % i)).epoch

    async def offsets(**kwargs: Any) -> list[int]:
        history = await b.history(ch, **kwargs)
        assert history.position == StreamPosition(10, epoch)
        assert history.first_retained == 1
        assert all(p.data == b"m%d" % p.offset and p.epoch == epoch for p in history.publications)
        assert all(p.channel == ch for p in history.publications)
        return [p.offset for p in history.publications]

    assert await offsets() == list(range(1, 11))
    assert await offsets(after=3) == [4, 5, 6, 7, 8, 9, 10]
    assert await offsets(before=5) == [1, 2, 3, 4]
    assert await offsets(after=3, before=8, limit=2) == [4, 5]
    assert await offsets(limit=3, newest=True) == [8, 9, 10]
    assert await offsets(before=8, limit=2, newest=True) == [6, 7]
    assert await offsets(after=8, limit=5, newest=True) == [9, 10]
    assert await offsets(after=10) == []
    assert await offsets(after=4, before=5) == []
    assert await offsets(before=1) == []
    assert await offsets(limit=0) == []


async def test_history_of_a_fresh_channel(env: Env, broker: tuple[Broker, Recorder]) -> None:
    b, _ = broker
    ch = channel_name()
    env.seeds.values[ch] = 30
    history = await b.history(ch)
    assert history.publications == []
    assert history.position.offset == 30
    assert history.first_retained == 31


async def test_history_is_trimmed(env: Env) -> None:
    b, _ = await env.broker(history_size=10)
    ch = channel_name()
    for i in range(1, 301):
        await b.publish(ch, b"m%d" % i)
    history = await b.history(ch, limit=1000)
    offsets = [p.offset for p in history.publications]
    first = history.first_retained
    # At least the last 10 kept; Redis trims approximately (whole stream nodes), so maybe more.
    assert 1 < first <= 291
    assert offsets == list(range(first, 301))
    if env.name == "memory":
        assert first == 291
    older = await b.history(ch, before=first)
    assert older.publications == [] and older.first_retained == first


async def test_persist_false_stays_out_of_the_work_queue(
    env: Env, broker: tuple[Broker, Recorder]
) -> None:
    b, _ = broker
    ch = channel_name()
    tally = await b.publish(ch, b"tally", persist=False)
    message = await b.publish(ch, b"message")
    assert (tally.offset, message.offset) == (1, 2)
    assert await persisted(env.work_queue(b)) == [(ch, 2, message.epoch, b"message")]
    history = await b.history(ch)
    assert [p.data for p in history.publications] == [b"tally", b"message"]


async def test_ephemeral_reaches_subscribers_only_live(
    env: Env, broker: tuple[Broker, Recorder]
) -> None:
    b, recorder = broker
    ch, other = channel_name(), channel_name()
    env.seeds.values[ch] = 5
    await b.subscribe(ch)
    await b.publish_ephemeral(other, b"nobody listens")
    await b.publish_ephemeral(ch, b"joined 7")
    await b.publish_ephemeral(ch, b"")
    await wait_until(lambda: len(recorder.ephemeral) == 2)
    await asyncio.sleep(0.05)
    assert recorder.ephemeral == [(ch, b"joined 7"), (ch, b"")]
    assert recorder.publications == []
    history = await b.history(ch)
    assert history.publications == [] and history.position.offset == 5
    assert await persisted(env.work_queue(b)) == []


async def test_unsubscribe_stops_delivery(broker: tuple[Broker, Recorder]) -> None:
    b, recorder = broker
    ch, barrier = channel_name(), channel_name()
    await b.subscribe(ch)
    await b.publish(ch, b"one")
    await wait_until(lambda: recorder.offsets(ch) == [1])
    await b.unsubscribe(ch)
    await b.unsubscribe(ch)  # harmless
    await b.publish(ch, b"two")
    await b.publish_ephemeral(ch, b"gone")
    # Publications on one connection arrive in order: once the barrier's is in, the channel's
    # would have been too.
    await b.subscribe(barrier)
    await b.publish(barrier, b"barrier")
    await wait_until(lambda: recorder.offsets(barrier) == [1])
    assert recorder.offsets(ch) == [1]
    assert recorder.ephemeral == []
    # And subscribing again resumes delivery.
    await b.subscribe(ch)
    await b.publish(ch, b"three")
    await wait_until(lambda: recorder.offsets(ch) == [1, 3])


async def test_two_gateway_processes_share_the_channel(env: Env) -> None:
    if env.name == "memory":
        pytest.skip("the memory broker serves one process only")
    a, _ = await env.broker()
    b, received = await env.broker()
    ch = channel_name()
    await b.subscribe(ch)
    result = await a.publish(ch, b"from A")
    await wait_until(lambda: received.publications)
    assert received.publications == [Publication(ch, 1, result.epoch, b"from A")]
    await a.publish_ephemeral(ch, b"typing")
    await wait_until(lambda: received.ephemeral == [(ch, b"typing")])
    # Both see the same counter.
    assert await b.position(ch) == StreamPosition(1, result.epoch)
    assert (await b.publish(ch, b"from B")).offset == 2
