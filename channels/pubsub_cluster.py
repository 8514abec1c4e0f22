"""Sharded pub/sub over a Redis Cluster: one ``RedisPubSub`` link per master that owns a slot
this process listens to (design 0034).

redis-py's asyncio ``RedisCluster.pubsub()`` can SSUBSCRIBE today, but it is redis-py's
``PubSub`` per node, with the per-message cost and the silent resubscription that
``channels.pubsub_redis`` exists to avoid. So this keeps that link, one per node, and adds what a
cluster needs on top:

* A channel is subscribed on the master that owns its slot, as the client's slot map says.
* When a link is lost, or its node says a channel is no longer its own (an unasked
  ``sunsubscribe`` after a failover or a resharding, a ``MOVED``), the slot map is read again;
  channels whose owner changed are moved to the new owner's link (``RedisPubSub.forget`` on the
  old one), and once every moved channel is confirmed ``on_reconnect`` is reported: messages
  published meanwhile are lost (pub/sub is at most once) and the gateway recovers them from the
  hot history. While a lost node is still the owner (its failover not decided yet), the map is
  read again every ``_REMAP_INTERVAL``.
* A link left without channels is closed.

Same guarantees to its ``PubSubEvents`` as ``RedisPubSub``, across nodes: ``on_message`` in the
order each node sent them (no order between channels of different nodes, as between channels
anyway), ``on_reconnect`` after any window in which a message may have been missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot

from channels.broker import BrokerUnavailable
from channels.pubsub_redis import Moved, PubSubEvents, RedisPubSub
from linli.types import ChannelName

log = logging.getLogger(__name__)

#: How often the slot map is read again while a link is down or a move failed (seconds).
_REMAP_INTERVAL = 0.25


class _Forward:
    """A link's events, passed on to the cluster pub/sub's own."""

    __slots__ = ("_owner",)

    def __init__(self, owner: ClusterPubSub) -> None:
        self._owner = owner

    def on_message(self, channel: ChannelName, data: bytes) -> None:
        events = self._owner.events
        if events is not None:
            events.on_message(channel, data)

    def on_reconnect(self) -> None:
        self._owner.notify_reconnect()


class ClusterPubSub:
    """The ``RedisPubSub`` interface (start, close, subscribe, unsubscribe) over the masters of
    a cluster, with shard channels (SSUBSCRIBE)."""

    def __init__(
        self,
        redis: aioredis.RedisCluster,
        *,
        subscribe_timeout: float = 5.0,
        ping_interval: float = 5.0,
    ) -> None:
        self._redis = redis
        self._subscribe_timeout = subscribe_timeout
        self._ping_interval = ping_interval
        self.events: PubSubEvents | None = None
        self._forward = _Forward(self)
        #: node name ("host:port") -> its link.
        self._links: dict[str, RedisPubSub] = {}
        #: pub/sub channel name -> (channel, name of the node whose link carries it).
        self._owners: dict[bytes, tuple[ChannelName, str]] = {}
        self._remap_needed = asyncio.Event()
        self._remapper: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, events: PubSubEvents) -> None:
        """Reads the slot map (raises ``BrokerUnavailable`` when no node answers); links are
        opened as channels are subscribed."""
        self.events = events
        self._closing = False
        try:
            await asyncio.wait_for(self._redis.initialize(), self._subscribe_timeout)
        except Exception as exc:
            raise BrokerUnavailable(f"cannot reach the Redis Cluster: {exc}") from exc
        self._remapper = asyncio.create_task(self._remap_loop(), name="redis-cluster-remap")

    async def close(self) -> None:
        self._closing = True
        task, self._remapper = self._remapper, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        links, self._links = self._links, {}
        await asyncio.gather(*(link.close() for link in links.values()))
        self._owners.clear()
        self.events = None

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, name: bytes, channel: ChannelName) -> None:
        """Returns once the owner of the channel's slot confirmed it; ``BrokerUnavailable``
        after ``subscribe_timeout`` (e.g. while its slot has no master)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._subscribe_timeout
        while True:
            node = self._owner_of(name)
            self._owners[name] = (channel, node)
            link = await self._link(node)
            try:
                await asyncio.wait_for(link.subscribe(name, channel), deadline - loop.time())
                return
            except Moved:
                continue  # the slot map changed meanwhile: subscribe at the new owner
            except (TimeoutError, BrokerUnavailable):
                if self._owners.get(name, (None, None))[1] == node:
                    self._owners.pop(name, None)
                link.forget(name)
                raise BrokerUnavailable(f"subscribing to {channel} timed out") from None

    def unsubscribe(self, name: bytes) -> None:
        owner = self._owners.pop(name, None)
        if owner is None:
            return
        link = self._links.get(owner[1])
        if link is not None:
            link.unsubscribe(name)

    # -- nodes -----------------------------------------------------------------------------

    def _owner_of(self, name: bytes) -> str:
        node = self._redis.nodes_manager.get_node_from_slot(key_slot(name))
        return str(node.name)

    async def _link(self, node_name: str) -> RedisPubSub:
        link = self._links.get(node_name)
        if link is not None:
            return link
        node = self._redis.get_node(node_name=node_name)
        if node is None:
            raise BrokerUnavailable(f"no Redis Cluster node {node_name}")
        kwargs: dict[str, Any] = dict(node.connection_kwargs)
        link = RedisPubSub(
            None,
            subscribe_timeout=self._subscribe_timeout,
            ping_interval=self._ping_interval,
            node=(node.connection_class, kwargs),
            sharded=True,
            on_trouble=self._remap_needed.set,
        )
        self._links[node_name] = link
        try:
            await link.start(self._forward)
        except BrokerUnavailable:
            if self._links.get(node_name) is link:
                del self._links[node_name]
            raise
        return link

    def notify_reconnect(self) -> None:
        events = self.events
        if events is not None:
            try:
                events.on_reconnect()
            except Exception:
                log.exception("on_reconnect failed")

    # -- following the slot map ------------------------------------------------------------

    async def _remap_loop(self) -> None:
        while not self._closing:
            await self._remap_needed.wait()
            self._remap_needed.clear()
            try:
                again = await self._remap()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading the Redis Cluster slot map failed: %s", exc)
                again = True
            if again:
                await asyncio.sleep(_REMAP_INTERVAL)
                self._remap_needed.set()

    async def _remap(self) -> bool:
        """Move every channel whose slot changed owner. True: look again later (a link is down
        and its node still owns slots, or a move failed)."""
        await self._redis.nodes_manager.initialize()
        moves: dict[str, list[tuple[bytes, ChannelName]]] = {}
        for name, (channel, node) in list(self._owners.items()):
            owner = self._owner_of(name)
            if owner != node:
                old = self._links.get(node)
                if old is not None:
                    old.forget(name)
                self._owners[name] = (channel, owner)
                moves.setdefault(owner, []).append((name, channel))
        again = False
        if moves:
            log.warning(
                "Redis Cluster slots moved: %d channels change node",
                sum(len(m) for m in moves.values()),
            )
            results = await asyncio.gather(
                *(self._move(node, items) for node, items in moves.items()),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    log.warning("moving channels to their new node failed: %s", result)
                    again = True
            # Whatever was published while a channel was between nodes is lost to this
            # process: the gateway recovers it from the history.
            self.notify_reconnect()
        in_use = {node for _, node in self._owners.values()}
        for node_name in list(self._links):
            link = self._links[node_name]
            if node_name not in in_use and not link.names:
                del self._links[node_name]
                await link.close()
            elif not link.up:
                again = True
        return again

    async def _move(self, node: str, items: list[tuple[bytes, ChannelName]]) -> None:
        link = await self._link(node)
        await asyncio.gather(*(link.subscribe(name, channel) for name, channel in items))
