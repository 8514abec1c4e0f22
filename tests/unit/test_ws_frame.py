"""The websockets transport frames each publication once (``gateway/ws_server.server_frame``);
the bytes must be the frame websockets itself would send, at every length boundary."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gateway.ws_server import server_frame


def parse(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert len(reader.buffer) == 0, "bytes left over after the frame"
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize(("opcode", "expected"), [(0x1, Opcode.TEXT), (0x2, Opcode.BINARY)])
def test_server_frame_parses_as_one_final_frame(size: int, opcode: int, expected: Opcode) -> None:
    payload = ("街" * (size // 3) + "x" * (size % 3)).encode()
    assert len(payload) == size
    wire = server_frame(payload, opcode)
    frame = parse(wire)
    assert frame.opcode is expected
    assert frame.fin
    assert frame.data == payload
    # Byte for byte what websockets serialises for an unmasked server frame.
    assert wire == Frame(expected, payload).serialize(mask=False)
