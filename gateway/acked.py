"""What this gateway acked to authors and the store does not hold yet; re-submitted when Redis
lost it (issue 24 item 4, docs/design/0033-acked-publications-survive-redis-loss.md).

In the scaled mode an ack means the message is in Redis (hot history and the ``persist`` work
stream); the persist worker writes it to the database a little later. A Redis that restarts
empty, or is flushed, in between loses it — and the channel's next epoch re-uses its offset.
So the gateway that published it keeps a copy until it has *seen* the row in the store:

* **Confirmed** when the store holds a row at the message's (offset, epoch) and the channel's
  epoch, read *after* the store, is still the message's. Then any later re-seeding of the
  channel reads a store that has the row, so its offset is never handed out again.
* **Re-submitted** when the channel's epoch is no longer the message's (its counter was lost:
  a Redis restarted empty or flushed) and the message is not confirmed: published again with
  its bytes unchanged under the same idempotency key (``<user>:<client_msg_id>``), so it gets
  an offset of the new epoch and reaches live subscribers, and is kept until that copy is
  confirmed. The store keeps one row per (channel, author, client_msg_id), the newer epoch's,
  so a late write of the lost copy by a worker that had read it before the loss doubles
  nothing (``persistence/store.py``).

The check is one store query and one Redis read per channel with unconfirmed messages, every
``acked_check_seconds``, off the publish path; publishing pays a dict insert. Memory is bounded
by ``acked_buffer_bytes``: beyond it the oldest entries are dropped (counted in
``linli_acked_dropped``), and those messages are as durable as Redis alone makes them — the
behaviour before this module. The in-process broker of the embedded mode dies with the gateway
that would hold the copy, and cannot lose data on its own, so there is no log there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

from channels.broker import Broker, BrokerUnavailable, PublishResult
from gateway.stats import STATS
from linli.types import ChannelName, Epoch, Offset
from persistence.store import Store

log = logging.getLogger(__name__)

#: Bytes counted per entry beside its data (the object, its keys and the dict slot; measured
#: with tracemalloc at ~290 bytes on CPython 3.11, plus the client_msg_id string; rounded up).
ENTRY_OVERHEAD = 400


@dataclass(slots=True)
class Acked:
    """One message acked to its author and not confirmed in the store yet."""

    channel: ChannelName
    idempotency_key: str
    #: The author's id for the message, which the stored row carries (design 0033).
    client_msg_id: str
    data: bytes
    offset: Offset
    epoch: Epoch
    #: How often it was published again after a loss.
    resubmits: int = 0


class AckedLog:
    def __init__(
        self, broker: Broker, store: Store, *, max_bytes: int, check_seconds: float = 1.0
    ) -> None:
        self._broker = broker
        self._store = store
        self._max_bytes = max_bytes
        self._check_seconds = check_seconds
        #: In ack order (the oldest is dropped first), keyed by (channel, idempotency key).
        self._entries: OrderedDict[tuple[ChannelName, str], Acked] = OrderedDict()
        self._bytes = 0
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """What the kept entries count against ``max_bytes``."""
        return self._bytes

    def add(
        self,
        channel: ChannelName,
        idempotency_key: str,
        client_msg_id: str,
        data: bytes,
        result: PublishResult,
    ) -> None:
        """Keep a copy of an acked publication (the publish path: no I/O). A duplicate of one
        already kept changes nothing; one first published by another gateway (its author
        retried here after that one died) is kept too: it costs a check, never a copy."""
        key = (channel, idempotency_key)
        if key in self._entries:
            return
        self._entries[key] = Acked(
            channel, idempotency_key, client_msg_id, data, result.offset, result.epoch
        )
        self._bytes += len(data) + ENTRY_OVERHEAD
        while self._bytes > self._max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped.data) + ENTRY_OVERHEAD
            STATS["acked_dropped"] += 1
        if not self._wake.is_set():
            self._wake.set()

    async def run(self) -> None:
        """Check every ``check_seconds`` while anything is kept (the gateway's life)."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._check_seconds)
            if not self._entries:
                self._wake.clear()
                continue
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking acked publications failed; trying again")

    async def drain(self, seconds: float) -> int:
        """Check until everything is confirmed or ``seconds`` passed (a graceful shutdown, so
        a restarted gateway leaves nothing behind that only it knew); returns what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._entries and loop.time() < deadline:
            with contextlib.suppress(Exception):
                await self.check()
            if self._entries:
                await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
        if self._entries:
            log.warning(
                "shutting down with %d acked publications not yet seen in the store (they are "
                "in Redis; the persist worker writes them unless Redis loses them too)",
                len(self._entries),
            )
        return len(self._entries)

    async def check(self) -> None:
        """Drop what the store confirms; re-submit what a lost epoch took."""
        by_channel: dict[ChannelName, list[Acked]] = {}
        for entry in self._entries.values():
            by_channel.setdefault(entry.channel, []).append(entry)
        for channel, entries in by_channel.items():
            # The channel's order, not the ack order: concurrent publishes' acks can come back
            # out of order (the broker has several pipelines in flight).
            entries.sort(key=lambda entry: (entry.epoch, entry.offset))
            try:
                await self._check_channel(channel, entries)
            except BrokerUnavailable:
                return  # Redis is away: nothing can be re-submitted now; the next round tries
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The database away, most likely: every second, so no traceback each time.
                log.warning("checking acked publications of %s failed: %r", channel, exc)

    async def _check_channel(self, channel: ChannelName, entries: list[Acked]) -> None:
        first = min(entry.offset for entry in entries)
        last = max(entry.offset for entry in entries)
        stored = await self._store.stored_ids(channel, first, last)
        # Read after the store: an epoch still current now means any later seed sees the row.
        position = await self._broker.position(channel)
        for entry in entries:
            row = stored.get(entry.offset)
            if entry.epoch == position.epoch:
                if row == (entry.epoch, entry.client_msg_id):
                    self._forget(entry)
                    continue
                if row is None or entry.offset > position.offset:
                    continue  # not written yet (the worker's lag)
                # Another message holds its offset in its own epoch: the counter went back
                # without a new epoch (a failover to a replica that lagged); this one is lost.
            # Else the epoch that acked it is gone. Even a row stored in it may sit above the
            # new epoch's seed and be replaced when that offset is handed out again, so publish
            # it anew; the store keeps the newer copy only.
            result = await self._broker.publish(
                channel, entry.data, idempotency_key=entry.idempotency_key
            )
            if result.duplicate and (
                result.epoch < position.epoch
                or (result.offset, result.epoch) == (entry.offset, entry.epoch)
            ):
                # Its dedupe key outlived the counter (a partial loss) and names the lost copy;
                # it expires within the dedupe window (10 minutes), then this goes through.
                log.warning(
                    "acked %s of %s waits for its dedupe key", entry.idempotency_key, channel
                )
                continue
            entry.offset, entry.epoch = result.offset, result.epoch
            entry.resubmits += 1
            STATS["acked_resubmitted"] += 1
            log.info(
                "re-submitted acked %s of %s as offset %d of epoch %d (Redis lost it)",
                entry.idempotency_key,
                channel,
                result.offset,
                result.epoch,
            )

    def _forget(self, entry: Acked) -> None:
        if self._entries.pop((entry.channel, entry.idempotency_key), None) is not None:
            self._bytes -= len(entry.data) + ENTRY_OVERHEAD
