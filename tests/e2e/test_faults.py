"""End to end, bad input and bad luck: malformed frames of every kind, floods, slow clients,
shutdowns, restarts."""

from __future__ import annotations

import asyncio
import signal
import socket

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import Client, Deployment, Server, login, running, seed

pytestmark = pytest.mark.timeout(120)


async def test_bad_frames_get_errors_and_nothing_else_is_affected(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        cookie = await login(server, "ann")
        ann = await Client.connect(server, cookie)
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        await ann.ok("subscribe", channel=room)

        async def error_push() -> dict[str, object]:
            return await ann.push("error")

        await ann.ws.send("{not json")
        assert (await error_push())["error"]["code"] == "bad_frame"  # type: ignore[index]
        await ann.ws.send("[1,2,3]")
        assert (await error_push())["error"]["code"] == "bad_frame"  # type: ignore[index]
        await ann.ws.send(b'{"id": 1, "op": "publish"}')  # binary frame on a JSON connection
        assert (await error_push())["error"]["code"] == "bad_frame"  # type: ignore[index]
        await ann.ws.send('{"id": "x", "op": "publish"}')
        assert (await error_push())["error"]["code"] == "bad_request"  # type: ignore[index]
        big = "字" * 2000  # 6,000 bytes of UTF-8: over the 4 KiB frame limit
        # Sent raw (not through request()) so the reply lands among the pushes to look at.
        await ann.ws.send(f'{{"id": 77, "op": "publish", "channel": "{room}", "text": "{big}"}}')
        reply = await asyncio.wait_for(ann.pushes.get(), 5)
        assert reply["id"] == 77 and reply["error"]["code"] == "too_large"
        await ann.ws.send(f'{{"op": "publish", "text": "{big}"}}')  # no id to answer to
        assert (await error_push())["error"]["code"] == "too_large"  # type: ignore[index]
        assert await ann.error("dance") == "unknown_op"
        assert await ann.error("publish", channel=room, text=42, client_msg_id="a") == "bad_request"
        assert await ann.error("publish", channel=room, text="", client_msg_id="a") == "bad_request"
        assert await ann.error("subscribe", channel="building:zero") == "bad_request"
        assert await ann.error("subscribe", channel=room) == "already_subscribed"
        assert await ann.error("unsubscribe", channel="group:gardening") == "not_subscribed"
        assert await ann.error("history", channel=room, limit=1000) == "bad_request"
        assert await ann.error("subscribe", channel="group:no-such-group") == "not_found"

        # After all that the connection still works, and the room saw nothing but this message.
        ack = await ann.ok("publish", channel=room, text="still here", client_msg_id="ok1")
        assert ack["offset"] == 1
        got = await amy.pubs(1)
        assert got[0]["data"]["text"] == "still here"

        # msgpack connections: malformed msgpack and text frames.
        mp = await Client.connect(server, cookie, fmt="msgpack")
        await mp.ws.send(b"\xc1\xc1")
        assert (await mp.push("error"))["error"]["code"] == "bad_frame"
        await mp.ws.send("{}")
        assert (await mp.push("error"))["error"]["code"] == "bad_frame"
        await mp.ws.send(msgpack.packb({"id": 5, "op": "presence", "channel": room}))
        reply = await mp.request("presence", channel=room)
        assert "ok" in reply
        await mp.close()

        # Invalid UTF-8 in a text frame: the WebSocket layer closes with 1007 (RFC 6455 8.1).
        broken = await Client.connect(server, cookie)
        await broken.ws.send(b'{"id": 1, "op": "\xff\xfe"}', text=True)
        code, _ = await asyncio.wait_for(broken.closed, 5)
        assert code == 1007
        # A frame over the hard limit: closed with 1009.
        huge = await Client.connect(server, cookie, max_size=None)
        await huge.ws.send("x" * 70_000)
        code, _ = await asyncio.wait_for(huge.closed, 5)
        assert code == 1009

        # The room and the other connections did not notice.
        await ann.ok("publish", channel=room, text="after", client_msg_id="ok2")
        assert [m["offset"] for m in await amy.pubs(1)] == [2]
        await ann.close()
        await amy.close()


async def test_publish_rate_limit(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment, LINLI_PUBLISH_RATE="1", LINLI_PUBLISH_BURST="3") as server:
        ann = await Client.connect(server, await login(server, "ann"))
        codes = []
        for i in range(5):
            reply = await ann.request("publish", channel=room, text=f"{i}", client_msg_id=f"r{i}")
            codes.append(reply["error"]["code"] if "error" in reply else "ok")
        assert codes == ["ok", "ok", "ok", "rate_limited", "rate_limited"]
        reply = await ann.request("publish", channel=room, text="x", client_msg_id="r9")
        assert reply["error"]["temporary"] is True
        await asyncio.sleep(1.1)
        assert (await ann.ok("publish", channel=room, text="later", client_msg_id="r10"))[
            "offset"
        ] == 4
        await ann.close()


async def test_slow_consumer_is_cut_off_and_the_room_goes_on(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    count = 3000
    async with running(
        deployment,
        # 1 MiB a connection: the slow reader (4 KB window, kernel buffers of a few MB) still
        # overflows it within the 9 MB burst, while the fast reader, which shares this test's
        # event loop with 3,000 pending requests, has room to lag on a loaded machine (with 64 KiB
        # it was cut too, once in CI at 50 minutes into the suite).
        LINLI_SEND_QUEUE_BYTES="1048576",
        LINLI_PUBLISH_RATE="100000",
        LINLI_PUBLISH_BURST="100000",
        LINLI_MAX_FRAME_BYTES="16384",
    ) as server:
        amy_cookie = await login(server, "amy")
        ann = await Client.connect(server, await login(server, "ann"))
        fast = await Client.connect(server, amy_cookie)
        # The slow client stops reading after one frame: its small TCP window fills, then the
        # server's socket buffer, then its send queue.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.ws_port or server.port))
        slow = await Client.connect(server, amy_cookie, max_queue=1, compression=None, sock=sock)
        await fast.ok("subscribe", channel=room)
        await slow.ok("subscribe", channel=room)
        slow._reader.cancel()
        text = "鄰" * 1000  # 3 KB a message, the longest allowed
        publishing = [
            ann.request("publish", channel=room, text=text, client_msg_id=f"s{i}")
            for i in range(count)
        ]
        replies = await asyncio.gather(*publishing, return_exceptions=True)
        assert all(isinstance(r, dict) and "ok" in r for r in replies), (
            ann.closed.result() if ann.closed.done() else None,
            [r for r in replies if not (isinstance(r, dict) and "ok" in r)][:3],
        )
        try:
            got = await fast.pubs(count, timeout=30)
        except TimeoutError:
            closed_with = fast.closed.result() if fast.closed.done() else "still open"
            raise AssertionError(f"the fast reader lost the burst: {closed_with}") from None
        assert [m["offset"] for m in got] == list(range(1, count + 1))
        # The slow one was cut: with the documented code if it took its close within the close
        # deadline (what was in flight, then the close frame), else by a reset that dropped the
        # rest (gateway/ws_server.CLOSE_DEADLINE; tests/e2e/test_stalled_reader.py). It resumes
        # reading only now, after the whole burst, so either can happen. Everything stayed fine
        # for the rest.
        received = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.ws.recv(), 10)
                received += 1
        assert closed.value.rcvd is None or closed.value.rcvd.code == 4001
        assert received < count
        await ann.close()
        await fast.close()


async def test_sigterm_closes_sockets_with_reconnect_code_and_history_survives(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    server = await Server(deployment, LINLI_RUN_WORKERS="true").start()
    try:
        ann_cookie = await login(server, "ann")
        ann = await Client.connect(server, ann_cookie)
        sub = await ann.ok("subscribe", channel=room)
        for i in range(1, 21):
            await ann.ok("publish", channel=room, text=f"before restart {i}", client_msg_id=f"b{i}")
        await ann.pubs(20)
        assert await server.stop(signal.SIGTERM) == 0
        code, reason = await asyncio.wait_for(ann.closed, 10)
        assert code == 4000, (code, reason, server.output()[-2000:])
    finally:
        await server.stop()

    # Start again: everything acknowledged before the restart is in the history.
    async with running(deployment, LINLI_RUN_WORKERS="true") as again:
        ann = await Client.connect(again, ann_cookie)
        page = await ann.ok("history", channel=room, limit=50)
        assert [p["data"]["text"] for p in page["publications"]] == [
            f"before restart {i}" for i in range(1, 21)
        ]
        reply = await ann.ok("subscribe", channel=room, since={"offset": 20, "epoch": sub["epoch"]})
        if deployment.mode == "scaled":
            # Redis kept the channel: the client resumes where it was.
            assert reply["recovered"] is True and reply["epoch"] == sub["epoch"]
        else:
            # The in-process counter restarted in a new epoch: the client is told to reload, and
            # offsets go on from the stored history rather than starting over.
            assert reply["recovered"] is False and reply["epoch"] > sub["epoch"]
        assert reply["offset"] == 20
        ack = await ann.ok("publish", channel=room, text="after", client_msg_id="after1")
        assert ack["offset"] == 21
        await ann.close()


async def test_a_client_sending_only_garbage_is_closed(deployment: Deployment) -> None:
    await seed(deployment)
    async with running(deployment) as server:
        client = await Client.connect(server, await login(server, "ann"))
        for _ in range(19):
            await client.ws.send("garbage")
        await client.ws.send('{"op": "pong"}')  # a good frame resets the count
        for _ in range(20):
            await client.ws.send("garbage")
        code, _ = await asyncio.wait_for(client.closed, 5)
        assert code == 4003
        errors = [p for p in client.drain() if p.get("push") == "error"]
        assert len(errors) == 39


async def test_heartbeat_closes_a_silent_client_and_keeps_a_live_one(
    deployment: Deployment,
) -> None:
    await seed(deployment)
    async with running(deployment, LINLI_HEARTBEAT_SECONDS="0.5") as server:
        cookie = await login(server, "ann")
        silent = await Client.connect(server, cookie)  # never answers the server's ping
        live = await Client.connect(server, cookie)

        async def pong_loop() -> None:
            while True:
                msg = await live.pushes.get()
                if msg.get("push") == "ping":
                    await live.ws.send('{"op": "pong"}')

        ponger = asyncio.create_task(pong_loop())
        try:
            code, _ = await asyncio.wait_for(silent.closed, 5)
            assert code == 4002
            await asyncio.sleep(1.5)  # three more intervals
            assert not live.closed.done()
            assert "ok" in await live.request("presence", channel="group:gardening")
        finally:
            ponger.cancel()
        await live.close()
