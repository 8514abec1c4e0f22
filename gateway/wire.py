"""The wire format, sans I/O: frames in, frozen requests out; replies and pushes in, frames out.

It knows no sockets, no broker and no store, so it is tested with plain bytes
(``tests/unit/test_wire.py``). ``docs/protocol.md`` is its prose description.

Two encodings of the same structures, chosen per connection by the WebSocket subprotocol:
``linli.v1.json`` (the default: text frames) and ``linli.v1.msgpack`` (binary frames). A JSON
frame is a ``str`` here (ASGI hands text frames over decoded), a msgpack frame ``bytes``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack
import orjson

from channels.names import ChannelRef, InvalidChannel, parse_channel
from gateway.codes import ErrorCode
from linli.types import Epoch, Offset

PROTOCOL_VERSION = 1
# 1,000 Chinese characters are 3,000 bytes of UTF-8: a message of the longest size still fits in
# the default 4 KiB frame with room for the request's other fields.
MAX_TEXT_CHARS = 1000
MAX_HISTORY_LIMIT = 100
DEFAULT_HISTORY_LIMIT = 50
# Client request ids are echoed back; JavaScript numbers are exact up to 2**53.
_MAX_ID = 2**53
_CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PHOTO_ID_RE = re.compile(r"[0-9a-f]{32}")
# Control characters other than newline and tab have no place in a chat message and can be used
# to spoof the display (bidi overrides are left alone: Chinese and Arabic text need them).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Format(enum.Enum):
    """How frames are encoded for a connection. ``JSON_UTF8`` is JSON on the wire exactly like
    ``JSON``; only the frames handed to the transport differ: UTF-8 bytes for transports that send
    text frames from bytes (the ``websockets`` server), so fan-out never re-encodes per socket.
    ASGI wants text frames as ``str``, hence ``JSON``."""

    JSON = "linli.v1.json"
    MSGPACK = "linli.v1.msgpack"
    JSON_UTF8 = "linli.v1.json+utf8"

    @property
    def is_json(self) -> bool:
        return self is not Format.MSGPACK


#: The subprotocol names a client may ask for (the version is part of the name).
SUBPROTOCOLS: dict[str, Format] = {"linli.v1.json": Format.JSON, "linli.v1.msgpack": Format.MSGPACK}

Frame = str | bytes


@dataclass(frozen=True, slots=True)
class Since:
    offset: Offset
    epoch: Epoch


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: int
    channel: ChannelRef
    since: Since | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: int
    channel: ChannelRef


@dataclass(frozen=True, slots=True)
class Publish:
    id: int
    channel: ChannelRef
    text: str
    client_msg_id: str
    #: The offset of the message this one answers (docs/protocol.md, "Replies").
    reply_to: Offset | None = None
    #: A photo uploaded for this message (docs/protocol.md, "Photos"); ``text`` is then its
    #: caption and may be empty.
    photo: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    id: int
    channel: ChannelRef
    after: Offset | None
    before: Offset | None
    limit: int
    #: A page centred on this offset (docs/protocol.md, ``history``); excludes after/before.
    around: Offset | None = None


@dataclass(frozen=True, slots=True)
class PresenceQuery:
    id: int
    channel: ChannelRef


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to the server's ``ping`` push; carries no id and gets no reply."""


class Request(Protocol):
    """Every request but ``Pong`` carries the id its reply echoes."""

    @property
    def id(self) -> int: ...


#: Parses a decoded frame (its ``id`` already checked) into a request dataclass, raising
#: ``FrameError`` with the request id for a bad field.
Parser = Callable[[dict[str, Any], int], Request]


