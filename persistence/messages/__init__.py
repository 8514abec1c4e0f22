"""The chat messages feature's store: read positions per user and room, and authors' edits and
deletes of their own messages (docs/design/0027-chat-messages.md).

Guarantees, on both databases:

* **Read positions only move forward.** ``set_read`` keeps the higher of the stored and the given
  offset and answers the result, so a stale device (or a reordered request) cannot make read
  messages unread again.
* **One state per message.** ``chat_message_state`` holds the current text of a message its
  author edited or deleted; ``states`` answers it for a range of offsets in one indexed query (the
  history view reads it per page). A deleted message stays deleted: ``record_edit`` on it changes
  nothing and answers False.
* **History for moderators.** Every edit and delete appends a row to ``chat_message_edits`` with
  the text before (and after) it, on the same transaction as the state change.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from linli.types import ChannelName, Millis, Offset, UserId


class EditAction(enum.StrEnum):
    EDIT = "edit"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class MessageState:
    """A message as its author left it: the current text (kept after a delete, for moderators)."""

    channel: ChannelName
    offset: Offset
    author_id: UserId
    text: str
    edited_at: Millis | None
    deleted_at: Millis | None


@dataclass(frozen=True, slots=True)
class EditRecord:
    id: int
    channel: ChannelName
    offset: Offset
    editor_id: UserId
    action: EditAction
    old_text: str
    new_text: str | None
    at: Millis


class MessagesStore(Protocol):
    async def set_read(
        self, user_id: UserId, channel: ChannelName, offset: Offset, *, now: Millis
    ) -> Offset:
        """Move the user's read position in ``channel`` to ``offset`` unless it is further
        already; the position after the call."""
        ...

    async def reads(self, user_id: UserId) -> dict[ChannelName, Offset]:
        """The user's read position in every room they ever marked."""
        ...

    async def record_edit(
        self,
        channel: ChannelName,
        offset: Offset,
        *,
        author_id: UserId,
        old_text: str,
        new_text: str,
        now: Millis,
    ) -> bool:
        """Set the message's text to ``new_text`` and append the edit to its history. False (and
        nothing changed) when the message is deleted."""
        ...

    async def record_delete(
        self, channel: ChannelName, offset: Offset, *, author_id: UserId, text: str, now: Millis
    ) -> bool:
        """Mark the message deleted (its text kept for moderators) and append it to the history.
        False when it was deleted already (nothing changed)."""
        ...

    async def states(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, MessageState]:
        """The states of the edited or deleted messages with ``first <= offset <= last``."""
        ...

    async def edits(self, channel: ChannelName, offset: Offset) -> list[EditRecord]:
        """The message's edits and delete, oldest first."""
        ...
