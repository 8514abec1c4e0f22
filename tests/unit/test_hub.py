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


# -- the tail kept for resubscriptions (gateway/recovery.py) ---------------------------------


def tail_offsets(hub: Hub) -> list[int]:
    return [r.offset for r in hub.recent(0, hub.last, hub.generation) or []]


async def kept_hub(history: History, keep: int) -> Hub:
    hub = Hub(CH, history.fetch, history.position, keep=keep)
    await asyncio.wait_for(hub.ready, 1)
    return hub


async def test_tail_holds_what_was_delivered_in_order_and_slices_exactly() -> None:
    history = History(top=0)
    hub = await kept_hub(history, keep=5)
    gen = hub.generation
    for i in range(1, 5):
        hub.on_publication(history.publish(i))
    assert [r.offset for r in hub.recent(1, 3, gen) or []] == [2, 3]  # not up to the tail's end
    assert hub.recent(3, 3, gen) == []
    assert hub.recent(0, 5, gen) is None  # beyond what was delivered
    for i in range(5, 9):
        hub.on_publication(history.publish(i))
    assert tail_offsets(hub) == []  # keep=5: 4..8 are held, 1..3 are not
    assert [r.offset for r in hub.recent(3, 8, gen) or []] == [4, 5, 6, 7, 8]
    assert hub.recent(2, 8, gen) is None
    assert [r.pub for r in hub.recent(3, 8, gen) or []] == [history.pubs[i] for i in range(4, 9)]
    hub.close()


async def test_tail_includes_filled_gaps_and_forgets_on_reset() -> None:
    history = History(top=2)
    hub = await kept_hub(history, keep=100)
    gen = hub.generation
    hub.on_publication(history.publish(3))
    history.publish(4)
    hub.on_publication(history.publish(5))  # 4 was lost live: filled from history
    await settle()
    assert [r.offset for r in hub.recent(2, 5, gen) or []] == [3, 4, 5]
    hub.on_publication(history.publish(9))  # 6..8 exist nowhere: reset, not a silent hole
    await settle()
    assert hub.generation != gen
    assert hub.recent(2, 5, gen) is None  # a recovery that began before the reset
    assert [r.offset for r in hub.recent(8, 9, hub.generation) or []] == [9]
    assert hub.recent(4, 9, hub.generation) is None
    gen = hub.generation
    # A new epoch whose offsets happen to continue the old ones: still forgotten.
    hub.on_publication(pub(10, epoch=EPOCH + 1))
    await settle()
    assert hub.epoch == EPOCH + 1 and hub.generation != gen
    assert [(r.offset, r.pub.epoch) for r in hub.recent(9, 10, hub.generation) or []] == [
        (10, EPOCH + 1)
    ]
    assert hub.recent(8, 10, hub.generation) is None
    hub.close()


async def test_remember_keeps_a_history_read_only_right_below_the_tail() -> None:
    history = History(top=20)
    hub = await kept_hub(history, keep=12)
    gen = hub.generation
    hub.on_publication(history.publish(21))
    hub.on_publication(history.publish(22))
    read = [history.pubs[i] for i in range(11, 16)]
    assert [r.pub for r in hub.remember(read, gen)] == read
    assert hub.recent(10, 22, gen) is None  # 16..20 missing: not kept
    read = [history.pubs[i] for i in range(16, 22)]  # overlaps 21, which the tail has
    hub.remember(read, gen)
    assert [r.offset for r in hub.recent(15, 22, gen) or []] == list(range(16, 23))
    hub.remember([history.pubs[i] for i in range(5, 16)], gen)  # room for 12 - 7 = 5
    assert [r.offset for r in hub.recent(10, 22, gen) or []] == list(range(11, 23))
    assert hub.recent(9, 22, gen) is None
    hub.close()

    history = History(top=20)
    hub = await kept_hub(history, keep=100)
    stale = hub.generation
    hub.on_publication(pub(21, epoch=EPOCH + 1))  # a new epoch while a recovery read history
    await settle()
    hub.remember([history.pubs[i] for i in range(10, 21)], stale)
    assert tail_offsets(hub) == [] and hub.recent(20, 21, hub.generation) is not None
    assert hub.recent(10, 21, hub.generation) is None
    # Publications of another epoch are never kept, even when the generation matches.
    hub.remember([history.pubs[i] for i in range(10, 21)], hub.generation)
    assert hub.recent(10, 21, hub.generation) is None
    hub.close()

    history = History(top=20)
    hub = await kept_hub(history, keep=100)  # nothing delivered yet: the read must end at last
    hub.remember([history.pubs[i] for i in range(10, 20)], hub.generation)
    assert hub.recent(9, 19, hub.generation) is None
    hub.remember([history.pubs[i] for i in range(10, 21)], hub.generation)
    assert [r.offset for r in hub.recent(9, 20, hub.generation) or []] == list(range(10, 21))
    hub.close()


async def test_no_tail_without_keep() -> None:
    history = History(top=0)
    hub = await ready_hub(history)
    hub.on_publication(history.publish(1))
    assert hub.recent(0, 1, hub.generation) is None
    assert [r.offset for r in hub.remember([history.pubs[1]], hub.generation)] == [1]
    assert hub.recent(0, 1, hub.generation) is None
    hub.close()
