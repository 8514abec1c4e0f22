"""A channel's hub in one gateway process: the single upstream subscription and the local
connections it fans out to.

The hub keeps the channel's ``(epoch, last offset)`` as this process has delivered it and
enforces, for every local subscriber, *in order, no gap, no duplicate*:

* a publication at ``last + 1`` is delivered at once (the fast path, synchronous, no await);
* one at or below ``last`` is a duplicate (e.g. re-read while filling a gap) and is dropped;
* one above ``last + 1`` means live delivery lost something (Redis pub/sub is at most once):
  the hub buffers what arrives and fills the hole from history before delivering further;
* one of a newer epoch means the channel's counter was lost (Redis restarted empty): the hub
  tells its subscribers with a ``reset`` push — their offsets no longer compare — and goes on.

Connections subscribing with ``since`` first join as *recovering*: the hub buffers for them what
it delivers while the gateway reads the history they missed, then ``promote`` hands them the
buffered tail above the point the history read stopped at. So nothing published during the
resubscription is lost or doubled.

The hub also keeps the channel's last publications (up to ``keep``) in memory for those
resubscriptions (``recent``; ``gateway/recovery.py``): what it delivered in order in its current
epoch, plus what a recovery read from history right below it (``remember``). Whatever breaks that
order (a reset, a new epoch) empties it and bumps ``generation``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from channels.broker import BrokerUnavailable, Publication, StreamPosition
from gateway.connection import Connection
from gateway.recovery import PendingRead, Recoverable
from gateway.stats import STATS
from gateway.wire import Format, PublicationFrames, PushFrames
from linli.types import ChannelName, Epoch, Offset

log = logging.getLogger(__name__)

#: Reads the publications with ``after < offset <= until`` (dense, ascending) from the hot
#: history or the store; None when they cannot all be had.
FetchRange = Callable[[ChannelName, Offset, Offset], Awaitable[list[Publication] | None]]
GetPosition = Callable[[ChannelName], Awaitable[StreamPosition]]

_RETRY_DELAY = 0.5  # seconds between attempts while the broker is unreachable


class _Reset:
    """A marker in a recovering connection's buffer: the epoch changed at this point."""

    __slots__ = ("frames",)

    def __init__(self, frames: PushFrames) -> None:
        self.frames = frames


