"""The RESP reader of the pub/sub link, with plain bytes: every reply kind it reads, the same
replies however the stream is cut into chunks, and a clear error for anything else."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.resp import MESSAGE, Element, ErrorReply, ProtocolError, PushReader, Reply
from tests.fuzzing import examples


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def array(*elements: bytes, push: bool = False) -> bytes:
    return (b">" if push else b"*") + b"%d\r\n" % len(elements) + b"".join(elements)


def message(channel: bytes, data: bytes, *, push: bool = False) -> bytes:
    return array(bulk(b"message"), bulk(channel), bulk(data), push=push)


def read_whole(data: bytes) -> list[Reply]:
    reader = PushReader()
    replies = reader.feed(data)
    assert reader.buffered == 0
    return replies


def read_in_chunks(chunks: list[bytes]) -> list[Reply]:
    reader = PushReader()
    replies: list[Reply] = []
    for chunk in chunks:
        replies += reader.feed(chunk)
    assert reader.buffered == 0
    return replies


# -- every kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # message pushes, RESP2 and RESP3, with the broker's frames
        (message(b"linli:ch:{b:1}", b"P7 1712 hi"), (b"message", b"linli:ch:{b:1}", b"P7 1712 hi")),
        (message(b"ch", b"E\r\n\x00\xff", push=True), (b"message", b"ch", b"E\r\n\x00\xff")),
        (message(b"ch", b""), (b"message", b"ch", b"")),
        (message(b"", b"x"), (b"message", b"", b"x")),
        # the general path for what the fast path does not take
        (array(bulk(b"message"), bulk(b"ch"), b"$-1\r\n"), (b"message", b"ch", None)),
        (array(bulk(b"message"), bulk(b"ch"), b":5\r\n"), (b"message", b"ch", 5)),
        (array(bulk(b"message"), bulk(b"ch")), (b"message", b"ch")),
        # subscription confirmations
        (array(bulk(b"subscribe"), bulk(b"ch"), b":1\r\n"), (b"subscribe", b"ch", 1)),
        (array(bulk(b"subscribe"), bulk(b"ch"), b":3\r\n", push=True), (b"subscribe", b"ch", 3)),
        (array(bulk(b"unsubscribe"), bulk(b"ch"), b":0\r\n"), (b"unsubscribe", b"ch", 0)),
        (array(bulk(b"unsubscribe"), b"$-1\r\n", b":0\r\n"), (b"unsubscribe", None, 0)),
        (array(bulk(b"unsubscribe"), b"_\r\n", b":0\r\n", push=True), (b"unsubscribe", None, 0)),
        # PING: RESP2 in subscribed mode, RESP3, RESP3 with an argument
        (array(bulk(b"pong"), bulk(b"")), (b"pong", b"")),
        (b"+PONG\r\n", b"PONG"),
        (bulk(b"ping me"), b"ping me"),
        # the rest of the table
        (array(b"+OK\r\n", b":-12\r\n"), (b"OK", -12)),
        (b"*0\r\n", ()),
        (b"*-1\r\n", None),
        (b"$-1\r\n", None),
        (b"_\r\n", None),
        (b":42\r\n", 42),
        (b"$0\r\n\r\n", b""),
        (
            b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / PING are allowed\r\n",
            ErrorReply(b"ERR Can't execute 'get': only (P|S)SUBSCRIBE / PING are allowed"),
        ),
    ],
)
def test_each_kind_reads_as_documented(wire: bytes, expected: Reply) -> None:
    assert read_whole(wire) == [expected]
    assert read_in_chunks([bytes([b]) for b in wire]) == [expected]


def test_message_kind_is_the_shared_constant() -> None:
    [reply] = read_whole(message(b"ch", b"x"))
    assert isinstance(reply, tuple)
    assert reply[0] is MESSAGE


def test_nothing_until_a_reply_is_complete() -> None:
    reader = PushReader()
    wire = message(b"ch", b"P1 1 hello")
    assert reader.feed(wire[:-1]) == []
    assert reader.buffered == len(wire) - 1
    assert reader.feed(wire[-1:] + b"+PO") == [(b"message", b"ch", b"P1 1 hello")]
    assert reader.buffered == 3
    assert reader.feed(b"NG\r\n") == [b"PONG"]
    assert reader.buffered == 0
    assert reader.feed(b"") == []


# -- any cut gives the same replies --------------------------------------------------------

STREAM = b"".join(
    [
        array(bulk(b"subscribe"), bulk(b"linli:ch:{b:1}"), b":1\r\n"),
        message(b"linli:ch:{b:1}", b"P1 1712 \r\n$3\r\n*3\r\n"),
        b"+PONG\r\n",
        message(b"linli:ch:{b:1}", b"E", push=True),
        b"-ERR no\r\n",
        array(bulk(b"pong"), bulk(b"")),
        message(b"linli:ch:{b:1}", b""),
        array(bulk(b"unsubscribe"), b"$-1\r\n", b":0\r\n"),
        bulk(b"\r\n"),
        b"*-1\r\n_\r\n:7\r\n",
    ]
)


def test_stream_split_at_every_byte_boundary() -> None:
    whole = read_whole(STREAM)
    assert len(whole) == 12
    for cut in range(len(STREAM) + 1):
        assert read_in_chunks([STREAM[:cut], STREAM[cut:]]) == whole, cut


def test_stream_split_at_every_pair_of_boundaries() -> None:
    whole = read_whole(STREAM)
    for first in range(len(STREAM) + 1):
        for second in range(first, len(STREAM) + 1):
            chunks = [STREAM[:first], STREAM[first:second], STREAM[second:]]
            assert read_in_chunks(chunks) == whole, (first, second)


def test_stream_fed_one_byte_at_a_time() -> None:
    assert read_in_chunks([bytes([b]) for b in STREAM]) == read_whole(STREAM)


def test_a_reply_larger_than_many_chunks() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB with every byte value, "\r\n" included
    wire = message(b"ch", payload) + b"+PONG\r\n" + message(b"ch", b"after")
    reader = PushReader()
    chunk = 4096
    replies: list[Reply] = []
    for start in range(0, len(wire), chunk):
        got = reader.feed(wire[start : start + chunk])
        if start + chunk < len(payload):
            assert got == []
            assert reader.buffered == start + chunk
        replies += got
    assert replies == [(b"message", b"ch", payload), b"PONG", (b"message", b"ch", b"after")]
    assert reader.buffered == 0


# Payloads full of what a careless reader would take for framing.
_TRICKY = st.lists(
    st.sampled_from([b"\r\n", b"\r", b"\n", b"$", b"*3\r\n", b"$-1\r\n", b"message", b"P1 2 "])
    | st.binary(max_size=8),
    max_size=8,
).map(b"".join)
_PAYLOAD = st.binary(max_size=64) | _TRICKY
_SIMPLE = st.binary(max_size=16).filter(lambda b: b"\r" not in b and b"\n" not in b)


def _element() -> st.SearchStrategy[tuple[bytes, Element]]:
    return st.one_of(
        _PAYLOAD.map(lambda b: (bulk(b), b)),
        _SIMPLE.map(lambda b: (b"+" + b + b"\r\n", b)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: (b":%d\r\n" % i, i)),
        st.sampled_from([(b"$-1\r\n", None), (b"_\r\n", None)]),
    )


@st.composite
def _reply(draw: st.DrawFn) -> tuple[bytes, Reply]:
    """One reply on the wire and what the reader must return for it."""
    kind = draw(st.sampled_from(["message", "array", "element", "error", "null array"]))
    push = draw(st.booleans())
    if kind == "message":
        channel, data = draw(_PAYLOAD), draw(_PAYLOAD)
        return message(channel, data, push=push), (b"message", channel, data)
    if kind == "array":
        elements = draw(st.lists(_element(), max_size=5))
        return array(*(w for w, _ in elements), push=push), tuple(v for _, v in elements)
    if kind == "error":
        text = draw(_SIMPLE)
        return b"-" + text + b"\r\n", ErrorReply(text)
    if kind == "null array":
        return b"*-1\r\n", None
    return draw(_element())


@st.composite
def _cut_stream(draw: st.DrawFn) -> tuple[bytes, list[Reply], list[bytes]]:
    replies = draw(st.lists(_reply(), min_size=1, max_size=12))
    wire = b"".join(w for w, _ in replies)
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    bounds = [0, *cuts, len(wire)]
    chunks = [wire[a:b] for a, b in pairwise(bounds)]
    return wire, [v for _, v in replies], chunks


@given(_cut_stream())
def test_any_cut_of_any_stream_reads_the_same(case: tuple[bytes, list[Reply], list[bytes]]) -> None:
    wire, expected, chunks = case
    assert read_whole(wire) == expected
    assert read_in_chunks(chunks) == expected


# -- malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"%1\r\n+a\r\n+b\r\n", "unexpected type byte b'%'"),
        (b"|1\r\n+a\r\n+b\r\n", "unexpected type byte b'|'"),
        (b"hello\r\n", "unexpected type byte b'h'"),
        (b"*2\r\n*1\r\n:1\r\n:2\r\n", "an aggregate inside an aggregate"),
        (b"*1\r\n-ERR x\r\n", "unexpected type byte b'-'"),
        (b"*x\r\n", "invalid literal for int"),
        (b"$1O\r\nabcdefghijk\r\n", "invalid literal for int"),
        (b"*3\r\n$7\r\nmessage\r\n$2x\r\nch\r\n$1\r\nx\r\n", "invalid literal for int"),
        (b":12a\r\n", "invalid literal for int"),
        (b"$3\r\nabcde\r\n", r"a bulk string not followed by \\r\\n"),
        (message(b"ch", b"data")[:-2] + b"XX", r"a bulk string not followed by \\r\\n"),
        (b"*1\r\n$3\r\nabcde\r\n", r"a bulk string not followed by \\r\\n"),
        (b"$-2\r\n", "negative length -2"),
        (b"*-3\r\n", "negative length -3"),
        (b"_x\r\n", "a null with content"),
    ],
)
def test_malformed_input_raises_a_clear_error(wire: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as raised:
        PushReader().feed(wire)
    assert str(raised.value).startswith(f"malformed reply at stream byte 0 ({wire[:40]!r}): ")


def test_the_error_names_the_stream_offset_of_the_bad_reply() -> None:
    reader = PushReader()
    good = message(b"ch", b"P1 1 x")
    assert reader.feed(good + b"+PO") == [(b"message", b"ch", b"P1 1 x")]
    with pytest.raises(ProtocolError, match=rf"at stream byte {len(good) + 7} \(b'~2\\r\\n'\)"):
        reader.feed(b"NG\r\n~2\r\n")


# -- fuzzing: anything off the socket is replies or a ProtocolError, however it is cut --------


def _read_all(chunks: list[bytes]) -> tuple[list[Reply], str | None]:
    """The replies the chunks give and the ProtocolError's message, if one was raised (the
    stream is dropped then). Any other exception fails the test: the pub/sub link would die
    with an unexpected error instead of reconnecting."""
    reader = PushReader()
    replies: list[Reply] = []
    for chunk in chunks:
        try:
            replies += reader.feed(chunk)
        except ProtocolError as exc:
            return replies, str(exc)
    return replies, None


@st.composite
def _garbled_stream(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A well-formed stream with a few bytes replaced, inserted or removed, cut anywhere."""
    replies = draw(st.lists(_reply(), min_size=1, max_size=6))
    wire = bytearray(b"".join(w for w, _ in replies))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(wire)))
        edit = draw(st.sampled_from(["replace", "insert", "delete"]))
        junk = draw(st.sampled_from([b"\r", b"\n", b"$", b"*", b"-", b":", b"9", b"x", b"\x00"]))
        if edit == "insert" or at == len(wire):
            wire[at:at] = junk
        elif edit == "replace":
            wire[at : at + 1] = junk
        else:
            del wire[at]
    data = bytes(wire)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in pairwise(bounds)]


