"""The WorkQueue interface: durable queues that hand entries to worker processes.

Guarantees (``tests/contract/test_workqueue.py``):

* **Queues and groups.** Entries are appended to a named queue (``persist``, later ``votes``,
  ``moderation``). Each consumer *group* sees every entry of the queue once; within a group each
  entry goes to one consumer. Groups are created on first read and start at the queue's
  beginning, so nothing appended before a worker first ran is skipped.
* **At least once.** An entry read and not acked stays pending on its consumer. ``reclaim`` hands
  entries pending longer than ``min_idle_ms`` to another consumer (a crashed worker's entries),
  with ``deliveries`` counting every hand-out, so a worker can set aside an entry that keeps
  failing. Workers make their writes idempotent; the queue does not dedupe deliveries.
* **Order.** ``read`` returns new entries in append order. Reclaimed entries come back in
  append order among themselves.
* **Idempotent submit.** ``submit`` with an ``idempotency_key`` already used on that queue within
  the dedupe window appends nothing and returns False.
* **Claims** (first come, first kept). ``submit`` with a ``Claim(name, field, value)`` appends
  only when ``field`` of the claims set ``name`` is unheld or already holds ``value``, and then
  holds it — atomically with the append, so of two concurrent submits with different values
  exactly one is appended; the other raises ``Claimed`` and changes nothing (no dedupe key is
  used up). A claims set must have been seeded (``seed_claims``, once, with what was claimed
  before, e.g. votes already stored) before it is used: until then ``submit`` raises
  ``ClaimsNotSeeded`` and appends nothing. Claims share the queue's fate (a Redis restarted
  empty loses both, and they are seeded again), and expire ``claims_ttl`` after their set's last
  use in Redis (a day).

The broker appends publications to the ``persist`` queue itself, atomically with publishing
(``Broker.publish(persist=True)``); ``submit`` is for entries that are not channel publications
(a ballot, a flag), which are private and never fanned out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from linli.types import ChannelName, Epoch, Offset

PERSIST_QUEUE = "persist"
#: A field name no claim may use (it marks a claims set as seeded).
SEEDED_FIELD = ":seeded"


@dataclass(frozen=True, slots=True)
class Claim:
    """Hold ``field`` of the claims set ``name`` (of the queue) for ``value``."""

    name: str
    field: str
    value: str


class Claimed(Exception):
    """``submit`` refused: the claim's field holds another value."""


class ClaimsNotSeeded(Exception):
    """``submit`` refused: the claims set was never seeded (or was lost, or expired)."""


@dataclass(frozen=True, slots=True)
class WorkItem:
    #: The queue's id for this entry, used to ack it (a Redis stream id; a counter in memory).
    id: str
    #: The publication's channel, offset and epoch for entries the broker appended;
    #: empty, 0 and 0 for submitted entries.
    channel: ChannelName
    offset: Offset
    epoch: Epoch
    data: bytes
    #: How many times this entry has been handed out, this time included (1 on first read).
    deliveries: int


class WorkQueue(Protocol):
    async def submit(
        self,
        queue: str,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        claim: Claim | None = None,
    ) -> bool:
        """Append an entry; False (and nothing appended) when the key was already used. With a
        ``claim`` (which needs an ``idempotency_key``): raises ``Claimed`` or
        ``ClaimsNotSeeded`` (and appends nothing), see the module docstring."""

    async def seed_claims(self, queue: str, name: str, claims: dict[str, str]) -> bool:
        """Seed the claims set ``name`` with ``claims`` (field → value) unless it is seeded
        already; True when this call seeded it. Fields held already keep their value."""

    async def read(
        self, queue: str, group: str, consumer: str, *, count: int, block_ms: int
    ) -> list[WorkItem]:
        """Up to ``count`` entries never handed to this group before, waiting up to
        ``block_ms`` for the first one; they stay pending on ``consumer`` until acked."""

    async def ack(self, queue: str, group: str, ids: list[str]) -> None: ...

    def expect_groups(self, queue: str, groups: Collection[str]) -> None:
        """The groups that read ``queue`` in this deployment (every worker of it). An entry is
        dropped once every group has acked it; a group is made at the latest before the first
        drop, so one whose worker has not run yet still gets every entry (else a fresh
        install's indexer, running first, could drop chat the persist worker never stores)."""

    async def reclaim(
        self, queue: str, group: str, consumer: str, *, min_idle_ms: int, count: int
    ) -> list[WorkItem]:
        """Take over up to ``count`` entries pending (on any consumer) for at least
        ``min_idle_ms``; each one's ``deliveries`` grows by one."""

    async def pending(self, queue: str, group: str) -> int:
        """How many entries were handed out to the group and not acked."""

    async def backlog(self, queue: str, group: str) -> int:
        """How many entries the group has not yet read (the lag), 0 when caught up."""