class Hub:
    def __init__(
        self, channel: ChannelName, fetch: FetchRange, position: GetPosition, *, keep: int = 0
    ) -> None:
        self.channel = channel
        self._fetch = fetch
        self._position = position
        # Live subscribers grouped by format, so a publication is encoded once per format and
        # the delivery loop does nothing but push.
        self._live: dict[Format, dict[Connection, None]] = {fmt: {} for fmt in Format}
        self._recovering: dict[Connection, list[Publication | _Reset]] = {}
        self.epoch: Epoch | None = None
        self.last: Offset = 0
        self._pending: deque[Publication] = deque()
        self._want_position = True
        self._filling = True
        #: The channel's last publications, dense and ascending, all of ``epoch``, the newest
        #: at ``last``: at most ``keep`` of them (0: none kept).
        self._keep = keep
        self._tail: deque[Recoverable] = deque()
        #: Bumped whenever the tail is emptied because the order broke (reset, new epoch); a
        #: recovery that read ``(last, generation)`` before such a change may not use the tail
        #: or add to it.
        self.generation = 0
        #: A recovery's history read in flight for this channel (``gateway/recovery.py``).
        self.recovery_read: PendingRead | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self._filler: asyncio.Task[None] | None = asyncio.create_task(self._run_filler())

    # -- membership ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(conns) for conns in self._live.values()) + len(self._recovering)

    def add_live(self, conn: Connection) -> None:
        self._live[conn.fmt][conn] = None

    def add_recovering(self, conn: Connection) -> None:
        self._recovering[conn] = []

    def promote(self, conn: Connection, delivered_up_to: Offset, epoch: Epoch) -> None:
        """Move a recovering connection to live, first pushing what the hub delivered while it
        recovered and that lies beyond what recovery sent."""
        buffered = self._recovering.pop(conn, None)
        if buffered is None:
            return
        fmt = conn.fmt
        for item in buffered:
            if isinstance(item, _Reset):
                conn.push(item.frames.get(fmt))
                epoch, delivered_up_to = -1, -1  # everything after a reset is new to the client
            elif item.epoch != epoch or item.offset > delivered_up_to:
                conn.push(
                    PublicationFrames(self.channel, item.offset, item.epoch, item.data).get(fmt)
                )
        self._live[fmt][conn] = None

    def remove(self, conn: Connection) -> None:
        self._live[conn.fmt].pop(conn, None)
        self._recovering.pop(conn, None)

    def close(self) -> None:
        if self._filler is not None:
            self._filler.cancel()
            self._filler = None
        if not self.ready.done():
            self.ready.cancel()

    # -- inbound from the broker ----------------------------------------------------------------

    def on_publication(self, pub: Publication) -> None:
        if not self._filling and pub.epoch == self.epoch and pub.offset == self.last + 1:
            self.last = pub.offset
            self._deliver(pub)
            return
        self._pending.append(pub)
        self._start_filler()

    def on_ephemeral(self, frames: PushFrames) -> None:
        for fmt, conns in self._live.items():
            if conns:
                frame = frames.get(fmt)
                for conn in conns:
                    conn.push(frame)

    def catch_up(self) -> None:
        """The upstream link was re-established: compare with the channel's top and fill or
        reset."""
        self._want_position = True
        self._start_filler()

    # -- internals ----------------------------------------------------------------------------

    def _deliver(self, pub: Publication) -> None:
        frames = PublicationFrames(self.channel, pub.offset, pub.epoch, pub.data)
        delivered = 0
        for fmt, conns in self._live.items():
            if conns:
                frame = frames.get(fmt)
                for conn in conns:
                    conn.push(frame)
                delivered += len(conns)
        STATS["publications"] += 1
        STATS["deliveries"] += delivered
        for buffered in self._recovering.values():
            buffered.append(pub)
        if self._keep:
            tail = self._tail
            if pub.epoch != self.epoch or (tail and tail[-1].pub.offset != pub.offset - 1):
                self._forget()  # never happens in order; but a tail must never have a hole
                if pub.epoch != self.epoch:
                    return
            tail.append(Recoverable(pub))
            if len(tail) > self._keep:
                tail.popleft()

    def _forget(self) -> None:
        self._tail.clear()
        self.generation += 1

    # -- the tail, for resubscriptions ------------------------------------------------------------

    def recent(self, after: Offset, until: Offset, generation: int) -> list[Recoverable] | None:
        """The publications with ``after < offset <= until`` from memory, or None unless all of
        them are there and the hub is still at ``generation``."""
        if generation != self.generation:
            return None
        if until <= after:
            return []
        tail = self._tail
        if not tail or after + 1 < tail[0].pub.offset or until > tail[-1].pub.offset:
            return None
        start = after + 1 - tail[0].pub.offset
        return list(itertools.islice(tail, start, start + until - after))

    def remember(self, pubs: list[Publication], generation: int) -> list[Recoverable]:
        """``pubs`` (dense and ascending, read from history for a recovery that began at
        ``generation``) as ``Recoverable`` entries; those of the current epoch that lie right
        below the tail, or end at ``last`` when the tail is empty, are kept in it as well."""
        items = [Recoverable(pub) for pub in pubs]
        tail = self._tail
        room = self._keep - len(tail)
        if not items or room <= 0 or generation != self.generation:
            return items
        first = tail[0].pub.offset if tail else self.last + 1
        if items[-1].pub.offset < first - 1 or items[0].pub.offset >= first:
            return items  # not adjacent to the tail, or nothing older than it
        older = [item for item in items if item.pub.offset < first][-room:]
        if older[-1].pub.offset != first - 1 or any(item.pub.epoch != self.epoch for item in older):
            return items
        for expected, item in enumerate(older, start=older[0].pub.offset):
            if item.pub.offset != expected:
                return items
        tail.extendleft(reversed(older))
        return items

    def _reset(self, epoch: Epoch, last: Offset) -> None:
        """Jump to ``(epoch, last)``; subscribers are told unless this is the first position."""
        announce = self.epoch is not None
        self.epoch, self.last = epoch, last
        self._forget()
        if not announce:
            return
        STATS["resets"] += 1
        log.warning(
            "channel %s: reset to epoch %d offset %d; subscribers must reload",
            self.channel,
            epoch,
            last,
        )
        frames = PushFrames(
            {"push": "reset", "channel": self.channel, "epoch": epoch, "offset": last}
        )
        self.on_ephemeral(frames)
        marker = _Reset(frames)
        for buffered in self._recovering.values():
            buffered.append(marker)

    def _start_filler(self) -> None:
        self._filling = True
        if self._filler is None or self._filler.done():
            self._filler = asyncio.create_task(self._run_filler())

    async def _run_filler(self) -> None:
        while True:
            try:
                await self._fill_once()
            except BrokerUnavailable:
                await asyncio.sleep(_RETRY_DELAY)
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel %s: filling a gap failed; retrying", self.channel)
                await asyncio.sleep(_RETRY_DELAY)
                continue
            if not self._pending and not self._want_position:
                self._filling = False
                return

    async def _fill_once(self) -> None:
        if self._want_position:
            position = await self._position(self.channel)
            self._want_position = False
            if self.epoch != position.epoch:
                self._reset(position.epoch, position.offset)
            elif position.offset > self.last:
                await self._fill_to(position.offset)
            if not self.ready.done():
                self.ready.set_result(None)
        while self._pending:
            pub = self._pending[0]
            assert self.epoch is not None
            if pub.epoch < self.epoch or (pub.epoch == self.epoch and pub.offset <= self.last):
                self._pending.popleft()  # already delivered, or from a dead epoch
                continue
            if pub.epoch > self.epoch:
                self._reset(pub.epoch, pub.offset - 1)
            elif pub.offset > self.last + 1:
                await self._fill_to(pub.offset - 1)
                continue
            self._pending.popleft()
            self.last = pub.offset
            self._deliver(pub)

    async def _fill_to(self, until: Offset) -> None:
        missed = await self._fetch(self.channel, self.last, until)
        if missed is None:
            # The hole is gone from the hot history and not (yet) in the store: say so rather
            # than deliver with a silent gap.
            assert self.epoch is not None
            self._reset(self.epoch, until)
            return
        for pub in missed:
            if pub.offset == self.last + 1:
                self.last = pub.offset
                self._deliver(pub)
        if self.last < until:  # a fetch that broke its promise of density: never loop on it
            assert self.epoch is not None
            self._reset(self.epoch, until)
