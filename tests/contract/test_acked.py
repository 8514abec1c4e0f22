"""The publishing gateway's log of acked chat messages (gateway/acked.py, design 0033) on the
real Redis broker (the test's own key prefix, whose keys it deletes to lose Redis's data) and
both databases: what Redis loses is published again and stored once; memory stays bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgpack
import pytest
import redis.asyncio as aioredis

from channels.broker_redis import RedisBroker
from channels.keys import Keys
from channels.workqueue import PERSIST_QUEUE
from channels.workqueue_redis import RedisWorkQueue
from gateway.acked import ENTRY_OVERHEAD, AckedLog
from gateway.stats import STATS
from linli.types import ChannelName
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Store
from workers.persist import PersistWorker

ROOM = ChannelName("building:1")
AUTHOR = 7


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    await migrate(db_url)
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Installation:
    """One gateway's broker and log, the persist worker, and a way to lose Redis's data."""

    def __init__(self, redis: aioredis.Redis, prefix: str, store: Store) -> None:
        self.redis, self.prefix, self.store = redis, prefix, store
        self.broker = RedisBroker(redis, store.max_offset, prefix=prefix)
        self.queue = RedisWorkQueue(redis, prefix=prefix)
        self.worker = PersistWorker(self.queue, store, consumer="test")
        self.log = AckedLog(self.broker, store, max_bytes=1 << 20)

    async def publish(self, cmid: str) -> None:
        """What ``Gateway._publish`` does for a chat message."""
        data = msgpack.packb(
            {"kind": "chat", "text": cmid, "author": {"id": AUTHOR, "name": "x"}, "cmid": cmid}
        )
        key = f"{AUTHOR}:{cmid}"
        self.log.add(
            ROOM, key, cmid, data, await self.broker.publish(ROOM, data, idempotency_key=key)
        )

    async def lose_redis(self) -> None:
        keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}*", count=1000)]
        if keys:
            await self.redis.delete(*keys)

    async def stored(self) -> list[tuple[int, str | None]]:
        return [(m.offset, m.client_msg_id) for m in await self.store.history(ROOM, limit=100)]


@pytest.fixture
async def linli(
    redis: aioredis.Redis, redis_prefix: str, store: Store
) -> AsyncIterator[Installation]:
    installation = Installation(redis, redis_prefix, store)
    try:
        yield installation
    finally:
        # The broker's publish pipelines have a connection pool of their own.
        await installation.broker.close()


async def test_what_redis_lost_is_published_again_and_stored_once(linli: Installation) -> None:
    for cmid in ("a", "b", "c"):
        await linli.publish(cmid)
    await linli.worker.run_until_idle()
    await linli.log.check()
    assert len(linli.log) == 0  # seen in the store: forgotten
    for cmid in ("d", "e", "f", "g"):
        await linli.publish(cmid)
    # The worker reads d and e, then Redis loses everything before it writes them.
    late = await linli.queue.read(PERSIST_QUEUE, "persist", "test", count=2, block_ms=10)
    assert [item.offset for item in late] == [4, 5]
    await linli.lose_redis()
    before = STATS["acked_resubmitted"]
    await linli.log.check()
    assert STATS["acked_resubmitted"] - before == 4
    await linli.log.check()  # not stored yet: nothing is published a second time
    assert STATS["acked_resubmitted"] - before == 4
    await linli.worker.run_until_idle()
    await linli.worker.handle(late)  # the late write of the lost copies of d and e
    assert await linli.stored() == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (6, "f"),
                                    (7, "g")]  # fmt: skip
    await linli.log.check()
    assert len(linli.log) == 0
    epochs = {m.epoch for m in await linli.store.history(ROOM, after=3, limit=10)}
    assert epochs == {(await linli.broker.position(ROOM)).epoch}


async def test_a_late_copy_written_first_is_replaced_not_doubled(linli: Installation) -> None:
    for cmid in ("a", "b"):
        await linli.publish(cmid)
    late = await linli.queue.read(PERSIST_QUEUE, "persist", "test", count=10, block_ms=10)
    await linli.lose_redis()
    await linli.worker.handle(late)  # written before the gateway looked: rows of a dead epoch
    await linli.log.check()  # the epoch is gone: published anew (the store keeps one copy)
    await linli.worker.run_until_idle()
    await linli.log.check()
    assert len(linli.log) == 0
    assert sorted(str(cmid) for _, cmid in await linli.stored()) == ["a", "b"]


async def test_an_offset_reused_in_the_same_epoch_is_noticed(linli: Installation) -> None:
    """A failover to a replica that lagged: the counter went back, the epoch stayed."""
    await linli.publish("a")
    epoch = (await linli.broker.position(ROOM)).epoch
    await linli.lose_redis()
    await linli.redis.hset(Keys(linli.prefix).meta(ROOM), mapping={"offset": 0, "epoch": epoch})
    other = msgpack.packb({"kind": "chat", "text": "z", "author": {"id": 8}, "cmid": "z"})
    assert (await linli.broker.publish(ROOM, other, idempotency_key="8:z")).offset == 1
    await linli.worker.run_until_idle()
    await linli.log.check()  # offset 1 holds another message: "a" is published again
    await linli.worker.run_until_idle()
    await linli.log.check()
    assert len(linli.log) == 0
    assert await linli.stored() == [(1, "z"), (2, "a")]


async def test_memory_is_bounded_and_the_oldest_are_dropped(linli: Installation) -> None:
    log = AckedLog(linli.broker, linli.store, max_bytes=10 * (100 + ENTRY_OVERHEAD))
    result = await linli.broker.publish(ROOM, b"x")
    before = STATS["acked_dropped"]
    for i in range(100):
        log.add(ROOM, f"{AUTHOR}:m{i}", f"m{i}", bytes(100), result)
    assert len(log) == 10 and log.size_bytes == 10 * (100 + ENTRY_OVERHEAD)
    assert STATS["acked_dropped"] - before == 90
    log.add(ROOM, f"{AUTHOR}:m99", "m99", bytes(100), result)  # a duplicate: no change
    assert len(log) == 10
