"""A small asyncio TCP proxy for network faults between Linli's processes and Redis.

Every accepted connection is forwarded to the upstream address in both directions, and the
proxy can, at any moment:

* ``blackhole(seconds)``: accept new connections and keep reading from both ends, but forward
  nothing until the time is up, then deliver what was held, in order — what a partition that
  heals looks like to TCP (the peers' retransmissions get through in the end; nothing is lost,
  everything is late);
* ``cut()``: close every open connection at once (RST), as a dead link or a restarted server
  looks to its clients;
* ``delay``: hold every chunk that long before forwarding it (a slow link).

It knows nothing about Redis: it moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.delay = 0.0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        # Set while forwarding is allowed; a blackhole clears it for its duration.
        self._open = asyncio.Event()
        self._open.set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def blackhole(self, seconds: float) -> None:
        """Forward nothing for ``seconds`` (connections are still accepted), then resume."""
        self._open.clear()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._open.set()

    def cut(self) -> None:
        """Reset every open connection, both ends."""
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await self._open.wait()  # a blackhole accepts, but does not even connect upstream
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(client_w)  # upstream down (a Redis restart): refuse as it would
            return
        self._writers.update((client_w, up_w))
        pair = (client_w, up_w)
        for reader, writer in ((client_r, up_w), (up_r, client_w)):
            task = asyncio.create_task(self._pipe(reader, writer, pair))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                await self._open.wait()
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side ended: end the other, as a real connection would.
            for end in pair:
                self._writers.discard(end)
                _reset(end)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
