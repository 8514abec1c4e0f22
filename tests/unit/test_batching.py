"""The pipeline batcher both Redis backends use (``channels/batching.py``). Its send callback
here records batches instead of talking to Redis: what is tested is the coalescing; the backends'
contract tests run it against the real server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from channels.batching import Batcher


@dataclass
class Call:
    value: int
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Sent:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def send(self, batch: list[Call]) -> None:
        self.batches.append([call.value for call in batch])
        for call in batch:
            call.future.set_result(None)


async def test_calls_of_one_turn_go_together_in_batches_of_at_most_max_batch() -> None:
    sent = Sent()
    batcher = Batcher(sent.send, max_batch=3, max_in_flight=4)
    calls = [Call(i) for i in range(7)]
    for call in calls:
        batcher.add(call)
    await asyncio.gather(*(call.future for call in calls))
    assert sent.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_call_made_as_the_last_flusher_leaves_is_still_sent() -> None:
    # The caller woken by the batch resumes before the finished flusher's done callback runs;
    # with every place taken until then, its next call would have waited for yet another one.
    sent = Sent()
    batcher = Batcher(sent.send, max_batch=10, max_in_flight=1)
    first = Call(1)
    batcher.add(first)
    await first.future
    second = Call(2)
    batcher.add(second)
    await asyncio.wait_for(second.future, 1)
    assert sent.batches == [[1], [2]]


async def test_a_failed_send_fails_the_calls_it_left_pending_with_the_mapped_error() -> None:
    async def send(batch: list[Call]) -> None:
        batch[0].future.set_result(None)
        raise OSError("link down")

    batcher = Batcher(
        send, max_batch=10, max_in_flight=1, error=lambda exc: RuntimeError(f"mapped {exc}")
    )
    calls = [Call(1), Call(2)]
    for call in calls:
        batcher.add(call)
    await calls[0].future
    with pytest.raises(RuntimeError, match="mapped link down"):
        await calls[1].future


async def test_a_call_cancelled_before_its_batch_left_is_not_sent() -> None:
    sent = Sent()
    batcher = Batcher(sent.send, max_batch=10, max_in_flight=1)
    kept, dropped = Call(1), Call(2)
    batcher.add(kept)
    batcher.add(dropped)
    dropped.future.cancel()
    await kept.future
    assert sent.batches == [[1]]
