"""Resubscription with ``since`` answered from the hub's memory (``gateway/recovery.py``), checked
on a real gateway in-process — real brokers (Redis, or the embedded one) and stores (PostgreSQL,
or SQLite) — with connections driven frame by frame, so the races can be placed exactly: a
publication arriving while the reply is prepared, a range older than what the hub holds, a gap
the hub filled, an epoch change, a hidden message.

Every recovered reply is also compared with the reply the history path gives for the same range
(``HistoryReader.missed``, the views, ``encode_ok``): the memory path must be byte for byte the
same."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson
import pytest

from channels.access import Principal
from channels.broker import BrokerUnavailable
from gateway.connection import Connection
from gateway.gateway import Gateway, chat_data
from gateway.history import HistoryReader
from gateway.wire import Format, encode_ok, publication_body
from linli.config import Settings
from linli.features import FEATURES
from linli.runtime import Runtime, open_runtime
from linli.types import ChannelName
from persistence.moderation import MessageAction, MessageSnapshot
from persistence.moderation.sql import SqlModerationStore
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import Deployment

ROOM: ChannelName = "building:1"
RESIDENT = Principal(1, "amy", "Amy", Role.RESIDENT, 1)
MODERATOR = Principal(2, "mo", "Mo", Role.MODERATOR, None)
_ids = itertools.count(1)


@dataclass
class Env:
    gateway: Gateway
    runtime: Runtime
    published: int = 0

    async def publish(self, text: str) -> int:
        principal = Principal(3, "ann", "Ann", Role.RESIDENT, 1)
        data = chat_data(principal, text, f"c{next(_ids)}", 1_700_000_000_000)
        result = await self.runtime.broker.publish(ROOM, data)
        self.published = result.offset
        return result.offset

    async def delivered(self, offset: int) -> None:
        """Wait until this process' hub has delivered up to ``offset``."""
        await wait_until(
            lambda: ROOM in self.gateway.hubs and self.gateway.hubs[ROOM].last >= offset
        )


@contextlib.asynccontextmanager
async def gateway_env(deployment: Deployment, **settings: Any) -> AsyncIterator[Env]:
    config = Settings(
        database_url=deployment.database_url,
        redis_url=deployment.redis_url,
        key_prefix=deployment.key_prefix,
        publish_rate=1e6,
        publish_burst=1_000_000,
        **settings,
    )
    async with open_runtime(config, migrate_first=True) as runtime:
        gateway = Gateway(runtime.broker, runtime.store, runtime.presence, config)
        for feature in FEATURES:
            if feature.install is not None:
                feature.install(gateway, runtime)
        await gateway.start()
        try:
            yield Env(gateway, runtime)
        finally:
            await gateway.shutdown(grace=0.1)


@pytest.fixture
async def env(deployment: Deployment) -> AsyncIterator[Env]:
    async with gateway_env(deployment) as e:
        yield e


def frames(conn: Connection) -> list[dict[str, Any]]:
    """What the connection was sent so far (and forget it)."""
    out = [decode(conn, frame) for frame in conn._queue]
    conn._queue.clear()
    conn._queued = 0
    return out


async def subscribe(
    env: Env, conn: Connection, since: tuple[int, int] | None = None
) -> str | bytes:
    """Send a subscribe and return the raw reply frame (the pushes after it stay queued)."""
    request: dict[str, Any] = {"op": "subscribe", "id": next(_ids), "channel": ROOM}
    if since is not None:
        request["since"] = {"offset": since[0], "epoch": since[1]}
    frame: str | bytes = (
        orjson.dumps(request).decode() if conn.fmt.is_json else msgpack.packb(request)
    )
    queued = len(conn._queue)
    await env.gateway.handle_frame(conn, frame)
    assert len(conn._queue) > queued, "no reply"
    reply = conn._queue[queued]
    del conn._queue[queued]
    return reply


def decode(conn: Connection, frame: str | bytes) -> dict[str, Any]:
    return orjson.loads(frame) if conn.fmt.is_json else msgpack.unpackb(frame)  # type: ignore[no-any-return]


async def history_reply(
    env: Env, conn: Connection, request_id: int, since: int, reply: dict[str, Any]
) -> str | bytes:
    """The reply the history path (no hub memory) gives for the same range and reader."""
    history = env.gateway.history
    found = await HistoryReader.missed(history, ROOM, since, reply["offset"])  # not counted
    assert found is not None
    pubs = await history.for_reader(conn.principal, ROOM, found)
    body = {
        "channel": ROOM,
        "epoch": reply["epoch"],
        "offset": reply["offset"],
        "recovered": True,
        "publications": [publication_body(p.offset, p.epoch, p.data) for p in pubs],
    }
    return encode_ok(request_id, body, conn.fmt)


