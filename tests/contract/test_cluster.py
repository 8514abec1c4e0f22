"""Redis Cluster specifics (design 0034): where the keys land, the sharded persist queue read
across shards, and a master killed while gateways publish."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from bench.redis_cluster import ClusterUnavailable, LocalCluster
from channels.broker import BrokerUnavailable, Publication
from channels.broker_redis import RedisBroker
from channels.keys import ClusterKeys
from channels.workqueue import PERSIST_QUEUE
from channels.workqueue_redis import RedisWorkQueue
from linli.types import ChannelName
from tests.conftest import IN_CI, wait_until


async def no_seed(channel: ChannelName) -> int:
    return 0


def test_a_channels_keys_and_its_persist_shard_share_a_slot() -> None:
    keys = ClusterKeys("p:", shards=16)
    for i in range(200):
        ch = f"building:{i}"
        slots = {
            key_slot(k.encode())
            for k in (
                keys.meta(ch),
                keys.history(ch),
                keys.dedupe(ch, "u:1"),
                keys.pubsub(ch),
                keys.persist_work(ch),
            )
        }
        assert len(slots) == 1, ch
    # The shards spread evenly over the slot range: each in its own sixteenth.
    shard_slots = [key_slot(s.encode()) for s in keys.work_streams(PERSIST_QUEUE)]
    assert [slot * 16 // 16384 for slot in shard_slots] == list(range(16))
    # A queue, its markers and its claims share a slot.
    assert len({key_slot(k.encode()) for k in (
        keys.work("votes"), keys.queue_dedupe("votes", "k"), keys.claims("votes", "poll:1")
    )}) == 1  # fmt: skip


@pytest.fixture
async def cluster_client(redis_cluster_url: str) -> AsyncIterator[aioredis.RedisCluster]:
    client = aioredis.RedisCluster.from_url(redis_cluster_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_sharded_persist_queue_is_read_acked_and_reclaimed_across_shards(
    cluster_client: aioredis.RedisCluster, redis_cluster_prefix: str
) -> None:
    keys = ClusterKeys(redis_cluster_prefix, shards=8)
    broker = RedisBroker(cluster_client, no_seed, keys=keys, wait_replicas=1)
    queue = RedisWorkQueue(cluster_client, keys=keys)
    channels = [f"building:{i}" for i in range(40)]
    assert len({keys.shard(ch) for ch in channels}) == 8  # every shard has some
    for n in range(3):
        await asyncio.gather(*(broker.publish(ch, b"%s/%d" % (ch.encode(), n)) for ch in channels))
    assert await queue.backlog(PERSIST_QUEUE, "g") == 120

    first = await queue.read(PERSIST_QUEUE, "g", "c1", count=50, block_ms=0)
    assert len(first) == 50  # never more than asked: what is read is pending until acked
    rest = await queue.read(PERSIST_QUEUE, "g", "c1", count=500, block_ms=0)
    assert len(rest) == 70
    items = first + rest
    # Per channel, in publish order (a channel lives in one shard).
    for ch in channels:
        assert [i.offset for i in items if i.channel == ch] == [1, 2, 3]
    assert await queue.pending(PERSIST_QUEUE, "g") == 120
    assert await queue.backlog(PERSIST_QUEUE, "g") == 0

    await queue.ack(PERSIST_QUEUE, "g", [i.id for i in items[:100]])
    assert await queue.pending(PERSIST_QUEUE, "g") == 20
    taken = await queue.reclaim(PERSIST_QUEUE, "g", "c2", min_idle_ms=0, count=100)
    assert sorted(i.id for i in taken) == sorted(i.id for i in items[100:])
    assert all(i.deliveries == 2 for i in taken)
    await queue.ack(PERSIST_QUEUE, "g", [i.id for i in taken])
    assert await queue.pending(PERSIST_QUEUE, "g") == 0

    # A blocking read of an empty sharded queue waits about block_ms, then returns nothing.
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await queue.read(PERSIST_QUEUE, "g", "c1", count=10, block_ms=200) == []
    assert 0.15 <= loop.time() - started < 2.0
    await broker.close()


# --- failover -----------------------------------------------------------------------------------


@pytest.fixture
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster of this test's own: it kills one of its masters."""
    try:
        cluster = LocalCluster().start()
    except (ClusterUnavailable, OSError) as exc:
        if IN_CI:
            pytest.fail(f"a local Redis Cluster could not start: {exc}")
        pytest.skip(f"a local Redis Cluster could not start: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Client:
    """A gateway's view of its channels, the way ``gateway/hub.py`` keeps one: live publications
    in offset order; a gap or a reconnect is filled from the history."""

    broker: RedisBroker
    seen: dict[ChannelName, list[Publication]] = field(default_factory=dict)
    gaps: set[ChannelName] = field(default_factory=set)
    reconnects: int = 0
    live: list[Publication] = field(default_factory=list)

    def on_publication(self, publication: Publication) -> None:
        self.live.append(publication)
        seen = self.seen.setdefault(publication.channel, [])
        last = seen[-1].offset if seen else 0
        if publication.offset == last + 1:
            seen.append(publication)
        elif publication.offset > last + 1:
            self.gaps.add(publication.channel)

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        pass

    def on_reconnect(self) -> None:
        self.reconnects += 1
        self.gaps.update(self.seen)

    async def recover(self, channels: list[ChannelName]) -> None:
        for ch in channels:
            seen = self.seen.setdefault(ch, [])
            while True:
                last = seen[-1].offset if seen else 0
                page = await self.broker.history(ch, after=last, limit=100)
                seen.extend(page.publications)
                if not page.publications:
                    break


async def test_a_killed_master_loses_no_acknowledged_message(own_cluster: LocalCluster) -> None:
    prefix = f"linlitest:{uuid.uuid4().hex[:8]}:"
    keys = ClusterKeys(prefix, shards=8)
    channels = [ChannelName(f"building:{i}") for i in range(12)]
    publisher_client = aioredis.RedisCluster.from_url(own_cluster.url)
    await publisher_client.initialize()
    # The master of the first channel dies; channels on every master are published to.
    victim = own_cluster.master_of_slot(key_slot(keys.meta(channels[0]).encode()))
    masters = {own_cluster.master_of_slot(key_slot(keys.meta(ch).encode())) for ch in channels}
    assert len(masters) == 3

    gateways: list[tuple[aioredis.RedisCluster, RedisBroker, Client]] = []
    for _ in range(3):
        client = aioredis.RedisCluster.from_url(own_cluster.url)
        broker = RedisBroker(client, no_seed, keys=keys, wait_replicas=1, subscribe_timeout=10)
        view = Client(broker)
        await broker.start(view)
        for ch in channels:
            await broker.subscribe(ch)
        gateways.append((client, broker, view))
    publisher = RedisBroker(publisher_client, no_seed, keys=keys, wait_replicas=1)

    acked: dict[ChannelName, dict[int, bytes]] = {ch: {} for ch in channels}
    per_channel = 40
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60

    async def publish_all(ch: ChannelName) -> None:
        for n in range(per_channel):
            data = b"%s#%d" % (ch.encode(), n)
            while True:  # bounded by the deadline
                assert loop.time() < deadline, f"{ch} could not publish #{n}"
                try:
                    result = await publisher.publish(ch, data, idempotency_key=f"m{n}")
                    break
                except BrokerUnavailable:
                    await asyncio.sleep(0.05)  # then retry with the same key: never twice
            assert result.offset not in acked[ch], "an offset was given out twice"
            acked[ch][result.offset] = data
            await asyncio.sleep(0.02)

    async def kill_later() -> None:
        await wait_until(lambda: len(acked[channels[0]]) >= 10, timeout=30)
        own_cluster.kill(victim)

    await asyncio.gather(kill_later(), *(publish_all(ch) for ch in channels))
    own_cluster.wait_ok(30)
    assert victim not in own_cluster.masters_of(
        own_cluster.ports[0] if own_cluster.ports[0] != victim else own_cluster.ports[1]
    )

    # Live delivery follows the slots to their new masters: one more publication per channel
    # reaches every gateway without recovery.
    for ch in channels:
        acked[ch][(await publisher.publish(ch, b"after")).offset] = b"after"

    def all_live() -> bool:
        return all(
            any(p.data == b"after" and p.channel == ch for p in view.live)
            for _, _, view in gateways
            for ch in channels
        )

    await wait_until(all_live, timeout=10)

    for _, _, view in gateways:
        # Every gateway heard of the outage of the channels it lost, and recovers from the
        # hot history what it missed.
        assert view.reconnects >= 1
        await view.recover(channels)
        for ch in channels:
            got = [(p.offset, p.data) for p in view.seen[ch]]
            assert got == sorted(acked[ch].items()), ch
            assert len(got) == per_channel + 1
    # The persist queue has every acknowledged message too (recovery from the database).
    queue = RedisWorkQueue(publisher_client, keys=keys)
    items = await queue.read(PERSIST_QUEUE, "check", "c", count=10_000, block_ms=0)
    for ch in channels:
        assert {i.offset: i.data for i in items if i.channel == ch} == acked[ch]

    for client, broker, _ in gateways:
        await broker.close()
        await client.aclose()
    await publisher.close()
    await publisher_client.aclose()


def _node_id(port: int) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), "CLUSTER", "MYID"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout.strip()  # fmt: skip


