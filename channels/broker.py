"""The Broker interface: ordered, offset-numbered publications per channel, live fan-out to the
gateway processes that subscribe, and a bounded hot history for recovery.

Guarantees every backend gives (``tests/contract/test_broker.py`` checks them):

* **Offsets.** Each durable publication gets the channel's next offset: strictly increasing and
  dense (no holes) within one epoch. The first offset of an epoch is ``seed(channel) + 1``, where
  ``seed`` is the highest offset already persisted for the channel, so offsets never go
  backwards across restarts and never collide with stored history.
* **Epochs.** A channel's epoch changes only when its offset counter was lost (a Redis that
  restarted empty, an embedded process that restarted). Epochs grow with time (they are the
  milliseconds at which the counter was seeded).
* **Atomicity.** ``publish`` assigns the offset, appends to the hot history, appends to the
  ``persist`` work queue (when asked) and sends to live subscribers in one indivisible step: no
  other publication of the channel can interleave, and nothing is half done.
* **Idempotency.** A publish with an ``idempotency_key`` already used on that channel within the
  dedupe window (``dedupe_ttl``, default 10 minutes) returns the first result with
  ``duplicate=True`` and changes nothing.
* **Durability of the ack.** When ``publish`` returns, the publication is in the hot history and
  (for ``persist=True``) in the work queue: a Redis stream in the scaled mode, the in-process
  queue in the embedded mode.
* **Live delivery is at most once.** Live publications reach ``BrokerEvents.on_publication`` in
  offset order per channel, but may be missed (a pub/sub connection dropping). The gateway
  detects holes by offset and fills them from ``history``; ``BrokerEvents.on_reconnect`` tells
  it when the upstream link was re-established and holes are likely.
* **Hot history** keeps at least the last ``history_size`` publications of each channel (Redis
  trims approximately, so it may keep a few more), for ``history_ttl`` after the last publish.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from linli.types import ChannelName, Epoch, Offset

#: Gives the highest offset already persisted for a channel (0 when none); the broker seeds a
#: new epoch's counter from it.
OffsetSeed = Callable[[ChannelName], Awaitable[Offset]]


@dataclass(frozen=True, slots=True)
class Publication:
    channel: ChannelName
    offset: Offset
    epoch: Epoch
    #: Opaque to the broker: the gateway's msgpack-encoded message body.
    data: bytes


@dataclass(frozen=True, slots=True)
class PublishResult:
    offset: Offset
    epoch: Epoch
    #: True when the idempotency key had been used: nothing new was published.
    duplicate: bool


@dataclass(frozen=True, slots=True)
class StreamPosition:
    #: The channel's last offset (the seed when nothing was published in this epoch yet).
    offset: Offset
    epoch: Epoch


@dataclass(frozen=True, slots=True)
class HistorySlice:
    #: Ascending by offset.
    publications: list[Publication]
    #: The channel's top at the moment of the read.
    position: StreamPosition
    #: The smallest offset the hot history still holds (``position.offset + 1`` when it holds
    #: none). A caller asking for offsets below it must look in the store.
    first_retained: Offset


class BrokerEvents(Protocol):
    """What a gateway process receives from the broker. Called on the event loop; must not block."""

    def on_publication(self, publication: Publication) -> None: ...

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None: ...

    def on_reconnect(self) -> None:
        """The upstream link was lost and is back, subscriptions restored; publications may have
        been missed in between."""


class Broker(Protocol):
    async def start(self, events: BrokerEvents) -> None:
        """Connect and start delivering subscribed channels' publications to ``events``."""

    async def close(self) -> None: ...

    async def publish(
        self,
        channel: ChannelName,
        data: bytes,
        *,
        idempotency_key: str | None = None,
        persist: bool = True,
    ) -> PublishResult:
        """Publish durably (see the module docstring). ``persist=False`` keeps it out of the
        ``persist`` work queue (derived events such as tallies, which the store does not keep).
        Raises ``BrokerUnavailable`` when the backend cannot be reached."""

    async def publish_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        """Send to live subscribers only: no offset, no history (presence join/leave)."""

    async def subscribe(self, channel: ChannelName) -> None:
        """Start receiving the channel's live publications in this process. Idempotent. When it
        returns, every publication made after it is delivered (barring a dropped link)."""

    async def unsubscribe(self, channel: ChannelName) -> None: ...

    async def position(self, channel: ChannelName) -> StreamPosition:
        """The channel's top offset and epoch, seeding the counter if it has none."""

    async def history(
        self,
        channel: ChannelName,
        *,
        after: Offset = 0,
        before: Offset | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> HistorySlice:
        """Hot-history publications with ``after < offset < before``, ascending, at most
        ``limit``: the oldest ones of that range, or the newest ones when ``newest``."""


class BrokerUnavailable(Exception):
    """The broker's backend cannot be reached right now; the operation may be retried."""
