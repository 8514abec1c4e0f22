"""``gateway.recovery.subscribe_reply`` splices bodies encoded once into the subscribe reply: it
must be byte for byte the frame ``encode_ok`` gives for the whole reply object, in every format,
at every size where msgpack's array header changes, and whatever the bodies hold."""

from __future__ import annotations

import msgpack
import pytest

from channels.broker import Publication
from gateway.recovery import Recoverable, subscribe_reply
from gateway.wire import Format, encode_ok, publication_body

BODIES = [
    {"kind": "chat", "text": '早晨 👋 "quoted" \\ \n', "author": {"id": 7, "name": "陳太"}},
    {"kind": "hide", "target": 3, "by": "auto"},
    {"kind": "tally", "counts": [0, 2**40, -1], "ratio": 0.25, "closed": False, "none": None},
    [],
    "a string",
]


def pubs(n: int) -> list[Publication]:
    return [
        Publication("group:x", i, 1_718_000_000_000 + i % 2, msgpack.packb(BODIES[i % 5]))
        for i in range(1, n + 1)
    ]


def expected(rid: int, recovered: bool | None, found: list[Publication], fmt: Format) -> object:
    body = {
        "channel": "group:x",
        "epoch": 1_718_000_000_000,
        "offset": len(found),
        "recovered": recovered,
        "publications": [publication_body(p.offset, p.epoch, p.data) for p in found],
    }
    return encode_ok(rid, body, fmt)


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("n", [0, 1, 2, 15, 16, 17, 100, 65535, 65536])
def test_spliced_reply_is_the_encoded_reply(fmt: Format, n: int) -> None:
    found = pubs(n)
    items = [Recoverable(p) for p in found]
    for recovered in (True, None, False) if n == 0 else (True,):
        frame = subscribe_reply(2**53, "group:x", 1_718_000_000_000, n, recovered, items, fmt)
        assert frame == expected(2**53, recovered, found, fmt)
        assert type(frame) is type(expected(2**53, recovered, found, fmt))
    # Encoded once: a second reply reuses the same bytes.
    if n:
        first = items[0].msgpack() if fmt is Format.MSGPACK else items[0].json()
        subscribe_reply(1, "group:x", 1, n, True, items, fmt)
        assert (items[0].msgpack() if fmt is Format.MSGPACK else items[0].json()) is first