class CountingReads:
    """Counts the recovery reads that went to history (the real reader does them)."""

    def __init__(self, gateway: Gateway) -> None:
        self.calls: list[tuple[int, int]] = []
        history = gateway.history
        real = history.missed

        async def missed(channel: ChannelName, after: int, until: int) -> Any:
            if channel == ROOM:
                self.calls.append((after, until))
            return await real(channel, after, until)

        history.missed = missed  # type: ignore[method-assign]


@pytest.mark.parametrize("fmt", [Format.JSON, Format.MSGPACK, Format.JSON_UTF8])
async def test_recovery_from_memory_is_the_history_reply_byte_for_byte(
    env: Env, fmt: Format
) -> None:
    watcher = env.gateway.open(MODERATOR, Format.JSON)
    epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
    for i in range(30):
        await env.publish(f"消息 {i} ✓")
    await env.delivered(env.published)
    reads = CountingReads(env.gateway)
    since = env.published - 25
    for principal in (RESIDENT, MODERATOR, RESIDENT):
        conn = env.gateway.open(principal, fmt)
        raw = await subscribe(env, conn, (since, epoch))
        reply = decode(conn, raw)
        ok = reply["ok"]
        assert ok["recovered"] is True and ok["epoch"] == epoch
        assert [p["offset"] for p in ok["publications"]] == list(range(since + 1, ok["offset"] + 1))
        assert raw == await history_reply(env, conn, reply["id"], since, ok)
        assert type(raw) is type(await history_reply(env, conn, reply["id"], since, ok))
    assert reads.calls == [], "the hub held the range: no history read"


async def test_range_older_than_the_hubs_memory_is_read_from_history_once(env: Env) -> None:
    for i in range(20):
        await env.publish(f"before {i}")
    watcher = env.gateway.open(MODERATOR, Format.JSON)
    epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]  # the hub starts at 20
    for i in range(20):
        await env.publish(f"after {i}")
    await env.delivered(40)
    reads = CountingReads(env.gateway)
    hub = env.gateway.hubs[ROOM]
    assert hub.recent(5, 40, hub.generation) is None  # older than what the hub delivered

    async def recover(since: int) -> list[int]:
        conn = env.gateway.open(RESIDENT, Format.MSGPACK)
        raw = await subscribe(env, conn, (since, epoch))
        reply = decode(conn, raw)
        assert reply["ok"]["recovered"] is True
        assert raw == await history_reply(env, conn, reply["id"], since, reply["ok"])
        return [p["offset"] for p in reply["ok"]["publications"]]

    # Ten clients reconnect together with the same position: one history read between them.
    got = await asyncio.gather(*(recover(5) for _ in range(10)))
    assert got == [list(range(6, 41))] * 10
    assert reads.calls == [(5, 40)]
    # What was read is kept below the tail: newer positions come from memory; older ones not.
    assert await recover(12) == list(range(13, 41))
    assert reads.calls == [(5, 40)]
    assert await recover(0) == list(range(1, 41))
    assert reads.calls == [(5, 40), (0, 40)]
    assert [r.offset for r in hub.recent(0, 40, hub.generation) or []] == list(range(1, 41))


async def test_publications_during_the_resubscription_come_once_after_the_reply(
    env: Env,
) -> None:
    watcher = env.gateway.open(MODERATOR, Format.JSON)
    epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
    for i in range(10):
        await env.publish(f"m{i}")
    await env.delivered(10)
    during: list[int] = []

    # The readers' views run after the hub's position was taken and before the reply: publish
    # there, and wait until the hub delivered it, so it lands in the recovering buffer.
    async def publish_meanwhile(principal: Principal, channel: ChannelName, pubs: Any) -> Any:
        if channel == ROOM and len(during) < 3:
            during.append(await env.publish(f"during {len(during)}"))
            await env.delivered(during[-1])
        return pubs

    env.gateway.history.views.insert(0, publish_meanwhile)
    conns = []
    for fmt in (Format.JSON, Format.MSGPACK, Format.JSON_UTF8):
        conn = env.gateway.open(RESIDENT, fmt)
        ok = decode(conn, await subscribe(env, conn, (4, epoch)))["ok"]
        recovered = [p["offset"] for p in ok["publications"]]
        assert recovered == list(range(5, ok["offset"] + 1))
        conns.append((conn, recovered))
    assert during == [11, 12, 13]
    await env.publish("after")
    await env.delivered(14)
    for conn, recovered in conns:
        live = [m["offset"] for m in frames(conn) if m.get("push") == "pub"]
        assert recovered + live == list(range(5, 15)), (recovered, live)


