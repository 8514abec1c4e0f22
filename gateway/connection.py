"""One client connection as the gateway sees it: who it is, what it subscribed to, and a bounded
send queue drained by a writer task. Transport-agnostic: a queued connection's owner supplies the
coroutine that puts one frame on the wire (the projector streams of polls and meetings); the
WebSocket server's ``DirectConnection`` (``gateway/ws_server.py``) writes each frame at once.

Why a queue per connection rather than awaiting each send: fan-out must never wait on one slow
socket (a phone on a weak signal would hold up the whole room). ``push`` never blocks; a
connection whose queue outgrows its bound is closed with ``CloseCode.SLOW`` and recovers by
reconnecting with ``since`` (the same choice centrifuge and websockets' ``broadcast`` make).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import ClassVar

from channels.access import Principal
from gateway.codes import CLOSE_REASONS, CloseCode
from gateway.wire import Format, Frame
from linli.types import ChannelName, ConnId

log = logging.getLogger(__name__)

#: Seconds a closing connection gets to finish the close handshake before the gateway gives up
#: on it. On the websockets server (``gateway/ws_server.py``) the library's own close timeout
#: starts only once the send buffer has drained, which for a client that stopped reading is never
#: (issue 24): this bound covers the drain too, and ends in a TCP reset that discards the unsent
#: frames in the process and in the kernel's send queue, as docs/protocol.md promises for a slow
#: client ("queued frames are dropped"). Two seconds: a phone that is reading takes well under
#: one to take a 4001 behind a full buffer on a LAN or 4G link, and a stalled socket pins up to
#: ~4 MB of memory for that long.
CLOSE_DEADLINE = 2.0

SendFrame = Callable[[Frame], Awaitable[None]]
SendClose = Callable[[int, str], Awaitable[None]]


class ConnState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Connection:
    __slots__ = (
        "_queue",
        "_queued",
        "_wakeup",
        "bad_frames",
        "close_code",
        "closing_since",
        "conn_id",
        "fmt",
        "last_seen",
        "max_queued",
        "principal",
        "session",
        "state",
        "subscriptions",
    )

    #: This class queues frames for a writer task. A subclass that writes each frame at once
    #: (``gateway/ws_server.DirectConnection``) sets it False and overrides ``push``, ``close``,
    #: ``mark_closed`` and ``queued``: no queue and no event are made for it (~1.6 KB a socket).
    QUEUED: ClassVar[bool] = True

    def __init__(
        self,
        conn_id: ConnId,
        principal: Principal,
        fmt: Format,
        *,
        max_queued: int,
        now: float,
        session: str = "",
    ) -> None:
        self.conn_id = conn_id
        #: The login session (hash of its token) this connection was opened with.
        self.session = session
        self.principal = principal
        self.fmt = fmt
        #: Bound on queued frame sizes (bytes for msgpack, characters for JSON text).
        self.max_queued = max_queued
        self.state = ConnState.OPEN
        self.close_code: CloseCode | None = None
        #: Loop time ``close`` was called; the heartbeat aborts a connection closing for too long.
        self.closing_since = 0.0
        #: Channels this connection is subscribed to (live or recovering).
        self.subscriptions: set[ChannelName] = set()
        #: Loop time of the last frame received; the heartbeat closes connections gone silent.
        self.last_seen = now
        #: Undecodable frames in a row; reset by a good one.
        self.bad_frames = 0
        self._queued = 0
        if self.QUEUED:
            self._queue: deque[Frame] = deque()
            self._wakeup = asyncio.Event()

    def push(self, frame: Frame) -> None:
        """Queue a frame without waiting. The hot path of fan-out: keep it short."""
        if self.state is not ConnState.OPEN:
            return
        self._queue.append(frame)
        self._queued += len(frame)
        if self._queued > self.max_queued:
            self.close(CloseCode.SLOW)
            return
        self._wakeup.set()

    def close(self, code: CloseCode) -> None:
        """Ask the writer to close the socket. Queued frames are dropped for ``SLOW`` (the client
        recovers them on reconnect) and flushed first otherwise."""
        if self.state is not ConnState.OPEN:
            return
        self.state = ConnState.CLOSING
        self.close_code = code
        self.closing_since = asyncio.get_running_loop().time()
        if code is CloseCode.SLOW:
            self._queue.clear()
            self._queued = 0
        self._wakeup.set()

    def abort(self) -> None:
        """Give up on a connection that did not finish closing (its peer stopped reading): drop
        what is queued and end the transport's side without a handshake. The heartbeat calls
        it for a connection still closing a beat after ``close``; a transport with a socket
        overrides it to reset that socket (``gateway/ws_server.DirectConnection``)."""
        self.mark_closed()

    def mark_closed(self) -> None:
        """The socket is gone: stop queueing (nothing can be sent any more)."""
        self.state = ConnState.CLOSED
        self._queue.clear()
        self._queued = 0
        self._wakeup.set()

    @property
    def queued(self) -> int:
        return self._queued

    async def run_writer(self, send_frame: SendFrame, send_close: SendClose) -> None:
        """Drain the queue onto the socket until the connection closes."""
        queue = self._queue
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue and self.state is not ConnState.CLOSED:
                    frame = queue.popleft()
                    self._queued -= len(frame)
                    await send_frame(frame)
                if self.state is ConnState.CLOSED:
                    return
                if self.state is ConnState.CLOSING:
                    code = self.close_code or CloseCode.NORMAL
                    await send_close(int(code), CLOSE_REASONS[code])
                    return
        except Exception as exc:
            # The peer went away mid-send; the receive side sees the disconnect and cleans up.
            log.debug("writer for %s stopped: %r", self.conn_id, exc)
        finally:
            self.state = ConnState.CLOSED
