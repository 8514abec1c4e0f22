"""Redis WorkQueue for the scaled mode: one stream per queue, one consumer group per worker kind.

Stream entries have the fields ``channel``, ``offset``, ``epoch`` and ``data`` when the broker
appended them (``lua/publish.lua``), only ``data`` when submitted (``lua/submit.lua``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from channels.broker_redis import load_script
from channels.keys import DEFAULT_PREFIX, Keys
from channels.workqueue import WorkItem

T = TypeVar("T")

#: Every this many acks of a queue, entries that every group has read and acked are trimmed.
_TRIM_EVERY = 1000


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
        self._submit_script = redis.register_script(load_script("submit.lua"))
        self._reclaim_script = redis.register_script(load_script("reclaim.lua"))
        self._acks_since_trim: dict[str, int] = {}

    async def submit(self, queue: str, data: bytes, *, idempotency_key: str | None = None) -> bool:
        keys = [self._keys.work(queue)]
        if idempotency_key is not None:
            keys.append(self._keys.queue_dedupe(queue, idempotency_key))
        return int(await self._submit_script(keys=keys, args=[data, self._dedupe_ttl_ms])) == 1

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
            await self._trim(stream)
        self._acks_since_trim[queue] = acked

    async def _trim(self, stream: str) -> None:
        """Drop entries every group has read and acked: without it the stream would keep every
        message ever published (XACK does not delete). A group created afterwards starts at the
        oldest entry left."""
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