def _same_reading(data: bytes, chunks: list[bytes]) -> None:
    whole, whole_error = _read_all([data])
    cut, cut_error = _read_all(chunks)
    one_by_one, byte_error = _read_all([data[i : i + 1] for i in range(len(data))])
    if whole_error is None:
        # A stream the reader accepts whole reads the same however it arrives.
        assert cut_error is None and cut == whole
        assert byte_error is None and one_by_one == whole
    else:
        # A stream it refuses is refused however it arrives, naming the same reply. Fed a byte
        # at a time, every reply before the bad one came out first; a chunk holding good
        # replies and the bad one raises without them (the stream is dropped either way).
        assert cut_error is not None and byte_error is not None
        assert cut_error.split(" (")[0] == whole_error.split(" (")[0] == byte_error.split(" (")[0]
        assert one_by_one[: len(cut)] == cut


@settings(max_examples=examples(300))
@given(_garbled_stream())
def test_a_garbled_stream_is_read_alike_however_it_is_cut(case: tuple[bytes, list[bytes]]) -> None:
    _same_reading(*case)


@given(st.binary(max_size=64), st.lists(st.integers(0, 64), max_size=6))
def test_any_bytes_are_replies_or_a_protocol_error(data: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    _same_reading(data, [data[a:b] for a, b in pairwise(bounds)])
