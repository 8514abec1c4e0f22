"""End to end, issue 24 item 1: a client that stops reading is cut within a stated bound, and
the room's other clients do not notice.

The stalled reader is a raw TCP socket that does the WebSocket handshake by hand, subscribes,
and never reads again, with a small receive buffer so its window closes at once. The server
cannot deliver a close frame through a zero window, so "cut" means the server reset the TCP
connection; the test sees that, without reading, in the socket's own TCP state (Linux
``TCP_INFO``: the state byte goes to CLOSE when a RST arrives).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time

import orjson
import pytest

from tests.e2e.harness import Client, Deployment, Server, login, running, seed

pytestmark = pytest.mark.timeout(90)

#: Linux TCP states (include/net/tcp_states.h).
TCP_CLOSE = 7
TCP_CLOSE_WAIT = 8
#: gateway/ws_server.CLOSE_DEADLINE (a literal, so the test also runs against older code).
CLOSE_DEADLINE = 2.0
#: The send queue of the test server: small, so that a stalled reader overflows it quickly.
SEND_QUEUE_BYTES = 65536
#: The room's traffic: a 3 KB message every 5 ms (600 KB/s), for at most this many messages.
MESSAGE = "鄰" * 1000
RATE_INTERVAL = 0.005
MAX_MESSAGES = 4000


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final client frame (RFC 6455 5.3: a client masks what it sends)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n < 126:
        head += bytes((0x80 | n,))
    else:
        head += bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


async def stalled_reader(server: Server, cookie: str, room: str) -> socket.socket:
    """A socket that is subscribed to ``room`` and from now on reads nothing."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    port = server.ws_port or server.port
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: linli.v1.json\r\nCookie: linli_session={cookie}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    got = b""
    while b"\r\n\r\n" not in got:
        got += await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
    assert got.startswith(b"HTTP/1.1 101"), got
    subscribe = {"id": 1, "op": "subscribe", "channel": room}
    await loop.sock_sendall(sock, masked_frame(orjson.dumps(subscribe)))
    got = got.split(b"\r\n\r\n", 1)[1]
    while b'"ok"' not in got:  # the subscribe reply; then never read again
        got += await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
    return sock


async def test_a_stalled_reader_is_reset_within_the_bound_and_the_room_goes_on(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(
        deployment,
        LINLI_SEND_QUEUE_BYTES=str(SEND_QUEUE_BYTES),
        LINLI_PUBLISH_RATE="100000",
        LINLI_PUBLISH_BURST="100000",
        LINLI_MAX_FRAME_BYTES="16384",
        # A long beat: the cut must come from the close deadline, not from the heartbeat.
        LINLI_HEARTBEAT_SECONDS="60",
    ) as server:
        amy_cookie = await login(server, "amy")
        ann = await Client.connect(server, await login(server, "ann"))
        fast = await Client.connect(server, amy_cookie)
        await fast.ok("subscribe", channel=room)
        stalled = await stalled_reader(server, amy_cookie, room)
        # Wait for the ack of each publish, so the whole room's order is the acks' order.
        acks: list[asyncio.Task[dict[str, object]]] = []
        cut_after: int | None = None
        started = time.monotonic()
        for i in range(MAX_MESSAGES):
            acks.append(
                asyncio.create_task(
                    ann.request("publish", channel=room, text=MESSAGE, client_msg_id=f"m{i}")
                )
            )
            await asyncio.sleep(RATE_INTERVAL)
            if tcp_state(stalled) in (TCP_CLOSE, TCP_CLOSE_WAIT):
                cut_after = i + 1
                break
        elapsed = time.monotonic() - started
        print(f"stalled reader reset after {cut_after} messages, {elapsed:.1f} s")
        state = tcp_state(stalled)
        stalled.close()
        replies = await asyncio.gather(*acks)
        assert all("ok" in r for r in replies), [r for r in replies if "ok" not in r][:3]
        # Cut: reset (a close frame cannot pass the zero window), while the room kept going.
        assert cut_after is not None, f"not cut after {MAX_MESSAGES} messages in {elapsed:.1f} s"
        assert state == TCP_CLOSE
        # The bound, in the room's traffic (its rate on a loaded machine varies): the kernel's
        # send queue (at most tcp_wmem's 4 MiB) and then the process's send queue fill, which
        # is the overflow; the reset follows CLOSE_DEADLINE later (at most 400 messages at this
        # rate). 6 MB in all: 2,000 messages of 3 KB.
        assert cut_after * len(MESSAGE.encode()) <= (4 << 20) + SEND_QUEUE_BYTES + 1_500_000, (
            cut_after
        )
        assert elapsed < 30 + CLOSE_DEADLINE, elapsed
        # The rest of the room got every message, in order, and is still connected.
        got = await fast.pubs(len(replies), timeout=30)
        assert [m["offset"] for m in got] == [r["ok"]["offset"] for r in replies]  # type: ignore[index]
        assert [m["offset"] for m in got] == list(range(1, len(replies) + 1))
        assert not fast.closed.done() and not ann.closed.done()
        assert "ok" in await fast.request("presence", channel=room)
        await ann.close()
        await fast.close()