def _cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    assert out.returncode == 0 and not out.stdout.startswith("ERR"), out.stdout + out.stderr
    return out.stdout


def move_slot(cluster: LocalCluster, slot: int, to_port: int) -> None:
    """What ``redis-cli --cluster reshard`` does for one slot: IMPORTING/MIGRATING, MIGRATE
    its keys, then give it to the new master on every master."""
    source = cluster.master_of_slot(slot)
    src_id, dst_id = _node_id(source), _node_id(to_port)
    _cli(to_port, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", src_id)
    _cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst_id)
    while keys := _cli(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split():
        _cli(source, "MIGRATE", "127.0.0.1", str(to_port), "", "0", "5000", "KEYS", *keys)
    for port in cluster.masters_of(to_port):
        _cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", dst_id)


async def test_a_resharded_channel_follows_its_slot(own_cluster: LocalCluster) -> None:
    keys = ClusterKeys(f"linlitest:{uuid.uuid4().hex[:8]}:", shards=8)
    ch = ChannelName("building:reshard")
    slot = key_slot(keys.meta(ch).encode())
    client = aioredis.RedisCluster.from_url(own_cluster.url)
    broker = RedisBroker(client, no_seed, keys=keys, wait_replicas=1)
    view = Client(broker)
    await broker.start(view)
    await broker.subscribe(ch)
    for n in range(5):
        await broker.publish(ch, b"before %d" % n)
    await wait_until(lambda: len(view.live) == 5)

    source = own_cluster.master_of_slot(slot)
    target = next(p for p in own_cluster.masters_of(source) if p != source)
    move_slot(own_cluster, slot, target)
    assert own_cluster.master_of_slot(slot) == target

    # The old master says sunsubscribe; the channel is subscribed at the new one, and the
    # counter and history moved with the slot.
    await wait_until(lambda: view.reconnects >= 1, timeout=10)
    for n in range(5):
        assert (await broker.publish(ch, b"after %d" % n)).offset == 6 + n
    await wait_until(lambda: len(view.live) == 10, timeout=10)
    await view.recover([ch])
    assert [p.offset for p in view.seen[ch]] == list(range(1, 11))
    await broker.close()
    await client.aclose()
