"""The Redis pub/sub link of a ``RedisBroker``: one connection per process for all its channels.

It is not redis-py's ``PubSub``: that object costs a coroutine chain, a retry wrapper, metrics
hooks and a dict per message (about 55k messages/s at best here), and it reconnects and
resubscribes silently inside ``get_message``, which would hide the outage that
``BrokerEvents.on_reconnect`` must report. The link opens its own connection with the client's
connection class and settings (authentication, TLS, HELLO and SELECT stay redis-py's job), writes
its few commands (SUBSCRIBE, UNSUBSCRIBE, PING) itself and reads the socket's stream with a
``channels.resp.PushReader``: one await per chunk of up to 256 KiB.

What it guarantees to its ``PubSubEvents``:

* ``on_message`` for every ``message`` push of a channel subscribed at the time it is read, in
  the order Redis sent them; never for a channel after ``unsubscribe``. An exception it raises is
  logged and delivery goes on.
* ``on_reconnect`` once the link was lost, came back and Redis confirmed every channel
  subscribed at that moment (at once if there is none). What was published in between is lost:
  pub/sub is at most once.
* Sharded (``sharded=True``, Redis Cluster, design 0034): SSUBSCRIBE and SUNSUBSCRIBE on one
  node, ``smessage`` pushes; ``on_trouble`` is called when the node says a channel is no longer
  its own (an ``sunsubscribe`` nobody asked for, a ``MOVED`` error) or the connection is lost, so
  ``channels.pubsub_cluster`` can move channels to their new owner with ``forget``.
* A silent link is pinged after ``ping_interval`` seconds and dropped after three intervals
  without a byte, so a half-open TCP connection is noticed; then it reconnects with a capped
  backoff until ``close``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from channels.broker import BrokerUnavailable
from channels.resp import ErrorReply, PushReader, Reply
from linli.types import ChannelName

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
#: Kernel receive buffer of the pub/sub socket: absorbs bursts of a big room while the event
#: loop is busy, rather than letting Redis's output buffer for us grow towards its pub/sub limit
#: (32 MB by default, then Redis drops the connection). Linux caps it at net.core.rmem_max.
_RCVBUF = 4 * 1024 * 1024
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 2.0
#: SUBSCRIBE commands sent on reconnect carry at most this many channels each.
_RESUBSCRIBE_BATCH = 1000


class PubSubEvents(Protocol):
    """What the link delivers. Called on the event loop; must not block."""

    def on_message(self, channel: ChannelName, data: bytes) -> None:
        """A message published on the pub/sub channel that ``channel`` was subscribed with."""

    def on_reconnect(self) -> None:
        """The link was lost and is back, every subscription confirmed again."""


def _pack(*args: bytes) -> bytes:
    """A RESP command."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class Moved(Exception):
    """The channel was moved to another node's link (``forget``) before it was confirmed."""


