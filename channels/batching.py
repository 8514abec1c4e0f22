"""Concurrent Redis calls coalesced into pipelines: the calls made in one turn of the event loop
go out together, in pipelines of at most ``max_batch``, with at most ``max_in_flight`` of them on
their way at once. Many concurrent publishes or submits (a burst of chat, a roomful of votes)
then cost a few round trips and a few pool connections instead of one each.

Each call is an item carrying the future its caller awaits; ``send`` settles the futures of a
batch from the replies. Used by ``RedisBroker`` (publish.lua) and ``RedisWorkQueue``
(submit.lua).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar


class Pending(Protocol):
    @property
    def future(self) -> asyncio.Future[Any]: ...


P = TypeVar("P", bound=Pending)


def _same(exc: Exception) -> BaseException:
    return exc


class Batcher(Generic[P]):
    def __init__(
        self,
        send: Callable[[list[P]], Awaitable[None]],
        *,
        max_batch: int,
        max_in_flight: int,
        error: Callable[[Exception], BaseException] = _same,
    ) -> None:
        """``send`` settles every future of its batch it can; when it raises, ``error`` of that
        exception is set on those it left pending."""
        self._send = send
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._error = error
        self._waiting: list[P] = []
        self._flushers: set[asyncio.Task[None]] = set()
        #: A flusher was started and has not taken its first batch yet: later calls of the same
        #: turn of the event loop join that batch instead of starting flushers of their own.
        self._scheduled = False

    def add(self, item: P) -> None:
        self._waiting.append(item)
        if not self._scheduled and len(self._flushers) < self._max_in_flight:
            self._scheduled = True
            task = asyncio.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)

    async def _flush(self) -> None:
        # Let the calls made in this turn of the event loop join the first batch.
        await asyncio.sleep(0)
        self._scheduled = False
        waiting = self._waiting
        while waiting:
            batch = waiting[: self._max_batch]
            del waiting[: self._max_batch]
            # A caller cancelled before its call left has nothing sent.
            batch = [item for item in batch if not item.future.done()]
            try:
                await self._send(batch)
            except asyncio.CancelledError:
                for item in batch:
                    item.future.cancel()
                raise
            except Exception as exc:
                error = self._error(exc)
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
        # No await between finding nothing waiting and leaving the set: a call arriving after
        # this sees a free place and starts a flusher (the done callback would come too late, and
        # with every place taken that call would wait for the next one to start a flush).
        self._flushers.discard(asyncio.current_task())
