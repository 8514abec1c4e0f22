"""The persist worker dies after its batch is committed and before it is acked, 100 times: the
successor takes the entries over (``reclaim``) and writes them again, which must change nothing.

Each crash is placed exactly: ``handle`` returns (the INSERT is committed: the rows are visible
from another connection) and the "process" ends there, with a ``BaseException`` the worker loop
does not catch, so the ack never runs, as with SIGKILL at that instant. Every tenth round the
successor dies the same way on the reclaimed batch, and a third worker finishes it. After every
round: one row per publication, no more (0 duplicate effects); and the pending list empty.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import ClassVar

import msgpack
import pytest

from channels.workqueue import PERSIST_QUEUE, WorkItem, WorkQueue
from linli.types import ChannelName
from persistence.store import Store
from tests.conftest import wait_until
from tests.e2e.harness import Deployment
from tests.e2e.test_recovery import gateway_env
from workers.persist import PersistWorker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROUNDS = 100
PER_ROUND = 5
ROOM: ChannelName = "building:1"
_consumers = itertools.count(1)


class Killed(BaseException):
    """The process died here (``Worker.run`` handles ``Exception`` only)."""


class CrashesAfterCommit(PersistWorker):
    committed: list[int]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.committed = []

    async def handle(self, items: list[WorkItem]) -> None:
        await super().handle(items)
        self.committed = [item.offset for item in items]
        raise Killed


class Successor(PersistWorker):
    # A crashed consumer's entries are taken over at once (the default waits 15 s), and the read
    # does not block long, so a round takes milliseconds.
    reclaim_idle_ms: ClassVar[int] = 1
    block_ms: ClassVar[int] = 20


class SuccessorThatCrashes(CrashesAfterCommit):
    reclaim_idle_ms: ClassVar[int] = 1
    block_ms: ClassVar[int] = 20


async def rows(store: Store) -> list[int]:
    return [r.offset for r in await store.history(ROOM, after=0, limit=ROUNDS * PER_ROUND + 10)]


async def test_worker_killed_between_commit_and_ack_100_times(deployment: Deployment) -> None:
    async with gateway_env(deployment) as env:
        runtime = env.runtime
        queue, store = runtime.work_queue, runtime.store
        published = 0
        crashes = 0
        for round_ in range(1, ROUNDS + 1):
            for _ in range(PER_ROUND):
                body = msgpack.packb(
                    {"kind": "chat", "text": f"r{round_}", "cmid": f"c{published}"}
                )
                result = await runtime.broker.publish(ROOM, body)
                published = result.offset
            crasher = CrashesAfterCommit(queue, store, consumer=f"crasher-{next(_consumers)}")
            with pytest.raises(Killed):
                await asyncio.wait_for(crasher.run(), 10)
            crashes += 1
            # The crash really came between the two: committed, visible, and not acked.
            assert crasher.committed == list(range(published - PER_ROUND + 1, published + 1))
            assert await rows(store) == list(range(1, published + 1))
            assert await queue.pending(PERSIST_QUEUE, "persist") == PER_ROUND
            await asyncio.sleep(0.005)  # idle past the successor's reclaim_idle_ms
            if round_ % 10 == 0:
                again = SuccessorThatCrashes(queue, store, consumer=f"succ-{next(_consumers)}")
                with pytest.raises(Killed):
                    await asyncio.wait_for(again.run(), 10)
                crashes += 1
                assert again.committed == crasher.committed  # the same batch, written again
                assert await queue.pending(PERSIST_QUEUE, "persist") == PER_ROUND
                await asyncio.sleep(0.005)
            successor = Successor(queue, store, consumer=f"succ-{next(_consumers)}")
            stop = asyncio.Event()
            running = asyncio.create_task(successor.run(stop))
            try:
                await wait_until(_pending_is(queue, 0), timeout=10)
            finally:
                stop.set()
                await asyncio.wait_for(running, 10)
            assert successor.handled == PER_ROUND
            # 0 duplicate effects: one row per publication, the rewrite added nothing.
            assert await rows(store) == list(range(1, published + 1))
            assert await store.count_messages(ROOM) == published
        assert crashes == ROUNDS + ROUNDS // 10
        assert await queue.pending(PERSIST_QUEUE, "persist") == 0
        assert await queue.backlog(PERSIST_QUEUE, "persist") == 0


def _pending_is(queue: WorkQueue, value: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await queue.pending(PERSIST_QUEUE, "persist") == value

    return check
