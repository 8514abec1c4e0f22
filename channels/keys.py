"""Every Redis key and pub/sub channel name the channels package uses, in one place.

A channel name is wrapped in braces (``linli:meta:{building:3}``): channel names contain colons,
so without a delimiter ``dedupe:<channel>:<key>`` would be ambiguous (channel ``dm:1`` with key
``2:x`` against channel ``dm:1:2`` with key ``x``); braces are also a Redis Cluster hash tag, so
a channel's keys share a slot. Channel names never contain braces (see ``channels.names``).
"""

from __future__ import annotations

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
