"""Every Redis key and pub/sub channel name the channels package uses, in one place.

A channel name is wrapped in braces (``linli:meta:{building:3}``): channel names contain colons,
so without a delimiter ``dedupe:<channel>:<key>`` would be ambiguous (channel ``dm:1`` with key
``2:x`` against channel ``dm:1:2`` with key ``x``); braces are also a Redis Cluster hash tag, so
a channel's keys share a slot. Channel names never contain braces (see ``channels.names``).
"""

from __future__ import annotations

import hashlib

from channels.workqueue import PERSIST_QUEUE
from linli.types import ChannelName

DEFAULT_PREFIX = "linli:"


class Keys:
    """Key names under one prefix (one Linli deployment, or one test)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix

    def meta(self, channel: ChannelName) -> str:
        """Hash with the channel's counter: fields ``offset`` and ``epoch``."""
        return f"{self.prefix}meta:{{{channel}}}"

    def history(self, channel: ChannelName) -> str:
        """Stream of the channel's hot history; entry id ``<offset>-1``, fields ``e`` (epoch)
        and ``d`` (data)."""
        return f"{self.prefix}hist:{{{channel}}}"

    def dedupe(self, channel: ChannelName, idempotency_key: str) -> str:
        """String ``"<offset> <epoch>"`` remembering a publish's result for the dedupe window."""
        return f"{self.prefix}dedupe:{{{channel}}}:{idempotency_key}"

    def pubsub(self, channel: ChannelName) -> str:
        """Pub/sub channel carrying the channel's live frames."""
        return f"{self.prefix}ch:{{{channel}}}"

    def work(self, queue: str) -> str:
        """Stream of a work queue."""
        return f"{self.prefix}work:{queue}"

    def queue_dedupe(self, queue: str, idempotency_key: str) -> str:
        """Marker of an idempotency key used with ``WorkQueue.submit`` (a namespace apart from
        channel dedupe keys, so a queue and a channel of the same name cannot collide)."""
        return f"{self.prefix}qdedupe:{queue}:{idempotency_key}"

    def claims(self, queue: str, name: str) -> str:
        """Hash of a claims set (``WorkQueue.seed_claims``)."""
        return f"{self.prefix}claims:{queue}:{name}"

    def persist_work(self, channel: ChannelName) -> str:
        """The persist-queue stream a channel's publications are appended to."""
        return self.work(PERSIST_QUEUE)

    def work_streams(self, queue: str) -> list[str]:
        """Every stream of a queue: one, unless the queue is sharded (``ClusterKeys``)."""
        return [self.work(queue)]


#: Shards of the persist queue under Redis Cluster (``ClusterKeys``): every process of an
#: installation must use the same number (changing it needs the queue drained first).
DEFAULT_PERSIST_SHARDS = 16
_SLOTS = 16384
_SHARD_CACHE = 100_000


def _shard_tags(shards: int) -> tuple[str, ...]:
    """One hash tag per shard whose slot lies in the shard's 1/``shards`` of the slot range, so
    the shards spread over the masters as evenly as the slots do (``redis-cli --cluster create``
    gives each master a contiguous range). Found by trying ``p<k>.<i>`` in turn: about
    ``shards`` tries each, once per process."""
    from redis.crc import key_slot

    tags = []
    for k in range(shards):
        low, high = k * _SLOTS // shards, (k + 1) * _SLOTS // shards
        i = 0
        while not low <= key_slot(f"p{k}.{i}".encode()) < high:
            i += 1
        tags.append(f"p{k}.{i}")
    return tuple(tags)


class ClusterKeys(Keys):
    """Key names for Redis Cluster (design 0034). A script's keys must share one slot, and
    publish.lua writes the channel's keys *and* the persist queue: so a channel's keys carry the
    hash tag of one of ``shards`` persist-queue shards (picked by a hash of the channel's
    name), with the channel in a second pair of braces that only delimits it. Other queues are
    tagged by their name: a queue, its dedupe markers and its claims share a slot. Presence keys
    keep ``{channel}`` (``presence.presence_redis``): nothing else shares their scripts."""

    __slots__ = ("_shard_of", "_tags")

    def __init__(self, prefix: str = DEFAULT_PREFIX, shards: int = DEFAULT_PERSIST_SHARDS) -> None:
        super().__init__(prefix)
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self._tags = _shard_tags(shards)
        #: channel -> shard, for the channels in use (a hash per publish otherwise).
        self._shard_of: dict[ChannelName, int] = {}

    @property
    def shards(self) -> int:
        return len(self._tags)

    def shard(self, channel: ChannelName) -> int:
        """The persist-queue shard of a channel, from a hash of its name. Not from its CRC16
        slot: names that differ only at the end (``building:1`` … ``building:40``) have slots
        whose high bits agree, and landed in 4 of 8 shards."""
        shard = self._shard_of.get(channel)
        if shard is None:
            digest = hashlib.blake2b(channel.encode(), digest_size=8).digest()
            shard = int.from_bytes(digest, "big") % len(self._tags)
            if len(self._shard_of) >= _SHARD_CACHE:
                self._shard_of.clear()
            self._shard_of[channel] = shard
        return shard

    def _tag(self, channel: ChannelName) -> str:
        return f"{{{self._tags[self.shard(channel)]}}}{{{channel}}}"

    def meta(self, channel: ChannelName) -> str:
        return f"{self.prefix}meta:{self._tag(channel)}"

    def history(self, channel: ChannelName) -> str:
        return f"{self.prefix}hist:{self._tag(channel)}"

    def dedupe(self, channel: ChannelName, idempotency_key: str) -> str:
        return f"{self.prefix}dedupe:{self._tag(channel)}:{idempotency_key}"

    def pubsub(self, channel: ChannelName) -> str:
        """A shard channel (SPUBLISH/SSUBSCRIBE) in the slot of the channel's keys."""
        return f"{self.prefix}ch:{self._tag(channel)}"

    def persist_work(self, channel: ChannelName) -> str:
        return self._persist_stream(self.shard(channel))

    def _persist_stream(self, shard: int) -> str:
        return f"{self.prefix}work:{{{self._tags[shard]}}}persist"

    def work_streams(self, queue: str) -> list[str]:
        if queue == PERSIST_QUEUE:
            return [self._persist_stream(k) for k in range(len(self._tags))]
        return [self.work(queue)]

    def _queue_tag(self, queue: str) -> str:
        # A submit to the sharded persist queue (none in Linli today; tests do) goes to shard 0,
        # with its markers in that shard's slot.
        return f"{{{self._tags[0]}}}persist" if queue == PERSIST_QUEUE else f"{{{queue}}}"

    def work(self, queue: str) -> str:
        """The stream ``submit`` appends to (shard 0 of the persist queue)."""
        return f"{self.prefix}work:{self._queue_tag(queue)}"

    def queue_dedupe(self, queue: str, idempotency_key: str) -> str:
        return f"{self.prefix}qdedupe:{self._queue_tag(queue)}:{idempotency_key}"

    def claims(self, queue: str, name: str) -> str:
        return f"{self.prefix}claims:{self._queue_tag(queue)}:{name}"
