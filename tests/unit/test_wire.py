"""The wire codec, with plain bytes: every request decodes to the exact dataclass, every bad frame
to the documented error code, and push frames decode back to what was encoded."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# Every feature's ops (polls, moderation, messages, ...) register their parsers at import time;
# the fuzzing at the end covers them all.
import linli.features  # noqa: F401
from channels.names import ChannelKind, ChannelRef
from gateway.codes import ErrorCode
from gateway.wire import (
    _PARSERS,
    MAX_TEXT_CHARS,
    Format,
    FrameError,
    History,
    Pong,
    PresenceQuery,
    PublicationFrames,
    Publish,
    PushFrames,
    Since,
    Subscribe,
    Unsubscribe,
    decode_request,
    encode_error,
    encode_ok,
)
from tests.fuzzing import examples

BUILDING_3 = ChannelRef(ChannelKind.BUILDING, "3")


def frame(obj: Any, fmt: Format) -> str | bytes:
    return orjson.dumps(obj).decode() if fmt.is_json else msgpack.packb(obj)


def decode_frame_back(data: str | bytes) -> Any:
    # JSON_UTF8 frames are bytes too; a msgpack map never starts with "{" (0x7b is an integer).
    if isinstance(data, str) or data[:1] == b"{":
        return orjson.loads(data)
    return msgpack.unpackb(data, raw=False)


both = pytest.mark.parametrize("fmt", list(Format))


@both
def test_requests_decode_to_dataclasses(fmt: Format) -> None:
    cases = [
        (
            {"id": 1, "op": "subscribe", "channel": "building:3"},
            Subscribe(1, BUILDING_3, None),
        ),
        (
            {
                "id": 2,
                "op": "subscribe",
                "channel": "group:tai-chi",
                "since": {"offset": 7, "epoch": 1700000000000},
            },
            Subscribe(2, ChannelRef(ChannelKind.GROUP, "tai-chi"), Since(7, 1700000000000)),
        ),
        ({"id": 3, "op": "unsubscribe", "channel": "building:3"}, Unsubscribe(3, BUILDING_3)),
        (
            {
                "id": 4,
                "op": "publish",
                "channel": "building:3",
                "text": "  早晨！ ",
                "client_msg_id": "a-1_B",
            },
            Publish(4, BUILDING_3, "早晨！", "a-1_B"),
        ),
        (
            {"id": 5, "op": "history", "channel": "building:3", "before": 90, "limit": 20},
            History(5, BUILDING_3, None, 90, 20),
        ),
        (
            {"id": 6, "op": "history", "channel": "building:3"},
            History(6, BUILDING_3, None, None, 50),
        ),
        ({"id": 7, "op": "presence", "channel": "building:3"}, PresenceQuery(7, BUILDING_3)),
        ({"op": "pong"}, Pong()),
    ]
    for obj, expected in cases:
        assert decode_request(frame(obj, fmt), fmt) == expected


@both
@pytest.mark.parametrize(
    ("obj", "code", "has_id"),
    [
        ([1, 2], ErrorCode.BAD_FRAME, False),
        ("hello", ErrorCode.BAD_FRAME, False),
        ({"op": "publish"}, ErrorCode.BAD_REQUEST, False),
        ({"id": "1", "op": "subscribe", "channel": "building:1"}, ErrorCode.BAD_REQUEST, False),
        ({"id": True, "op": "subscribe", "channel": "building:1"}, ErrorCode.BAD_REQUEST, False),
        ({"id": 0, "op": "subscribe", "channel": "building:1"}, ErrorCode.BAD_REQUEST, False),
        (
            {"id": 2**53 + 1, "op": "subscribe", "channel": "building:1"},
            ErrorCode.BAD_REQUEST,
            False,
        ),
        ({"id": 1, "op": "explode"}, ErrorCode.UNKNOWN_OP, True),
        ({"id": 1, "op": 5}, ErrorCode.BAD_REQUEST, True),
        ({"id": 1, "op": "subscribe"}, ErrorCode.BAD_REQUEST, True),
        ({"id": 1, "op": "subscribe", "channel": "lobby"}, ErrorCode.BAD_REQUEST, True),
        ({"id": 1, "op": "subscribe", "channel": "building:01"}, ErrorCode.BAD_REQUEST, True),
        ({"id": 1, "op": "subscribe", "channel": "building:٣"}, ErrorCode.BAD_REQUEST, True),
        ({"id": 1, "op": "subscribe", "channel": "group:A"}, ErrorCode.BAD_REQUEST, True),
        (
            {"id": 1, "op": "subscribe", "channel": "building:1", "since": 5},
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {"id": 1, "op": "subscribe", "channel": "building:1", "since": {"offset": 5}},
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {
                "id": 1,
                "op": "subscribe",
                "channel": "building:1",
                "since": {"offset": -1, "epoch": 1},
            },
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {"id": 1, "op": "publish", "channel": "building:1", "text": 5, "client_msg_id": "x"},
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {
                "id": 1,
                "op": "publish",
                "channel": "building:1",
                "text": " \x00 ",
                "client_msg_id": "x",
            },
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {
                "id": 1,
                "op": "publish",
                "channel": "building:1",
                "text": "x" * (MAX_TEXT_CHARS + 1),
                "client_msg_id": "x",
            },
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {"id": 1, "op": "publish", "channel": "building:1", "text": "hi"},
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {
                "id": 1,
                "op": "publish",
                "channel": "building:1",
                "text": "hi",
                "client_msg_id": "has space",
            },
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {"id": 1, "op": "history", "channel": "building:1", "limit": 0},
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {"id": 1, "op": "history", "channel": "building:1", "limit": 101},
            ErrorCode.BAD_REQUEST,
            True,
        ),
        (
            {"id": 1, "op": "history", "channel": "building:1", "before": "9"},
            ErrorCode.BAD_REQUEST,
            True,
        ),
    ],
)
def test_bad_requests_get_documented_codes(
    fmt: Format, obj: Any, code: ErrorCode, has_id: bool
) -> None:
    with pytest.raises(FrameError) as info:
        decode_request(frame(obj, fmt), fmt)
    assert info.value.code is code
    assert info.value.request_id == (1 if has_id else None)
    assert info.value.message


def test_malformed_bytes_are_bad_frames() -> None:
    for data, fmt in [
        ("{not json", Format.JSON),
        ("", Format.JSON),
        (b'{"id":1}', Format.JSON),  # a binary frame on a JSON connection
        (b"\xc1", Format.MSGPACK),  # a byte msgpack never uses
        (b"\x92\x01", Format.MSGPACK),  # truncated array
        (b"\xa2\xff\xfe", Format.MSGPACK),  # a str that is not UTF-8
        ("{}", Format.MSGPACK),  # a text frame on a msgpack connection
        (msgpack.packb({1: 2}), Format.MSGPACK),  # non-string keys
    ]:
        with pytest.raises(FrameError) as info:
            decode_request(data, fmt)
        assert info.value.code is ErrorCode.BAD_FRAME, data


@both
def test_replies_and_errors_encode(fmt: Format) -> None:
    assert decode_frame_back(encode_ok(9, {"offset": 3}, fmt)) == {"id": 9, "ok": {"offset": 3}}
    assert decode_frame_back(encode_error(9, ErrorCode.FORBIDDEN, fmt, "no")) == {
        "id": 9,
        "error": {"code": "forbidden", "message": "no", "temporary": False},
    }
    assert decode_frame_back(encode_error(None, ErrorCode.RATE_LIMITED, fmt)) == {
        "push": "error",
        "error": {
            "code": "rate_limited",
            "message": ErrorCode.RATE_LIMITED.info.message,
            "temporary": True,
        },
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    channel=st.sampled_from(["building:1", "group:tai-chi"]),
    offset=st.integers(1, 2**53),
    epoch=st.integers(1, 2**53),
    body=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_publication_frames_round_trip(
    channel: str, offset: int, epoch: int, body: dict[str, Any]
) -> None:
    frames = PublicationFrames(channel, offset, epoch, msgpack.packb(body))
    expected = {"push": "pub", "channel": channel, "offset": offset, "epoch": epoch, "data": body}
    for fmt in Format:
        assert decode_frame_back(frames.get(fmt)) == expected
        # Encoded once: the same object comes back.
        assert frames.get(fmt) is frames.get(fmt)


def test_push_frames_encode_once() -> None:
    frames = PushFrames({"push": "ping"})
    for fmt in Format:
        assert decode_frame_back(frames.get(fmt)) == {"push": "ping"}
        assert frames.get(fmt) is frames.get(fmt)


@both
def test_publish_with_a_photo_may_have_no_caption(fmt: Format) -> None:
    photo = "0123456789abcdef" * 2
    base = {"id": 9, "op": "publish", "channel": "building:3", "client_msg_id": "p-1"}
    assert decode_request(frame({**base, "text": " ", "photo": photo}, fmt), fmt) == Publish(
        9, BUILDING_3, "", "p-1", None, photo
    )
    for bad in ({"text": "", "photo": "ABC"}, {"text": "x", "photo": 7}, {"text": ""}):
        with pytest.raises(FrameError) as info:
            decode_request(frame({**base, **bad}, fmt), fmt)
        assert info.value.code is ErrorCode.BAD_REQUEST


# -- fuzzing: any frame is a request or a documented error, the same in every format ----------

_OPS = sorted(_PARSERS)
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_JSON_VALUES = (
    _JSON_SCALARS
    | st.lists(_JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=6), _JSON_SCALARS, max_size=3)
)
# Values that come near what the parsers accept: ids and offsets at their bounds, channel
# names of every kind, texts with control characters, photo ids, client message ids.
_NEAR = st.sampled_from(
    [
        *(0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, 1.0, True, "", " ", "\x00", "a" * 4001),
        *("building:3", "group:garden", "poll:1", "dm:1:2", "mod:flags", "building:", "x:1"),
        *("0123456789abcdef0123456789abcdef", "c-1", "c 1", {"offset": 1, "epoch": 2}),
    ]
)
_FIELDS = st.sampled_from(
    [
        *("text", "client_msg_id", "since", "after", "before", "around"),
        *("limit", "reply_to", "photo", "offset", "epoch", "option", "options", "reason", "poll"),
    ]
)


_CHANNELS = st.sampled_from(["building:3", "group:garden", "poll:1", "mod:flags"])


@st.composite
def _request_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A map shaped like a request: a known op (or not), most often a good id and channel, and
    fields the parsers look at, each with a value near what they accept or any JSON value."""
    obj: dict[str, Any] = {"op": draw(st.sampled_from([*_OPS, "nope", 1]))}
    # Mostly good ids and channels, so that most objects reach the op's own parser.
    # (hypothesis leans to the first element of a sample: "both good" first.)
    good = draw(st.sampled_from([2, 2, 2, 2, 1, 0]))
    if good:
        obj["id"] = draw(st.integers(1, 2**53))
    elif draw(st.booleans()):
        obj["id"] = draw(_NEAR)
    if good > 1:
        obj["channel"] = draw(_CHANNELS)
    elif draw(st.booleans()):
        obj["channel"] = draw(_NEAR)
    for name in draw(st.lists(_FIELDS, max_size=8, unique=True)):
        obj[name] = draw(_NEAR | _JSON_VALUES)
    return obj


