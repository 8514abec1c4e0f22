"""The issue-24 scenario: a steady stream of chat messages over three channels, two gateways, a
persist worker and a Redis of the test's own (AOF, fsync always) behind the fault proxy, while
one gateway is SIGKILLed (and started again), the persist worker is SIGKILLed, Redis is
SIGKILLed and restarted while the worker is down (so the acked messages not yet stored exist
only in Redis, and must come back from its AOF), every connection to Redis is cut, the link
is blackholed for 2 s, then slowed by 20 ms a chunk for 1 s. Afterwards:

* PostgreSQL holds exactly the acknowledged messages: one row per ack, at the acked offset, with
  the acked ``client_msg_id``; no other row, none twice;
* every follower (subscribers that reconnect, resubscribe with ``since`` and reload on
  ``recovered: false`` or a ``reset``, as ``docs/protocol.md`` asks) ends with every message of
  its channel, in order, offset by offset; and none saw a silent gap.

The issue asks for 10,000 messages at 200/s; the default here (``LINLI_FAULTS_MESSAGES``, 3,000
at ``LINLI_FAULTS_RATE`` 200/s) keeps the test well under a minute on two loaded cores, with each
fault landing in the stream. ``LINLI_FAULTS_MESSAGES=10000`` runs the issue's figure.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import msgpack
import pytest

from tests.e2e.harness import Deployment, Server, Worker, login, seed
from tests.faults.clients import Ack, Follower, Publisher
from tests.faults.figures import load_average
from tests.faults.gateways import START_TIMEOUT
from tests.faults.proxy import FaultProxy
from tests.faults.redis_aof import AofRedis

MESSAGES = int(os.environ.get("LINLI_FAULTS_MESSAGES", "3000"))
RATE = float(os.environ.get("LINLI_FAULTS_RATE", "200"))

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(120 + MESSAGES / RATE * 2),
]

GATEWAY_ENV = {
    "LINLI_PUBLISH_RATE": "100000",
    "LINLI_PUBLISH_BURST": "100000",
    "LINLI_HEARTBEAT_SECONDS": "5",
}


async def test_acked_messages_survive_every_fault_and_every_client_sees_them_in_order(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    redis = AofRedis(tmp_path / "redis").start()
    proxy = await FaultProxy(redis.port).start()
    deployment = Deployment("scaled", postgres_schema_url, proxy.url, "faults:", tmp_path)
    hood = await seed(deployment)
    channels = [f"building:{hood.building_a}", f"building:{hood.building_b}", "group:gardening"]
    gateways = [Server(deployment, **GATEWAY_ENV), Server(deployment, **GATEWAY_ENV)]
    worker = Worker(deployment)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    publishers: list[Publisher] = []
    try:
        for gateway in gateways:
            await gateway.start(timeout=START_TIMEOUT)
        worker.start()
        cookies = {name: await login(gateways[0], name) for name in ("ann", "amy", "bob")}
        # Who may read and write where: ann and amy live in A, bob in B; ann gardens.
        readers = [("ann", "amy"), ("bob", "bob"), ("ann", "ann")]
        writers = ["ann", "bob", "ann"]
        followers = [
            Follower(f"{who}-{ch}-{i}", gateways, cookies[who], ch, start_at=i)
            for ch, pair in zip(channels, readers, strict=True)
            for i, who in enumerate(pair)
        ]
        tasks = [asyncio.create_task(f.run(stop)) for f in followers]
        publishers = [Publisher(gateways, cookies[w], start_at=i) for i, w in enumerate(writers)]
        await asyncio.sleep(1.0)  # the followers subscribed before the first message

        loop = asyncio.get_running_loop()
        duration = MESSAGES / RATE
        started = loop.time()
        deadline = started + duration + 60
        acks: dict[str, Ack] = {}

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, started + i / RATE - loop.time()))
            cmid = f"m{i}"
            k = i % 3
            acks[cmid] = await publishers[k].publish(
                channels[k], f"message {i}", cmid, deadline=deadline
            )

        async def faults() -> list[tuple[str, float]]:
            timeline: list[tuple[str, float]] = []

            async def at(fraction: float, what: str) -> None:
                await asyncio.sleep(max(0.0, started + fraction * duration - loop.time()))
                timeline.append((what, round(loop.time() - started, 2)))

            await at(0.15, "gateway 1 SIGKILL")
            await gateways[0].stop(signal.SIGKILL)

            async def restart() -> None:
                # In the background: a start takes seconds on a loaded machine, and the
                # other faults keep their places in the stream meanwhile.
                await asyncio.sleep(1.0)
                await gateways[0].start(timeout=START_TIMEOUT)
                timeline.append(("gateway 1 back", round(loop.time() - started, 2)))

            restarting = asyncio.create_task(restart())
            # The worker is down when Redis dies: what it has not stored yet lives only in
            # Redis, and has to come back from the AOF (without it, this test loses messages).
            await at(0.35, "persist worker SIGKILL")
            worker.kill()
            await at(0.45, "redis SIGKILL")
            redis.kill()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(redis.start)
            timeline.append(("redis back", round(loop.time() - started, 2)))
            worker.start()
            timeline.append(("persist worker back", round(loop.time() - started, 2)))
            await at(0.62, "redis link cut")
            proxy.cut()
            await at(0.75, "redis link blackholed 2 s")
            await proxy.blackhole(2.0)
            timeline.append(("redis link delayed 20 ms for 1 s", round(loop.time() - started, 2)))
            proxy.delay = 0.02
            await asyncio.sleep(1.0)
            proxy.delay = 0.0
            await restarting
            return timeline

        fault_task = asyncio.create_task(faults())
        await asyncio.gather(*(one(i) for i in range(MESSAGES)))
        timeline = await fault_task
        published_in = loop.time() - started

        # PostgreSQL: exactly the acked messages, at their acked offsets, once.
        store = await deployment.store()
        try:
            expected: dict[str, list[tuple[int, str]]] = {}
            for cmid, ack in acks.items():
                expected.setdefault(ack.channel, []).append((ack.offset, cmid))
            for acked in expected.values():
                acked.sort()
            stored: dict[str, list[tuple[int, str]]] = {}
            settle = loop.time() + 60
            for ch in channels:
                while await store.count_messages(ch) < len(expected[ch]):
                    assert loop.time() < settle, (ch, await store.count_messages(ch))
                    await asyncio.sleep(0.2)
                rows = await store.history(ch, after=0, limit=MESSAGES + 10)
                stored[ch] = [(r.offset, msgpack.unpackb(r.data)["cmid"]) for r in rows]
                assert stored[ch] == expected[ch], ch
                assert [o for o, _ in stored[ch]] == list(range(1, len(stored[ch]) + 1))
        finally:
            await store.close()
        assert sum(len(v) for v in stored.values()) == MESSAGES

        # Every follower: every message of its channel, in order; no silent gap.
        converge = loop.time() + 30
        while any(f.view != stored[f.channel] for f in followers):
            if loop.time() > converge:
                lagging = [(f.name, len(f.view), len(stored[f.channel])) for f in followers]
                raise AssertionError(f"followers did not converge: {lagging}")
            await asyncio.sleep(0.2)
        for f in followers:
            assert f.gaps == [], (f.name, f.gaps[:5])
        stop.set()
        await asyncio.gather(*tasks)

        retried = sum(1 for a in acks.values() if a.attempts > 1)
        print(
            f"\n{MESSAGES} messages at {RATE}/s published and acked in {published_in:.1f} s; "
            f"{retried} needed a retry; faults at {timeline}; publisher errors "
            f"{[p.errors for p in publishers]}; followers (resets, reloads, reconnects): "
            f"{[(f.name, f.resets, f.reloads, f.reconnects) for f in followers]}; "
            f"load {load_average()}"
        )
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for publisher in publishers:
            await publisher.close()
        for gateway in gateways:
            await gateway.stop()
        worker.stop()
        await proxy.close()
        redis.kill()
