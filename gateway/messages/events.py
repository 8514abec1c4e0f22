"""What of the chat messages feature crosses processes: the control command that tells every
gateway a user's read position in a room moved, so their other devices update at once
(``gateway/messages/ops.py`` pushes ``{"push": "read", ...}``), and the kinds of the channel
events an author's edit or delete publishes."""

from __future__ import annotations

from gateway.control import ControlCommand

#: ``data.kind`` of the event an author's edit publishes on the message's channel.
EDIT_KIND = "edit"
#: ``data.kind`` of the event an author's delete publishes (a moderator's is ``delete``).
RETRACT_KIND = "retract"


class ReadMoved(ControlCommand, frozen=True, tag="read_moved"):
    """``user_id`` has read ``channel`` up to ``offset`` (on some device)."""

    user_id: int
    channel: str
    offset: int


class MessageChanged(ControlCommand, frozen=True, tag="message_changed"):
    """An author edited or deleted a message of ``channel``: every gateway drops what its history
    view cached about the channel (``gateway/messages/ops.py``)."""

    channel: str
