"""The WorkQueue contract (channels/workqueue.py), one suite run against every backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from channels.workqueue import Claim, Claimed, ClaimsNotSeeded, WorkItem, WorkQueue
from channels.workqueue_memory import MemoryWorkQueue

BACKENDS = ["memory", "redis", "redis-resp2", "redis-cluster"]
Q = "votes"


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    if request.param == "redis-cluster":
        request.getfixturevalue("redis_cluster_prefix")  # skips (or fails in CI) without one
    elif request.param.startswith("redis"):
        request.getfixturevalue("redis_prefix")  # skips (or fails in CI) without Redis
    return str(request.param)


@pytest.fixture
async def wq(backend_name: str, request: pytest.FixtureRequest) -> AsyncIterator[WorkQueue]:
    if backend_name == "memory":
        yield MemoryWorkQueue()
        return
    import redis.asyncio as aioredis

    from channels.keys import ClusterKeys, Keys
    from channels.workqueue_redis import RedisWorkQueue

    client: aioredis.Redis | aioredis.RedisCluster
    if backend_name == "redis-cluster":
        prefix = request.getfixturevalue("redis_cluster_prefix")
        client = aioredis.RedisCluster.from_url(request.getfixturevalue("redis_cluster_url"))
        keys: Keys = ClusterKeys(prefix, shards=4)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        url = request.getfixturevalue("redis_url")
        client = aioredis.Redis.from_url(url, protocol=2 if backend_name == "redis-resp2" else 3)
        keys = Keys(prefix)
    try:
        yield RedisWorkQueue(client, keys=keys)
    finally:
        await client.aclose()


def datas(items: list[WorkItem]) -> list[bytes]:
    return [i.data for i in items]


async def submit_all(wq: WorkQueue, *payloads: bytes, queue: str = Q) -> None:
    for payload in payloads:
        assert await wq.submit(queue, payload) is True


async def test_read_ack_pending_backlog(wq: WorkQueue) -> None:
    await submit_all(wq, b"d0", b"d1", b"d2", b"d3", b"d4")
    assert await wq.backlog(Q, "g") == 5  # a group not created yet has everything ahead
    assert await wq.pending(Q, "g") == 0

    first = await wq.read(Q, "g", "c1", count=3, block_ms=0)
    assert datas(first) == [b"d0", b"d1", b"d2"]
    assert all((i.channel, i.offset, i.epoch, i.deliveries) == ("", 0, 0, 1) for i in first)
    assert len({i.id for i in first}) == 3
    assert await wq.pending(Q, "g") == 3
    assert await wq.backlog(Q, "g") == 2

    await wq.ack(Q, "g", [first[0].id, first[2].id])
    assert await wq.pending(Q, "g") == 1
    await wq.ack(Q, "g", [first[0].id])  # acking twice changes nothing
    assert await wq.pending(Q, "g") == 1

    rest = await wq.read(Q, "g", "c1", count=10, block_ms=0)
    assert datas(rest) == [b"d3", b"d4"]
    assert await wq.backlog(Q, "g") == 0
    assert await wq.pending(Q, "g") == 3
    assert await wq.read(Q, "g", "c1", count=10, block_ms=0) == []

    await wq.ack(Q, "g", [first[1].id] + [i.id for i in rest])
    assert await wq.pending(Q, "g") == 0
    assert await wq.backlog(Q, "g") == 0


async def test_consumers_of_a_group_split_the_entries(wq: WorkQueue) -> None:
    await submit_all(wq, *(b"e%d" % i for i in range(6)))
    a = await wq.read(Q, "g", "a", count=4, block_ms=0)
    b = await wq.read(Q, "g", "b", count=4, block_ms=0)
    assert datas(a) == [b"e0", b"e1", b"e2", b"e3"]
    assert datas(b) == [b"e4", b"e5"]
    assert await wq.pending(Q, "g") == 6


async def test_every_group_sees_every_entry(wq: WorkQueue) -> None:
    await submit_all(wq, b"x", b"y")
    assert datas(await wq.read(Q, "store", "c", count=10, block_ms=0)) == [b"x", b"y"]
    await submit_all(wq, b"z")
    assert datas(await wq.read(Q, "search", "c", count=10, block_ms=0)) == [b"x", b"y", b"z"]
    assert datas(await wq.read(Q, "store", "c", count=10, block_ms=0)) == [b"z"]
    assert await wq.pending(Q, "store") == 3
    assert await wq.pending(Q, "search") == 3


async def test_entries_from_before_the_group_existed_are_read(wq: WorkQueue) -> None:
    await submit_all(wq, b"early1", b"early2")
    # Another queue's group existing changes nothing.
    await wq.read("other", "g", "c", count=1, block_ms=0)
    assert datas(await wq.read(Q, "late", "c", count=10, block_ms=0)) == [b"early1", b"early2"]


IDLE_MS = 500
IDLE_S = IDLE_MS / 1000


async def test_unacked_entries_are_reclaimed(wq: WorkQueue) -> None:
    await submit_all(wq, b"a", b"b", b"c")
    taken = await wq.read(Q, "g", "crashed", count=3, block_ms=0)
    await wq.ack(Q, "g", [taken[0].id])
    assert await wq.reclaim(Q, "g", "rescuer", min_idle_ms=10_000, count=10) == []

    # Idle times are wall-clock: the threshold leaves half a second for a loaded machine's stalls
    # between a hand-out and the check that it reset the idle time.
    await asyncio.sleep(IDLE_S + 0.1)
    reclaimed = await wq.reclaim(Q, "g", "rescuer", min_idle_ms=IDLE_MS, count=10)
    assert [(i.id, i.data, i.deliveries) for i in reclaimed] == [
        (taken[1].id, b"b", 2),
        (taken[2].id, b"c", 2),
    ]
    assert await wq.pending(Q, "g") == 2
    # Just handed out again: not idle any more.
    assert await wq.reclaim(Q, "g", "other", min_idle_ms=IDLE_MS, count=10) == []

    await asyncio.sleep(IDLE_S + 0.1)
    once_more = await wq.reclaim(Q, "g", "other", min_idle_ms=IDLE_MS, count=1)
    assert [(i.data, i.deliveries) for i in once_more] == [(b"b", 3)]
    await wq.ack(Q, "g", [i.id for i in reclaimed])
    assert await wq.pending(Q, "g") == 0
    await asyncio.sleep(IDLE_S + 0.1)
    assert await wq.reclaim(Q, "g", "other", min_idle_ms=IDLE_MS, count=10) == []


async def test_reclaim_on_a_new_group_is_empty(wq: WorkQueue) -> None:
    await submit_all(wq, b"a")
    assert await wq.reclaim(Q, "fresh", "c", min_idle_ms=0, count=10) == []
    assert datas(await wq.read(Q, "fresh", "c", count=10, block_ms=0)) == [b"a"]


async def test_submit_is_idempotent(wq: WorkQueue) -> None:
    assert await wq.submit(Q, b"ballot", idempotency_key="vote:1:7") is True
    assert await wq.submit(Q, b"ballot again", idempotency_key="vote:1:7") is False
    assert await wq.submit(Q, b"other", idempotency_key="vote:1:8") is True
    assert await wq.submit("moderation", b"flag", idempotency_key="vote:1:7") is True
    assert datas(await wq.read(Q, "g", "c", count=10, block_ms=0)) == [b"ballot", b"other"]


async def test_read_blocks_until_an_entry_arrives(wq: WorkQueue) -> None:
    started = time.monotonic()
    assert await wq.read(Q, "g", "c", count=10, block_ms=150) == []
    assert time.monotonic() - started >= 0.12

    reader = asyncio.create_task(wq.read(Q, "g", "c", count=10, block_ms=3000))
    await asyncio.sleep(0.2)
    assert not reader.done()
    started = time.monotonic()
    await wq.submit(Q, b"wake up")
    items = await asyncio.wait_for(reader, 2)
    assert datas(items) == [b"wake up"]
    assert time.monotonic() - started < 1.0
    assert await wq.pending(Q, "g") == 1


async def test_counts_stay_right_across_many_entries(wq: WorkQueue) -> None:
    # Enough acks that consumed entries get dropped (both backends do so every ~1000).
    await submit_all(wq, *(b"n%d" % i for i in range(2500)))
    seen: list[bytes] = []
    while True:
        items = await wq.read(Q, "g", "c", count=400, block_ms=0)
        if not items:
            break
        seen += datas(items)
        await wq.ack(Q, "g", [i.id for i in items])
    assert seen == [b"n%d" % i for i in range(2500)]
    assert await wq.pending(Q, "g") == 0
    assert await wq.backlog(Q, "g") == 0
    await submit_all(wq, b"after")
    assert await wq.backlog(Q, "g") == 1
    assert datas(await wq.read(Q, "g", "c", count=10, block_ms=0)) == [b"after"]
    assert await wq.pending(Q, "g") == 1


async def test_an_expected_group_whose_worker_runs_late_misses_nothing(wq: WorkQueue) -> None:
    """A fresh install: the indexer's group reads and acks (enough to drop entries) before the
    persist worker has ever run; the persist group, expected, still gets every entry. Without
    ``expect_groups`` it got 46,014 of 50,000 in the persist benchmark (docs/performance.md)."""
    wq.expect_groups(Q, {"persist", "search"})
    total = 2500
    await submit_all(wq, *(b"m%d" % i for i in range(total)))
    while items := await wq.read(Q, "search", "c", count=400, block_ms=0):
        await wq.ack(Q, "search", [i.id for i in items])
    seen: list[bytes] = []
    while items := await wq.read(Q, "persist", "c", count=400, block_ms=0):
        seen += datas(items)
        await wq.ack(Q, "persist", [i.id for i in items])
    assert seen == [b"m%d" % i for i in range(total)]
    assert await wq.backlog(Q, "persist") == 0


async def test_claims_keep_the_first_value(wq: WorkQueue) -> None:
    # Unseeded: refused, nothing appended, and the idempotency key is not used up.
    with pytest.raises(ClaimsNotSeeded):
        await wq.submit(Q, b"a1", idempotency_key="k1", claim=Claim("poll:1", "user:1", "a"))
    assert await wq.seed_claims(Q, "poll:1", {"user:9": "old"}) is True
    assert await wq.seed_claims(Q, "poll:1", {"user:9": "other", "user:1": "x"}) is False
    assert await wq.submit(Q, b"a1", idempotency_key="k1", claim=Claim("poll:1", "user:1", "a"))
    # A retry of the holder is a duplicate; another value is refused and changes nothing.
    assert not await wq.submit(Q, b"a1", idempotency_key="k1", claim=Claim("poll:1", "user:1", "a"))
    with pytest.raises(Claimed):
        await wq.submit(Q, b"b1", idempotency_key="k2", claim=Claim("poll:1", "user:1", "b"))
    with pytest.raises(Claimed):  # seeded holders count too
        await wq.submit(Q, b"c9", idempotency_key="k3", claim=Claim("poll:1", "user:9", "c"))
    assert await wq.submit(Q, b"old9", idempotency_key="k4", claim=Claim("poll:1", "user:9", "old"))
    # Claims sets are separate; the refused ballots' keys were not used up.
    await wq.seed_claims(Q, "poll:2", {})
    assert await wq.submit(Q, b"b2", idempotency_key="k2", claim=Claim("poll:2", "user:1", "b"))
    assert datas(await wq.read(Q, "g", "c", count=10, block_ms=0)) == [b"a1", b"old9", b"b2"]


async def test_concurrent_submits_each_get_their_own_answer(wq: WorkQueue) -> None:
    await wq.seed_claims(Q, "poll:3", {})
    # 600 at once (more than one batch): every key twice, and two values fighting per claim.
    results = await asyncio.gather(
        *(wq.submit(Q, b"e%d" % i, idempotency_key=f"e{i}") for i in range(300)),
        *(wq.submit(Q, b"dup", idempotency_key=f"e{i}") for i in range(300)),
        *(
            wq.submit(
                Q, b"v%d" % (i % 2), idempotency_key=f"v{i}", claim=Claim("poll:3", "u", str(i % 2))
            )
            for i in range(4)
        ),
        return_exceptions=True,
    )
    assert results[:300] == [True] * 300 and results[300:600] == [False] * 300
    votes = results[600:]
    assert votes[0] is True and votes[2] is True  # the first value wins, twice (two keys)
    assert all(isinstance(r, Claimed) for r in (votes[1], votes[3]))
    items = await wq.read(Q, "g", "c", count=1000, block_ms=0)
    assert datas(items) == [b"e%d" % i for i in range(300)] + [b"v0", b"v0"]
