"""The WebSocket endpoint served by the ``websockets`` library's own server, beside hypercorn.

Why a second transport: under hypercorn every frame goes through the ASGI ``send`` coroutine
and wsproto, and hypercorn always accepts permessage-deflate when a browser offers it, so each
fan-out frame is compressed once per socket. Here a fan-out frame is written straight into each
socket's transport the way ``websockets.broadcast()`` does it — no task switch, no per-socket
encoding, no compression — and the socket's own write buffer is the bounded send queue: a client
whose buffer outgrows ``send_queue_bytes`` is closed with 4001 (slow). docs/design/0008 has the
measurements and the decision.

On by default (``LINLI_WS_PORT``, ``auto`` = the HTTP port + 1): the pages connect here directly,
or, behind a reverse proxy, to ``/ws`` on their own origin, which the proxy routes here.
Handshake rules are the same as the ASGI endpoint's: Origin, session cookie, subprotocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from channels.access import Principal
from gateway.codes import CLOSE_REASONS, CloseCode
from gateway.connection import CLOSE_DEADLINE, Connection, ConnState
from gateway.gateway import Gateway
from gateway.origin import origin_allowed
from gateway.stats import STATS
from gateway.wire import SUBPROTOCOLS, Format, Frame
from linli.config import Settings, is_secure
from linli.types import ConnId

log = logging.getLogger(__name__)

#: The user and session id for a handshake's Cookie header, or None.
#: (the handshake's Cookie header, whether it came over a secure connection) -> who.
IdentifyCookie = Callable[[str | None, bool], Awaitable[tuple[Principal, str] | None]]


_TEXT = 0x1
_BINARY = 0x2


def server_frame(payload: bytes, opcode: int) -> bytes:
    """One final, unmasked WebSocket frame as a server sends it (RFC 6455 section 5.2).

    Valid as the whole frame because the server negotiates no extension (``compression=None``
    below): every subscriber of a publication gets exactly these bytes."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


# The last frame framed, and its wire bytes. The hub pushes one publication's frame object to
# every subscriber in a row, so this one-entry cache frames it once per message rather than once
# per socket (keeping a reference to the frame means its identity cannot be reused meanwhile).
_last_frame: Frame | None = None
_last_opcode = 0
_last_wire = b""


# Write coalescing. A connection's first frame in an event-loop iteration is kept, and its
# connection listed in ``_dirty``; further frames for it in the same iteration join it; once the
# iteration's callbacks have run, ``_flush_dirty`` writes each connection's frames with one
# ``transport.write`` (one send() system call, where one per frame was the largest cost of a
# fan-out after framing: docs/performance.md, round 2). The Redis reader hands the hub several
# publications per read under load, so a busy room's sockets get several frames per write, and
# a quiet one's frame waits only for the rest of the current iteration.
_dirty: list[DirectConnection] = []
_flush_scheduled = False


def _flush_dirty() -> None:
    global _flush_scheduled
    _flush_scheduled = False
    dirty = _dirty[:]
    _dirty.clear()
    for conn in dirty:
        conn.flush()


