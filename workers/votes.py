"""The votes worker: records ballots from the ``votes`` queue, publishes coalesced tallies, and
closes polls whose closing time has come (so a scheduled close happens with no page open).

Exactness comes from the store, not from this process: ballots are written idempotently (one row
per voter key, the newest ballot wins), and every tally is a fresh count of the stored votes. A
worker killed at any point loses nothing (unacked ballots are reclaimed and written again, which
changes nothing the second time) and doubles nothing.

Coalescing: a poll whose votes changed gets a tally at most ``rate`` times a second. The first
change after a quiet spell is published at once; changes within the interval schedule one
publication at its end, which counts whatever is stored by then, so the last tally after a burst
always goes out and equals the stored votes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import ClassVar

from channels.broker import Broker
from channels.workqueue import WorkItem, WorkQueue
from gateway.polls.events import VOTES_QUEUE, decode_ballot, publish_tally
from persistence.polls import PollStore
from workers.base import Worker

log = logging.getLogger(__name__)


class TallyPublisher:
    """At most ``rate`` tally publications per second per poll; the last change always counted."""

    def __init__(self, broker: Broker, store: PollStore, rate: float) -> None:
        self.broker = broker
        self.store = store
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._last: dict[int, float] = {}
        self._scheduled: dict[int, asyncio.Task[None]] = {}
        self.published = 0

    def touch(self, poll_id: int) -> None:
        if poll_id in self._scheduled:
            return  # that publication has not counted yet, so it will include this change
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last.get(poll_id, -math.inf) + self.interval - loop.time())
        self._scheduled[poll_id] = asyncio.create_task(self._publish(poll_id, delay))

    async def _publish(self, poll_id: int, delay: float) -> None:
        loop = asyncio.get_running_loop()
        if delay:
            await asyncio.sleep(delay)
        # From here on a new change schedules another publication: this one may count too early.
        del self._scheduled[poll_id]
        self._last[poll_id] = loop.time()
        try:
            await publish_tally(self.broker, self.store, poll_id)
            self.published += 1
        except Exception:
            log.warning("tally of poll %d not published; retrying", poll_id, exc_info=True)
            await asyncio.sleep(max(self.interval, 0.5))
            self.touch(poll_id)

    async def flush(self) -> None:
        """Wait for the publications already scheduled (a graceful shutdown; each waits at most
        one interval)."""
        tasks = list(self._scheduled.values())
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        tasks = list(self._scheduled.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class VotesWorker(Worker):
    queue: ClassVar[str] = VOTES_QUEUE
    group: ClassVar[str] = "votes"
    #: Ballots are small (a batch of 500 is written in well under a second), and at a meeting a
    #: crashed worker's ballots should count within seconds, not the persist worker's 15.
    reclaim_idle_ms: ClassVar[int] = 5_000
    #: How soon a failed read of the open polls (the database is down) is tried again.
    retry_seconds: ClassVar[float] = 0.5

    def __init__(
        self,
        work_queue: WorkQueue,
        store: PollStore,
        broker: Broker,
        *,
        tally_rate: float = 10.0,
        consumer: str | None = None,
    ) -> None:
        super().__init__(work_queue, consumer=consumer)
        self.store = store
        self.tallies = TallyPublisher(broker, store, tally_rate)

    async def healthy(self) -> bool:
        await self.store.get_poll(0)  # any cheap query: raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        ballots = [decode_ballot(item.data) for item in items]
        await self.store.record_ballots(ballots)
        # Every poll of the batch, changed or not: a redelivered batch (after a crash between
        # writing and publishing) must still bring the screens up to date.
        for poll_id in {ballot.poll_id for ballot in ballots}:
            self.tallies.touch(poll_id)

    async def run_until_idle(self) -> None:
        await super().run_until_idle()
        await self.tallies.flush()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        refresh = asyncio.create_task(self._refresh_open(stop), name="votes-refresh")
        try:
            await super().run(stop)
        finally:
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh
            await self.tallies.close()

    async def _refresh_open(self, stop: asyncio.Event) -> None:
        """On start, bring every open poll's screens up to date once: a previous worker may
        have died between recording ballots and publishing their tally. (Scheduled closes are
        timer jobs, ``web/polls/actions.py``.)"""
        while not stop.is_set():
            try:
                for poll_id in await self.store.open_poll_ids():
                    self.tallies.touch(poll_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reading the open polls failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)
