"""Redis Broker for the scaled mode: several gateway processes share one Redis.

Publishing is one Lua script (``lua/publish.lua``): dedupe, offset, hot history, work queue and
pub/sub fan-out happen in one atomic step on the server.

Live delivery uses ONE pub/sub connection per broker (per process). It is not redis-py's
``PubSub``: that object costs a coroutine chain, a retry wrapper, metrics hooks and a dict per
message (about 55k messages/s at best here), and it reconnects and resubscribes silently
inside ``get_message``, which would hide the outage that ``BrokerEvents.on_reconnect`` must
report. The broker opens its own connection with the client's connection class and settings
(authentication, TLS, HELLO and SELECT stay redis-py's job), then reads the socket's stream
itself: one await per chunk of up to 256 KiB, and each frame parsed in place. Frames:

* ``P<offset> <epoch> <data>`` — a durable publication (data is everything after the second
  space, arbitrary bytes);
* ``E<data>`` — an ephemeral message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from channels.batching import Batcher
from channels.broker import (
    BrokerEvents,
    BrokerUnavailable,
    HistorySlice,
    OffsetSeed,
    Publication,
    PublishResult,
    StreamPosition,
)
from channels.keys import DEFAULT_PREFIX, Keys
from channels.workqueue import PERSIST_QUEUE
from linli.types import ChannelName, Epoch, Offset

log = logging.getLogger(__name__)

T = TypeVar("T")
_Arg = bytes | str | int

#: Errors meaning "Redis cannot be reached right now" (BusyLoadingError is a ConnectionError).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)

_READ_SIZE = 256 * 1024
#: Kernel receive buffer of the pub/sub socket: absorbs bursts of a big room while the event
#: loop is busy, rather than letting Redis's output buffer for us grow towards its pub/sub limit
#: (32 MB by default, then Redis drops the connection). Linux caps it at net.core.rmem_max.
_RCVBUF = 4 * 1024 * 1024
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 2.0
#: Publishes sent per pipeline, and pipelines on their way at once.
_MAX_BATCH = 256
_MAX_BATCHES_IN_FLIGHT = 4
#: SUBSCRIBE commands sent on reconnect carry at most this many channels each.
_RESUBSCRIBE_BATCH = 1000


def load_script(name: str) -> str:
    return files("channels").joinpath("lua", name).read_text(encoding="utf-8")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def unavailable_as_broker_error(op: Awaitable[T]) -> T:
    """Await a Redis operation, turning connection failures into ``BrokerUnavailable``."""
    try:
        return await op
    except UNAVAILABLE_ERRORS as exc:
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc


def _as_broker_error(exc: Exception) -> BaseException:
    if isinstance(exc, UNAVAILABLE_ERRORS):
        error = BrokerUnavailable(str(exc) or type(exc).__name__)
        error.__cause__ = exc
        return error
    return exc


@dataclass(slots=True)
class _Eval:
    """One publish.lua call waiting in a batch."""

    keys: list[str]
    args: list[_Arg]
    future: asyncio.Future[Any]


def _pack(*args: bytes) -> bytes:
    """A RESP command (the pub/sub connection writes its few commands itself)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class RedisBroker:
    def __init__(
        self,
        redis: aioredis.Redis,
        seed: OffsetSeed,
        *,
        prefix: str = DEFAULT_PREFIX,
        history_size: int = 1000,
        history_ttl: int = 7 * 86400,
        dedupe_ttl: int = 600,
        subscribe_timeout: float = 5.0,
        ping_interval: float = 5.0,
    ) -> None:
        """``redis`` is owned by the caller (``decode_responses=False``); its retry policy
        decides how long a command tries before ``BrokerUnavailable`` is raised. The pub/sub
        connection is opened with the same settings. ``ping_interval``: a silent pub/sub link is
        pinged after this many seconds and dropped (then reconnected) after twice as many more,
        so a half-open TCP connection is noticed."""
        self._redis = redis
        self._seed_fn = seed
        self._keys = Keys(prefix)
        self._history_size = history_size
        self._history_ttl = history_ttl
        self._dedupe_ttl_ms = int(dedupe_ttl * 1000)
        self._subscribe_timeout = subscribe_timeout
        self._ping_interval = ping_interval
        self._publish_text = load_script("publish.lua")
        self._publish_sha = hashlib.sha1(self._publish_text.encode()).hexdigest()
        #: Publishes on their way to Redis, coalesced into pipelines (``_send_batch``).
        self._batcher: Batcher[_Eval] = Batcher(
            self._send_batch,
            max_batch=_MAX_BATCH,
            max_in_flight=_MAX_BATCHES_IN_FLIGHT,
            error=_as_broker_error,
        )
        self._seed_script = redis.register_script(load_script("seed.lua"))
        self._seed_locks: dict[ChannelName, asyncio.Lock] = {}
        #: Bumped at every seeding of a channel by this process: a publish that waited on the
        #: seed lock sees the bump and does not seed again.
        self._seed_generation: dict[ChannelName, int] = {}
        #: Last epoch this process saw per channel: a re-seeded counter gets a greater one.
        self._epochs: dict[ChannelName, Epoch] = {}

        self._events: BrokerEvents | None = None
        #: pub/sub channel name -> channel, for every subscribed channel (what the reader
        #: dispatches, and what is resubscribed after a reconnect).
        self._subs: dict[bytes, ChannelName] = {}
        #: Per pub/sub channel, one future per SUBSCRIBE sent on the current link and not yet
        #: confirmed, in order (Redis confirms in order). Result False: the link was lost.
        self._sub_confirms: dict[bytes, deque[asyncio.Future[bool]]] = {}
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

    async def start(self, events: BrokerEvents) -> None:
        """Open the pub/sub link; raises ``BrokerUnavailable`` when Redis cannot be reached
        within ``subscribe_timeout``. Later outages are handled in the background."""
        self._events = events
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="redis-broker-pubsub")
        try:
            await asyncio.wait_for(self._link_up.wait(), self._subscribe_timeout)
        except TimeoutError:
            await self.close()
            raise BrokerUnavailable("cannot open the Redis pub/sub connection") from None

    async def close(self) -> None:
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

    # -- publishing ------------------------------------------------------------------------

    async def publish(
        self,
        channel: ChannelName,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        persist: bool = True,
    ) -> PublishResult:
        """A timeout may leave it unknown whether the publication happened: retrying with the
        same ``idempotency_key`` then returns the first result instead of publishing twice."""
        keys = self._keys
        script_keys = [keys.meta(channel), keys.history(channel), keys.work(PERSIST_QUEUE)]
        if idempotency_key is not None:
            script_keys.append(keys.dedupe(channel, idempotency_key))
        args: list[_Arg] = [
            data,
            b"1" if persist else b"0",
            self._history_size,
            self._history_ttl,
            self._dedupe_ttl_ms,
            keys.pubsub(channel),
            channel,
        ]
        for _ in range(3):
            generation = self._seed_generation.get(channel, 0)
            reply = await self._eval_publish(script_keys, args)
            offset = int(reply[0])
            if offset >= 0:
                epoch = int(reply[1])
                self._epochs[channel] = epoch
                return PublishResult(offset, epoch, reply[2] == 1)
            await self._seed_channel(channel, generation)
        # Only reachable if the counter vanishes again right after every seeding.
        raise BrokerUnavailable(f"could not seed the offset counter of {channel}")

    async def _eval_publish(self, keys: list[str], args: list[_Arg]) -> Any:
        """Run publish.lua, batched: the publishes issued while a batch is on its way go
        together in the next pipeline. Concurrent publishes then share a few connections (200
        at once would otherwise take 200 connections from the caller's pool, whose default
        limit is 100) and a round trip."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batcher.add(_Eval(keys, args, future))
        return await future

    async def _send_batch(self, batch: list[_Eval], retry_noscript: bool = True) -> None:
        if not batch:
            return
        pipe = self._redis.pipeline(transaction=False)
        for item in batch:
            pipe.evalsha(self._publish_sha, len(item.keys), *item.keys, *item.args)
        replies = await pipe.execute(raise_on_error=False)
        missing = []
        for item, reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError) and retry_noscript:
                missing.append(item)  # NOSCRIPT fails before the script ran: safe to resend
            elif isinstance(reply, Exception):
                if not item.future.done():
                    item.future.set_exception(reply)
            elif not item.future.done():
                item.future.set_result(reply)
        if missing:
            # Redis restarted and lost its scripts.
            await self._redis.script_load(self._publish_text)
            await self._send_batch(missing, retry_noscript=False)

    async def publish_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        await unavailable_as_broker_error(
            self._redis.publish(self._keys.pubsub(channel), b"E" + data)
        )

    async def _seed_channel(self, channel: ChannelName, generation: int) -> StreamPosition:
        """Create the channel's counter from ``seed`` unless someone did meanwhile (another
        publish of this process since ``generation``, or another process: the script only sets
        a missing counter). Returns the counter as it is in Redis."""
        lock = self._seed_locks.setdefault(channel, asyncio.Lock())
        try:
            async with lock:
                if self._seed_generation.get(channel, 0) != generation:
                    return await self._read_position(channel) or await self._seed_now(channel)
                return await self._seed_now(channel)
        finally:
            if not lock.locked():
                self._seed_locks.pop(channel, None)

    async def _seed_now(self, channel: ChannelName) -> StreamPosition:
        seed = await self._seed_fn(channel)
        epoch = max(now_ms(), self._epochs.get(channel, 0) + 1)
        reply = await unavailable_as_broker_error(
            self._seed_script(
                keys=[self._keys.meta(channel), self._keys.history(channel)],
                args=[seed, epoch],
            )
        )
        self._seed_generation[channel] = self._seed_generation.get(channel, 0) + 1
        position = StreamPosition(int(reply[0]), int(reply[1]))
        self._epochs[channel] = position.epoch
        return position

    # -- reading ---------------------------------------------------------------------------

    async def _read_position(self, channel: ChannelName) -> StreamPosition | None:
        offset, epoch = await unavailable_as_broker_error(
            self._redis.hmget(self._keys.meta(channel), ["offset", "epoch"])
        )
        if offset is None or epoch is None:
            return None
        position = StreamPosition(int(offset), int(epoch))
        self._epochs[channel] = position.epoch
        return position

    async def position(self, channel: ChannelName) -> StreamPosition:
        generation = self._seed_generation.get(channel, 0)
        position = await self._read_position(channel)
        if position is None:
            position = await self._seed_channel(channel, generation)
        return position

    async def history(
        self,
        channel: ChannelName,
        *,
        after: Offset = 0,
        before: Offset | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> HistorySlice:
        meta, stream = self._keys.meta(channel), self._keys.history(channel)
        # Entry ids are "<offset>-1": the bounds are ids, inclusive.
        start = f"{after + 1}-0"
        end = "+" if before is None else f"{before - 1}-1"
        empty_range = limit <= 0 or (before is not None and before - 1 < after + 1)
        for _ in range(2):
            generation = self._seed_generation.get(channel, 0)
            # One transaction: the top, the range and the first retained entry agree.
            pipe = self._redis.pipeline(transaction=True)
            pipe.hmget(meta, ["offset", "epoch"])
            pipe.xrange(stream, "-", "+", count=1)
            if not empty_range:
                if newest:
                    pipe.xrevrange(stream, end, start, count=limit)
                else:
                    pipe.xrange(stream, start, end, count=limit)
            replies = await unavailable_as_broker_error(pipe.execute())
            (offset, epoch), first_entry = replies[0], replies[1]
            if offset is None or epoch is None:
                await self._seed_channel(channel, generation)
                continue
            position = StreamPosition(int(offset), int(epoch))
            self._epochs[channel] = position.epoch
            first_retained = (
                _entry_offset(first_entry[0][0]) if first_entry else position.offset + 1
            )
            entries = [] if empty_range else replies[2]
            if newest:
                entries = entries[::-1]
            publications = [
                Publication(
                    channel,
                    _entry_offset(entry_id),
                    int(fields.get(b"e", position.epoch)),
                    fields.get(b"d", b""),
                )
                for entry_id, fields in entries
            ]
            return HistorySlice(publications, position, first_retained)
        raise BrokerUnavailable(f"could not seed the offset counter of {channel}")

    # -- live delivery ---------------------------------------------------------------------

    async def subscribe(self, channel: ChannelName) -> None:
        """Returns once Redis confirmed the subscription. Raises ``BrokerUnavailable`` (and
        leaves the channel unsubscribed) when that does not happen within
        ``subscribe_timeout``, e.g. during an outage."""
        key = self._keys.pubsub(channel).encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._subscribe_timeout
        try:
            while True:
                if not self._link_up.is_set():
                    await asyncio.wait_for(self._link_up.wait(), deadline - loop.time())
                confirms = self._sub_confirms.get(key)
                if key in self._subs:
                    if not confirms:
                        return  # subscribed and confirmed on the current link
                    # Subscribed by another caller, confirmation in flight: wait for it too.
                    confirm = confirms[-1]
                else:
                    self._subs[key] = channel
                    confirm = self._send_subscribe(key)
                if await asyncio.wait_for(asyncio.shield(confirm), deadline - loop.time()):
                    return
                # The link dropped first; the reconnect resubscribes: wait for that.
        except TimeoutError:
            self._subs.pop(key, None)
            self._send(b"UNSUBSCRIBE", key)
            raise BrokerUnavailable(f"subscribing to {channel} timed out") from None

    async def unsubscribe(self, channel: ChannelName) -> None:
        key = self._keys.pubsub(channel).encode()
        if self._subs.pop(key, None) is not None:
            # Not awaited: from now on the reader drops the channel's frames anyway.
            self._send(b"UNSUBSCRIBE", key)

    def _send(self, *command: bytes) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        # Synchronous write: commands never interleave, whoever sends them.
        writer.write(_pack(*command))
        return True

    def _send_subscribe(self, key: bytes) -> asyncio.Future[bool]:
        confirm: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._send(b"SUBSCRIBE", key):
            self._sub_confirms.setdefault(key, deque()).append(confirm)
        else:
            confirm.set_result(False)
        return confirm

    def _new_connection(self) -> AbstractConnection:
        pool = self._redis.connection_pool
        kwargs = dict(pool.connection_kwargs)
        # The reconnect loop below owns retrying, with its own backoff.
        kwargs["retry"] = Retry(NoBackoff(), 0)
        kwargs["retry_on_error"] = []
        kwargs.pop("retry_on_timeout", None)
        # Liveness is checked by the broker's PINGs, not by redis-py's health checks.
        kwargs["health_check_interval"] = 0
        conn: AbstractConnection = pool.connection_class(**kwargs)
        return conn

    async def _run(self) -> None:
        """The pub/sub link: connect, (re)subscribe, read; on any failure, reconnect with a
        capped backoff. Never ends until ``close``."""
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
        keys = list(self._subs)
        loop = asyncio.get_running_loop()
        for key in keys:
            self._sub_confirms[key] = deque([loop.create_future()])
        for i in range(0, len(keys), _RESUBSCRIBE_BATCH):
            self._send(b"SUBSCRIBE", *keys[i : i + _RESUBSCRIBE_BATCH])
        if reconnect:
            self._resubscribing = set(keys)
            self._reconnect_pending = True
            if not keys:
                self._notify_reconnect()

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
        buf = b""
        need = 0
        while True:
            chunk = await read(_READ_SIZE)
            if not chunk:
                raise RedisConnectionError("Redis closed the pub/sub connection")
            self._last_rx = loop.time()
            if buf:
                if need > len(buf) + len(chunk):
                    # A frame larger than what arrived so far: collect its chunks and join
                    # them once, not once per chunk.
                    parts = [buf, chunk]
                    have = len(buf) + len(chunk)
                    while have < need:
                        chunk = await read(_READ_SIZE)
                        if not chunk:
                            raise RedisConnectionError("Redis closed the pub/sub connection")
                        parts.append(chunk)
                        have += len(chunk)
                    self._last_rx = loop.time()
                    buf = b"".join(parts)
                else:
                    buf += chunk
            else:
                buf = chunk
            pos, need = self._parse(buf)
            buf = buf[pos:] if pos < len(buf) else b""

    def _parse(self, buf: bytes) -> tuple[int, int]:
        """Handle every complete top-level reply in ``buf``. Returns where the incomplete rest
        starts and, when known, how many bytes from there the next reply needs (else 0)."""
        size = len(buf)
        find = buf.find
        pos = 0
        while pos < size:
            eol = find(b"\r\n", pos)
            if eol < 0:
                return pos, 0
            kind = buf[pos]
            if kind != 42 and kind != 62:  # neither "*" (RESP2 array) nor ">" (RESP3 push)
                if kind == 36:  # "$": a bulk string (RESP3 may answer PING with one)
                    length = int(buf[pos + 1 : eol])
                    end = eol + 2 + (length + 2 if length >= 0 else 0)
                    if end > size:
                        return pos, end - pos
                    pos = end
                    continue
                if kind == 45:  # "-": an error
                    log.warning("Redis pub/sub error: %r", buf[pos + 1 : eol])
                pos = eol + 2  # "+PONG", ":1", "_" ...
                continue
            count = int(buf[pos + 1 : eol])
            p = eol + 2
            # Start and end of each element: flat, for the usual 3 elements of a frame.
            spans: list[int] = []
            for _ in range(count):
                eol = find(b"\r\n", p)
                if eol < 0:
                    return pos, 0
                if buf[p] == 36:  # "$"
                    length = int(buf[p + 1 : eol])
                    start = eol + 2
                    if length < 0:
                        spans += (start, start)
                        p = start
                        continue
                    end = start + length
                    if end + 2 > size:
                        return pos, end + 2 - pos
                    spans += (start, end)
                    p = end + 2
                else:  # ":" integer, "+" simple string: their text
                    spans += (p + 1, eol)
                    p = eol + 2
            pos = p
            if count >= 3:
                self._dispatch(buf, spans)
        return pos, 0

    def _dispatch(self, buf: bytes, spans: list[int]) -> None:
        s0, e0, s1, e1, s2, e2 = spans[0], spans[1], spans[2], spans[3], spans[4], spans[5]
        length = e0 - s0
        if length == 7 and buf.startswith(b"message", s0):
            channel = self._subs.get(buf[s1:e1])
            events = self._events
            if channel is None or events is None or e2 <= s2:
                return  # unsubscribed meanwhile
            head = buf[s2]
            try:
                if head == 80:  # "P<offset> <epoch> <data>"
                    sp1 = buf.find(b" ", s2, e2)
                    sp2 = buf.find(b" ", sp1 + 1, e2)
                    events.on_publication(
                        Publication(
                            channel,
                            int(buf[s2 + 1 : sp1]),
                            int(buf[sp1 + 1 : sp2]),
                            buf[sp2 + 1 : e2],
                        )
                    )
                elif head == 69:  # "E<data>"
                    events.on_ephemeral(channel, buf[s2 + 1 : e2])
            except Exception:
                # A subscriber's bug (or a malformed frame) must not stop delivery.
                log.exception("delivering a frame of %s failed", channel)
        elif length == 9 and buf.startswith(b"subscribe", s0):
            key = buf[s1:e1]
            confirms = self._sub_confirms.get(key)
            if confirms:
                confirm = confirms.popleft()
                if not confirm.done():
                    confirm.set_result(True)
                if not confirms:
                    del self._sub_confirms[key]
            if self._reconnect_pending:
                self._resubscribing.discard(key)
                if not self._resubscribing:
                    self._notify_reconnect()


def _entry_offset(entry_id: bytes | str) -> Offset:
    raw = entry_id if isinstance(entry_id, bytes) else entry_id.encode()
    return int(raw[: raw.index(b"-")])
