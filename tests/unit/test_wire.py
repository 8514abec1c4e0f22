"""The wire codec, with plain bytes: every request decodes to the exact dataclass, every bad frame
to the documented error code, and push frames decode back to what was encoded."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.names import ChannelKind, ChannelRef
from gateway.codes import ErrorCode
from gateway.wire import (
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