async def test_a_gap_the_hub_filled_is_recovered_without_a_hole(env: Env) -> None:
    watcher = env.gateway.open(MODERATOR, Format.JSON)
    epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
    for i in range(5):
        await env.publish(f"m{i}")
    await env.delivered(5)
    # The live link loses 6..8 (as a dropped pub/sub connection would); 9 reveals the hole.
    broker = env.runtime.broker
    await broker.unsubscribe(ROOM)
    for i in range(3):
        await env.publish(f"lost {i}")
    await broker.subscribe(ROOM)
    await env.publish("seen")
    await env.delivered(9)
    assert [m["offset"] for m in frames(watcher) if m.get("push") == "pub"] == list(range(1, 10))
    reads = CountingReads(env.gateway)
    conn = env.gateway.open(RESIDENT, Format.JSON)
    raw = await subscribe(env, conn, (2, epoch))
    ok = decode(conn, raw)["ok"]
    assert [p["offset"] for p in ok["publications"]] == list(range(3, 10))
    assert [p["data"]["text"] for p in ok["publications"][3:6]] == ["lost 0", "lost 1", "lost 2"]
    assert raw == await history_reply(env, conn, decode(conn, raw)["id"], 2, ok)
    assert reads.calls == []


async def test_hidden_messages_are_blanked_for_residents_in_recovery_from_memory(
    env: Env,
) -> None:
    watcher = env.gateway.open(MODERATOR, Format.JSON)
    epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
    for text in ("hello", "我的電話 9123 4567", "bye"):
        await env.publish(text)
    await env.delivered(3)
    mod = SqlModerationStore(env.runtime.store.database)
    snapshot = MessageSnapshot(3, "Ann", "我的電話 9123 4567", 1_700_000_000_000)

    async def act(action: MessageAction) -> None:
        await mod.act_on_message(
            ROOM, 2, action, actor_id=2, reason="test", now=1, snapshot=snapshot
        )

    async def texts(principal: Principal, fmt: Format) -> list[tuple[str, str | None]]:
        conn = env.gateway.open(principal, fmt)
        raw = await subscribe(env, conn, (0, epoch))
        ok = decode(conn, raw)["ok"]
        assert raw == await history_reply(env, conn, decode(conn, raw)["id"], 0, ok)
        return [(p["data"]["text"], p["data"].get("moderation")) for p in ok["publications"]]

    reads = CountingReads(env.gateway)
    visible = [("hello", None), ("我的電話 9123 4567", None), ("bye", None)]
    assert await texts(RESIDENT, Format.JSON) == visible
    await act(MessageAction.HIDE)
    hidden = [("hello", None), ("", "hidden"), ("bye", None)]
    for fmt in (Format.JSON, Format.MSGPACK, Format.JSON, Format.JSON_UTF8):
        assert await texts(RESIDENT, fmt) == hidden
        # A moderator still reads a hidden message; a resident's view never leaks into theirs.
        assert await texts(MODERATOR, fmt) == [
            ("hello", None),
            ("我的電話 9123 4567", "hidden"),
            ("bye", None),
        ]
    await act(MessageAction.RESTORE)
    assert await texts(RESIDENT, Format.MSGPACK) == visible
    await act(MessageAction.DELETE)
    assert await texts(MODERATOR, Format.JSON) == [("hello", None), ("", "deleted"), ("bye", None)]
    assert reads.calls == []


