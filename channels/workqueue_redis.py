"""Redis WorkQueue for the scaled mode: one stream per queue, one consumer group per worker kind.

Stream entries have the fields ``channel``, ``offset``, ``epoch`` and ``data`` when the broker
appended them (``lua/publish.lua``), only ``data`` when submitted (``lua/submit.lua``).

Submits are batched like ``RedisBroker.publish``: the submits issued while a batch is on its way
go together in the next pipeline (one round trip for a burst of votes), and each still gets its
own answer from its own run of the script.

Under Redis Cluster (``channels.keys.ClusterKeys``, design 0034) a queue and its markers share a
slot; the persist queue is sharded (one stream per shard, beside its channels' keys), and a
consumer reads every shard. An entry id of a sharded queue is then ``<shard>/<stream id>``:
ids stay opaque to the workers, and ``ack`` knows the stream from the id.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from channels.batching import Batcher
from channels.broker_redis import load_script
from channels.keys import DEFAULT_PREFIX, Keys
from channels.workqueue import SEEDED_FIELD, Claim, Claimed, ClaimsNotSeeded, WorkItem

T = TypeVar("T")

#: Every this many acks of a queue, entries that every group has read and acked are trimmed.
_TRIM_EVERY = 1000
#: Submits per pipeline, and pipelines on their way at once (as ``RedisBroker`` batches).
_MAX_BATCH = 512
_MAX_BATCHES_IN_FLIGHT = 4
#: How often a blocking read of a sharded queue polls its shards (milliseconds): at first, and
#: at most after a run of empty polls.
_SHARD_POLL_MS = 50
_SHARD_POLL_MAX_MS = 1000
#: A claims set lives this long after its last use (a poll open for more than a day without a
#: single vote is seeded again from the stored votes).
CLAIMS_TTL_MS = 86_400_000


@dataclass(slots=True)
class _Submit:
    queue: str
    data: bytes
    dedupe: str | None
    claims: str | None
    claim: Claim | None
    future: asyncio.Future[int]


def _item(entry_id: str, fields: dict[bytes, bytes], deliveries: int) -> WorkItem:
    return WorkItem(
        entry_id,
        fields.get(b"channel", b"").decode(),
        int(fields.get(b"offset", 0)),
        int(fields.get(b"epoch", 0)),
        fields.get(b"data", b""),
        deliveries,
    )


def _stream_id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisWorkQueue:
    """Connection failures surface as redis-py's ``ConnectionError``/``TimeoutError``: workers
    retry their loop. ``read`` with ``block_ms <= 0`` does not block (XREADGROUP's ``BLOCK 0``
    would block forever); a ``block_ms`` longer than the client's socket timeout fails with a
    timeout, so keep it shorter."""

    def __init__(
        self,
        redis: aioredis.Redis | aioredis.RedisCluster,
        *,
        prefix: str = DEFAULT_PREFIX,
        dedupe_ttl: int = 600,
        keys: Keys | None = None,
    ) -> None:
        """``keys`` (a ``ClusterKeys`` under Redis Cluster) overrides ``prefix``."""
        self._redis = redis
        self._keys = Keys(prefix) if keys is None else keys
        self._dedupe_ttl_ms = int(dedupe_ttl * 1000)
        self._submit_text = load_script("submit.lua")
        self._submit_sha = hashlib.sha1(self._submit_text.encode()).hexdigest()
        self._seed_script = redis.register_script(load_script("seed_claims.lua"))
        self._reclaim_script = redis.register_script(load_script("reclaim.lua"))
        self._acks_since_trim: dict[str, int] = {}
        #: ``expect_groups``: the groups of each queue, and those known to exist.
        self._expected: dict[str, set[str]] = {}
        self._groups_made: set[tuple[str, str]] = set()
        #: (first shard stream, group) -> the next empty poll's wait, in ms (``_read_shards``).
        self._poll_ms: dict[tuple[str, str], int] = {}
        #: Submits on their way to Redis, coalesced into pipelines (``_send``).
        self._batcher: Batcher[_Submit] = Batcher(
            self._send, max_batch=_MAX_BATCH, max_in_flight=_MAX_BATCHES_IN_FLIGHT
        )

    def _claims_key(self, queue: str, name: str) -> str:
        return self._keys.claims(queue, name)

    def _streams(self, queue: str) -> list[str]:
        return self._keys.work_streams(queue)

    def _by_stream(self, queue: str, ids: list[str]) -> dict[str, list[str]]:
        """Stream ids per stream, from the ids ``read`` and ``reclaim`` handed out."""
        streams = self._streams(queue)
        if len(streams) == 1:
            return {streams[0]: ids}
        grouped: dict[str, list[str]] = {}
        for item_id in ids:
            shard, _, stream_id = item_id.partition("/")
            grouped.setdefault(streams[int(shard)], []).append(stream_id)
        return grouped

    async def submit(
        self,
        queue: str,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        claim: Claim | None = None,
    ) -> bool:
        dedupe = None
        if idempotency_key is not None:
            dedupe = self._keys.queue_dedupe(queue, idempotency_key)
        if claim is not None and dedupe is None:
            raise ValueError("a claim needs an idempotency key")
        claims = None if claim is None else self._claims_key(queue, claim.name)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._batcher.add(_Submit(queue, data, dedupe, claims, claim, future))
        result = await future
        if result == -1:
            assert claim is not None
            raise Claimed(claim.name, claim.field)
        if result == -2:
            assert claim is not None
            raise ClaimsNotSeeded(claim.name)
        return result == 1

    async def _send(self, batch: list[_Submit]) -> None:
        """One run of submit.lua per queue of the batch, all in one pipeline."""
        by_queue: dict[str, list[_Submit]] = {}
        for item in batch:
            by_queue.setdefault(item.queue, []).append(item)
        calls: list[tuple[list[_Submit], list[str], list[bytes | str | int]]] = []
        for queue, items in by_queue.items():
            keys = [self._keys.work(queue)]
            index: dict[str, int] = {}
            args: list[bytes | str | int] = [self._dedupe_ttl_ms, CLAIMS_TTL_MS]
            for item in items:
                dedupe = claims = 0
                if item.dedupe is not None:
                    dedupe = index.get(item.dedupe, 0)
                    if not dedupe:
                        keys.append(item.dedupe)
                        dedupe = index[item.dedupe] = len(keys)
                if item.claims is not None and item.claim is not None:
                    claims = index.get(item.claims, 0)
                    if not claims:
                        keys.append(item.claims)
                        claims = index[item.claims] = len(keys)
                    args += [item.data, dedupe, claims, item.claim.field, item.claim.value]
                else:
                    args += [item.data, dedupe, 0, "", ""]
            calls.append((items, keys, args))
        for attempt in range(2):
            pipe = self._redis.pipeline(transaction=False)
            for _, keys, args in calls:
                pipe.evalsha(self._submit_sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
            missing = []
            for call, reply in zip(calls, replies, strict=True):
                items = call[0]
                if isinstance(reply, NoScriptError) and attempt == 0:
                    missing.append(call)  # NOSCRIPT fails before the script ran: safe to resend
                    continue
                for i, item in enumerate(items):
                    if item.future.done():
                        continue
                    if isinstance(reply, Exception):
                        item.future.set_exception(reply)
                    else:
                        item.future.set_result(int(reply[i]))
            if not missing:
                return
            # Redis restarted and lost its scripts.
            await self._redis.script_load(self._submit_text)
            calls = missing

    async def seed_claims(self, queue: str, name: str, claims: dict[str, str]) -> bool:
        if SEEDED_FIELD in claims:
            raise ValueError(f"{SEEDED_FIELD!r} is not a claim field")
        args: list[str | int] = [CLAIMS_TTL_MS]
        for field, value in claims.items():
            args += [field, value]
        reply = await self._seed_script(keys=[self._claims_key(queue, name)], args=args)
        return int(reply) == 1

    async def _create_group(self, stream: str, group: str) -> None:
        try:
            # From id 0: a group sees what was appended before its worker first ran.
            await self._redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _with_group(self, stream: str, group: str, op: Callable[[], Awaitable[T]]) -> T:
        """Run ``op``; when the group does not exist (first use, or a Redis that restarted
        empty), create it and run ``op`` again."""
        try:
            return await op()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        await self._create_group(stream, group)
        return await op()

    async def read(
        self, queue: str, group: str, consumer: str, *, count: int, block_ms: int
    ) -> list[WorkItem]:
        streams = self._streams(queue)
        if len(streams) > 1:
            return await self._read_shards(streams, group, consumer, count, block_ms)
        return await self._read_stream(streams[0], group, consumer, count, block_ms, None)

    async def _read_stream(
        self, stream: str, group: str, consumer: str, count: int, block_ms: int, shard: int | None
    ) -> list[WorkItem]:
        block = block_ms if block_ms > 0 else None
        reply = await self._with_group(
            stream,
            group,
            lambda: self._redis.xreadgroup(
                group, consumer, {stream: ">"}, count=count, block=block
            ),
        )
        head = "" if shard is None else f"{shard}/"
        return [
            _item(head + _text(entry_id), fields, 1) for entry_id, fields in _stream_entries(reply)
        ]

    async def _read_shards(
        self, streams: list[str], group: str, consumer: str, count: int, block_ms: int
    ) -> list[WorkItem]:
        """Every shard at once, each for its share of ``count`` (never more than ``count`` in
        all: an entry read is pending until acked), then again the shards that filled their
        share while there is room. One pipeline: the cluster client sends one batch per master
        on one connection each. XREADGROUP cannot block on streams of several slots, so an
        empty read polls until ``block_ms`` has passed, every ``_SHARD_POLL_MS`` at first and
        twice as long after each empty poll up to ``_SHARD_POLL_MAX_MS`` (an idle installation
        then costs one pipeline per master and group a second, not twenty)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_ms / 1000
        key = (streams[0], group)
        while True:
            items: list[WorkItem] = []
            active = list(range(len(streams)))
            while active and len(items) < count:
                active = active[: count - len(items)]
                share = (count - len(items)) // len(active)
                batches = await self._read_pipeline(streams, active, group, consumer, share)
                full = []
                for k, batch in zip(active, batches, strict=True):
                    items += batch
                    if len(batch) == share:
                        full.append(k)
                active = full
            if items:
                self._poll_ms.pop(key, None)
                return items
            remaining = deadline - loop.time()
            if remaining <= 0:
                return items
            interval = self._poll_ms.get(key, _SHARD_POLL_MS)
            self._poll_ms[key] = min(interval * 2, _SHARD_POLL_MAX_MS)
            await asyncio.sleep(min(interval / 1000, remaining))

    async def _read_pipeline(
        self, streams: list[str], shards: list[int], group: str, consumer: str, count: int
    ) -> list[list[WorkItem]]:
        """One non-blocking XREADGROUP per shard, in one pipeline; a shard whose group does not
        exist yet gets it and is read again."""
        for attempt in range(2):
            pipe = self._redis.pipeline(transaction=False)
            for k in shards:
                pipe.xreadgroup(group, consumer, {streams[k]: ">"}, count=count)
            replies = await pipe.execute(raise_on_error=False)
            missing = [
                streams[k]
                for k, reply in zip(shards, replies, strict=True)
                if isinstance(reply, ResponseError) and "NOGROUP" in str(reply)
            ]
            if not missing or attempt:
                break
            for stream in missing:
                await self._create_group(stream, group)
        out: list[list[WorkItem]] = []
        for k, reply in zip(shards, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            out.append(
                [
                    _item(f"{k}/{_text(entry_id)}", fields, 1)
                    for entry_id, fields in _stream_entries(reply)
                ]
            )
        return out

    async def ack(self, queue: str, group: str, ids: list[str]) -> None:
        if not ids:
            return
        by_stream = self._by_stream(queue, ids)
        for stream, stream_ids in by_stream.items():
            await self._redis.xack(stream, group, *stream_ids)
        acked = self._acks_since_trim.get(queue, 0) + len(ids)
        if acked >= _TRIM_EVERY:
            acked = 0
            for stream in self._streams(queue):
                await self._trim(stream, queue)
        self._acks_since_trim[queue] = acked

    def expect_groups(self, queue: str, groups: Collection[str]) -> None:
        self._expected.setdefault(queue, set()).update(groups)

    async def _trim(self, stream: str, queue: str) -> None:
        """Drop entries every group has read and acked: without it the stream would keep every
        message ever published (XACK does not delete). The expected groups are made first (from
        id 0), so none of them misses an entry; a group nobody expected, created afterwards,
        starts at the oldest entry left."""
        for group in sorted(self._expected.get(queue, ())):
            if (stream, group) not in self._groups_made:
                await self._create_group(stream, group)
                self._groups_made.add((stream, group))
        groups = await self._redis.xinfo_groups(stream)
        if not groups:
            return
        low: tuple[int, int] | None = None
        for info in groups:
            name = info["name"]
            if int(info["pending"]) > 0:
                summary = await self._redis.xpending(stream, name)
                needed = _stream_id(summary["min"])
            else:
                ms, seq = _stream_id(info["last-delivered-id"])
                needed = (ms, seq + 1)
            low = needed if low is None or needed < low else low
        if low is not None and low > (0, 0):
            # Approximate ("~"): Redis drops whole macro nodes only, cheaply; it never removes
            # an entry at or above the bound.
            await self._redis.xtrim(stream, minid=f"{low[0]}-{low[1]}", approximate=True)

    async def reclaim(
        self, queue: str, group: str, consumer: str, *, min_idle_ms: int, count: int
    ) -> list[WorkItem]:
        streams = self._streams(queue)
        items: list[WorkItem] = []
        for k, stream in enumerate(streams):
            if len(items) >= count:
                break
            want = count - len(items)
            reply = await self._with_group(
                stream,
                group,
                lambda: self._reclaim_script(
                    keys=[stream],  # noqa: B023  # awaited within this iteration
                    args=[group, consumer, min_idle_ms, want],  # noqa: B023
                ),
            )
            head = "" if len(streams) == 1 else f"{k}/"
            for entry_id, flat_fields, deliveries in reply:
                fields = dict(zip(flat_fields[::2], flat_fields[1::2], strict=True))
                items.append(_item(head + _text(entry_id), fields, int(deliveries)))
        return items

    async def pending(self, queue: str, group: str) -> int:
        total = 0
        for stream in self._streams(queue):
            try:
                summary = await self._redis.xpending(stream, group)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    continue  # nothing handed out to a group that does not exist
                raise
            total += int(summary["pending"])
        return total

    async def backlog(self, queue: str, group: str) -> int:
        return sum([await self._stream_backlog(s, group) for s in self._streams(queue)])

    async def _stream_backlog(self, stream: str, group: str) -> int:
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError as exc:
            if "no such key" in str(exc).lower():
                return 0
            raise
        for info in groups:
            name = info["name"]
            if (name.decode() if isinstance(name, bytes) else name) != group:
                continue
            lag = info.get("lag")
            if lag is not None:
                return int(lag)
            # Redis reports no lag when entries were deleted in the group's unread range
            # (XDEL, trimming): count what follows the group's last delivered id.
            last = _stream_id(info["last-delivered-id"])
            start = f"{last[0]}-{last[1] + 1}"
            total = 0
            while True:
                ids: list[Any] = [
                    entry[0]
                    for entry in await self._redis.xrange(stream, start, "+", count=1000) or []
                ]
                total += len(ids)
                if len(ids) < 1000:
                    return total
                ms, seq = _stream_id(ids[-1])
                start = f"{ms}-{seq + 1}"
        # No such group yet: it will start at the beginning, so everything is unread.
        return int(await self._redis.xlen(stream))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of a one-stream XREADGROUP reply: ``[[stream, entries]]`` under RESP2,
    ``{stream: [entries]}`` under RESP3 (redis-py 8 parses both so)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        value = next(iter(reply.values()))
        if value and isinstance(value[0], list):
            value = value[0]
        return list(value)
    return list(reply[0][1])
