"""Write coalescing on the websockets transport (``gateway/ws_server.DirectConnection``): the
frames pushed to one socket in one event-loop iteration go out in one ``transport.write``, in
order, and a close still comes after them. A real websockets server and client on a loopback
port; the server transport's ``write`` is wrapped to count its calls (and still writes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from channels.access import Principal
from gateway.codes import CloseCode
from gateway.wire import Format
from gateway.ws_server import DirectConnection
from linli.types import ConnId, Role, UserId

PRINCIPAL = Principal(UserId(1), "u", "U", Role.RESIDENT, None)


class Served:
    def __init__(self) -> None:
        self.conn: asyncio.Future[DirectConnection] = asyncio.get_running_loop().create_future()
        self.writes: list[bytes] = []
        self.port = 0


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = Served()

    async def handler(ws: ServerConnection) -> None:
        transport: Any = ws.transport
        real_write = transport.write

        def counting_write(data: bytes) -> None:
            state.writes.append(bytes(data))
            real_write(data)

        transport.write = counting_write
        conn = DirectConnection(
            ws, ConnId("c1"), PRINCIPAL, Format.JSON_UTF8,
            max_queued=1 << 20, now=0.0, session="s",
        )  # fmt: skip
        state.conn.set_result(conn)
        try:
            await ws.wait_closed()
        finally:
            conn.mark_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        state.port = next(iter(server.sockets)).getsockname()[1]
        yield state


async def test_frames_of_one_iteration_go_in_one_write(served: Served) -> None:
    async with connect(f"ws://127.0.0.1:{served.port}", compression=None) as client:
        conn = await served.conn
        for i in range(5):
            conn.push(f'{{"n":{i}}}'.encode())
        received = [await asyncio.wait_for(client.recv(), 5) for _ in range(5)]
        assert received == [f'{{"n":{i}}}' for i in range(5)]
        data_writes = [w for w in served.writes if b'"n"' in w]
        assert len(data_writes) == 1, data_writes
        # Next iteration: a new write.
        conn.push(b'{"n":5}')
        assert await asyncio.wait_for(client.recv(), 5) == '{"n":5}'
        assert len([w for w in served.writes if b'"n"' in w]) == 2


async def test_close_comes_after_the_frames_waiting(served: Served) -> None:
    async with connect(f"ws://127.0.0.1:{served.port}", compression=None) as client:
        conn = await served.conn
        conn.push(b'{"n":1}')
        conn.push(b'{"n":2}')
        conn.close(CloseCode.NORMAL)
        got = [await asyncio.wait_for(client.recv(), 5) for _ in range(2)]
        assert got == ['{"n":1}', '{"n":2}']
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == int(CloseCode.NORMAL)


async def test_slow_close_drops_the_frames_waiting(served: Served) -> None:
    async with connect(f"ws://127.0.0.1:{served.port}", compression=None) as client:
        conn = await served.conn
        conn.push(b'{"n":1}')
        conn.close(CloseCode.SLOW)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == int(CloseCode.SLOW)
        assert not [w for w in served.writes if b'"n"' in w]