class FrameError(Exception):
    """A frame that cannot become a request. ``request_id`` is set when the frame had a usable
    id, so the error reply can name it."""

    def __init__(self, code: ErrorCode, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


# -- decoding ------------------------------------------------------------------------------------


def decode_frame(frame: Frame, fmt: Format) -> dict[str, Any]:
    """Bytes or text to the request object, before any field is looked at."""
    if fmt.is_json:
        if not isinstance(frame, str):
            raise FrameError(ErrorCode.BAD_FRAME, "expected a text frame holding JSON")
        try:
            obj = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise FrameError(ErrorCode.BAD_FRAME, f"not valid JSON: {exc}") from None
    else:
        if not isinstance(frame, bytes):
            raise FrameError(ErrorCode.BAD_FRAME, "expected a binary frame holding msgpack")
        try:
            # strict_map_key keeps to str keys; raw=False rejects invalid UTF-8 in strings.
            obj = msgpack.unpackb(frame, raw=False, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise FrameError(ErrorCode.BAD_FRAME, f"not valid msgpack: {exc}") from None
    if not isinstance(obj, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "a frame must hold an object (a map)")
    return obj


def decode_request(frame: Frame, fmt: Format) -> Request | Pong:
    obj = decode_frame(frame, fmt)
    op = obj.get("op")
    if op == "pong":
        return Pong()
    request_id = _request_id(obj)
    if not isinstance(op, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "field 'op' must be a string", request_id)
    parse = _PARSERS.get(op)
    if parse is None:
        raise FrameError(ErrorCode.UNKNOWN_OP, f"unknown op {op!r}", request_id)
    return parse(obj, request_id)


def _request_id(obj: dict[str, Any]) -> int:
    value = obj.get("id")
    if type(value) is not int or not 0 < value <= _MAX_ID:
        raise FrameError(ErrorCode.BAD_REQUEST, "field 'id' must be an integer from 1 to 2**53")
    return value


def _channel(obj: dict[str, Any], request_id: int) -> ChannelRef:
    try:
        return parse_channel(obj.get("channel"))
    except InvalidChannel as exc:
        raise FrameError(ErrorCode.BAD_REQUEST, str(exc), request_id) from None


def _optional_offset(obj: dict[str, Any], field: str, request_id: int) -> Offset | None:
    value = obj.get(field)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _MAX_ID:
        raise FrameError(
            ErrorCode.BAD_REQUEST, f"field {field!r} must be a non-negative integer", request_id
        )
    return value


def _parse_subscribe(obj: dict[str, Any], request_id: int) -> Subscribe:
    channel = _channel(obj, request_id)
    raw = obj.get("since")
    since = None
    if raw is not None:
        if not isinstance(raw, dict):
            raise FrameError(
                ErrorCode.BAD_REQUEST, "field 'since' must be {offset, epoch}", request_id
            )
        offset = _optional_offset(raw, "offset", request_id)
        epoch = _optional_offset(raw, "epoch", request_id)
        if offset is None or epoch is None:
            raise FrameError(
                ErrorCode.BAD_REQUEST, "field 'since' needs both 'offset' and 'epoch'", request_id
            )
        since = Since(offset, epoch)
    return Subscribe(request_id, channel, since)


def _parse_unsubscribe(obj: dict[str, Any], request_id: int) -> Unsubscribe:
    return Unsubscribe(request_id, _channel(obj, request_id))


def _parse_publish(obj: dict[str, Any], request_id: int) -> Publish:
    channel = _channel(obj, request_id)
    text = obj.get("text")
    if not isinstance(text, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "field 'text' must be a string", request_id)
    text = _CONTROL_RE.sub("", text).strip()
    photo = obj.get("photo")
    if photo is not None and (not isinstance(photo, str) or not _PHOTO_ID_RE.fullmatch(photo)):
        raise FrameError(
            ErrorCode.BAD_REQUEST, "field 'photo' must be a photo id (32 hex digits)", request_id
        )
    if not text and photo is None:
        raise FrameError(ErrorCode.BAD_REQUEST, "field 'text' must not be empty", request_id)
    if len(text) > MAX_TEXT_CHARS:
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            f"field 'text' is longer than {MAX_TEXT_CHARS} characters",
            request_id,
        )
    client_msg_id = obj.get("client_msg_id")
    if not isinstance(client_msg_id, str) or not _CLIENT_MSG_ID_RE.match(client_msg_id):
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            "field 'client_msg_id' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
            request_id,
        )
    reply_to = obj.get("reply_to")
    if reply_to is not None and (type(reply_to) is not int or not 0 < reply_to <= _MAX_ID):
        raise FrameError(
            ErrorCode.BAD_REQUEST, "field 'reply_to' must be a positive integer", request_id
        )
    return Publish(request_id, channel, text, client_msg_id, reply_to, photo)


def _parse_history(obj: dict[str, Any], request_id: int) -> History:
    channel = _channel(obj, request_id)
    after = _optional_offset(obj, "after", request_id)
    before = _optional_offset(obj, "before", request_id)
    around = _optional_offset(obj, "around", request_id)
    if around is not None and (after is not None or before is not None):
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            "field 'around' cannot be combined with 'after' or 'before'",
            request_id,
        )
    limit = obj.get("limit", DEFAULT_HISTORY_LIMIT)
    if type(limit) is not int or not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            f"field 'limit' must be an integer from 1 to {MAX_HISTORY_LIMIT}",
            request_id,
        )
    return History(request_id, channel, after, before, limit, around)


