"""What crosses processes for search: the ``search`` work queue's entries (a document to index,
one to take out), and a chat message's document, made alike by the indexing worker (from the
persist stream) and the rebuild (from the stored history).

A feature's action submits an entry (``web.search.actions.index`` / ``remove``); the search
worker (``workers/search.py``) applies them in order, so the last one for a (kind, ref) wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import msgspec

from channels.names import ChannelKind, InvalidChannel, parse_channel
from gateway.messages.events import EDIT_KIND, RETRACT_KIND
from linli.types import ChannelName, Offset
from persistence.search import CHAT_KIND, Document, Readers, Removal

SEARCH_QUEUE = "search"
#: The persist stream's consumer group of the chat indexer (beside ``persist`` and
#: ``chat-notify``).
CHAT_GROUP = "search"

IndexRequest = Document | Removal
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(IndexRequest)


def encode_request(request: IndexRequest) -> bytes:
    return _encoder.encode(request)


def decode_request(data: bytes) -> IndexRequest:
    """Raises ``msgspec.ValidationError`` / ``DecodeError`` for an entry of another shape."""
    return _decoder.decode(data)


def chat_ref(channel: ChannelName, offset: Offset) -> str:
    return f"{channel}/{offset}"


def chat_link(channel: ChannelName, offset: Offset) -> str:
    """The chat page's address of a room (``location.hash``), with the message to show."""
    return f"/?at={offset}#{channel}"


def chat_document(
    channel: ChannelName, offset: Offset, data: bytes, room_name: str
) -> Document | None:
    """The document of a chat message as the gateway published it (``gateway.gateway.chat_data``),
    or None for anything else: moderation's events, rooms of no building or group, other
    bodies."""
    try:
        kind = parse_channel(channel).kind
    except InvalidChannel:
        return None
    if kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        return None
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(body, dict) or body.get("kind") != "chat":
        return None
    author, text, ts = body.get("author"), body.get("text"), body.get("ts")
    if not isinstance(author, dict) or not isinstance(text, str) or type(ts) is not int:
        return None
    author_id, author_name = author.get("id"), author.get("name")
    return Document(
        kind=CHAT_KIND,
        ref=chat_ref(channel, offset),
        title="",
        text=text,
        readers=Readers(rooms=(channel,)),
        link=chat_link(channel, offset),
        at=ts,
        place=channel,
        place_name=room_name,
        author_id=author_id if type(author_id) is int else None,
        author_name=author_name if isinstance(author_name, str) else "",
        channel=channel,
        offset=offset,
    )


@dataclass(frozen=True, slots=True)
class ChatChange:
    """An author's ``edit`` (``text`` the new text) or ``retract`` (``text`` None) of the chat
    message at ``target`` (``gateway/messages/ops.py`` publishes them on the room's channel)."""

    target: Offset
    text: str | None


def chat_change(channel: ChannelName, data: bytes) -> ChatChange | None:
    """The edit or retract event in a publication of a chat room, or None for anything else."""
    if not channel.startswith(("building:", "group:")):
        return None
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(body, dict) or type(body.get("target")) is not int:
        return None
    if body.get("kind") == EDIT_KIND and isinstance(body.get("text"), str):
        return ChatChange(body["target"], body["text"])
    if body.get("kind") == RETRACT_KIND:
        return ChatChange(body["target"], None)
    return None
