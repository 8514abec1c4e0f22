"""The Broker contract (channels/broker.py) as a hypothesis state machine, on every backend.

Random sequences of publish (with and without an idempotency key, persisted or not), subscribe,
unsubscribe, history reads, a dropped pub/sub link, a gateway restart (a new broker over the
same backend) and a kill (the backend loses every counter, as a Redis restarted empty does) are
run against a model of what the contract promises:

* every publication's offset is the channel's next one, dense and strictly increasing within
  its epoch; a new epoch is greater than the last and starts at ``seed + 1``, where the seed is
  the highest offset the persist queue carried (what the store would hold);
* a repeated idempotency key returns the first result and publishes nothing;
* each process subscribed to a channel receives exactly the publications made while it was
  subscribed, in offset order, each once — none missing once a dropped link has come back
  (``on_reconnect``), none duplicated;
* ``history`` returns exactly the model's publications of the current epoch in the range asked,
  and the persist queue holds each persisted publication exactly once.

The memory backend runs with a small hot history, so trimming is exercised; the Redis one runs
on the shared server under the test's own key prefix, with two brokers (two gateways).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from channels.broker import Broker, Publication
from channels.broker_memory import MemoryBroker
from channels.workqueue import PERSIST_QUEUE, WorkQueue
from linli.types import ChannelName
from tests.fuzzing import Loop, examples

CHANNELS = 2
KEYS = st.sampled_from([None, "a", "b", "c"])
#: The memory backend's hot history: small, so that reads below it are exercised.
MEMORY_HISTORY = 5


class Recorder:
    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.reconnects = 0

    def on_publication(self, publication: Publication) -> None:
        self.publications.append(publication)

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        pass

    def on_reconnect(self) -> None:
        self.reconnects += 1


class Seeds:
    def __init__(self) -> None:
        self.values: dict[ChannelName, int] = {}

    async def __call__(self, channel: ChannelName) -> int:
        return self.values.get(channel, 0)


@dataclass
class ChannelModel:
    epoch: int | None = None
    #: The current epoch's publications: offset -> data.
    pubs: dict[int, bytes] = field(default_factory=dict)
    top: int = 0
    #: idempotency key -> (offset, epoch) of the first publish, for the current counter.
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Highest offset ever put on the persist queue (what the store would hold).
    persisted: int = 0


@dataclass
class Process:
    """One gateway process: its broker, what it received, what it is subscribed to, and per
    channel what it must have received (every publication while subscribed)."""

    broker: Broker
    recorder: Recorder
    subscribed: set[ChannelName] = field(default_factory=set)
    expected: dict[ChannelName, list[tuple[int, int, bytes]]] = field(default_factory=dict)


@dataclass
class Backend:
    """How a machine reaches its backend: make a broker, its persist queue, lose the counters,
    and drop a broker's pub/sub link (None: the backend has no link to drop)."""

    name: str
    seeds: Seeds
    make: Callable[[], Awaitable[Broker]]
    queue: Callable[[Broker], WorkQueue]
    lose_counters: Callable[[list[ChannelName]], Coroutine[Any, Any, None]]
    drop_link: Callable[[Broker], None] | None
    processes: int
    history_size: int


