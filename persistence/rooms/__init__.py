"""The chat rooms' own state beside their messages: the pinned message of a room.

A room has at most one pin (pinning another replaces it); the pin keeps a copy of the message
(author, text, whether it was an official post) so the top of the room shows it without reading
the history. Implemented in SQL by ``persistence.rooms.sql.SqlRoomStore``; the contract suite runs
it on both databases. Times are milliseconds passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from linli.types import ChannelName, Millis, Offset, UserId


@dataclass(frozen=True, slots=True)
class Pin:
    channel: ChannelName
    offset: Offset
    author_id: UserId | None
    author_name: str
    body: str
    official: bool
    posted_at: Millis
    pinned_by: UserId
    pinned_at: Millis


class RoomStore(Protocol):
    async def pin(self, pin: Pin) -> None:
        """Make ``pin`` the room's pin (replacing any other)."""

    async def unpin(self, channel: ChannelName) -> Pin | None:
        """Remove the room's pin; the pin removed, None when there was none."""

    async def pin_of(self, channel: ChannelName) -> Pin | None: ...

    async def pins(self, channels: list[ChannelName]) -> dict[ChannelName, Pin]:
        """The rooms' pins as readers see them: with the message's current text (its author's
        edit), and none for a message its author deleted or moderation hid or deleted (the pin
        must not outlive the message)."""
