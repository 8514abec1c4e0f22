"""Reading a channel's past: the broker's hot history first, the store for what is older.

The hot history (Redis stream or the in-process ring) holds the newest publications, including
those the persist worker has not written yet; the store holds everything persisted. A range that
starts below the hot history's first retained offset is read from the store up to that offset
and from the hot history above it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from channels.access import Principal
from channels.broker import Broker, Publication, StreamPosition
from linli.types import ChannelName, Offset
from persistence.store import Store, StoredMessage

#: Rewrites a page of publications for the user reading it (moderation blanks hidden messages
#: for residents); features append theirs to ``HistoryReader.views``.
ReaderView = Callable[[Principal, ChannelName, list[Publication]], Awaitable[list[Publication]]]


def _as_publication(row: StoredMessage) -> Publication:
    return Publication(row.channel, row.offset, row.epoch, row.data)


class HistoryReader:
    def __init__(self, broker: Broker, store: Store) -> None:
        self._broker = broker
        self._store = store
        self.views: list[ReaderView] = []

    async def page(
        self,
        channel: ChannelName,
        *,
        after: Offset,
        before: Offset | None,
        limit: int,
        newest: bool,
    ) -> tuple[list[Publication], StreamPosition]:
        """Publications with ``after < offset < before``, ascending: the oldest ``limit`` of the
        range, or the newest ``limit`` when ``newest``."""
        hot = await self._broker.history(
            channel, after=after, before=before, limit=limit, newest=newest
        )
        pubs = hot.publications
        # Everything at or above first_retained that the range wants is in `hot`; below it, the
        # store has to be asked.
        cold_before = hot.first_retained if before is None else min(before, hot.first_retained)
        if after + 1 >= cold_before:
            return pubs, hot.position
        if newest:
            if len(pubs) < limit:
                rows = await self._store.history(
                    channel, after=after, before=cold_before, limit=limit - len(pubs), newest=True
                )
                pubs = [_as_publication(r) for r in rows] + pubs
        else:
            rows = await self._store.history(
                channel, after=after, before=cold_before, limit=limit, newest=False
            )
            cold = [_as_publication(r) for r in rows]
            if len(cold) < limit:
                top = cold[-1].offset if cold else after
                cold.extend(p for p in pubs[: limit - len(cold)] if p.offset > top)
            pubs = cold
        return pubs, hot.position

    async def around(
        self, channel: ChannelName, offset: Offset, *, limit: int
    ) -> tuple[list[Publication], StreamPosition]:
        """A page centred on ``offset``, ascending: the newest ``limit - limit // 2``
        publications at or below it (``offset`` itself the last of them) and the oldest
        ``limit // 2`` above it. A search hit opens the chat here, with its neighbours."""
        below, position = await self.page(
            channel, after=0, before=offset + 1, limit=limit - limit // 2, newest=True
        )
        above: list[Publication] = []
        if limit // 2:
            above, position = await self.page(
                channel, after=offset, before=None, limit=limit // 2, newest=False
            )
        return below + above, position

    async def for_reader(
        self, principal: Principal, channel: ChannelName, pubs: list[Publication]
    ) -> list[Publication]:
        """``pubs`` as ``principal`` may see them (history pages and recovery, not live fan-out,
        which is the same for every subscriber)."""
        for view in self.views:
            if pubs:
                pubs = await view(principal, channel, pubs)
        return pubs

    async def missed(
        self, channel: ChannelName, after: Offset, until: Offset
    ) -> list[Publication] | None:
        """Every publication with ``after < offset <= until``, or None if any of them cannot be
        found (trimmed from the hot history and not in the store)."""
        if until <= after:
            return []
        pubs, _ = await self.page(
            channel, after=after, before=until + 1, limit=until - after, newest=False
        )
        if len(pubs) != until - after:
            return None
        for expected, pub in enumerate(pubs, start=after + 1):
            if pub.offset != expected:
                return None
        return pubs
