"""A lean WebSocket client for the load generator: an ``asyncio.Protocol`` that does the
handshake by hand and parses server frames with a few slices.

Why not the ``websockets`` client: the load generator has one core to receive what the server
sends from one core, so it must spend clearly less per frame than the fastest server does. A
full client library (a task per connection, a frame object per message) costs about as much per
frame as the server it measures and would cap the figures; this costs a callback and a few slices.

It offers ``permessage-deflate`` only when asked (``deflate=True``), and then inflates what the
server compressed; client frames are sent masked with a zero key (allowed by RFC 6455: the key
must be unpredictable to defeat proxy cache poisoning, which does not arise on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import os
import zlib
from collections.abc import Callable
from typing import cast

_TAIL = b"\x00\x00\xff\xff"
_ZERO_MASK = b"\x00\x00\x00\x00"

OnMessage = Callable[["WSConnection", bytes], None]


class HandshakeError(Exception):
    pass


def _header(opcode: int, length: int) -> bytes:
    first = bytes((0x80 | opcode,))
    if length < 126:
        return first + bytes((0x80 | length,)) + _ZERO_MASK
    if length < 65536:
        return first + bytes((0x80 | 126,)) + length.to_bytes(2, "big") + _ZERO_MASK
    return first + bytes((0x80 | 127,)) + length.to_bytes(8, "big") + _ZERO_MASK


class WSConnection(asyncio.Protocol):
    """One client connection. ``on_message(conn, payload)`` is called for every complete text
    or binary message, synchronously from ``data_received``."""

    def __init__(
        self,
        on_message: OnMessage,
        *,
        host: str,
        port: int,
        path: str,
        subprotocol: str | None = None,
        cookie: str | None = None,
        deflate: bool = False,
    ) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.deflated = False
        self._inflater: zlib._Decompress | None = None
        self._rest = b""
        self._fragments: list[bytes] = []
        self._first_b0 = 0
        self._handshaking = True
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int | None] = loop.create_future()
        self.close_code: int | None = None
        #: Free for the scenario: per-connection state (room, counters …).
        self.state: dict[str, object] = {}
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        if cookie:
            lines.append(f"Cookie: {cookie}")
        if deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost in handshake: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data: bytes) -> None:
        # The common case under load: exactly one final, uncompressed text frame shorter than
        # 64 KiB, in one read. Everything else takes the general path below.
        size = len(data)
        if size > 2 and data[0] == 0x81 and not self._rest and not self._handshaking:
            n = data[1]
            if n < 126:
                if n == size - 2:
                    self.on_message(self, data[2:])
                    return
            elif n == 126 and size > 4 and (data[2] << 8 | data[3]) == size - 4:
                self.on_message(self, data[4:])
                return
        if self._rest:
            data = self._rest + data
            self._rest = b""
        if self._handshaking:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._rest = data
                return
            self._handshake_done(data[:end])
            data = data[end + 4 :]
            if not data:
                return
        self._frames(data)

    # -- frames ---------------------------------------------------------------------------------

    def _handshake_done(self, head: bytes) -> None:
        self._handshaking = False
        lines = head.split(b"\r\n")
        if b" 101 " not in lines[0] + b" ":
            self.opened.set_exception(HandshakeError(lines[0].decode("latin-1")))
            if self.transport is not None:
                self.transport.close()
            return
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-extensions" and b"permessage-deflate" in (
                value.lower()
            ):
                self.deflated = True
                self._inflater = zlib.decompressobj(wbits=-15)
        self.opened.set_result(None)

    def _frames(self, data: bytes) -> None:
        pos = 0
        size = len(data)
        on_message = self.on_message
        while size - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            payload = data[start:end]
            pos = end
            opcode = b0 & 0x0F
            if opcode >= 8:
                self._control(opcode, payload)
                continue
            if not b0 & 0x80 or opcode == 0:  # fragmented: collect until FIN
                if opcode != 0:
                    self._first_b0 = b0
                self._fragments.append(payload)
                if not b0 & 0x80:
                    continue
                b0 = self._first_b0 | 0x80
                payload = b"".join(self._fragments)
                self._fragments.clear()
            if b0 & 0x40:
                assert self._inflater is not None
                payload = self._inflater.decompress(payload + _TAIL)
            on_message(self, payload)
        if pos < size:
            self._rest = data[pos:]

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == 9:  # ping
            self._send(0xA, payload)
        elif opcode == 8:  # close
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self._send(0x8, payload[:2])
            if self.transport is not None:
                self.transport.close()

    # -- sending --------------------------------------------------------------------------------

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_header(opcode, len(payload)) + payload)

    def send_text(self, payload: bytes) -> None:
        self._send(0x1, payload)

    def close(self, code: int = 1000) -> None:
        self._send(0x8, code.to_bytes(2, "big"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_connection(
    on_message: OnMessage,
    *,
    port: int,
    path: str,
    host: str = "127.0.0.1",
    subprotocol: str | None = None,
    cookie: str | None = None,
    deflate: bool = False,
    timeout: float = 20.0,
) -> WSConnection:
    loop = asyncio.get_running_loop()

    def factory() -> WSConnection:
        return WSConnection(
            on_message,
            host=host,
            port=port,
            path=path,
            subprotocol=subprotocol,
            cookie=cookie,
            deflate=deflate,
        )

    async def connect() -> WSConnection:
        _, proto = await loop.create_connection(factory, host, port)
        await proto.opened
        return proto

    return await asyncio.wait_for(connect(), timeout)