async def settle(process: Process, want: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not want():
        if loop.time() > deadline:
            return  # the invariant then names what is missing
        await asyncio.sleep(0.002)


class BrokerMachine(RuleBasedStateMachine):
    loop: Loop
    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        run = self.loop.run
        tag = uuid.uuid4().hex[:8]
        self.channels = [f"building:{tag}{i}" for i in range(CHANNELS)]
        self.model = {ch: ChannelModel() for ch in self.channels}
        self.processes: list[Process] = []
        self.persisted: list[tuple[str, int, int, bytes]] = []
        self.n = 0
        self.drops = 0
        #: Per channel, the epoch that was lost last: the next one must be greater.
        self.lost_epoch: dict[ChannelName, int] = {}
        for _ in range(self.backend.processes):
            self.processes.append(run(self._start_process()))

    async def _start_process(self) -> Process:
        broker = await self.backend.make()
        recorder = Recorder()
        await broker.start(recorder)
        return Process(broker, recorder)

    # -- rules --------------------------------------------------------------------------------

    @initialize()
    def nothing_yet(self) -> None:
        pass

    @rule(
        which=st.integers(0, CHANNELS - 1),
        by=st.integers(0, 1),
        key=KEYS,
        persist=st.booleans(),
    )
    def publish(self, which: int, by: int, key: str | None, persist: bool) -> None:
        ch = self.channels[which]
        process = self.processes[by % len(self.processes)]
        self.n += 1
        data = b"m%d" % self.n
        result = self.loop.run(
            process.broker.publish(ch, data, idempotency_key=key, persist=persist)
        )
        model = self.model[ch]
        if model.epoch is None:
            # The first publish of an epoch seeds the counter from what the store holds.
            assert result.offset == self.backend.seeds.values.get(ch, 0) + 1
            model.epoch, model.top = result.epoch, result.offset - 1
        if key is not None and key in model.keys:
            assert (result.offset, result.epoch, result.duplicate) == (*model.keys[key], True)
            return
        assert result.duplicate is False
        assert result.epoch == model.epoch, "the epoch changed without a lost counter"
        assert result.offset == model.top + 1, f"offset {result.offset} after {model.top}"
        model.top = result.offset
        model.pubs[result.offset] = data
        if key is not None:
            model.keys[key] = (result.offset, result.epoch)
        if persist:
            model.persisted = max(model.persisted, result.offset)
        for p in self.processes:
            if ch in p.subscribed:
                p.expected.setdefault(ch, []).append((result.offset, result.epoch, data))
        self.loop.run(self._delivered())

    async def _delivered(self) -> None:
        for p in self.processes:
            want = sum(len(v) for v in p.expected.values())
            await settle(p, lambda p=p, want=want: len(p.recorder.publications) >= want)  # type: ignore[misc]

    @rule(which=st.integers(0, CHANNELS - 1), by=st.integers(0, 1))
    def subscribe(self, which: int, by: int) -> None:
        ch = self.channels[which]
        process = self.processes[by % len(self.processes)]
        self.loop.run(process.broker.subscribe(ch))
        process.subscribed.add(ch)

    @rule(which=st.integers(0, CHANNELS - 1), by=st.integers(0, 1))
    def unsubscribe(self, which: int, by: int) -> None:
        ch = self.channels[which]
        process = self.processes[by % len(self.processes)]
        self.loop.run(process.broker.unsubscribe(ch))
        process.subscribed.discard(ch)

    @rule(
        which=st.integers(0, CHANNELS - 1),
        after=st.integers(0, 30),
        span=st.none() | st.integers(1, 30),
        limit=st.integers(0, 12),
        newest=st.booleans(),
    )
    def history(self, which: int, after: int, span: int | None, limit: int, newest: bool) -> None:
        ch = self.channels[which]
        model = self.model[ch]
        before = None if span is None else after + span
        got = self.loop.run(
            self.processes[0].broker.history(
                ch, after=after, before=before, limit=limit, newest=newest
            )
        )
        if model.epoch is None:
            # history seeds the counter like position does: the epoch starts here.
            assert got.position.offset == self.backend.seeds.values.get(ch, 0)
            model.epoch, model.top = got.position.epoch, got.position.offset
            return
        assert (got.position.offset, got.position.epoch) == (model.top, model.epoch)
        retained = sorted(model.pubs)[-self.backend.history_size :]
        first = retained[0] if retained else model.top + 1
        assert got.first_retained == first
        wanted = [o for o in retained if o > after and (before is None or o < before)]
        wanted = (wanted[-limit:] if newest else wanted[:limit]) if limit > 0 else []
        assert [(p.offset, p.epoch, p.data) for p in got.publications] == [
            (o, model.epoch, model.pubs[o]) for o in wanted
        ]

    @precondition(lambda self: self.backend.drop_link is not None and self.drops < 2)
    @rule(by=st.integers(0, 1))
    def drop_link(self, by: int) -> None:
        """The pub/sub connection breaks; publications made while it is down may be missed,
        so the machine waits for ``on_reconnect`` (the contract's signal) before going on."""
        process = self.processes[by % len(self.processes)]
        before = process.recorder.reconnects
        assert self.backend.drop_link is not None
        self.backend.drop_link(process.broker)
        self.drops += 1
        self.loop.run(settle(process, lambda: process.recorder.reconnects > before, 10.0))
        assert process.recorder.reconnects == before + 1, "no on_reconnect after a dropped link"

    @precondition(lambda self: self.backend.name != "memory")
    @rule(by=st.integers(0, 1))
    def restart_process(self, by: int) -> None:
        """A gateway restarts: a new broker over the same backend, subscribed to nothing; the
        counters, history and dedupe keys are the backend's and survive."""
        index = by % len(self.processes)
        old = self.processes[index]
        self._check_delivery(old)
        self.loop.run(old.broker.close())
        self.processes[index] = self.loop.run(self._start_process())

    @rule()
    def lose_counters(self) -> None:
        """The backend loses every counter, history and dedupe key (Redis restarted empty; the
        embedded process restarted). The persist worker stored what the queue carried, so the
        next epoch is seeded from it."""
        for p in self.processes:
            self._check_delivery(p)
        self.loop.run(self.backend.lose_counters(self.channels))
        if self.backend.name == "memory":
            # The embedded broker's state is its process: a new one (its queue with it, after
            # the worker stored what it held).
            self._collect_persisted()
            self.loop.run(self.processes[0].broker.close())
            self.processes[0] = self.loop.run(self._start_process())
        # Epochs are milliseconds: a restart takes longer than one, and the contract needs it.
        time.sleep(0.002)
        for ch, model in self.model.items():
            self.backend.seeds.values[ch] = model.persisted
            self.model[ch] = ChannelModel(top=model.persisted, persisted=model.persisted)
            if model.epoch is not None:
                self.lost_epoch[ch] = model.epoch

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def epochs_grow(self) -> None:
        for ch, model in self.model.items():
            if model.epoch is not None and ch in self.lost_epoch:
                assert model.epoch > self.lost_epoch[ch], "a new epoch must exceed the lost one"

    @invariant()
    def deliveries_are_ordered_and_exact(self) -> None:
        for p in self.processes:
            self._check_delivery(p)

    def _check_delivery(self, p: Process) -> None:
        for ch in self.channels:
            got = [(x.offset, x.epoch, x.data) for x in p.recorder.publications if x.channel == ch]
            keys = [(e, o) for o, e, _ in got]
            assert keys == sorted(set(keys)), f"{ch}: out of order or duplicated: {keys}"
            assert got == p.expected.get(ch, []), f"{ch}: delivered {got}"

    def _collect_persisted(self) -> None:
        seen: list[tuple[str, int, int, bytes]] = []
        for p in self.processes:
            seen.extend(self.loop.run(_persisted(self.backend.queue(p.broker), self.channels)))
            if self.backend.name != "memory":
                break  # one queue in Redis, shared by every broker
        self.persisted.extend(seen)

    def teardown(self) -> None:
        try:
            self._collect_persisted()
            keys = [(c, o, e) for c, o, e, _ in self.persisted]
            assert len(keys) == len(set(keys)), "a publication reached the persist queue twice"
            for ch, model in self.model.items():
                stored = sorted(o for c, o, e, _ in self.persisted if c == ch)
                assert (stored[-1] if stored else 0) == model.persisted
            for p in self.processes:
                self._check_delivery(p)
        finally:
            for p in self.processes:
                self.loop.run(p.broker.close())


async def _persisted(queue: WorkQueue, channels: list[ChannelName]) -> list[Any]:
    items = await queue.read(
        PERSIST_QUEUE, f"inspect-{uuid.uuid4().hex[:6]}", "c", count=100_000, block_ms=0
    )
    return [(i.channel, i.offset, i.epoch, i.data) for i in items if i.channel in channels]


def _run(
    backend: Backend, n: int, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None
) -> None:
    loop = Loop()
    try:
        BrokerMachine.loop = loop
        BrokerMachine.backend = backend
        run_state_machine_as_test(
            BrokerMachine,
            settings=settings(max_examples=examples(n), stateful_step_count=25),
        )
    finally:
        if cleanup is not None:
            loop.run(cleanup())
        loop.close()


# 5-60 s on the shared machine, by its load: more than the suite's 120 s would be a hang.
@pytest.mark.timeout(300)
def test_memory_broker_keeps_its_contract_under_any_sequence() -> None:
    seeds = Seeds()

    async def make() -> Broker:
        return MemoryBroker(seeds, history_size=MEMORY_HISTORY)

    def queue(broker: Broker) -> WorkQueue:
        assert isinstance(broker, MemoryBroker)
        return broker.work_queue

    async def lose(channels: list[ChannelName]) -> None:
        pass  # the machine replaces the broker: its process is gone

    _run(Backend("memory", seeds, make, queue, lose, None, 1, MEMORY_HISTORY), 250)


# 5-60 s on the shared machine, by its load: more than the suite's 120 s would be a hang.
@pytest.mark.timeout(300)
@pytest.mark.redis
def test_redis_broker_keeps_its_contract_under_any_sequence(
    redis_prefix: str, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    from channels.broker_redis import RedisBroker
    from channels.keys import Keys
    from channels.workqueue_redis import RedisWorkQueue

    seeds = Seeds()
    keys = Keys(redis_prefix)
    clients: list[aioredis.Redis] = []

    def client() -> aioredis.Redis:
        # Made in the machine's loop (a redis-py client belongs to the loop that first uses it).
        if not clients:
            clients.append(aioredis.Redis.from_url(redis_url))
        return clients[0]

    async def make() -> Broker:
        return RedisBroker(client(), seeds, prefix=redis_prefix, ping_interval=1.0)

    def queue(broker: Broker) -> WorkQueue:
        return RedisWorkQueue(client(), prefix=redis_prefix)

    async def lose(channels: list[ChannelName]) -> None:
        # Only this test's keys: the shared Redis is never flushed.
        r = client()
        doomed = [k for ch in channels for k in (keys.meta(ch), keys.history(ch))]
        async for k in r.scan_iter(match=f"{redis_prefix}dedupe:*", count=1000):
            doomed.append(k)
        await r.delete(*doomed)

    def drop(broker: Broker) -> None:
        writer = broker._link._writer  # type: ignore[attr-defined]
        assert writer is not None, "the link was down already"
        writer.transport.abort()

    async def close() -> None:
        for c in clients:
            await c.aclose()

    _run(Backend("redis", seeds, make, queue, lose, drop, 2, 1000), 100, close)
