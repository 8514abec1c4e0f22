"""Keeps ``presence/`` in step with the gateway's connections: a join when a connection
subscribes to a building or group channel, a leave when it goes, a periodic refresh of every
live entry's TTL, and the expiry of entries a dead process left behind — each change announced
as a ``join`` / ``leave`` push on the channel.

Presence is a courtesy: a failure here is logged and never fails a subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import msgpack

from channels.broker import Broker
from channels.names import ChannelKind
from gateway.connection import Connection, ConnState
from linli.types import ChannelName, ConnId
from presence.presence import Presence, PresenceMember

log = logging.getLogger(__name__)

#: The channel kinds whose subscribers are shown as present.
PRESENCE_KINDS = (ChannelKind.BUILDING, ChannelKind.GROUP)


class PresenceSync:
    def __init__(self, broker: Broker, presence: Presence, ttl: float) -> None:
        self.broker = broker
        self.presence = presence
        self.ttl = ttl

    async def _announce(self, kind: str, name: ChannelName, member: PresenceMember) -> None:
        data = msgpack.packb(
            {"push": kind, "channel": name, "user": {"id": member.user_id, "name": member.name}}
        )
        await self.broker.publish_ephemeral(name, data)

    async def join(self, conn: Connection, name: ChannelName) -> None:
        p = conn.principal
        member = PresenceMember(p.user_id, p.display_name)
        try:
            if await self.presence.join(name, conn.conn_id, member):
                await self._announce("join", name, member)
        except Exception:
            log.warning("presence join failed for %s", name, exc_info=True)

    async def leave(self, conn: Connection, name: ChannelName) -> None:
        p = conn.principal
        try:
            if await self.presence.leave(name, conn.conn_id, p.user_id):
                await self._announce("leave", name, PresenceMember(p.user_id, p.display_name))
        except Exception:
            log.warning("presence leave failed for %s", name, exc_info=True)

    async def run(
        self, connections: Mapping[ConnId, Connection], channels: Mapping[ChannelName, object]
    ) -> None:
        """Every third of the TTL: refresh the entries of this process's open connections and
        announce the members whose entries expired, on the channels this process has hubs for."""
        interval = self.ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                entries = [
                    (
                        name,
                        conn.conn_id,
                        PresenceMember(conn.principal.user_id, conn.principal.display_name),
                    )
                    for conn in connections.values()
                    if conn.state is ConnState.OPEN
                    for name in conn.subscriptions
                    if name.split(":", 1)[0] in PRESENCE_KINDS
                ]
                if entries:
                    await self.presence.refresh(entries)
                for name in list(channels):
                    if name.split(":", 1)[0] not in PRESENCE_KINDS:
                        continue
                    for member in await self.presence.expire(name):
                        await self._announce("leave", name, member)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence refresh failed", exc_info=True)
