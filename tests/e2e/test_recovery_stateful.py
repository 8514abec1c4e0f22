"""The recovery merge (design records 0001 and 0010: the hub's ordering and gap filling,
``gateway/recovery.py``'s answers from memory or history, the hand-over in ``promote``) as a
hypothesis state machine over a real gateway in-process: the embedded broker, a migrated SQLite
store, connections driven frame by frame.

The machine publishes (live, or while this gateway's link is down so the hub misses it), lets the
link come back (``on_reconnect``), runs the persist worker's step, kills the broker (its counters
and hot history gone, with or without the worker having stored everything first), and has up to
three clients, in JSON or msgpack, subscribe, disconnect and resubscribe with ``since``.

Each client applies what it receives as ``docs/protocol.md`` says a client must, and the machine
checks, for every frame:

* a live ``pub`` is the next offset of the client's epoch, and is exactly what was published at
  that ``(epoch, offset)``: never a silent gap, never a duplicate, never an invented message;
* a recovered subscribe reply holds exactly the publications ``(since, offset]``; a refused one
  (``recovered: false``) or a ``reset`` push moves the client to the new position explicitly;
* a refusal is warranted: when the epoch is unchanged, the range is within ``recovery_max`` and
  every offset of it is in the hot history or the store, recovery must succeed;
* at the end, once the link has come back, every subscribed client is at the channel's top.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from channels.access import Principal
from channels.broker import (
    BrokerEvents,
    HistorySlice,
    Publication,
    PublishResult,
    StreamPosition,
)
from channels.broker_memory import MemoryBroker
from channels.workqueue import PERSIST_QUEUE
from gateway.connection import Connection
from gateway.gateway import Gateway
from gateway.wire import Format
from linli.config import Settings
from linli.types import ChannelName, Epoch, Offset
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role, Store, StoredMessage
from presence.presence_memory import MemoryPresence
from tests.fuzzing import Loop, examples

HISTORY_SIZE = 4
RECOVERY_MAX = 12
CLIENTS = 3
_buildings = itertools.count(1)
_ids = itertools.count(1)


class _Gate:
    """The gateway's BrokerEvents behind a switch: while ``down``, live publications are lost
    (a pub/sub link that dropped, Redis pub/sub being at most once)."""

    def __init__(self, events: BrokerEvents) -> None:
        self.events = events
        self.down = False

    def on_publication(self, publication: Publication) -> None:
        if not self.down:
            self.events.on_publication(publication)

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        if not self.down:
            self.events.on_ephemeral(channel, data)

    def on_reconnect(self) -> None:
        self.events.on_reconnect()


class KillableBroker:
    """The embedded broker, which the machine can kill: a new one replaces it, seeded from the
    store, its counters and hot history gone (as a Redis restarted empty would be)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.inner = MemoryBroker(store.max_offset, history_size=HISTORY_SIZE)
        self.gate: _Gate | None = None

    async def start(self, events: BrokerEvents) -> None:
        self.gate = _Gate(events)
        await self.inner.start(self.gate)

    async def kill(self) -> None:
        assert self.gate is not None
        subscribed = set(self.inner._subscribed)
        await self.inner.close()
        await asyncio.sleep(0.002)  # epochs are milliseconds; a restart takes longer than one
        self.inner = MemoryBroker(self.store.max_offset, history_size=HISTORY_SIZE)
        await self.inner.start(self.gate)
        for channel in subscribed:
            await self.inner.subscribe(channel)

    async def close(self) -> None:
        await self.inner.close()

    async def publish(
        self,
        channel: ChannelName,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        persist: bool = True,
    ) -> PublishResult:
        return await self.inner.publish(
            channel, data, idempotency_key=idempotency_key, persist=persist
        )

    async def publish_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        await self.inner.publish_ephemeral(channel, data)

    async def subscribe(self, channel: ChannelName) -> None:
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: ChannelName) -> None:
        await self.inner.unsubscribe(channel)

    async def position(self, channel: ChannelName) -> StreamPosition:
        return await self.inner.position(channel)

    async def history(
        self,
        channel: ChannelName,
        *,
        after: Offset = 0,
        before: Offset | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> HistorySlice:
        return await self.inner.history(
            channel, after=after, before=before, limit=limit, newest=newest
        )


@dataclass
class Client:
    fmt: Format
    conn: Connection | None = None
    subscribed: bool = False
    #: Where the client is: the epoch and offset of the last publication it holds.
    position: tuple[Epoch, Offset] | None = None
    #: Frames it received that broke the protocol's promise (empty, or the test fails).
    violations: list[str] = field(default_factory=list)
    resets: int = 0


@dataclass
class Shared:
    """What a test opens once for all of its machine's examples."""

    loop: Loop
    store: Store
    broker: KillableBroker
    gateway: Gateway


class RecoveryMachine(RuleBasedStateMachine):
    shared: Shared

    def __init__(self) -> None:
        super().__init__()
        building = next(_buildings)
        self.channel: ChannelName = f"building:{building}"
        self.principal = Principal(building, f"u{building}", "U", Role.RESIDENT, building)
        self.clients = [
            Client(fmt) for fmt in (Format.JSON, Format.MSGPACK, Format.JSON_UTF8)[:CLIENTS]
        ]
        #: Everything published: (epoch, offset) -> data.
        self.published: dict[tuple[Epoch, Offset], bytes] = {}
        #: (epoch, offset) of what the store holds for this channel.
        self.stored: set[tuple[Epoch, Offset]] = set()
        self.n = 0
        self.kills = 0
        self.shared.broker.gate.down = False  # type: ignore[union-attr]

    def run(self, coroutine: Any) -> Any:
        return self.shared.loop.run(coroutine)

    @property
    def gateway(self) -> Gateway:
        return self.shared.gateway

    # -- the channel's side ---------------------------------------------------------------------

    @rule(count=st.integers(1, 4), live=st.booleans())
    def publish(self, count: int, live: bool) -> None:
        self.run(self._publish(count, live))

    async def _publish(self, count: int, live: bool) -> None:
        gate = self.shared.broker.gate
        assert gate is not None
        gate.down = not live
        for _ in range(count):
            self.n += 1
            data = msgpack.packb({"n": self.n})
            result = await self.shared.broker.publish(self.channel, data)
            self.published[(result.epoch, result.offset)] = data
        await self._settle()

    @rule()
    def link_comes_back(self) -> None:
        self.run(self._link_comes_back())

    async def _link_comes_back(self) -> None:
        gate = self.shared.broker.gate
        assert gate is not None
        gate.down = False
        gate.on_reconnect()
        await self._settle()

    @rule()
    def persist(self) -> None:
        self.run(self._persist())

    async def _persist(self) -> None:
        """The persist worker's step: what the queue holds goes into the store, then is acked."""
        queue = self.shared.broker.inner.work_queue
        items = await queue.read(PERSIST_QUEUE, "persist", "w", count=10_000, block_ms=0)
        if not items:
            return
        await self.shared.store.insert_messages(
            [StoredMessage(i.channel, i.offset, i.epoch, i.data, None, 0) for i in items]
        )
        await queue.ack(PERSIST_QUEUE, "persist", [i.id for i in items])
        self.stored.update((i.epoch, i.offset) for i in items if i.channel == self.channel)

    @precondition(lambda self: self.kills < 2)
    @rule(persisted_first=st.booleans())
    def kill_broker(self, persisted_first: bool) -> None:
        """The broker loses its counters and hot history. Without the worker's step first, the
        unstored publications are gone (issue 24 item 4): clients must then be told, by a reset."""
        if persisted_first:
            self.run(self._persist())
        self.kills += 1
        self.run(self.shared.broker.kill())
        self.link_comes_back()

    # -- the clients' side ----------------------------------------------------------------------

    @rule(i=st.integers(0, CLIENTS - 1), meanwhile=st.integers(0, 3))
    def connect_and_subscribe(self, i: int, meanwhile: int) -> None:
        """Subscribe (with ``since`` when the client was here before) while ``meanwhile``
        publications arrive, one per turn of the loop: they race the recovery read and must
        come once, after the reply (the hand-over of 0001)."""

        async def both() -> None:
            await asyncio.gather(
                self._connect_and_subscribe(self.clients[i]), self._trickle(meanwhile)
            )
            await self._settle()

        self.run(both())

    async def _trickle(self, count: int) -> None:
        gate = self.shared.broker.gate
        assert gate is not None
        gate.down = False
        for _ in range(count):
            await asyncio.sleep(0)
            self.n += 1
            data = msgpack.packb({"n": self.n})
            result = await self.shared.broker.publish(self.channel, data)
            self.published[(result.epoch, result.offset)] = data

    async def _connect_and_subscribe(self, client: Client) -> None:
        if client.conn is None:
            client.conn = self.gateway.open(self.principal, client.fmt)
        if client.subscribed:
            return
        request: dict[str, Any] = {"op": "subscribe", "id": next(_ids), "channel": self.channel}
        if client.position is not None:
            request["since"] = {"epoch": client.position[0], "offset": client.position[1]}
        frame: str | bytes = (
            msgpack.packb(request)
            if client.fmt is Format.MSGPACK
            else orjson.dumps(request).decode()
        )
        await self.gateway.handle_frame(client.conn, frame)
        client.subscribed = True

    @rule(i=st.integers(0, CLIENTS - 1))
    def disconnect(self, i: int) -> None:
        client = self.clients[i]
        if client.conn is None:
            return
        self.read(client)
        self.run(self.gateway.close_connection(client.conn))
        client.conn, client.subscribed = None, False

    # -- what a client does with what it receives -----------------------------------------------

    def read(self, client: Client) -> None:
        conn = client.conn
        if conn is None:
            return
        frames = list(conn._queue)
        conn._queue.clear()
        conn._queued = 0
        for frame in frames:
            msg = msgpack.unpackb(frame) if client.fmt is Format.MSGPACK else orjson.loads(frame)
            self.apply(client, msg)

    def apply(self, client: Client, msg: dict[str, Any]) -> None:
        if "ok" in msg and "publications" in msg["ok"]:
            ok = msg["ok"]
            since = client.position
            if ok["recovered"] is True:
                assert since is not None
                pubs = ok["publications"]
                want = list(range(since[1] + 1, ok["offset"] + 1))
                got = [p["offset"] for p in pubs]
                if ok["epoch"] != since[0] or got != want:
                    client.violations.append(f"recovered {got} from {since}, wanted {want}")
                for p in pubs:
                    self.check_body(client, p)
            elif since is not None:
                if self.recoverable(since, ok["epoch"], ok["offset"]):
                    client.violations.append(
                        f"refused a recoverable range from {since} to {ok['epoch'], ok['offset']}"
                    )
                client.resets += 1
            client.position = (ok["epoch"], ok["offset"])
        elif msg.get("push") == "pub":
            self.check_body(client, msg)
            expected = (
                None if client.position is None else (client.position[0], client.position[1] + 1)
            )
            if (msg["epoch"], msg["offset"]) != expected:
                client.violations.append(
                    f"pub {msg['epoch'], msg['offset']} after {client.position}: "
                    "a gap or a duplicate"
                )
            client.position = (msg["epoch"], msg["offset"])
        elif msg.get("push") == "reset":
            client.resets += 1
            client.position = (msg["epoch"], msg["offset"])
        elif "error" in msg:
            client.violations.append(f"error {msg['error']}")

    def check_body(self, client: Client, p: dict[str, Any]) -> None:
        key = (p["epoch"], p["offset"])
        data = self.published.get(key)
        if data is None or msgpack.unpackb(data)["n"] != p["data"]["n"]:
            client.violations.append(f"{key}: {p['data']} was never published there")

    def recoverable(self, since: tuple[Epoch, Offset], epoch: Epoch, top: Offset) -> bool:
        """Whether the gateway had every publication ``(since, top]`` to give: same epoch, not
        too far back, each in the hot history (the broker's last ``HISTORY_SIZE`` of the epoch)
        or stored."""
        if since[0] != epoch or top - since[1] > RECOVERY_MAX or since[1] > top:
            return False
        in_epoch = sorted(o for e, o in self.published if e == epoch)
        hot = set(in_epoch[-HISTORY_SIZE:])
        return all(o in hot or (epoch, o) in self.stored for o in range(since[1] + 1, top + 1))

    async def _settle(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while loop.time() < deadline:
            await asyncio.sleep(0)
            hub = self.gateway.hubs.get(self.channel)
            if hub is None or (not hub._filling and hub.ready.done()):
                break
            await asyncio.sleep(0.001)
        for client in self.clients:
            self.read(client)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def no_violation(self) -> None:
        for i, client in enumerate(self.clients):
            assert not client.violations, f"client {i} ({client.fmt.name}): {client.violations}"

    def teardown(self) -> None:
        try:
            self.link_comes_back()
            self.no_violation()
            top = self.run(self.shared.broker.position(self.channel))
            for i, client in enumerate(self.clients):
                if client.subscribed:
                    assert client.position == (top.epoch, top.offset), (
                        f"client {i} stopped at {client.position}, the channel is at {top}"
                    )
        finally:
            for client in self.clients:
                if client.conn is not None:
                    self.run(self.gateway.close_connection(client.conn))


# 5-60 s on the shared machine, by its load: more than the suite's 120 s would be a hang.
@pytest.mark.timeout(300)
def test_recovery_never_leaves_a_silent_gap(tmp_path: Path) -> None:
    loop = Loop()
    url = f"sqlite:///{tmp_path}/linli.sqlite3"

    async def open_all() -> Shared:
        await migrate(url)
        store = await open_store(url)
        broker = KillableBroker(store)
        config = Settings(
            database_url=url,
            history_size=HISTORY_SIZE,
            recovery_max=RECOVERY_MAX,
            publish_rate=1e6,
            publish_burst=1_000_000,
        )
        gateway = Gateway(broker, store, MemoryPresence(ttl=30), config)
        await gateway.start()
        return Shared(loop, store, broker, gateway)

    shared = loop.run(open_all())
    try:
        RecoveryMachine.shared = shared
        run_state_machine_as_test(
            RecoveryMachine,
            settings=settings(max_examples=examples(250), stateful_step_count=30),
        )
    finally:

        async def close_all() -> None:
            await shared.gateway.shutdown(grace=0.1)
            await shared.broker.close()
            await shared.store.close()

        loop.run(close_all())
        loop.close()


pytestmark = pytest.mark.slow
