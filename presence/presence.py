"""The Presence interface: who is online in each channel.

Guarantees (``tests/contract/test_presence.py``):

* Presence is kept per *connection* (``conn_id``) and reported per *user*: several tabs or
  devices of one user count as one member. ``join`` says whether the user just became present
  (their first connection in the channel) and ``leave`` whether they just stopped being present
  (their last connection left), so the gateway publishes exactly one join and one leave event per
  user however many tabs they open and close.
* Every entry expires ``ttl`` seconds after its last ``join``/``refresh``; the gateway refreshes
  its live connections every ``ttl / 3``. So a gateway that dies takes its connections out of
  presence within ``ttl`` (plus one sweep interval): ``expire`` removes expired entries and
  returns the users who thereby left, for the caller to announce.
* Correct across processes in the Redis backend: any gateway may join, leave, refresh, read or
  expire any channel's entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from linli.types import ChannelName, ConnId, UserId


@dataclass(frozen=True, slots=True, order=True)
class PresenceMember:
    user_id: UserId
    name: str


class Presence(Protocol):
    ttl: float

    async def join(self, channel: ChannelName, conn_id: ConnId, member: PresenceMember) -> bool:
        """Record the connection; True when the user had no live connection in the channel."""

    async def leave(self, channel: ChannelName, conn_id: ConnId, user_id: UserId) -> bool:
        """Remove the connection; True when it was the user's last live one in the channel.
        Leaving twice, or a connection never joined, returns False."""

    async def refresh(self, entries: list[tuple[ChannelName, ConnId, PresenceMember]]) -> None:
        """Push the expiry of these live connections ``ttl`` seconds ahead (one round trip)."""

    async def members(self, channel: ChannelName) -> list[PresenceMember]:
        """The distinct users with a live (unexpired) connection, sorted by user id."""

    async def expire(self, channel: ChannelName) -> list[PresenceMember]:
        """Drop expired connections; return the users left with no live connection."""

    async def close(self) -> None: ...
