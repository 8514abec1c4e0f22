"""Redis Broker for the scaled mode: several gateway processes share one Redis.

Publishing is one Lua script (``lua/publish.lua``): dedupe, offset, hot history, work queue and
pub/sub fan-out happen in one atomic step on the server.

Live delivery uses ONE pub/sub connection per broker (per process), ``channels.pubsub_redis``:
it subscribes, reconnects, resubscribes and reports the outage as ``on_reconnect``, and hands
each message to ``_FrameDelivery``, which decodes the frames that ``publish.lua`` publishes:

* ``P<offset> <epoch> <data>`` — a durable publication (data is everything after the second
  space, arbitrary bytes);
* ``E<data>`` — an ephemeral message.

Under Redis Cluster (a ``RedisCluster`` client and ``channels.keys.ClusterKeys``, design 0034)
the same script runs on the master of the channel's slot: every key it touches, the persist
queue's shard included, and its shard channel (SPUBLISH) share that slot. The link is then
``channels.pubsub_cluster``, and a batch of publishes is acknowledged once ``wait_replicas``
replicas of each master it touched have it (WAIT), so a failover keeps what was acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    RedisClusterUnreachableError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
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
from channels.pubsub_cluster import ClusterPubSub
from channels.pubsub_redis import RedisPubSub
from linli.types import ChannelName, Epoch, Offset

log = logging.getLogger(__name__)

T = TypeVar("T")
_Arg = bytes | str | int

#: Errors meaning "Redis cannot be reached right now" (BusyLoadingError is a ConnectionError;
#: under Redis Cluster also a slot without a master during a failover, MasterDownError
#: included, and a cluster no node of which answers).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
    RedisClusterUnreachableError,
)

#: Publishes sent per pipeline, and pipelines on their way at once.
_MAX_BATCH = 256
_MAX_BATCHES_IN_FLIGHT = 4
#: Seconds before a master known to lack replicas is asked again (``_wait_target``).
_DEGRADED_RECHECK = 5.0


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


class RedisBroker:
    def __init__(
        self,
        redis: aioredis.Redis | aioredis.RedisCluster,
        seed: OffsetSeed,
        *,
        prefix: str = DEFAULT_PREFIX,
        keys: Keys | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
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
        so a half-open TCP connection is noticed. ``keys`` (a ``ClusterKeys`` with a
        ``RedisCluster``) overrides ``prefix``; ``wait_replicas`` (cluster only) is how many
        replicas must have a batch, within ``wait_timeout_ms``, before it is acknowledged."""
        self._redis = redis
        self._seed_fn = seed
        self._keys = Keys(prefix) if keys is None else keys
        self._cluster = isinstance(redis, aioredis.RedisCluster)
        self._publish_command = "SPUBLISH" if self._cluster else "PUBLISH"
        self._wait_replicas = wait_replicas if self._cluster else 0
        self._wait_timeout_ms = wait_timeout_ms
        #: Masters with fewer replicas than ``wait_replicas``: (replicas, recheck after).
        self._degraded: dict[str, tuple[int, float]] = {}
        self._history_size = history_size
        self._history_ttl = history_ttl
        self._dedupe_ttl_ms = int(dedupe_ttl * 1000)
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

        #: The pub/sub link: subscriptions, reconnects, the reader.
        self._link: RedisPubSub | ClusterPubSub
        if isinstance(redis, aioredis.RedisCluster):
            self._link = ClusterPubSub(
                redis, subscribe_timeout=subscribe_timeout, ping_interval=ping_interval
            )
        else:
            self._link = RedisPubSub(
                redis, subscribe_timeout=subscribe_timeout, ping_interval=ping_interval
            )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, events: BrokerEvents) -> None:
        """Open the pub/sub link; raises ``BrokerUnavailable`` when Redis cannot be reached
        within ``subscribe_timeout``. Later outages are handled in the background."""
        await self._link.start(_FrameDelivery(events))

    async def close(self) -> None:
        await self._link.close()

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
        script_keys = [keys.meta(channel), keys.history(channel), keys.persist_work(channel)]
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
            self._publish_command,
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
        if self._wait_replicas:
            replies = await self._replicated(batch, replies)
        missing = []
        for item, reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError) and retry_noscript:
                missing.append(item)  # NOSCRIPT fails before the script ran: safe to resend
            elif isinstance(reply, Exception):
                if not item.future.done():
                    # A cluster pipeline reports a node's lost connection per command.
                    item.future.set_exception(_as_broker_error(reply))
            elif not item.future.done():
                item.future.set_result(reply)
        if missing:
            # Redis restarted and lost its scripts.
            await self._redis.script_load(self._publish_text)
            await self._send_batch(missing, retry_noscript=False)

    async def _replicated(self, batch: list[_Eval], replies: list[Any]) -> list[Any]:
        """WAIT on each master the batch wrote to; a publish whose master could not confirm
        ``wait_replicas`` copies in time fails as unavailable: it may or may not survive a
        failover, as after a timeout (a retry with its idempotency key is safe)."""
        redis = self._redis
        assert isinstance(redis, aioredis.RedisCluster)
        nodes: dict[str, Any] = {}
        node_of: list[str | None] = []
        for item, reply in zip(batch, replies, strict=True):
            node = None if isinstance(reply, Exception) else redis.get_node_from_key(item.keys[0])
            if node is None:  # failed, or no master for the slot right now
                node_of.append(None)
                continue
            nodes[node.name] = node
            node_of.append(node.name)
        now = asyncio.get_running_loop().time()
        targets = {name: self._wait_target(name, now) for name in nodes}
        names = [name for name, target in targets.items() if target > 0]
        acks = await asyncio.gather(
            *(
                redis.execute_command(
                    "WAIT", targets[name], self._wait_timeout_ms, target_nodes=nodes[name]
                )
                for name in names
            ),
            return_exceptions=True,
        )
        short = set()
        for name, ack in zip(names, acks, strict=True):
            if isinstance(ack, BaseException):
                short.add(name)
            elif int(ack) < targets[name]:
                attached = await self._replicas_attached(nodes[name])
                if attached < self._wait_replicas:
                    self._degraded[name] = (attached, now + _DEGRADED_RECHECK)
                if int(ack) < min(attached, targets[name]):
                    short.add(name)
        if not short:
            return replies
        return [
            BrokerUnavailable(f"publish not confirmed by {self._wait_replicas} replica(s)")
            if node in short
            else reply
            for node, reply in zip(node_of, replies, strict=True)
        ]

    def _wait_target(self, node_name: str, now: float) -> int:
        """Replicas to WAIT for on a master: ``wait_replicas``, or fewer while the master is
        known to have fewer (``_replicas_attached``), rechecked every ``_DEGRADED_RECHECK``."""
        degraded = self._degraded.get(node_name)
        if degraded is None:
            return self._wait_replicas
        if degraded[1] < now:
            del self._degraded[node_name]
            return self._wait_replicas
        return min(self._wait_replicas, degraded[0])

    async def _replicas_attached(self, node: Any) -> int:
        """Replicas a master has now. After a failover the new master has none until the old
        one comes back as its replica (or an operator adds one): waiting for a replica that is
        not there would refuse every publish of its slots, so the wait is for the replicas
        that exist, and this degraded state is logged (a second failure before a replica is
        back loses what only that master had, as with a single Redis)."""
        try:
            info = await self._redis.execute_command("INFO", "replication", target_nodes=node)
        except UNAVAILABLE_ERRORS:
            return self._wait_replicas
        attached = int(info.get("connected_slaves", 0)) if isinstance(info, dict) else 0
        if attached < self._wait_replicas:
            log.warning(
                "Redis Cluster master %s has %d replica(s), fewer than the %d publishes wait for",
                node.name,
                attached,
                self._wait_replicas,
            )
        return attached

    async def publish_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        await unavailable_as_broker_error(
            self._redis.execute_command(
                self._publish_command, self._keys.pubsub(channel), b"E" + data
            )
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
        await self._link.subscribe(self._keys.pubsub(channel).encode(), channel)

    async def unsubscribe(self, channel: ChannelName) -> None:
        self._link.unsubscribe(self._keys.pubsub(channel).encode())


class _FrameDelivery:
    """Decodes the broker's pub/sub frames (the module docstring) for a ``BrokerEvents``."""

    __slots__ = ("_events",)

    def __init__(self, events: BrokerEvents) -> None:
        self._events = events

    def on_message(self, channel: ChannelName, data: bytes) -> None:
        if not data:
            return
        head = data[0]
        if head == 80:  # "P<offset> <epoch> <data>"
            sp1 = data.find(b" ", 1)
            sp2 = data.find(b" ", sp1 + 1)
            self._events.on_publication(
                Publication(channel, int(data[1:sp1]), int(data[sp1 + 1 : sp2]), data[sp2 + 1 :])
            )
        elif head == 69:  # "E<data>"
            self._events.on_ephemeral(channel, data[1:])

    def on_reconnect(self) -> None:
        self._events.on_reconnect()


def _entry_offset(entry_id: bytes | str) -> Offset:
    raw = entry_id if isinstance(entry_id, bytes) else entry_id.encode()
    return int(raw[: raw.index(b"-")])
