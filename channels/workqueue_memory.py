"""In-process WorkQueue for the embedded mode (one process, no Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from channels.workqueue import Claim, Claimed, ClaimsNotSeeded, WorkItem
from linli.types import ChannelName, Epoch, Offset

#: Dropping consumed entries is batched: the list is compacted once this many can go.
_COMPACT_BATCH = 1024


@dataclass(slots=True)
class _Entry:
    id: int
    channel: ChannelName
    offset: Offset
    epoch: Epoch
    data: bytes


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float
    deliveries: int


@dataclass(slots=True)
class _Group:
    #: Id of the last entry handed out to the group (0: none yet).
    last_id: int
    #: Entries handed out and not acked, in id order (dicts keep insertion order, entries are
    #: inserted in increasing id order, and updating a value does not move it).
    pending: dict[int, _Pending] = field(default_factory=dict)


@dataclass(slots=True)
class _Queue:
    #: Retained entries in id order; ids are dense, so entry ``i`` sits at ``i - first_id``.
    entries: list[_Entry] = field(default_factory=list)
    first_id: int = 1
    next_id: int = 1
    groups: dict[str, _Group] = field(default_factory=dict)
    #: idempotency key -> expiry (clock seconds), in insertion order = expiry order.
    dedupe: dict[str, float] = field(default_factory=dict)
    #: Readers blocked in ``read``, woken by the next append.
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    #: Seeded claims sets: name -> field -> value (they live as long as the entries: the process).
    claims: dict[str, dict[str, str]] = field(default_factory=dict)


class MemoryWorkQueue:
    """Queues held in this process. Entries acked by every existing group are dropped (memory
    must not grow with every message ever sent); a group created later therefore starts at the
    oldest entry still held rather than at the very first one."""

    def __init__(
        self, *, dedupe_ttl: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._dedupe_ttl = dedupe_ttl
        self._clock = clock
        self._queues: dict[str, _Queue] = {}

    def _queue(self, queue: str) -> _Queue:
        q = self._queues.get(queue)
        if q is None:
            q = self._queues[queue] = _Queue()
        return q

    def append_nowait(
        self,
        queue: str,
        data: bytes,
        channel: ChannelName = "",
        offset: Offset = 0,
        epoch: Epoch = 0,
    ) -> str:
        """Append an entry synchronously (no await), so ``MemoryBroker.publish`` can do it in
        the same step as assigning the offset. Returns the entry's id."""
        q = self._queue(queue)
        entry_id = q.next_id
        q.next_id += 1
        q.entries.append(_Entry(entry_id, channel, offset, epoch, data))
        if q.waiters:
            for waiter in q.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            q.waiters.clear()
        return str(entry_id)

    async def submit(
        self,
        queue: str,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        claim: Claim | None = None,
    ) -> bool:
        """No await before the append: a submit is atomic, and needs no batching."""
        q = self._queue(queue)
        held: dict[str, str] | None = None
        if claim is not None:
            if idempotency_key is None:
                raise ValueError("a claim needs an idempotency key")
            held = q.claims.get(claim.name)
            if held is None:
                raise ClaimsNotSeeded(claim.name)
            if held.get(claim.field, claim.value) != claim.value:
                raise Claimed(claim.name, claim.field)
        if idempotency_key is not None:
            now = self._clock()
            dedupe = q.dedupe
            # Same TTL for every key: insertion order is expiry order, expired keys are first.
            while dedupe:
                oldest_key, expires = next(iter(dedupe.items()))
                if expires > now:
                    break
                del dedupe[oldest_key]
            if idempotency_key in dedupe:
                return False
            dedupe[idempotency_key] = now + self._dedupe_ttl
        if held is not None and claim is not None:
            held[claim.field] = claim.value
        self.append_nowait(queue, data)
        return True

    async def seed_claims(self, queue: str, name: str, claims: dict[str, str]) -> bool:
        q = self._queue(queue)
        if name in q.claims:
            return False
        q.claims[name] = dict(claims)
        return True

    def expect_groups(self, queue: str, groups: Collection[str]) -> None:
        q = self._queue(queue)
        for group in groups:
            self._group(q, group)

    def _group(self, q: _Queue, group: str) -> _Group:
        g = q.groups.get(group)
        if g is None:
            # Start at the beginning of what the queue still holds.
            g = q.groups[group] = _Group(last_id=q.first_id - 1)
        return g

    def _take_new(self, q: _Queue, g: _Group, consumer: str, count: int) -> list[WorkItem]:
        start = g.last_id + 1 - q.first_id
        batch = q.entries[start : start + count]
        if not batch:
            return []
        now = self._clock()
        for entry in batch:
            g.pending[entry.id] = _Pending(consumer, now, 1)
        g.last_id = batch[-1].id
        return [WorkItem(str(e.id), e.channel, e.offset, e.epoch, e.data, 1) for e in batch]

    async def read(
        self, queue: str, group: str, consumer: str, *, count: int, block_ms: int
    ) -> list[WorkItem]:
        """``block_ms <= 0`` does not wait (unlike XREADGROUP's BLOCK 0, which waits forever;
        both backends behave alike)."""
        q = self._queue(queue)
        g = self._group(q, group)
        items = self._take_new(q, g, consumer, count)
        if items or block_ms <= 0:
            return items
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_ms / 1000
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            waiter: asyncio.Future[None] = loop.create_future()
            q.waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return []
            finally:
                if waiter in q.waiters:
                    q.waiters.remove(waiter)
            # Another consumer of the group may have taken the entry first: wait again.
            items = self._take_new(q, g, consumer, count)
            if items:
                return items

    async def ack(self, queue: str, group: str, ids: list[str]) -> None:
        q = self._queues.get(queue)
        g = q.groups.get(group) if q is not None else None
        if q is None or g is None:
            return
        for entry_id in ids:
            g.pending.pop(int(entry_id), None)
        self._compact(q)

    def _compact(self, q: _Queue) -> None:
        # The lowest id some group may still need: its oldest pending entry, or the one after
        # its last read.
        low = min(
            (next(iter(g.pending)) if g.pending else g.last_id + 1) for g in q.groups.values()
        )
        drop = low - q.first_id
        if drop >= _COMPACT_BATCH:
            del q.entries[:drop]
            q.first_id = low

    async def reclaim(
        self, queue: str, group: str, consumer: str, *, min_idle_ms: int, count: int
    ) -> list[WorkItem]:
        q = self._queue(queue)
        g = self._group(q, group)
        now = self._clock()
        oldest_allowed = now - min_idle_ms / 1000
        items: list[WorkItem] = []
        for entry_id, p in g.pending.items():
            if len(items) >= count:
                break
            if p.delivered_at > oldest_allowed:
                continue
            p.consumer = consumer
            p.delivered_at = now
            p.deliveries += 1
            e = q.entries[entry_id - q.first_id]
            items.append(WorkItem(str(e.id), e.channel, e.offset, e.epoch, e.data, p.deliveries))
        return items

    async def pending(self, queue: str, group: str) -> int:
        q = self._queues.get(queue)
        g = q.groups.get(group) if q is not None else None
        return len(g.pending) if g is not None else 0

    async def backlog(self, queue: str, group: str) -> int:
        q = self._queues.get(queue)
        if q is None:
            return 0
        g = q.groups.get(group)
        last_read = g.last_id if g is not None else q.first_id - 1
        return q.next_id - 1 - last_read
