"""Answering a resubscription (``subscribe`` with ``since``) from the hub's memory when it can,
with publications encoded once however many clients recover them.

A reconnect burst (a gateway restart, a building's Wi-Fi coming back) has every client of a room
ask for the same range. Reading it from history for each of them costs one ``XRANGE`` (or store
query) per client and decoding every stored body again per client. Instead:

* the hub keeps the channel's last publications in memory (``Hub.recent``), as ``Recoverable``
  entries: what it delivered in order in its current epoch, and what a recovery read from history
  just before that (``Hub.remember``);
* a range the hub does not hold is read from history; a resubscription whose range starts
  within a read already in flight for the channel (``Hub.recovery_read``) waits for it instead
  of reading again, so the clients that reconnect together are answered from memory after the
  first read;
* each ``Recoverable`` encodes its ``{offset, epoch, data}`` body at most once per format, and
  ``subscribe_reply`` splices those bytes into the reply: byte for byte what encoding the whole
  reply object gives (``docs/protocol.md``), without decoding any stored body per client.

The readers' views (``HistoryReader.for_reader``: moderation blanks hidden messages for
residents) are applied to every recovery as before; a publication a view rewrites is encoded for
that reader alone.

See ``docs/design/0010-recovery-from-the-hub.md``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgpack
import orjson

from channels.access import Principal
from channels.broker import Publication
from gateway.wire import Format, Frame, publication_body
from linli.types import ChannelName, Epoch, Offset

if TYPE_CHECKING:
    from gateway.history import HistoryReader
    from gateway.hub import Hub


class Recoverable:
    """One publication as it appears in recovery replies, its body encoded at most once per
    format (JSON as UTF-8 bytes, msgpack)."""

    __slots__ = ("_json", "_msgpack", "pub")

    def __init__(self, pub: Publication) -> None:
        self.pub = pub
        self._json: bytes | None = None
        self._msgpack: bytes | None = None

    @property
    def offset(self) -> Offset:
        return self.pub.offset

    def json(self) -> bytes:
        """``orjson.dumps(publication_body(...))``."""
        if self._json is None:
            pub = self.pub
            self._json = orjson.dumps(publication_body(pub.offset, pub.epoch, pub.data))
        return self._json

    def msgpack(self) -> bytes:
        """``msgpack.packb(publication_body(...))``: the stored body is decoded and encoded
        again (once), so the bytes are exactly those of the whole reply encoded at once."""
        if self._msgpack is None:
            pub = self.pub
            self._msgpack = msgpack.packb(publication_body(pub.offset, pub.epoch, pub.data))
        return self._msgpack


def _msgpack_array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def subscribe_reply(
    request_id: int,
    channel: ChannelName,
    epoch: Epoch,
    offset: Offset,
    recovered: bool | None,
    items: Sequence[Recoverable],
    fmt: Format,
) -> Frame:
    """The ok reply to ``subscribe``: the same frame as ``encode_ok(request_id, {"channel",
    "epoch", "offset", "recovered", "publications": [publication_body(...), ...]}, fmt)``, with
    each publication's body taken from its ``Recoverable``."""
    reply = {
        "id": request_id,
        "ok": {
            "channel": channel,
            "epoch": epoch,
            "offset": offset,
            "recovered": recovered,
            "publications": [],
        },
    }
    if fmt is Format.MSGPACK:
        empty = msgpack.packb(reply)
        # ``publications`` is the last value of the innermost map, so the frame ends with its
        # (empty) array header; a msgpack array is its header followed by its items.
        assert empty[-1:] == b"\x90"
        parts = [empty[:-1], _msgpack_array_header(len(items))]
        parts.extend(item.msgpack() for item in items)
        return b"".join(parts)
    empty = orjson.dumps(reply)
    assert empty.endswith(b"[]}}")
    frame = b"".join((empty[:-3], b",".join([item.json() for item in items]), b"]}}"))
    return frame if fmt is Format.JSON_UTF8 else frame.decode()


async def for_reader(
    history: HistoryReader,
    principal: Principal,
    channel: ChannelName,
    items: list[Recoverable],
) -> list[Recoverable]:
    """``items`` as ``principal`` may see them (``HistoryReader.for_reader``). Publications a
    view leaves as they are keep their shared encodings; rewritten ones get fresh entries."""
    if not items or not history.views:
        return items
    pubs = [item.pub for item in items]
    viewed = await history.for_reader(principal, channel, pubs)
    if viewed is pubs:
        return items
    shared = {id(item.pub): item for item in items}
    return [shared.get(id(pub)) or Recoverable(pub) for pub in viewed]


class PendingRead:
    """A recovery's history read in flight for a hub: ``after`` is where its range starts."""

    __slots__ = ("after", "done")

    def __init__(self, after: Offset) -> None:
        self.after = after
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


async def recover(
    hub: Hub,
    history: HistoryReader,
    principal: Principal,
    channel: ChannelName,
    since: Offset,
    top: Offset,
    generation: int,
) -> list[Recoverable] | None:
    """Every publication with ``since < offset <= top`` as ``principal`` may see it, or None if
    some of them cannot be found. ``top`` and ``generation`` are the hub's ``last`` and
    ``generation`` read together, when the connection joined as recovering (the caller has
    checked that ``since`` is of the hub's epoch then and ``since <= top``)."""
    items = hub.recent(since, top, generation)
    if items is None:
        pending = hub.recovery_read
        if pending is not None and pending.after <= since:
            # The clients of a room reconnect together and want the same range: wait for the
            # read in flight, which leaves it in the hub, rather than read it again.
            await asyncio.shield(pending.done)
            items = hub.recent(since, top, generation)
        if items is None:
            items = await _read(hub, history, channel, since, top, generation)
            if items is None:
                return None
    return await for_reader(history, principal, channel, items)


async def _read(
    hub: Hub,
    history: HistoryReader,
    channel: ChannelName,
    since: Offset,
    top: Offset,
    generation: int,
) -> list[Recoverable] | None:
    mine = PendingRead(since)
    if hub.recovery_read is None:
        hub.recovery_read = mine
    try:
        found = await history.missed(channel, since, top)
        return None if found is None else hub.remember(found, generation)
    finally:
        if hub.recovery_read is mine:
            hub.recovery_read = None
        # Those waiting look at the hub again, whatever happened here (a failed read is not
        # shared: each of them then reads for itself, as without the wait).
        mine.done.set_result(None)
