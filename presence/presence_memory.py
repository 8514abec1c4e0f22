"""In-process presence for the embedded mode: the same semantics as ``RedisPresence``.

An entry is live while ``expiry > clock()``. Expired entries stay until ``expire`` sweeps them,
because whoever removes a user's last entry owes the "user left" announcement; ``join`` and
``leave`` therefore treat expired entries exactly like the Lua scripts do (see
``presence/lua/common.lua``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from linli.types import ChannelName, ConnId, UserId
from presence.presence import PresenceMember


@dataclass(slots=True)
class _Entry:
    member: PresenceMember
    expiry: float


@dataclass(slots=True)
class _Channel:
    entries: dict[ConnId, _Entry] = field(default_factory=dict)
    #: Each user's conn ids still held in ``entries`` (live or not).
    by_user: dict[UserId, set[ConnId]] = field(default_factory=dict)

    def drop(self, conn_id: ConnId) -> None:
        entry = self.entries.pop(conn_id)
        conns = self.by_user[entry.member.user_id]
        conns.discard(conn_id)
        if not conns:
            del self.by_user[entry.member.user_id]

    def attach(self, conn_id: ConnId, member: PresenceMember, expiry: float) -> None:
        previous = self.entries.get(conn_id)
        if previous is not None and previous.member.user_id != member.user_id:
            # A conn id reused for another user (a caller bug): keep by_user consistent.
            self.drop(conn_id)
        self.entries[conn_id] = _Entry(member, expiry)
        self.by_user.setdefault(member.user_id, set()).add(conn_id)


class MemoryPresence:
    def __init__(self, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._channels: dict[ChannelName, _Channel] = {}
        #: (channel, conn) -> when it left, oldest first: a refresh racing a leave must not
        #: re-add the connection. Kept one ttl, as in Redis.
        self._left: dict[tuple[ChannelName, ConnId], float] = {}

    def _live(self, ch: _Channel, conn_id: ConnId, now: float) -> bool:
        entry = ch.entries.get(conn_id)
        return entry is not None and entry.expiry > now

    def _forget_if_empty(self, channel: ChannelName) -> None:
        ch = self._channels.get(channel)
        if ch is not None and not ch.entries:
            del self._channels[channel]

    async def join(self, channel: ChannelName, conn_id: ConnId, member: PresenceMember) -> bool:
        now = self._clock()
        # A connection may leave a channel and join it again: its refreshes count again.
        self._left.pop((channel, conn_id), None)
        ch = self._channels.setdefault(channel, _Channel())
        had_live = False
        for other in sorted(ch.by_user.get(member.user_id, ())):
            if self._live(ch, other, now):
                had_live = True
            elif other != conn_id:
                # The user's expired, unswept tab: they are present again, so no leave is owed.
                ch.drop(other)
        ch.attach(conn_id, member, now + self.ttl)
        return not had_live

    async def leave(self, channel: ChannelName, conn_id: ConnId, user_id: UserId) -> bool:
        # user_id is not needed: the entry knows its user (as in the Redis backend).
        now = self._clock()
        self._tombstone(channel, conn_id, now)
        ch = self._channels.get(channel)
        if ch is None or not self._live(ch, conn_id, now):
            # Unknown, already gone, or expired and owed to ``expire`` for announcing.
            return False
        uid = ch.entries[conn_id].member.user_id
        ch.drop(conn_id)
        rest = sorted(ch.by_user.get(uid, ()))
        if any(self._live(ch, c, now) for c in rest):
            return False
        # Announced now: a later sweep must not announce the same departure again.
        for c in rest:
            ch.drop(c)
        self._forget_if_empty(channel)
        return True

    def _tombstone(self, channel: ChannelName, conn_id: ConnId, now: float) -> None:
        # Oldest first, so trimming stops at the first tombstone young enough to matter.
        while self._left:
            key, at = next(iter(self._left.items()))
            if at > now - self.ttl:
                break
            del self._left[key]
        self._left.pop((channel, conn_id), None)  # re-insert at the end: keeps oldest first
        self._left[(channel, conn_id)] = now

    async def refresh(self, entries: list[tuple[ChannelName, ConnId, PresenceMember]]) -> None:
        now = self._clock()
        expiry = now + self.ttl
        for channel, conn_id, member in entries:
            left_at = self._left.get((channel, conn_id))
            if left_at is not None and left_at > now - self.ttl:
                continue  # this refresh raced the connection's leave
            # Re-adds a swept entry: the caller says the connection is alive.
            self._channels.setdefault(channel, _Channel()).attach(conn_id, member, expiry)

    async def members(self, channel: ChannelName) -> list[PresenceMember]:
        now = self._clock()
        ch = self._channels.get(channel)
        if ch is None:
            return []
        live = sorted(
            (entry.expiry, conn_id, entry.member)
            for conn_id, entry in ch.entries.items()
            if entry.expiry > now
        )
        # Ascending expiry, so a user's most recently joined/refreshed name wins (as in Redis).
        by_user = {member.user_id: member for _, _, member in live}
        return [by_user[uid] for uid in sorted(by_user)]

    async def expire(self, channel: ChannelName) -> list[PresenceMember]:
        now = self._clock()
        ch = self._channels.get(channel)
        if ch is None:
            return []
        expired = sorted(
            (entry.expiry, conn_id) for conn_id, entry in ch.entries.items() if entry.expiry <= now
        )
        gone: dict[UserId, PresenceMember] = {}
        for _, conn_id in expired:
            member = ch.entries[conn_id].member
            ch.drop(conn_id)
            # Only a user with no entry left is gone; a live tab keeps them present.
            if member.user_id not in ch.by_user:
                gone[member.user_id] = member
        self._forget_if_empty(channel)
        return [gone[uid] for uid in sorted(gone)]

    async def close(self) -> None:
        self._channels.clear()
        self._left.clear()
