"""The fault proxy itself, against an echo server: it forwards bytes both ways, a blackhole
holds them (and new connections) and then delivers them in order, a cut resets every
connection, a delay delays. The suite's verdicts are only as good as its faults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    fault = await FaultProxy(upstream.sockets[0].getsockname()[1]).start()
    try:
        yield fault
    finally:
        await fault.close()
        upstream.close()
        await upstream.wait_closed()


async def roundtrip(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes
) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(data)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(data)), 10) == data
    return loop.time() - started


async def test_forwards_blackholes_delays_and_cuts(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        assert await roundtrip(writer, reader, b"hello") < 1.0
        big = bytes(range(256)) * 4096  # 1 MiB, in many chunks, in order
        assert await roundtrip(writer, reader, big) < 5.0

        # Blackhole: nothing comes back while it lasts, everything (in order) after.
        hole = asyncio.create_task(proxy.blackhole(0.5))
        await asyncio.sleep(0.05)
        writer.write(b"during")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readexactly(6), 0.3)
        # A new connection is accepted meanwhile, and served once the hole closes.
        late_reader, late_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        late_writer.write(b"late")
        await hole
        assert await asyncio.wait_for(reader.readexactly(6), 5) == b"during"
        assert await asyncio.wait_for(late_reader.readexactly(4), 5) == b"late"
        late_writer.close()

        proxy.delay = 0.2
        assert await roundtrip(writer, reader, b"slow") >= 0.35  # both directions
        proxy.delay = 0.0

        proxy.cut()
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(10), 5) == b""  # EOF or a reset
    finally:
        writer.close()
    # Still accepting after a cut.
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await roundtrip(writer, reader, b"again") < 1.0
    writer.close()
