"""Control commands: typed on both ends, every field checked, unknown or malformed ones dropped."""

from __future__ import annotations

import msgpack

import gateway.moderation.events
import gateway.polls.events  # noqa: F401  (defines the polls commands)
from gateway.control import (
    AccessRevoked,
    EndSession,
    PermissionsChanged,
    decode_command,
    encode_command,
)
from gateway.moderation.events import NotifyUser
from gateway.polls.events import PollChanged


def test_every_command_round_trips() -> None:
    for command in (
        EndSession(session="abc"),
        PermissionsChanged(user_id=7),
        AccessRevoked(user_id=7, channel="group:gardening"),
        PollChanged(poll_id=42),
        NotifyUser(user_id=3, push={"push": "moderation", "kind": "warning"}),
    ):
        assert decode_command(encode_command(command)) == command


def test_the_op_is_the_tag_on_the_wire() -> None:
    assert msgpack.unpackb(encode_command(PollChanged(poll_id=1))) == {
        "op": "poll_changed",
        "poll_id": 1,
    }


def test_unknown_and_malformed_commands_are_dropped() -> None:
    assert decode_command(msgpack.packb({"op": "no_such_op"})) is None
    assert decode_command(msgpack.packb({"op": "poll_changed", "poll_id": "1"})) is None
    assert decode_command(msgpack.packb({"op": "poll_changed"})) is None
    assert decode_command(b"\xc1") is None
