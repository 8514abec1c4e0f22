"""Issue 24 item 4 (design 0033): a chat message acked to its author survives Redis losing its
data before the persist worker stored it. The scaled mode on a redis-server of the test's own
(flushed, or killed and started again empty); the persist worker is stopped meanwhile, so every
message published then is acked and in Redis only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import msgpack
import pytest
import redis.asyncio as aioredis

from tests.conftest import free_port
from tests.e2e.harness import Client, Deployment, Server, Worker, login, own_redis, running, seed

pytestmark = pytest.mark.timeout(150)

#: Acked while the worker is stopped: lost from Redis, then owed to the database.
UNPERSISTED = 40


async def _stored_texts(deployment: Deployment, room: str, want: int) -> list[tuple[int, str]]:
    """(offset, text) of the room's stored chat messages once ``want`` are there (or 60 s)."""
    store = await deployment.store()
    try:
        deadline = time.monotonic() + 60
        while True:
            rows = await store.history(room, after=0, limit=1000)
            if len(rows) >= want or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        return [(r.offset, msgpack.unpackb(r.data)["text"]) for r in rows]
    finally:
        await store.close()


@pytest.mark.parametrize("loss", ["flushall", "restart"])
async def test_acked_messages_reach_the_database_after_redis_loses_them(
    scaled: Deployment, loss: str
) -> None:
    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    port = free_port()
    deployment = Deployment(
        "scaled", scaled.database_url, f"redis://127.0.0.1:{port}/0", scaled.key_prefix, scaled.tmp
    )
    env = {
        "LINLI_PUBLISH_RATE": "1000",
        "LINLI_PUBLISH_BURST": "1000",
        "LINLI_ACKED_CHECK_SECONDS": "0.3",
    }
    with contextlib.ExitStack() as redis_servers:
        first = redis_servers.enter_context(own_redis(port))
        worker = Worker(deployment).start()
        try:
            async with running(deployment, **env) as server:
                ann = await Client.connect(server, await login(server, "ann"))
                amy = await Client.connect(server, await login(server, "amy"))
                sub = await amy.ok("subscribe", channel=room)
                for i in range(1, 6):
                    await ann.ok("publish", channel=room, text=f"kept {i}", client_msg_id=f"k{i}")
                assert len(await _stored_texts(deployment, room, 5)) == 5
                worker.stop()  # from here on, acked means "in Redis" only

                acks = await asyncio.gather(
                    *[
                        (ann if i % 2 else amy).ok(
                            "publish", channel=room, text=f"owed {i}", client_msg_id=f"o{i}"
                        )
                        for i in range(1, UNPERSISTED + 1)
                    ]
                )
                assert sorted(a["offset"] for a in acks) == list(range(6, UNPERSISTED + 6))
                assert {a["epoch"] for a in acks} == {sub["epoch"]}
                await amy.pubs(5 + UNPERSISTED)

                if loss == "flushall":
                    redis = aioredis.Redis(port=port)
                    try:
                        await redis.flushall()
                    finally:
                        await redis.aclose()
                else:
                    first.kill()
                    first.wait(5)
                    redis_servers.enter_context(own_redis(port))  # back, and empty
                # The hub sees the new epoch and tells the subscriber to reload.
                reset = await amy.push("reset", timeout=30)
                assert reset["epoch"] > sub["epoch"] and reset["channel"] == room
                worker = Worker(deployment).start()
                stored = await _stored_texts(deployment, room, 5 + UNPERSISTED)
                texts = [t for _, t in stored]
                # Everything acked, once: the five persisted before, then the owed ones
                # re-submitted into the new epoch from offset 6 (the store's max + 1) on.
                assert Counter(texts) == Counter(
                    [f"kept {i}" for i in range(1, 6)]
                    + [f"owed {i}" for i in range(1, UNPERSISTED + 1)]
                ), texts
                assert [o for o, _ in stored] == list(range(1, UNPERSISTED + 6))
                assert texts[:5] == [f"kept {i}" for i in range(1, 6)]
                # The gateway re-submits in its ack order, which the author saw as well.
                acked_order = [f"owed {i}" for _, i in sorted(
                    (a["offset"], i) for i, a in enumerate(acks, start=1)
                )]  # fmt: skip
                assert texts[5:] == acked_order
                # The documented reload returns all of them, in the new epoch.
                page = await amy.ok("history", channel=room, limit=100)
                assert page["epoch"] == reset["epoch"]
                assert [p["data"]["text"] for p in page["publications"]] == texts
                # A new message goes on after them.
                after = await ann.ok("publish", channel=room, text="after", client_msg_id="after")
                assert after["offset"] == UNPERSISTED + 6
                assert after["epoch"] == reset["epoch"]
                await ann.close()
                await amy.close()
        finally:
            worker.stop()


async def test_a_gateway_stopping_waits_for_the_database_and_says_what_is_left(
    scaled: Deployment,
) -> None:
    """The gateway-restart window (design 0033): SIGTERM waits up to its grace for the worker to
    store what this gateway acked; what is still missing then is in Redis only, and logged."""
    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    port = free_port()
    deployment = Deployment(
        "scaled", scaled.database_url, f"redis://127.0.0.1:{port}/0", scaled.key_prefix, scaled.tmp
    )
    with own_redis(port):
        server = await Server(deployment, LINLI_ACKED_CHECK_SECONDS="0.3").start()
        try:
            ann = await Client.connect(server, await login(server, "ann"))
            for i in range(1, 4):
                await ann.ok("publish", channel=room, text=f"w{i}", client_msg_id=f"w{i}")
            await ann.close()
            started = time.monotonic()
            assert await server.stop() == 0
            # No worker: the three stay unconfirmed for the whole 3 s grace, then are reported.
            assert 2.5 < time.monotonic() - started < 12
            assert "shutting down with 3 acked publications not yet seen" in server.output()
        finally:
            await server.stop()
        # Redis still has them: a worker started now writes them.
        worker = Worker(deployment).start()
        try:
            assert [t for _, t in await _stored_texts(deployment, room, 3)] == ["w1", "w2", "w3"]
        finally:
            worker.stop()
