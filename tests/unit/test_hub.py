"""The hub's ordering rules, driven directly: publications in order, out of order, duplicated,
across an epoch change, and while a connection recovers. The history the hub fills gaps from is
a plain list here (the broker and store behind it have their own contract tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import orjson

from channels.access import Principal
from channels.broker import Publication, StreamPosition
from gateway.connection import Connection
from gateway.hub import Hub
from gateway.wire import Format
from linli.types import ConnId
from persistence.store import Role

CH = "building:1"
EPOCH = 1000


def pub(offset: int, epoch: int = EPOCH) -> Publication:
    return Publication(CH, offset, epoch, msgpack.packb({"n": offset}))


class History:
    def __init__(self, top: int = 0, epoch: int = EPOCH) -> None:
        self.pubs = {i: pub(i) for i in range(1, top + 1)}
        self.top, self.epoch = top, epoch
        self.fetches: list[tuple[int, int]] = []

    async def fetch(self, channel: str, after: int, until: int) -> list[Publication] | None:
        self.fetches.append((after, until))
        wanted = [self.pubs.get(i) for i in range(after + 1, until + 1)]
        if any(p is None for p in wanted):
            return None
        return [p for p in wanted if p is not None]

    async def position(self, channel: str) -> StreamPosition:
        return StreamPosition(self.top, self.epoch)

    def publish(self, offset: int, epoch: int = EPOCH) -> Publication:
        p = pub(offset, epoch)
        self.pubs[offset] = p
        self.top, self.epoch = max(self.top, offset), epoch
        return p


def conn(fmt: Format = Format.JSON) -> Connection:
    principal = Principal(1, "chan", "Chan", Role.RESIDENT, 1)
    return Connection(ConnId("c"), principal, fmt, max_queued=1 << 20, now=0.0)


def received(c: Connection) -> list[dict[str, Any]]:
    frames = list(c._queue)
    return [orjson.loads(f) if isinstance(f, str) else msgpack.unpackb(f) for f in frames]


def offsets(c: Connection) -> list[int]:
    return [m["offset"] for m in received(c) if m.get("push") == "pub"]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def ready_hub(history: History) -> Hub:
    hub = Hub(CH, history.fetch, history.position)
    await asyncio.wait_for(hub.ready, 1)
    return hub


async def test_in_order_duplicates_and_gap_fill() -> None:
    history = History(top=5)
    hub = await ready_hub(history)
    c = conn()
    hub.add_live(c)
    hub.on_publication(history.publish(6))
    hub.on_publication(pub(6))  # a duplicate
    hub.on_publication(pub(5))  # older than the hub's position
    assert offsets(c) == [6]
    # 7 and 8 are lost on the live path: 9 arrives first and the hub fills the hole.
    history.publish(7)
    history.publish(8)
    hub.on_publication(history.publish(9))
    hub.on_publication(history.publish(10))
    await settle()
    assert offsets(c) == [6, 7, 8, 9, 10]
    assert history.fetches == [(6, 8)]
    hub.close()


async def test_unfillable_gap_resets_instead_of_skipping_silently() -> None:
    history = History(top=2)
    hub = await ready_hub(history)
    c = conn()
    hub.add_live(c)
    hub.on_publication(history.publish(9))  # 3..8 exist nowhere
    await settle()
    msgs = received(c)
    assert msgs[0] == {"push": "reset", "channel": CH, "epoch": EPOCH, "offset": 8}
    assert offsets(c) == [9]
    hub.close()


async def test_new_epoch_is_announced_once_and_delivery_goes_on() -> None:
    history = History(top=3)
    hub = await ready_hub(history)
    c = conn(Format.MSGPACK)
    hub.add_live(c)
    hub.on_publication(pub(21, epoch=EPOCH + 5))
    hub.on_publication(pub(22, epoch=EPOCH + 5))
    hub.on_publication(pub(4))  # a straggler of the dead epoch
    await settle()
    msgs = received(c)
    assert msgs[0] == {"push": "reset", "channel": CH, "epoch": EPOCH + 5, "offset": 20}
    assert [(m["offset"], m["epoch"]) for m in msgs[1:]] == [(21, EPOCH + 5), (22, EPOCH + 5)]
    hub.close()


async def test_recovering_connection_gets_the_tail_once() -> None:
    history = History(top=10)
    hub = await ready_hub(history)
    c = conn()
    hub.add_recovering(c)
    top = hub.last  # what recovery will read up to
    hub.on_publication(history.publish(11))  # arrives while recovery reads history
    hub.on_publication(history.publish(12))
    assert offsets(c) == []
    hub.promote(c, top, EPOCH)
    hub.on_publication(history.publish(13))
    assert offsets(c) == [11, 12, 13]
    hub.close()


async def test_catch_up_after_reconnect_fills_from_position() -> None:
    history = History(top=4)
    hub = await ready_hub(history)
    c = conn()
    hub.add_live(c)
    for i in range(5, 9):  # published while the link was down: never seen live
        history.publish(i)
    hub.catch_up()
    await settle()
    assert offsets(c) == [5, 6, 7, 8]
    hub.close()


async def test_fanout_encodes_once_per_format() -> None:
    history = History(top=0)
    hub = await ready_hub(history)
    json_conns = [conn(Format.JSON) for _ in range(3)]
    mp_conns = [conn(Format.MSGPACK) for _ in range(2)]
    for c in json_conns + mp_conns:
        hub.add_live(c)
    hub.on_publication(history.publish(1))
    json_frames = {id(c._queue[0]) for c in json_conns}
    mp_frames = {id(c._queue[0]) for c in mp_conns}
    assert len(json_frames) == 1 and len(mp_frames) == 1
    assert len(hub) == 5
    hub.close()