class RedisPubSub:
    """Subscriptions by pub/sub channel name (``bytes``), each carrying the ``ChannelName`` that
    ``on_message`` reports for it."""

    def __init__(
        self,
        redis: aioredis.Redis | None,
        *,
        subscribe_timeout: float = 5.0,
        ping_interval: float = 5.0,
        node: tuple[type[AbstractConnection], dict[str, Any]] | None = None,
        sharded: bool = False,
        on_trouble: Callable[[], None] | None = None,
    ) -> None:
        """The connection is opened with ``redis``'s settings, or with ``node``'s (a connection
        class and its keyword arguments: one Redis Cluster node); ``subscribe_timeout`` bounds
        ``start``, each ``subscribe`` and each connection attempt."""
        if redis is not None:
            pool = redis.connection_pool
            node = (pool.connection_class, dict(pool.connection_kwargs))
        if node is None:
            raise ValueError("a client or a node is needed")
        self._node = node
        self._sharded = sharded
        self._on_trouble = on_trouble
        self._sub_verb, self._unsub_verb = (
            (b"SSUBSCRIBE", b"SUNSUBSCRIBE") if sharded else (b"SUBSCRIBE", b"UNSUBSCRIBE")
        )
        self._message_kind = b"smessage" if sharded else b"message"
        self._confirm_kind = b"ssubscribe" if sharded else b"subscribe"
        self._subscribe_timeout = subscribe_timeout
        self._ping_interval = ping_interval
        self._events: PubSubEvents | None = None
        #: pub/sub channel name -> channel, for every subscribed channel (what the reader
        #: delivers, and what is resubscribed after a reconnect).
        self._subs: dict[bytes, ChannelName] = {}
        #: Per pub/sub channel, one future per SUBSCRIBE sent on the current link and not yet
        #: confirmed, in order (Redis confirms in order). Result False: the link was lost; None:
        #: the channel was moved to another link (``forget``).
        self._sub_confirms: dict[bytes, deque[asyncio.Future[bool | None]]] = {}
        #: Channels resubscribed after a reconnect and not yet confirmed; ``on_reconnect`` is
        #: called when it empties.
        self._resubscribing: set[bytes] = set()
        self._reconnect_pending = False
        self._writer: asyncio.StreamWriter | None = None
        self._link_up = asyncio.Event()
        self._last_rx = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, events: PubSubEvents) -> None:
        """Open the link; raises ``BrokerUnavailable`` when Redis cannot be reached within
        ``subscribe_timeout``. Later outages are handled in the background."""
        self._events = events
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="redis-broker-pubsub")
        try:
            await asyncio.wait_for(self._link_up.wait(), self._subscribe_timeout)
        except TimeoutError:
            await self.close()
            raise BrokerUnavailable("cannot open the Redis pub/sub connection") from None

    async def close(self) -> None:
        """Close the link and forget every subscription."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._events = None
        self._subs.clear()

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, name: bytes, channel: ChannelName) -> None:
        """Returns once Redis confirmed the subscription. Raises ``BrokerUnavailable`` (and
        leaves the channel unsubscribed) when that does not happen within
        ``subscribe_timeout``, e.g. during an outage."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._subscribe_timeout
        try:
            while True:
                if not self._link_up.is_set():
                    await asyncio.wait_for(self._link_up.wait(), deadline - loop.time())
                confirms = self._sub_confirms.get(name)
                if name in self._subs:
                    if not confirms:
                        return  # subscribed and confirmed on the current link
                    # Subscribed by another caller, confirmation in flight: wait for it too.
                    confirm = confirms[-1]
                else:
                    self._subs[name] = channel
                    confirm = self._send_subscribe(name)
                confirmed = await asyncio.wait_for(asyncio.shield(confirm), deadline - loop.time())
                if confirmed:
                    return
                if confirmed is None:
                    raise Moved(channel)
                # The link dropped first; the reconnect resubscribes: wait for that.
        except TimeoutError:
            self._subs.pop(name, None)
            self._send(self._unsub_verb, name)
            raise BrokerUnavailable(f"subscribing to {channel} timed out") from None

    def unsubscribe(self, name: bytes) -> None:
        """Not awaited: from now on the link drops the channel's messages anyway."""
        if self._subs.pop(name, None) is not None:
            self._send(self._unsub_verb, name)

    def forget(self, name: bytes) -> None:
        """Drop a channel that another link now carries; a ``subscribe`` waiting for its
        confirmation raises ``Moved``."""
        if self._subs.pop(name, None) is not None:
            self._send(self._unsub_verb, name)
        for confirm in self._sub_confirms.pop(name, ()):
            if not confirm.done():
                confirm.set_result(None)

    @property
    def up(self) -> bool:
        """Connected (subscriptions may still be on their way)."""
        return self._link_up.is_set()

    @property
    def names(self) -> list[bytes]:
        return list(self._subs)

    def _send(self, *command: bytes) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        # Synchronous write: commands never interleave, whoever sends them.
        writer.write(_pack(*command))
        return True

    def _send_subscribe(self, name: bytes) -> asyncio.Future[bool | None]:
        confirm: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        if self._send(self._sub_verb, name):
            self._sub_confirms.setdefault(name, deque()).append(confirm)
        else:
            confirm.set_result(False)
        return confirm

    # -- the connection --------------------------------------------------------------------

    def _new_connection(self) -> AbstractConnection:
        connection_class, kwargs = self._node[0], dict(self._node[1])
        # The reconnect loop below owns retrying, with its own backoff.
        kwargs["retry"] = Retry(NoBackoff(), 0)
        kwargs["retry_on_error"] = []
        kwargs.pop("retry_on_timeout", None)
        # Liveness is checked by the link's PINGs, not by redis-py's health checks.
        kwargs["health_check_interval"] = 0
        conn: AbstractConnection = connection_class(**kwargs)
        return conn

    async def _run(self) -> None:
        """Connect, (re)subscribe, read; on any failure, reconnect with a capped backoff. Never
        ends until ``close``."""
        backoff = _BACKOFF_MIN
        connected_before = False
        while not self._closing:
            conn: AbstractConnection | None = None
            watchdog: asyncio.Task[None] | None = None
            try:
                conn = self._new_connection()
                # Bounded even when the client has no socket timeout: a server that accepts
                # and never answers must not stall the reconnect loop.
                await asyncio.wait_for(
                    conn.connect(),  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    max(self._subscribe_timeout, 1.0),
                )
                reader: asyncio.StreamReader | None = getattr(conn, "_reader", None)
                writer: asyncio.StreamWriter | None = getattr(conn, "_writer", None)
                if reader is None or writer is None:
                    raise RuntimeError("redis-py connection exposes no asyncio stream")
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                    except OSError:
                        pass
                self._writer = writer
                self._last_rx = asyncio.get_running_loop().time()
                self._resubscribe(reconnect=connected_before)
                if connected_before:
                    log.warning("Redis pub/sub connection re-established")
                connected_before = True
                backoff = _BACKOFF_MIN
                self._link_up.set()
                watchdog = asyncio.create_task(self._watchdog(writer))
                await self._read_loop(reader)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._closing:
                    log.warning(
                        "Redis pub/sub connection failed (%s: %s); retrying in %.1fs",
                        type(exc).__name__,
                        exc,
                        backoff,
                    )
            finally:
                self._link_lost()
                self._trouble()
                if watchdog is not None:
                    watchdog.cancel()
                if conn is not None:
                    try:
                        await conn.disconnect(nowait=True)
                    except Exception:
                        pass
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _resubscribe(self, *, reconnect: bool) -> None:
        names = list(self._subs)
        loop = asyncio.get_running_loop()
        for name in names:
            self._sub_confirms[name] = deque([loop.create_future()])
        # One SSUBSCRIBE may only name channels of one slot: one command per channel then.
        batch = 1 if self._sharded else _RESUBSCRIBE_BATCH
        for i in range(0, len(names), batch):
            self._send(self._sub_verb, *names[i : i + batch])
        if reconnect:
            self._resubscribing = set(names)
            self._reconnect_pending = True
            if not names:
                self._notify_reconnect()

    def _trouble(self) -> None:
        if self._on_trouble is not None and not self._closing:
            try:
                self._on_trouble()
            except Exception:
                log.exception("on_trouble failed")

    def _notify_reconnect(self) -> None:
        self._reconnect_pending = False
        events = self._events
        if events is not None:
            try:
                events.on_reconnect()
            except Exception:
                log.exception("on_reconnect failed")

    def _link_lost(self) -> None:
        self._link_up.clear()
        self._writer = None
        self._resubscribing.clear()
        self._reconnect_pending = False
        for confirms in self._sub_confirms.values():
            for confirm in confirms:
                if not confirm.done():
                    confirm.set_result(False)
        self._sub_confirms.clear()

    async def _watchdog(self, writer: asyncio.StreamWriter) -> None:
        """Ping a silent link; drop it when even the ping gets no answer."""
        loop = asyncio.get_running_loop()
        interval = self._ping_interval
        while True:
            await asyncio.sleep(interval)
            silent = loop.time() - self._last_rx
            if silent > 3 * interval:
                log.warning("Redis pub/sub connection silent for %.0fs: dropping it", silent)
                writer.transport.abort()
                return
            if silent > interval:
                writer.write(_pack(b"PING"))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        read = reader.read
        feed = PushReader().feed
        while True:
            chunk = await read(_READ_SIZE)
            if not chunk:
                raise RedisConnectionError("Redis closed the pub/sub connection")
            self._last_rx = loop.time()
            replies = feed(chunk)
            if replies:
                self._handle(replies)

    def _handle(self, replies: list[Reply]) -> None:
        subs = self._subs
        events = self._events
        message_kind = self._message_kind
        for reply in replies:
            if type(reply) is tuple:
                if len(reply) < 3:
                    continue  # RESP2's pong
                kind, name, data = reply[0], reply[1], reply[2]
                if kind == message_kind:
                    # A name that is not bytes (never sent by Redis) just finds nothing.
                    channel = subs.get(name)  # type: ignore[arg-type]
                    if channel is None or events is None or type(data) is not bytes:
                        continue  # unsubscribed meanwhile
                    try:
                        events.on_message(channel, data)
                    except Exception:
                        # A subscriber's bug (or a malformed frame) must not stop delivery.
                        log.exception("delivering a message of %s failed", channel)
                elif kind == self._confirm_kind and type(name) is bytes:
                    self._confirmed(name)
                elif kind == b"sunsubscribe" and name in subs:
                    # Not asked for: the slot moved (a failover, a resharding).
                    self._trouble()
            elif type(reply) is ErrorReply:
                log.warning("Redis pub/sub error: %r", reply.message)
                if reply.message.startswith((b"MOVED", b"ASK", b"CLUSTERDOWN", b"TRYAGAIN")):
                    self._trouble()
            # Anything else ("+PONG" and the like) only shows that the link is alive.

    def _confirmed(self, name: bytes) -> None:
        confirms = self._sub_confirms.get(name)
        if confirms:
            confirm = confirms.popleft()
            if not confirm.done():
                confirm.set_result(True)
            if not confirms:
                del self._sub_confirms[name]
        if self._reconnect_pending:
            self._resubscribing.discard(name)
            if not self._resubscribing:
                self._notify_reconnect()