def _parse_presence(obj: dict[str, Any], request_id: int) -> PresenceQuery:
    return PresenceQuery(request_id, _channel(obj, request_id))


_PARSERS: dict[str, Parser] = {
    "subscribe": _parse_subscribe,
    "unsubscribe": _parse_unsubscribe,
    "publish": _parse_publish,
    "history": _parse_history,
    "presence": _parse_presence,
}


def register_op(op: str, parser: Parser) -> None:
    """Teach the codec a new op (features such as polls add theirs at import time)."""
    if op in _PARSERS and _PARSERS[op] is not parser:
        raise ValueError(f"op {op!r} is registered already")
    _PARSERS[op] = parser


def request_id(obj: dict[str, Any]) -> int:
    """The validated ``id`` of a decoded frame (for parsers of registered ops)."""
    return _request_id(obj)


def channel_field(obj: dict[str, Any], request_id: int) -> ChannelRef:
    """The validated ``channel`` of a decoded frame (for parsers of registered ops)."""
    return _channel(obj, request_id)


# -- encoding ------------------------------------------------------------------------------------


def encode(obj: dict[str, Any], fmt: Format) -> Frame:
    if fmt is Format.JSON:
        return orjson.dumps(obj).decode()
    if fmt is Format.JSON_UTF8:
        return orjson.dumps(obj)
    return msgpack.packb(obj)  # type: ignore[no-any-return]


def encode_ok(request_id: int, body: dict[str, Any], fmt: Format) -> Frame:
    return encode({"id": request_id, "ok": body}, fmt)


def encode_error(
    request_id: int | None, code: ErrorCode, fmt: Format, message: str | None = None
) -> Frame:
    info = code.info
    error = {"code": str(code), "message": message or info.message, "temporary": info.temporary}
    if request_id is None:
        return encode({"push": "error", "error": error}, fmt)
    return encode({"id": request_id, "error": error}, fmt)


def publication_body(offset: Offset, epoch: Epoch, data: bytes) -> dict[str, Any]:
    """A publication as it appears inside replies (history, recovery)."""
    return {"offset": offset, "epoch": epoch, "data": msgpack.unpackb(data, raw=False)}


_MP_PUB_HEAD = b"\x85" + b"".join(msgpack.packb(x) for x in ("push", "pub", "channel"))
_MP_OFFSET = msgpack.packb("offset")
_MP_EPOCH = msgpack.packb("epoch")
_MP_DATA = msgpack.packb("data")


class PublicationFrames:
    """One publication's push frame in each format, each built at most once however many
    connections it goes to (encode once, write many)."""

    __slots__ = ("_json", "_json_utf8", "_msgpack", "channel", "data", "epoch", "offset")

    def __init__(self, channel: str, offset: Offset, epoch: Epoch, data: bytes) -> None:
        self.channel = channel
        self.offset = offset
        self.epoch = epoch
        self.data = data
        self._json: str | None = None
        self._json_utf8: bytes | None = None
        self._msgpack: bytes | None = None

    def _utf8(self) -> bytes:
        if self._json_utf8 is None:
            self._json_utf8 = orjson.dumps(
                {
                    "push": "pub",
                    "channel": self.channel,
                    "offset": self.offset,
                    "epoch": self.epoch,
                    "data": msgpack.unpackb(self.data, raw=False),
                }
            )
        return self._json_utf8

    def get(self, fmt: Format) -> Frame:
        if fmt is Format.JSON_UTF8:
            return self._utf8()
        if fmt is Format.JSON:
            if self._json is None:
                self._json = self._utf8().decode()
            return self._json
        if self._msgpack is None:
            # The data is msgpack already: splice it in rather than decode and re-encode it.
            self._msgpack = b"".join(
                (
                    _MP_PUB_HEAD,
                    msgpack.packb(self.channel),
                    _MP_OFFSET,
                    msgpack.packb(self.offset),
                    _MP_EPOCH,
                    msgpack.packb(self.epoch),
                    _MP_DATA,
                    self.data,
                )
            )
        return self._msgpack


class PushFrames:
    """Any other push (join, leave, reset, ping), encoded at most once per format."""

    __slots__ = ("_frames", "obj")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self._frames: dict[Format, Frame] = {}

    def get(self, fmt: Format) -> Frame:
        frame = self._frames.get(fmt)
        if frame is None:
            frame = self._frames[fmt] = encode(self.obj, fmt)
        return frame


def frame_size(frame: Frame) -> int:
    """Size in bytes as sent. Text is measured cheaply when it cannot be near a limit."""
    if isinstance(frame, bytes):
        return len(frame)
    return len(frame.encode())