def _outcome(data: str | bytes, fmt: Format) -> Any:
    """What decoding gives: the request, or the error's code and request id. Nothing else may
    come out of the decoder (an exception other than FrameError is a server error)."""
    try:
        return decode_request(data, fmt)
    except FrameError as exc:
        assert isinstance(exc.code, ErrorCode)
        assert exc.message
        return (exc.code, exc.request_id)


@given(st.text(max_size=200))
def test_any_text_frame_is_a_request_or_a_documented_error(data: str) -> None:
    _outcome(data, Format.JSON)
    _outcome(data, Format.MSGPACK)  # a text frame on a msgpack connection


@given(st.binary(max_size=200))
def test_any_binary_frame_is_a_request_or_a_documented_error(data: bytes) -> None:
    _outcome(data, Format.MSGPACK)
    _outcome(data, Format.JSON)  # a binary frame on a JSON connection


@settings(max_examples=examples(500))
@given(_request_objects())
def test_any_request_object_decodes_the_same_in_json_and_msgpack(obj: dict[str, Any]) -> None:
    as_json = _outcome(orjson.dumps(obj).decode(), Format.JSON)
    as_msgpack = _outcome(msgpack.packb(obj), Format.MSGPACK)
    assert as_json == as_msgpack
    assert _outcome(orjson.dumps(obj).decode(), Format.JSON_UTF8) == as_json
    if isinstance(as_json, Publish):
        # What the parser let through is what the server may store and fan out.
        assert 0 < as_json.id <= 2**53
        assert len(as_json.text) <= MAX_TEXT_CHARS
        assert as_json.text == as_json.text.strip()
        assert not any(ord(c) < 32 or ord(c) == 127 for c in as_json.text)
        assert as_json.text or as_json.photo


@given(_request_objects(), st.integers(0, 40), st.binary(min_size=1, max_size=3))
def test_a_corrupted_msgpack_frame_is_a_request_or_a_documented_error(
    obj: dict[str, Any], at: int, junk: bytes
) -> None:
    data = msgpack.packb(obj)
    at = at % (len(data) + 1)
    _outcome(data[:at] + junk + data[at:], Format.MSGPACK)
    _outcome(data[:at], Format.MSGPACK)
