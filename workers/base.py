"""The base loop every worker runs: read a batch from its work queue, handle it, ack it; retry a
failing batch with backoff; take over entries a crashed worker left pending; set aside an entry
that keeps failing so it cannot block the queue forever.

Delivery is at least once, so ``handle`` must be idempotent (the store's unique constraints make
it so); a worker killed between writing and acking only causes a harmless rewrite.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import socket
from typing import ClassVar

from channels.workqueue import WorkItem, WorkQueue

log = logging.getLogger(__name__)


class Worker(abc.ABC):
    #: The queue this worker consumes and its consumer group (one group per kind of worker).
    queue: ClassVar[str]
    group: ClassVar[str]
    batch_size: ClassVar[int] = 500
    block_ms: ClassVar[int] = 1000
    #: An entry pending this long on some consumer is presumed orphaned by a crash. Long enough
    #: that a healthy worker on a big batch is never robbed (a 500-row batch takes milliseconds).
    reclaim_idle_ms: ClassVar[int] = 15_000
    #: Deliveries after which an entry is moved to ``<queue>.dead`` instead of retried again.
    max_deliveries: ClassVar[int] = 5
    #: In-process retries of a failing batch before leaving it to ``reclaim``.
    retries: ClassVar[int] = 3

    def __init__(self, work_queue: WorkQueue, *, consumer: str | None = None) -> None:
        self.work_queue = work_queue
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.handled = 0

    @abc.abstractmethod
    async def handle(self, items: list[WorkItem]) -> None:
        """Do the work for a batch, idempotently. Raise to have the batch retried."""

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        while not stop.is_set():
            try:
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self.reclaim_idle_ms / 2000
                    await self._process(
                        await self.work_queue.reclaim(
                            self.queue,
                            self.group,
                            self.consumer,
                            min_idle_ms=self.reclaim_idle_ms,
                            count=self.batch_size,
                        )
                    )
                items = await self.work_queue.read(
                    self.queue,
                    self.group,
                    self.consumer,
                    count=self.batch_size,
                    block_ms=self.block_ms,
                )
                await self._process(items)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s worker: reading the queue failed; retrying", self.queue)
                await asyncio.sleep(1.0)

    async def run_until_idle(self) -> None:
        """Handle everything the queue holds now, then return (tests, graceful shutdown)."""
        while True:
            items = await self.work_queue.read(
                self.queue, self.group, self.consumer, count=self.batch_size, block_ms=1
            )
            if not items:
                return
            await self._process(items)

    async def _process(self, items: list[WorkItem]) -> None:
        if not items:
            return
        poison = [item for item in items if item.deliveries > self.max_deliveries]
        for item in poison:
            log.error(
                "%s worker: entry %s failed %d times; moved to %s.dead",
                self.queue,
                item.id,
                item.deliveries - 1,
                self.queue,
            )
            await self.work_queue.submit(f"{self.queue}.dead", item.data)
        batch = [item for item in items if item.deliveries <= self.max_deliveries]
        delay = 0.2
        for attempt in range(1, self.retries + 1):
            try:
                if batch:
                    await self.handle(batch)
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "%s worker: batch of %d failed (attempt %d)", self.queue, len(batch), attempt
                )
                if attempt == self.retries:
                    # Leave the batch pending: reclaim hands it out again later, counting
                    # deliveries, until it succeeds or is set aside as poison.
                    await self.work_queue.ack(self.queue, self.group, [i.id for i in poison])
                    return
                await asyncio.sleep(delay)
                delay *= 2
        await self.work_queue.ack(self.queue, self.group, [item.id for item in items])
        self.handled += len(batch)
