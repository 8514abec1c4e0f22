"""End to end, in both modes: the real server, real WebSocket clients.

Publish/receive with per-channel authorisation, recovery with ``since`` while another client keeps
publishing, idempotent publishing, presence across tabs, history paging, and the handshake's
Origin and session checks.
"""

from __future__ import annotations

import asyncio
from operator import itemgetter

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import Client, Deployment, login, running, seed

pytestmark = pytest.mark.timeout(90)


async def test_publish_receive_and_authorisation(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room_a, room_b = f"building:{hood.building_a}", f"building:{hood.building_b}"
    async with running(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"), fmt="msgpack")
        bob = await Client.connect(server, await login(server, "bob"))

        sub = await ann.ok("subscribe", channel=room_a)
        assert sub["offset"] == 0 and sub["recovered"] is None and sub["publications"] == []
        await amy.ok("subscribe", channel=room_a)
        await bob.ok("subscribe", channel=room_b)

        # Bob lives in B: A's room is refused, for reading and for writing, with a code.
        assert await bob.error("subscribe", channel=room_a) == "forbidden"
        assert (
            await bob.error("publish", channel=room_a, text="hi", client_msg_id="b1") == "forbidden"
        )
        assert await bob.error("history", channel=room_a) == "forbidden"
        assert await bob.error("presence", channel=room_a) == "forbidden"
        assert await bob.error("subscribe", channel="group:gardening") == "forbidden"
        assert await bob.error("subscribe", channel="mod:flags") == "forbidden"

        for i in range(1, 6):
            ack = await ann.ok(
                "publish", channel=room_a, text=f"早晨 {i} <b>hi</b>", client_msg_id=f"m{i}"
            )
            assert ack["offset"] == i and ack["duplicate"] is False
            assert ack["epoch"] == sub["epoch"]
        for client in (ann, amy):
            got = await client.pubs(5)
            assert [m["offset"] for m in got] == [1, 2, 3, 4, 5]
            assert [m["data"]["text"] for m in got] == [f"早晨 {i} <b>hi</b>" for i in range(1, 6)]
            assert all(m["channel"] == room_a and m["epoch"] == sub["epoch"] for m in got)
            assert got[0]["data"]["author"] == {"id": hood.users["ann"], "name": "Ann"}
            assert got[0]["data"]["cmid"] == "m1"
        # Nothing leaked into B's room.
        await asyncio.sleep(0.3)
        assert [p for p in bob.drain() if p.get("push") == "pub"] == []

        # Group rooms: members only.
        assert (await ann.ok("subscribe", channel="group:gardening"))["offset"] == 0
        assert await amy.error("subscribe", channel="group:gardening") == "forbidden"
        for client in (ann, amy, bob):
            await client.close()


async def test_idempotent_publish(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        first = await ann.ok("publish", channel=room, text="once", client_msg_id="retry-1")
        again = await ann.ok("publish", channel=room, text="once", client_msg_id="retry-1")
        assert again == {**first, "duplicate": True}
        # The same client_msg_id from another user is another message.
        other = await amy.ok("publish", channel=room, text="mine", client_msg_id="retry-1")
        assert other["offset"] == first["offset"] + 1 and other["duplicate"] is False
        got = await amy.pubs(2)
        assert [m["data"]["text"] for m in got] == ["once", "mine"]
        await asyncio.sleep(0.3)
        assert [p for p in amy.drain() if p.get("push") == "pub"] == []
        await ann.close()
        await amy.close()


async def test_recovery_with_since_while_another_client_publishes(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    total = 120
    async with running(deployment, LINLI_PUBLISH_RATE="1000", LINLI_PUBLISH_BURST="1000") as server:
        ann_cookie, amy_cookie = await login(server, "ann"), await login(server, "amy")
        ann = await Client.connect(server, ann_cookie)
        amy = await Client.connect(server, amy_cookie, fmt="msgpack")
        sub = await amy.ok("subscribe", channel=room)
        epoch = sub["epoch"]

        async def publish_all() -> None:
            for i in range(1, total + 1):
                await ann.ok("publish", channel=room, text=f"msg {i}", client_msg_id=f"p{i}")
                await asyncio.sleep(0.002)

        publisher = asyncio.create_task(publish_all())
        seen = [m["offset"] for m in await amy.pubs(10)]
        last = seen[-1]
        await amy.close()  # the phone goes into a pocket mid-stream
        await asyncio.sleep(0.1)
        amy = await Client.connect(server, amy_cookie, fmt="msgpack")
        reply = await amy.ok("subscribe", channel=room, since={"offset": last, "epoch": epoch})
        assert reply["recovered"] is True and reply["epoch"] == epoch
        recovered = [p["offset"] for p in reply["publications"]]
        assert recovered == list(range(last + 1, reply["offset"] + 1))
        await publisher
        live = [m["offset"] for m in await amy.pubs(total - reply["offset"])]
        # Every message once, in order: no gap, no duplicate across the resubscription.
        assert seen + recovered + live == list(range(1, total + 1))
        await asyncio.sleep(0.2)
        assert [p for p in amy.drain() if p.get("push") == "pub"] == []

        # A wrong epoch cannot be recovered: the client is told so plainly.
        other = await Client.connect(server, amy_cookie)
        reply = await other.ok("subscribe", channel=room, since={"offset": 3, "epoch": epoch - 1})
        assert reply["recovered"] is False and reply["publications"] == []
        await other.close()
        await ann.close()
        await amy.close()


async def test_history_paging_reaches_the_store(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    # A hot history of 10: the older messages can only come from the database.
    async with running(
        deployment,
        LINLI_HISTORY_SIZE="10",
        LINLI_PUBLISH_RATE="1000",
        LINLI_PUBLISH_BURST="1000",
        LINLI_RUN_WORKERS="true",
    ) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        for i in range(1, 41):
            await ann.ok("publish", channel=room, text=f"h{i}", client_msg_id=f"h{i}")
        await _wait_persisted(deployment, room, 40)
        newest = await ann.ok("history", channel=room, limit=15)
        assert [p["offset"] for p in newest["publications"]] == list(range(26, 41))
        older = await ann.ok("history", channel=room, before=26, limit=15)
        assert [p["offset"] for p in older["publications"]] == list(range(11, 26))
        oldest = await ann.ok("history", channel=room, before=11, limit=15)
        assert [p["offset"] for p in oldest["publications"]] == list(range(1, 11))
        forward = await ann.ok("history", channel=room, after=5, limit=30)
        assert [p["offset"] for p in forward["publications"]] == list(range(6, 36))
        assert forward["publications"][0]["data"]["text"] == "h6"
        # Around a message (a search hit): its neighbours on both sides, from the store below
        # the hot history (offsets 31-40) and across the boundary; short at either end.
        around = await ann.ok("history", channel=room, around=20, limit=10)
        assert [p["offset"] for p in around["publications"]] == list(range(16, 26))
        assert around["publications"][4]["data"]["text"] == "h20"
        across = await ann.ok("history", channel=room, around=30, limit=7)
        assert [p["offset"] for p in across["publications"]] == list(range(27, 34))
        default = await ann.ok("history", channel=room, around=38)  # limit 50: 25 and 25
        assert [p["offset"] for p in default["publications"]] == list(range(14, 41))
        other = f"building:{hood.building_b}"
        assert await ann.error("history", channel=other, around=1) == "forbidden"
        start = await ann.ok("history", channel=room, around=2, limit=6)
        assert [p["offset"] for p in start["publications"]] == [1, 2, 3, 4, 5]
        assert await ann.error("history", channel=room, around=5, after=2) == "bad_request"
        assert await ann.error("history", channel=room, around=5, before=9) == "bad_request"
        assert await ann.error("history", channel=room, around=-1) == "bad_request"
        # A client that missed 35 messages recovers across the store and the hot history.
        sub = await ann.ok("subscribe", channel=room, since={"offset": 5, "epoch": newest["epoch"]})
        assert sub["recovered"] is True
        assert [p["offset"] for p in sub["publications"]] == list(range(6, 41))
        # The same over HTTP.
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": await login(server, "amy")}
        ) as http:
            page = (await http.get(f"/api/channels/{room}/history", params={"before": 11})).json()
            assert [p["offset"] for p in page["publications"]] == list(range(1, 11))
            page = (
                await http.get(f"/api/channels/{room}/history", params={"around": 20, "limit": 4})
            ).json()
            assert [p["offset"] for p in page["publications"]] == [19, 20, 21, 22]
            mixed = await http.get(
                f"/api/channels/{room}/history", params={"around": 20, "after": 3}
            )
            assert mixed.status_code == 400 and mixed.json()["error"]["code"] == "bad_request"
            denied = await http.get(f"/api/channels/building:{hood.building_b}/history")
            assert denied.status_code == 403
            denied = await http.get(
                f"/api/channels/building:{hood.building_b}/history", params={"around": 1}
            )
            assert denied.status_code == 403
        await ann.close()


async def _wait_persisted(deployment: Deployment, channel: str, count: int) -> None:
    store = await deployment.store()
    try:
        for _ in range(200):
            if await store.count_messages(channel) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"{channel}: {await store.count_messages(channel)} of {count} persisted"
        )
    finally:
        await store.close()


async def test_presence_counts_tabs_once(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann_cookie = await login(server, "ann")
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        # A subscriber's own join comes back to it too (every tab learns it is counted).
        assert (await amy.push("join"))["user"] == {"id": hood.users["amy"], "name": "Amy"}
        tab1 = await Client.connect(server, ann_cookie)
        await tab1.ok("subscribe", channel=room)
        assert (await amy.push("join"))["user"] == {"id": hood.users["ann"], "name": "Ann"}
        tab2 = await Client.connect(server, ann_cookie)
        await tab2.ok("subscribe", channel=room)
        members = (await amy.ok("presence", channel=room))["members"]
        assert members == sorted(
            [{"id": hood.users["ann"], "name": "Ann"}, {"id": hood.users["amy"], "name": "Amy"}],
            key=itemgetter("id"),
        )
        await tab1.close()
        await asyncio.sleep(0.3)
        assert [p for p in amy.drain() if p.get("push") in ("join", "leave")] == []
        await tab2.close()
        leave = await amy.push("leave")
        assert leave["user"]["id"] == hood.users["ann"] and leave["channel"] == room
        members = (await amy.ok("presence", channel=room))["members"]
        assert members == [{"id": hood.users["amy"], "name": "Amy"}]
        await amy.close()


async def test_handshake_checks_origin_and_session(deployment: Deployment) -> None:
    await seed(deployment)
    async with running(deployment) as server:
        cookie = await login(server, "ann")
        with pytest.raises(InvalidStatus) as refused:
            await Client.connect(server, cookie, origin="http://evil.example")
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as anonymous:
            await Client.connect(server, None)
        assert anonymous.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as forged:
            await Client.connect(server, "not-a-session")
        assert forged.value.response.status_code == 401
        # The page's own origin is fine.
        ok = await Client.connect(server, cookie, origin=f"http://127.0.0.1:{server.port}")
        await ok.close()
        # After logout the session no longer opens a socket.
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}
        ) as http:
            assert (await http.post("/api/logout", json={})).status_code == 200
        with pytest.raises(InvalidStatus):
            await Client.connect(server, cookie)
