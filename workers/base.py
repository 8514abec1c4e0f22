"""The base loop every worker runs: read a batch from its work queue, handle it, ack it; retry a
failing batch with backoff for as long as its target (the database) is down; take over entries a
crashed worker left pending; set aside an entry that fails on its own while the target is up, so
it cannot block the queue forever — without ever dropping a good entry because of an outage.

Delivery is at least once, so ``handle`` must be idempotent (the store's unique constraints make
it so); a worker killed between writing and acking only causes a harmless rewrite.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import socket
import time
from typing import ClassVar

import msgpack

from channels.workqueue import WorkItem, WorkQueue
from linli.metrics import metrics

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

    async def healthy(self) -> bool:
        """Whether what ``handle`` writes to is reachable. When a batch fails and this says yes,
        the entries that fail on their own are poison; when it says no, the failure is an outage
        and everything is retried, however long it lasts."""
        return True

    async def _process(self, items: list[WorkItem]) -> None:
        if not items:
            return
        delay = 0.2
        while True:
            try:
                started = time.perf_counter()
                await self.handle(items)
                self.handled += len(items)
                metrics().batch_seconds.labels(queue=self.queue).observe(
                    time.perf_counter() - started
                )
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s worker: batch of %d failed", self.queue, len(items))
            if await self._healthy():
                await self._split(items)
                break
            # An outage (the database is down): keep the entries, wait, try again. They stay
            # pending, so if this process dies another worker reclaims them.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        await self.work_queue.ack(self.queue, self.group, [item.id for item in items])

    async def _healthy(self) -> bool:
        try:
            return await self.healthy()
        except asyncio.CancelledError:
            raise
        except Exception:
            return False

    async def _split(self, items: list[WorkItem]) -> None:
        """The target is up but the batch fails: handle entries one by one and set aside those
        that fail alone, with all their fields, in ``<queue>.dead`` for an operator to look at."""
        for item in items:
            try:
                await self.handle([item])
                self.handled += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "%s worker: entry %s (%s@%d) set aside in %s.dead: %r",
                    self.queue,
                    item.id,
                    item.channel,
                    item.offset,
                    self.queue,
                    exc,
                )
                await self.work_queue.submit(
                    f"{self.queue}.dead",
                    msgpack.packb(
                        {
                            "id": item.id,
                            "channel": item.channel,
                            "offset": item.offset,
                            "epoch": item.epoch,
                            "data": item.data,
                            "error": repr(exc),
                        }
                    ),
                )