class DirectConnection(Connection):
    """Writes its frames into the socket's transport once per event-loop iteration (no queue
    of its own, no writer task); the transport's write buffer is the bound.

    Frames bypass websockets' per-connection ``send_text``: the protocol object keeps no state
    about outgoing data frames beyond fragmentation, which this server never uses, and every
    frame the library writes itself (pong, close) is flushed at once by ``send_data``, so the
    two writers cannot interleave inside a frame. A close flushes the frames waiting first, so
    the close frame still comes after them."""

    __slots__ = ("_closing", "_opcode", "_pending", "_pending_bytes", "_ws")
    QUEUED = False

    def __init__(
        self,
        ws: ServerConnection,
        conn_id: ConnId,
        principal: Principal,
        fmt: Format,
        *,
        max_queued: int,
        now: float,
        session: str,
    ) -> None:
        super().__init__(conn_id, principal, fmt, max_queued=max_queued, now=now, session=session)
        self._ws = ws
        self._opcode = _BINARY if fmt is Format.MSGPACK else _TEXT
        self._closing: asyncio.Task[None] | None = None
        #: Wire frames waiting for this iteration's flush (None: not listed in ``_dirty``).
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0

    def push(self, frame: Frame) -> None:
        if self.state is not ConnState.OPEN:
            return
        ws = self._ws
        if ws.protocol.state is not State.OPEN:
            return
        global _last_frame, _last_opcode, _last_wire, _flush_scheduled
        opcode = self._opcode
        if frame is _last_frame and opcode == _last_opcode:
            wire = _last_wire  # the same publication to the next subscriber: framed already
        else:
            wire = server_frame(frame if isinstance(frame, bytes) else frame.encode(), opcode)
            _last_frame, _last_opcode, _last_wire = frame, opcode, wire
        pending = self._pending
        if pending is None:
            self._pending = [wire]
            self._pending_bytes = len(wire)
            _dirty.append(self)
            if not _flush_scheduled:
                _flush_scheduled = True
                asyncio.get_running_loop().call_soon(_flush_dirty)
            return
        pending.append(wire)
        self._pending_bytes += len(wire)
        if self._pending_bytes + ws.transport.get_write_buffer_size() > self.max_queued:
            self.close(CloseCode.SLOW)

    def flush(self) -> None:
        """Write the frames waiting, in one call."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._pending_bytes = 0
        ws = self._ws
        if ws.protocol.state is not State.OPEN:
            return
        transport = ws.transport
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if self.state is ConnState.OPEN and transport.get_write_buffer_size() > self.max_queued:
            self.close(CloseCode.SLOW)

    def close(self, code: CloseCode) -> None:
        if self.state is not ConnState.OPEN:
            return
        if code is CloseCode.SLOW:
            # Dropped, as a queued connection drops them: the client recovers with ``since``.
            self._pending = None
            self._pending_bytes = 0
        else:
            self.flush()
        self.state = ConnState.CLOSING
        self.close_code = code
        self.closing_since = asyncio.get_running_loop().time()
        self._closing = asyncio.create_task(self._close(code))

    async def _close(self, code: CloseCode) -> None:
        """Send the close frame behind what is already buffered; reset the connection if the
        handshake has not finished within ``CLOSE_DEADLINE`` (the client is not reading)."""
        try:
            async with asyncio.timeout(CLOSE_DEADLINE):
                await self._ws.close(int(code), CLOSE_REASONS[code])
        except TimeoutError:
            log.info(
                "%s did not take its close (%d) in %.0f s: reset",
                self.conn_id,
                code,
                CLOSE_DEADLINE,
            )
            STATS["aborts"] += 1
            self.abort()

    def abort(self) -> None:
        """Reset the TCP connection. Closing a socket with unsent data would leave the kernel
        sending it (an orphan socket probing a zero window for minutes, its send queue still
        held); a zero linger time makes the close a RST that discards it."""
        self._pending = None
        self._pending_bytes = 0
        transport = self._ws.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def mark_closed(self) -> None:
        self.state = ConnState.CLOSED
        self._pending = None
        self._pending_bytes = 0

    @property
    def queued(self) -> int:
        return int(self._ws.transport.get_write_buffer_size()) + self._pending_bytes


#: Headers a handshake must not repeat (RFC 9110 7.2 for Host; one Origin, one Cookie line from
#: a browser over HTTP/1.1, RFC 6454 and RFC 6265 5.4).
_SINGLE_HEADERS = ("Host", "Origin", "Cookie")


def _forwarded(headers: Headers, name: str, hops: int) -> str | None:
    values = [v.strip() for line in headers.get_all(name) for v in line.split(",")]
    return values[-hops] if len(values) >= hops else None


class WebsocketsEndpoint:
    def __init__(
        self, gateway: Callable[[], Gateway], identify: IdentifyCookie, settings: Settings
    ) -> None:
        self._gateway = gateway
        self._identify = identify
        self._settings = settings
        self._identities: dict[ServerConnection, tuple[Principal, str]] = {}

    def _public(self, headers: Headers) -> tuple[str, str | None]:
        """The scheme and host the browser used."""
        scheme, host = "http", headers.get("Host")
        hops = self._settings.trusted_proxy_hops
        if hops > 0:
            # Behind the operator's proxy, which routes the pages' /ws here: the public scheme
            # and host are what the proxy says, as hypercorn's ProxyFixMiddleware reads them for
            # the HTTP side (legacy mode: the value the outermost trusted proxy appended).
            scheme = _forwarded(headers, "X-Forwarded-Proto", hops) or scheme
            host = _forwarded(headers, "X-Forwarded-Host", hops) or host
        return scheme, host

    def _origin_ok(self, headers: Headers) -> bool:
        scheme, host = self._public(headers)
        allowed = list(self._settings.allowed_origins)
        if host:
            # The pages come from the HTTP port; this socket listens on another one.
            hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            allowed += [f"http://{hostname}:{self._settings.port}", f"https://{hostname}"]
        return origin_allowed(headers.get("Origin"), scheme, host, allowed)

    async def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        if any(len(headers.get_all(name)) > 1 for name in _SINGLE_HEADERS):
            # Which Host or Origin would count? Refuse rather than guess (issue 24: a 500).
            return ws.respond(HTTPStatus.BAD_REQUEST, "duplicate Host, Origin or Cookie header\n")
        if not self._origin_ok(request.headers):
            return ws.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        secure = is_secure(self._settings, self._public(headers)[0])
        identity = await self._identify(request.headers.get("Cookie"), secure)
        if identity is None:
            return ws.respond(HTTPStatus.UNAUTHORIZED, "log in first\n")
        self._identities[ws] = identity
        return None

    @staticmethod
    def select_subprotocol(
        ws: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        for name in offered:
            if name in SUBPROTOCOLS:
                return name
        return None

    async def handler(self, ws: ServerConnection) -> None:
        identity = self._identities.pop(ws, None)
        if identity is None:
            return
        principal, session = identity
        fmt = SUBPROTOCOLS.get(ws.subprotocol or "", Format.JSON)
        if fmt is Format.JSON:
            fmt = Format.JSON_UTF8  # same wire bytes, without re-encoding per socket
        gateway = self._gateway()
        conn = DirectConnection(
            ws,
            gateway.new_conn_id(),
            principal,
            fmt,
            max_queued=self._settings.send_queue_bytes,
            now=asyncio.get_running_loop().time(),
            session=session,
        )
        gateway.add_connection(conn)
        try:
            async for message in ws:
                await gateway.handle_frame(conn, message)
        except ConnectionClosed:
            pass
        finally:
            await gateway.close_connection(conn)
            if conn._closing is not None:
                with contextlib.suppress(Exception):
                    await conn._closing

    def forget(self, ws: ServerConnection) -> None:
        self._identities.pop(ws, None)


async def start_server(
    endpoint: WebsocketsEndpoint, settings: Settings, host: str, port: int
) -> Server:
    return await serve(
        endpoint.handler,
        host,
        port,
        process_request=endpoint.process_request,
        select_subprotocol=endpoint.select_subprotocol,
        # Compressing each fan-out frame once per socket costs more CPU than the bytes it
        # saves on a neighbourhood's short messages.
        compression=None,
        max_size=settings.hard_frame_bytes,
        # The gateway runs its own application-level heartbeat (ping/pong ops).
        ping_interval=None,
        close_timeout=2,
        # Above this the socket's buffer is "full": push() closes the client as slow.
        write_limit=settings.send_queue_bytes,
        server_header=None,
        # `linli serve --workers N`: every process listens on this port too, the kernel spreads
        # the connections (hypercorn's port is bound once by the parent instead).
        reuse_port=True,
    )
