"""Redis WorkQueue for the scaled mode: one stream per queue, one consumer group per worker kind.

Stream entries have the fields ``channel``, ``offset``, ``epoch`` and ``data`` when the broker
appended them (``lua/publish.lua``), only ``data`` when submitted (``lua/submit.lua``).

Submits are batched like ``RedisBroker.publish``: the submits issued while a batch is on its way
go together in the next pipeline (one round trip for a burst of votes), and each still gets its
own answer from its own run of the script.
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


def _item(entry_id: bytes | str, fields: dict[bytes, bytes], deliveries: int) -> WorkItem:
    return WorkItem(
        entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
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
        self, redis: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX, dedupe_ttl: int = 600
    ) -> None:
        self._redis = redis
        self._keys = Keys(prefix)
        self._dedupe_ttl_ms = int(dedupe_ttl * 1000)
        self._submit_text = load_script("submit.lua")
        self._submit_sha = hashlib.sha1(self._submit_text.encode()).hexdigest()
        self._seed_script = redis.register_script(load_script("seed_claims.lua"))
        self._reclaim_script = redis.register_script(load_script("reclaim.lua"))
        self._acks_since_trim: dict[str, int] = {}
        #: ``expect_groups``: the groups of each queue, and those known to exist.
        self._expected: dict[str, set[str]] = {}
        self._groups_made: set[tuple[str, str]] = set()
        #: Submits on their way to Redis, coalesced into pipelines (``_send``).
        self._batcher: Batcher[_Submit] = Batcher(
            self._send, max_batch=_MAX_BATCH, max_in_flight=_MAX_BATCHES_IN_FLIGHT
        )

    def _claims_key(self, queue: str, name: str) -> str:
        return f"{self._keys.prefix}claims:{queue}:{name}"

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
        stream = self._keys.work(queue)
        block = block_ms if block_ms > 0 else None
        reply = await self._with_group(
            stream,
            group,
            lambda: self._redis.xreadgroup(
                group, consumer, {stream: ">"}, count=count, block=block
            ),
        )
        return [_item(entry_id, fields, 1) for entry_id, fields in _stream_entries(reply)]

    async def ack(self, queue: str, group: str, ids: list[str]) -> None:
        if not ids:
            return
        stream = self._keys.work(queue)
        await self._redis.xack(stream, group, *ids)
        acked = self._acks_since_trim.get(queue, 0) + len(ids)
        if acked >= _TRIM_EVERY:
            acked = 0
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
        if count <= 0:
            return []
        stream = self._keys.work(queue)
        reply = await self._with_group(
            stream,
            group,
            lambda: self._reclaim_script(keys=[stream], args=[group, consumer, min_idle_ms, count]),
        )
        items = []
        for entry_id, flat_fields, deliveries in reply:
            fields = dict(zip(flat_fields[::2], flat_fields[1::2], strict=True))
            items.append(_item(entry_id, fields, int(deliveries)))
        return items

    async def pending(self, queue: str, group: str) -> int:
        try:
            summary = await self._redis.xpending(self._keys.work(queue), group)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                return 0  # nothing handed out to a group that does not exist
            raise
        return int(summary["pending"])

    async def backlog(self, queue: str, group: str) -> int:
        stream = self._keys.work(queue)
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
