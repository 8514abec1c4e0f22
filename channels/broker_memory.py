"""In-process Broker for the embedded mode: one process, no Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from channels.broker import (
    BrokerEvents,
    HistorySlice,
    OffsetSeed,
    Publication,
    PublishResult,
    StreamPosition,
)
from channels.workqueue import PERSIST_QUEUE
from channels.workqueue_memory import MemoryWorkQueue
from linli.types import ChannelName, Epoch, Offset

log = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Channel:
    offset: Offset
    epoch: Epoch
    history: deque[Publication]
    #: idempotency key -> (result, expiry on the monotonic clock), in insertion order, which is
    #: also expiry order (one TTL for all).
    dedupe: dict[str, tuple[PublishResult, float]] = field(default_factory=dict)


class MemoryBroker:
    """Everything happens synchronously inside ``publish`` once the channel exists: assigning
    the offset, appending to history and to the work queue, and calling the subscribers'
    ``on_publication``, so offset order and atomicity hold without locks."""

    def __init__(
        self,
        seed: OffsetSeed,
        *,
        history_size: int = 1000,
        dedupe_ttl: float = 600.0,
        work_queue: MemoryWorkQueue | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seed = seed
        self._history_size = history_size
        self._dedupe_ttl = dedupe_ttl
        self._clock = clock
        self.work_queue: MemoryWorkQueue = (
            work_queue
            if work_queue is not None
            else (MemoryWorkQueue(dedupe_ttl=dedupe_ttl, clock=clock))
        )
        self._channels: dict[ChannelName, _Channel] = {}
        self._seed_locks: dict[ChannelName, asyncio.Lock] = {}
        self._subscribed: set[ChannelName] = set()
        self._events: BrokerEvents | None = None
        #: Epochs handed out per channel, kept when a channel is dropped so a later epoch of it is
        #: always greater even if the wall clock stepped back.
        self._last_epoch: dict[ChannelName, Epoch] = {}

    async def start(self, events: BrokerEvents) -> None:
        self._events = events

    async def close(self) -> None:
        self._events = None
        self._subscribed.clear()

    async def _channel(self, channel: ChannelName) -> _Channel:
        state = self._channels.get(channel)
        if state is not None:
            return state
        lock = self._seed_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            state = self._channels.get(channel)
            if state is None:
                seed = await self._seed(channel)
                epoch = max(now_ms(), self._last_epoch.get(channel, 0) + 1)
                self._last_epoch[channel] = epoch
                state = _Channel(seed, epoch, deque(maxlen=self._history_size))
                self._channels[channel] = state
        if not lock.locked():
            self._seed_locks.pop(channel, None)
        return state

    async def publish(
        self,
        channel: ChannelName,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        persist: bool = True,
    ) -> PublishResult:
        state = await self._channel(channel)
        # From here to the return there is no await: nothing can interleave.
        if idempotency_key is not None:
            now = self._clock()
            dedupe = state.dedupe
            while dedupe:
                oldest_key, (_, expires) = next(iter(dedupe.items()))
                if expires > now:
                    break
                del dedupe[oldest_key]
            previous = dedupe.get(idempotency_key)
            if previous is not None:
                return PublishResult(previous[0].offset, previous[0].epoch, True)
        state.offset += 1
        publication = Publication(channel, state.offset, state.epoch, data)
        state.history.append(publication)
        if persist:
            self.work_queue.append_nowait(
                PERSIST_QUEUE, data, channel, publication.offset, publication.epoch
            )
        result = PublishResult(publication.offset, publication.epoch, False)
        if idempotency_key is not None:
            state.dedupe[idempotency_key] = (result, now + self._dedupe_ttl)
        events = self._events
        if events is not None and channel in self._subscribed:
            try:
                events.on_publication(publication)
            except Exception:
                # The publisher must not fail for a subscriber's bug: the publication is done.
                log.exception("on_publication failed for %s", channel)
        return result

    async def publish_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        events = self._events
        if events is not None and channel in self._subscribed:
            try:
                events.on_ephemeral(channel, data)
            except Exception:
                log.exception("on_ephemeral failed for %s", channel)

    async def subscribe(self, channel: ChannelName) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: ChannelName) -> None:
        self._subscribed.discard(channel)

    async def position(self, channel: ChannelName) -> StreamPosition:
        state = await self._channel(channel)
        return StreamPosition(state.offset, state.epoch)

    async def history(
        self,
        channel: ChannelName,
        *,
        after: Offset = 0,
        before: Offset | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> HistorySlice:
        state = await self._channel(channel)
        position = StreamPosition(state.offset, state.epoch)
        history = state.history
        first = history[0].offset if history else state.offset + 1
        # Offsets in the history are dense, so the range maps to index bounds directly.
        lo = max(after + 1, first)
        hi = state.offset if before is None else min(before - 1, state.offset)
        if hi < lo or limit <= 0:
            return HistorySlice([], position, first)
        if newest:
            lo = max(lo, hi - limit + 1)
        else:
            hi = min(hi, lo + limit - 1)
        publications = list(islice(history, lo - first, hi - first + 1))
        return HistorySlice(publications, position, first)
