"""The scaled mode only: several gateway processes on one Redis, the persist worker as its own
process (killed mid-stream and restarted), and a Redis that restarts empty under a live gateway."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.harness import Client, Deployment, Server, Worker, login, own_redis, running, seed

pytestmark = pytest.mark.timeout(150)


async def test_two_gateways_share_rooms_and_presence(scaled: Deployment) -> None:
    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    async with running(scaled) as one, running(scaled) as two:
        ann = await Client.connect(one, await login(one, "ann"))
        amy = await Client.connect(two, await login(two, "amy"))
        await ann.ok("subscribe", channel=room)
        await amy.ok("subscribe", channel=room)
        assert (await ann.push("join"))["user"]["id"] == hood.users["ann"]  # its own
        assert (await ann.push("join"))["user"]["id"] == hood.users["amy"]
        for i in range(1, 11):
            await ann.ok("publish", channel=room, text=f"via one {i}", client_msg_id=f"o{i}")
            await amy.ok("publish", channel=room, text=f"via two {i}", client_msg_id=f"t{i}")
        for client in (ann, amy):
            got = await client.pubs(20)
            assert [m["offset"] for m in got] == list(range(1, 21))
        members = (await ann.ok("presence", channel=room))["members"]
        assert [m["id"] for m in members] == sorted([hood.users["ann"], hood.users["amy"]])
        await amy.close()
        assert (await ann.push("leave"))["user"]["id"] == hood.users["amy"]
        await ann.close()


async def test_persist_worker_killed_mid_stream_loses_and_doubles_nothing(
    scaled: Deployment,
) -> None:
    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    total = 3000
    worker = Worker(scaled).start()
    try:
        async with running(
            scaled, LINLI_PUBLISH_RATE="100000", LINLI_PUBLISH_BURST="100000"
        ) as server:
            ann = await Client.connect(server, await login(server, "ann"), compression=None)

            async def publish(start: int, end: int) -> None:
                for batch in range(start, end, 100):
                    replies = await asyncio.gather(
                        *[
                            ann.request(
                                "publish", channel=room, text=f"n{i}", client_msg_id=f"k{i}"
                            )
                            for i in range(batch, min(batch + 100, end))
                        ]
                    )
                    assert all("ok" in r for r in replies)

            await publish(1, total // 2)
            worker.kill()  # SIGKILL: whatever it had read and not acked stays pending
            await publish(total // 2, total + 1)
            worker = Worker(scaled).start()
            store = await scaled.store()
            try:
                deadline = time.monotonic() + 60
                while await store.count_messages(room) < total:
                    assert time.monotonic() < deadline, await store.count_messages(room)
                    await asyncio.sleep(0.2)
                rows = await store.history(room, after=0, limit=total + 10)
                assert [r.offset for r in rows] == list(range(1, total + 1))
                assert [r.data for r in rows][:1] and rows[0].author_id == hood.users["ann"]
                assert await store.count_messages(room) == total
            finally:
                await store.close()
            await ann.close()
    finally:
        worker.stop()


async def test_gateway_survives_redis_restart(scaled: Deployment) -> None:
    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    port = free_port()
    deployment = Deployment(
        "scaled", scaled.database_url, f"redis://127.0.0.1:{port}/0", scaled.key_prefix, scaled.tmp
    )
    worker: Worker | None = None
    with own_redis(port) as first:
        worker = Worker(deployment).start()
        try:
            async with running(deployment) as server:
                ann = await Client.connect(server, await login(server, "ann"))
                amy = await Client.connect(server, await login(server, "amy"))
                sub = await amy.ok("subscribe", channel=room)
                for i in range(1, 6):
                    await ann.ok("publish", channel=room, text=f"r{i}", client_msg_id=f"r{i}")
                await amy.pubs(5)
                store = await deployment.store()
                try:
                    while await store.count_messages(room) < 5:
                        await asyncio.sleep(0.1)
                finally:
                    await store.close()

                first.kill()
                first.wait(5)
                reply = await ann.request("publish", channel=room, text="lost", client_msg_id="x1")
                assert reply["error"]["code"] == "unavailable"
                assert reply["error"]["temporary"] is True
                with own_redis(port):  # back, and empty
                    # The clients stayed connected; the gateway reconnects, resubscribes and
                    # tells them the channel's counter restarted.
                    reset = await amy.push("reset", timeout=20)
                    assert reset["epoch"] > sub["epoch"] and reset["channel"] == room
                    ack = None
                    for _ in range(50):
                        reply = await ann.request(
                            "publish", channel=room, text="back", client_msg_id="x2"
                        )
                        if "ok" in reply:
                            ack = reply["ok"]
                            break
                        await asyncio.sleep(0.2)
                    assert ack is not None
                    # Offsets go on from what the database holds: nothing collides with history.
                    assert ack["offset"] == 6 and ack["epoch"] == reset["epoch"]
                    got = await amy.pubs(1, timeout=10)
                    assert got[0]["offset"] == 6 and got[0]["data"]["text"] == "back"
                    page = await amy.ok("history", channel=room, limit=10)
                    assert [p["data"]["text"] for p in page["publications"]] == [
                        "r1",
                        "r2",
                        "r3",
                        "r4",
                        "r5",
                        "back",
                    ]
                    await ann.close()
                    await amy.close()
        finally:
            worker.stop()


async def test_a_dead_gateway_leaves_presence_within_the_ttl(scaled: Deployment) -> None:
    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    env = {"LINLI_PRESENCE_TTL": "1.5"}
    async with running(scaled, **env) as survivor, running(scaled, **env) as doomed:
        # Log both in first: argon2 on a loaded machine must not eat the join's time budget.
        amy = await Client.connect(survivor, await login(survivor, "amy"))
        ann = await Client.connect(doomed, await login(doomed, "ann"))
        await amy.ok("subscribe", channel=room)
        await ann.ok("subscribe", channel=room)
        joins = [(await amy.push("join", timeout=15))["user"]["id"] for _ in range(2)]
        # Each join comes through a different gateway's publish: their order is not defined.
        assert sorted(joins) == sorted([hood.users["amy"], hood.users["ann"]])
        assert doomed.proc is not None
        doomed.proc.kill()  # no goodbye: its connections' entries simply stop being refreshed
        started = asyncio.get_running_loop().time()
        leave = await amy.push("leave", timeout=10)
        took = asyncio.get_running_loop().time() - started
        assert leave["user"]["id"] == hood.users["ann"]
        # The TTL plus one sweep interval (0.5 s), with slack for a machine under load.
        assert took < 1.5 + 0.5 + 2.0
        members = (await amy.ok("presence", channel=room))["members"]
        assert [m["id"] for m in members] == [hood.users["amy"]]
        await amy.close()


async def test_serve_with_several_worker_processes(scaled: Deployment) -> None:
    """`linli serve --workers 2` (the Procfile's web line): two gateway processes share the
    port; clients on either see each other, and SIGTERM to the parent ends both cleanly."""
    import signal

    from tests.e2e.harness import Server

    hood = await seed(scaled)
    room = f"building:{hood.building_a}"
    server = await Server(scaled, "--workers", "2").start()
    try:
        cookie = await login(server, "ann")
        clients = [await Client.connect(server, cookie) for _ in range(6)]
        for client in clients:
            await client.ok("subscribe", channel=room)
        await clients[0].ok("publish", channel=room, text="hello all", client_msg_id="w1")
        for client in clients:
            got = await client.pubs(1)
            assert got[0]["offset"] == 1 and got[0]["data"]["text"] == "hello all"
        assert await server.stop(signal.SIGTERM) == 0
        for client in clients:
            code, _ = await asyncio.wait_for(client.closed, 10)
            assert code == 4000
    finally:
        await server.stop()


async def test_two_gateways_and_the_persist_worker_on_a_redis_cluster(
    tmp_path: Path, redis_cluster_url: str, redis_cluster_prefix: str, postgres_schema_url: str
) -> None:
    """The whole scaled mode on a 3+3 Redis Cluster (design 0034): rooms, presence and the
    persist worker's sharded queue, through real gateway processes."""
    cluster = Deployment(
        "scaled",
        postgres_schema_url,
        redis_cluster_url,
        redis_cluster_prefix,
        tmp_path,
        extra_env={"LINLI_REDIS_CLUSTER": "true", "LINLI_PERSIST_SHARDS": "4"},
    )
    hood = await seed(cluster)
    rooms = [f"building:{hood.building_a}", f"building:{hood.building_b}"]
    worker = Worker(cluster).start()
    try:
        # Started by hand with a longer start-up bound: two gateways and a worker importing at
        # once on a loaded 2-core machine took more than the harness's 20 s once.
        one, two = Server(cluster), Server(cluster)
        try:
            await asyncio.gather(one.start(timeout=60), two.start(timeout=60))
            ann = await Client.connect(one, await login(one, "ann"))
            amy = await Client.connect(two, await login(two, "amy"))
            await ann.ok("subscribe", channel=rooms[0])
            await amy.ok("subscribe", channel=rooms[0])
            assert (await ann.push("join"))["user"]["id"] == hood.users["ann"]
            assert (await ann.push("join"))["user"]["id"] == hood.users["amy"]
            for i in range(1, 11):
                await ann.ok("publish", channel=rooms[0], text=f"one {i}", client_msg_id=f"o{i}")
                await amy.ok("publish", channel=rooms[0], text=f"two {i}", client_msg_id=f"t{i}")
            for client in (ann, amy):
                got = await client.pubs(20)
                assert [m["offset"] for m in got] == list(range(1, 21))
            members = (await ann.ok("presence", channel=rooms[0]))["members"]
            assert [m["id"] for m in members] == sorted([hood.users["ann"], hood.users["amy"]])
            bob = await Client.connect(two, await login(two, "bob"))
            await bob.ok("subscribe", channel=rooms[1])
            await bob.ok("publish", channel=rooms[1], text="b", client_msg_id="b1")
            assert [m["offset"] for m in await bob.pubs(1)] == [1]
            store = await cluster.store()
            try:
                deadline = time.monotonic() + 30
                while (
                    await store.count_messages(rooms[0]) < 20
                    or await store.count_messages(rooms[1]) < 1
                ):
                    assert time.monotonic() < deadline, "the persist worker did not catch up"
                    await asyncio.sleep(0.2)
                rows = await store.history(rooms[0], after=0, limit=50)
                assert [r.offset for r in rows] == list(range(1, 21))
            finally:
                await store.close()
            await amy.close()
            assert (await ann.push("leave"))["user"]["id"] == hood.users["amy"]
            for client in (ann, bob):
                await client.close()
        finally:
            await one.stop()
            await two.stop()
    finally:
        worker.stop()
