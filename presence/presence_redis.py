"""Presence in Redis for the scaled mode: any gateway may join, leave, refresh, read or expire any
channel's entries, each operation one atomic Lua script (``presence/lua/``).

Keys, per channel, all built by ``_ChannelKeys`` (the channel in braces is a cluster hash tag,
so one channel's keys share a slot)::

    {prefix}presence:{<channel>}:exp    ZSET  conn_id -> expiry (Redis-server ms)
    {prefix}presence:{<channel>}:conn   HASH  conn_id -> "<user_id>\\t<name>"
    {prefix}presence:{<channel>}:user   HASH  user_id -> JSON list of the user's conn_ids
    {prefix}presence:{<channel>}:left   ZSET  conn_id -> when it left (ms), kept one ttl

Each join/refresh (leave, for ``left``) gives the keys a TTL of ``KEY_TTL_FACTOR * ttl``, so a
channel nobody refreshes any more disappears. Expiry is judged by the Redis server's clock
(``TIME`` inside the scripts), so gateways with skewed clocks agree. ``presence/lua/common.lua``
explains the semantics the scripts share.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.crc import key_slot

from linli.types import ChannelName, ConnId, UserId
from presence.presence import PresenceMember

#: Channel keys live this many entry TTLs after the last join/refresh.
KEY_TTL_FACTOR = 3
#: Expired entries swept per script call; ``expire`` loops until the channel is clean.
EXPIRE_BATCH = 500


@dataclass(frozen=True, slots=True)
class _ChannelKeys:
    exp: str
    conn: str
    user: str
    left: str

    @classmethod
    def of(cls, prefix: str, channel: ChannelName) -> _ChannelKeys:
        base = f"{prefix}presence:{{{channel}}}:"
        return cls(exp=f"{base}exp", conn=f"{base}conn", user=f"{base}user", left=f"{base}left")

    def all(self) -> list[str]:
        return [self.exp, self.conn, self.user, self.left]


def _script(redis: aioredis.Redis | aioredis.RedisCluster, name: str) -> AsyncScript:
    lua = resources.files("presence").joinpath("lua")
    common = lua.joinpath("common.lua").read_text(encoding="utf-8")
    body = lua.joinpath(name).read_text(encoding="utf-8")
    return redis.register_script(f"{common}\n{body}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: list[Any]) -> list[PresenceMember]:
    # Scripts answer flat lists: user_id, name, user_id, name, ...
    return [
        PresenceMember(UserId(int(flat[i])), _text(flat[i + 1])) for i in range(0, len(flat), 2)
    ]


class RedisPresence:
    def __init__(
        self,
        redis: aioredis.Redis | aioredis.RedisCluster,
        *,
        prefix: str = "linli:",
        ttl: float = 30.0,
    ) -> None:
        self.ttl = ttl
        self._redis = redis
        #: Under Redis Cluster one script call may only touch one slot (``refresh``).
        self._cluster = isinstance(redis, aioredis.RedisCluster)
        self._prefix = prefix
        self._ttl_ms = max(1, round(ttl * 1000))
        self._key_ttl_ms = self._ttl_ms * KEY_TTL_FACTOR
        self._join = _script(redis, "join.lua")
        self._leave = _script(redis, "leave.lua")
        self._refresh = _script(redis, "refresh.lua")
        self._expire = _script(redis, "expire.lua")
        self._members = _script(redis, "members.lua")

    def _keys(self, channel: ChannelName) -> _ChannelKeys:
        return _ChannelKeys.of(self._prefix, channel)

    async def join(self, channel: ChannelName, conn_id: ConnId, member: PresenceMember) -> bool:
        result = await self._join(
            keys=self._keys(channel).all(),
            args=[conn_id, member.user_id, member.name, self._ttl_ms, self._key_ttl_ms],
        )
        return bool(result)

    async def leave(self, channel: ChannelName, conn_id: ConnId, user_id: UserId) -> bool:
        # user_id is not sent: the entry knows its user, so a mismatched argument cannot
        # corrupt another user's connection list.
        result = await self._leave(
            keys=self._keys(channel).all(), args=[conn_id, self._ttl_ms, self._key_ttl_ms]
        )
        return bool(result)

    async def refresh(self, entries: list[tuple[ChannelName, ConnId, PresenceMember]]) -> None:
        if not entries:
            return
        by_channel: dict[ChannelName, list[tuple[ConnId, PresenceMember]]] = {}
        for channel, conn_id, member in entries:
            by_channel.setdefault(channel, []).append((conn_id, member))
        # One script call for every channel: one round trip (a pipeline of per-channel calls
        # would add a SCRIPT EXISTS round trip each time). Under Redis Cluster a call may only
        # touch one slot: one call per slot, all at once (the client sends each to its node).
        if not self._cluster:
            await self._refresh_group(list(by_channel.items()))
            return
        by_slot: dict[int, list[tuple[ChannelName, list[tuple[ConnId, PresenceMember]]]]] = {}
        for channel, conns in by_channel.items():
            by_slot.setdefault(key_slot(channel.encode()), []).append((channel, conns))
        await asyncio.gather(*(self._refresh_group(group) for group in by_slot.values()))

    async def _refresh_group(
        self, group: list[tuple[ChannelName, list[tuple[ConnId, PresenceMember]]]]
    ) -> None:
        keys: list[str] = []
        args: list[str | int] = [self._ttl_ms, self._key_ttl_ms]
        for channel, conns in group:
            keys.extend(self._keys(channel).all())
            args.append(len(conns))
            for conn_id, member in conns:
                args.extend((conn_id, member.user_id, member.name))
        await self._refresh(keys=keys, args=args)

    async def members(self, channel: ChannelName) -> list[PresenceMember]:
        keys = self._keys(channel)
        flat: list[bytes] = await self._members(keys=[keys.exp, keys.conn])
        # Ascending expiry: a user's most recently joined/refreshed name wins.
        by_user = {m.user_id: m for m in _pairs(flat)}
        return [by_user[uid] for uid in sorted(by_user)]

    async def expire(self, channel: ChannelName) -> list[PresenceMember]:
        ck = self._keys(channel)
        keys = [ck.exp, ck.conn, ck.user]
        gone: dict[UserId, PresenceMember] = {}
        while True:
            result: list[Any] = await self._expire(keys=keys, args=[EXPIRE_BATCH])
            more, flat = result[0], result[1:]
            for m in _pairs(flat):
                gone[m.user_id] = m
            if not more:
                return [gone[uid] for uid in sorted(gone)]

    async def close(self) -> None:
        # The caller owns the client.
        return None