async def test_an_epoch_change_empties_the_hubs_memory(scaled: Deployment) -> None:
    async with gateway_env(scaled) as env:
        watcher = env.gateway.open(MODERATOR, Format.JSON)
        old_epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
        for i in range(10):
            await env.publish(f"old {i}")
        await env.delivered(10)
        hub = env.gateway.hubs[ROOM]
        generation = hub.generation
        assert hub.recent(0, 10, generation) is not None
        # Redis loses the channel's counter (and the stream): the next publish seeds a new
        # epoch from the store, which has nothing (no persist worker here): offsets start again.
        redis = env.runtime.redis
        assert redis is not None
        keys = [k async for k in redis.scan_iter(match=f"{scaled.key_prefix}*{ROOM}*")]
        assert keys
        await redis.delete(*keys)
        offset = await env.publish("new 0")
        assert offset == 1
        await wait_until(lambda: hub.epoch != old_epoch)
        new_epoch = hub.epoch
        assert new_epoch is not None and new_epoch > old_epoch
        assert hub.generation != generation
        assert hub.recent(0, 1, generation) is None
        assert [r.pub.epoch for r in hub.recent(0, 1, hub.generation) or []] == [new_epoch]
        msgs = frames(watcher)
        assert {"push": "reset", "channel": ROOM, "epoch": new_epoch, "offset": 0} in msgs

        # A client of the old epoch reloads; one of the new epoch recovers from memory.
        old = env.gateway.open(RESIDENT, Format.JSON)
        ok = decode(old, await subscribe(env, old, (5, old_epoch)))["ok"]
        assert (ok["recovered"], ok["publications"], ok["epoch"]) == (False, [], new_epoch)
        reads = CountingReads(env.gateway)
        new = env.gateway.open(RESIDENT, Format.MSGPACK)
        ok = decode(new, await subscribe(env, new, (0, new_epoch)))["ok"]
        assert ok["recovered"] is True
        assert [(p["offset"], p["epoch"], p["data"]["text"]) for p in ok["publications"]] == [
            (1, new_epoch, "new 0")
        ]
        assert reads.calls == []


async def test_many_clients_recover_while_the_room_goes_on(deployment: Deployment) -> None:
    async with gateway_env(deployment, recovery_max=50) as env:
        watcher = env.gateway.open(MODERATOR, Format.JSON)
        epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
        for i in range(60):
            await env.publish(f"m{i}")
        await env.delivered(60)
        hub = env.gateway.hubs[ROOM]
        # The hub keeps recovery_max publications.
        assert hub.recent(10, 60, hub.generation) is not None
        assert hub.recent(9, 60, hub.generation) is None
        stop = asyncio.Event()

        async def publisher() -> None:
            # At most 30 more, so positions 55 and 60 stay within recovery_max of the top.
            for i in range(30):
                if stop.is_set():
                    return
                await env.publish(f"live {i}")
                await asyncio.sleep(0.001)

        task = asyncio.create_task(publisher())
        positions = [5, 9, 10, 30, 55, 60] * 8
        clients = []

        async def one(since: int, fmt: Format) -> None:
            conn = env.gateway.open(RESIDENT, fmt)
            ok = decode(conn, await subscribe(env, conn, (since, epoch)))["ok"]
            got = [p["offset"] for p in ok["publications"]]
            if ok["offset"] - since > 50:
                assert ok["recovered"] is False and got == []
            else:
                assert ok["recovered"] is True
                assert got == list(range(since + 1, ok["offset"] + 1))
                clients.append((conn, since, got))

        formats = itertools.cycle([Format.JSON, Format.MSGPACK, Format.JSON_UTF8])
        await asyncio.gather(*(one(s, next(formats)) for s in positions))
        stop.set()
        await task
        await env.delivered(env.published)
        assert {since for _, since, _ in clients} >= {55, 60}
        for conn, since, got in clients:
            live = [m["offset"] for m in frames(conn) if m.get("push") == "pub"]
            assert got + live == list(range(since + 1, env.published + 1))


async def test_a_failed_history_read_is_not_shared(env: Env) -> None:
    for i in range(20):
        await env.publish(f"before {i}")
    watcher = env.gateway.open(MODERATOR, Format.JSON)
    epoch = decode(watcher, await subscribe(env, watcher))["ok"]["epoch"]
    history = env.gateway.history
    real = history.missed
    calls: list[int] = []

    async def flaky(channel: ChannelName, after: int, until: int) -> Any:
        calls.append(after)
        await asyncio.sleep(0.05)
        if len(calls) == 1:
            raise BrokerUnavailable("the first read fails")
        return await real(channel, after, until)

    history.missed = flaky  # type: ignore[method-assign]

    async def recover() -> dict[str, Any]:
        conn = env.gateway.open(RESIDENT, Format.JSON)
        return decode(conn, await subscribe(env, conn, (5, epoch)))

    replies = await asyncio.gather(*(recover() for _ in range(6)))
    # The first client is told to retry; those that waited for its read read for themselves
    # (at once, not one after another) and recover everything.
    assert replies[0]["error"]["code"] == "unavailable"
    for reply in replies[1:]:
        assert [p["offset"] for p in reply["ok"]["publications"]] == list(range(6, 21))
    assert calls == [5] * 6
    assert ROOM in env.gateway.hubs and env.gateway.hubs[ROOM].recovery_read is None
