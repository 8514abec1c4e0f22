"""The control channel: instructions that concern connections wherever they are (a logout, a
changed role, a feature's cache to drop), sent to every gateway through the broker.

A command is a frozen ``msgspec`` struct tagged by its ``op``; the core's are below, a feature
defines its own in ``gateway/<feature>/events.py`` by subclassing ``ControlCommand``. On the
wire it is msgpack ``{"op": <tag>, <field>: ...}`` on ``CONTROL_CHANNEL``, an ephemeral
publication (at most once, like all control: a gateway that misses one relies on the bounded
lifetime of what it cached). Decoding checks every field's type, so a malformed or unknown
command is logged and dropped, never half-applied.

Anything with the broker may send (``send_control``): the web process and the workers need no
gateway for it.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import msgspec

from channels.broker import Broker, BrokerUnavailable

log = logging.getLogger(__name__)

#: The broker channel every gateway subscribes to. Not a wire channel: clients cannot name it.
CONTROL_CHANNEL = "sys:control"


class ControlCommand(msgspec.Struct, frozen=True, tag_field="op"):
    """Base of every control command; a subclass names its op with ``tag="..."``."""


def _commands() -> tuple[type[ControlCommand], ...]:
    """Every command defined so far (subclasses of subclasses too)."""
    found: list[type[ControlCommand]] = []
    todo = list(ControlCommand.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return tuple(found)


class EndSession(ControlCommand, frozen=True, tag="end_session"):
    """Close every connection opened with this session (a logout)."""

    session: str


class PermissionsChanged(ControlCommand, frozen=True, tag="permissions_changed"):
    """Close the user's connections so they reconnect with their new role."""

    user_id: int


class AccessRevoked(ControlCommand, frozen=True, tag="access_revoked"):
    """A user lost access to a channel (left a group): every gateway tells its features
    (``Gateway.revoke_listeners``), which drop what they cached about it."""

    user_id: int
    channel: str


class _DecoderCache:
    """The decoder for the union of every command defined, rebuilt when one is added (control
    messages are rare: walking the subclasses per message costs nothing that matters)."""

    def __init__(self) -> None:
        self._types: tuple[type[ControlCommand], ...] = ()
        self._decoder: msgspec.msgpack.Decoder[Any] | None = None

    def get(self) -> msgspec.msgpack.Decoder[Any]:
        types = _commands()
        if self._decoder is None or types != self._types:
            tags = [t.__struct_config__.tag for t in types]
            if len(set(tags)) != len(tags):
                raise TypeError(f"a control op is defined twice: {sorted(map(str, tags))}")
            union: Any = types[0]
            for t in types[1:]:
                union = union | t
            self._types, self._decoder = types, msgspec.msgpack.Decoder(union)
        return self._decoder


_decoder = _DecoderCache()
_encoder = msgspec.msgpack.Encoder()


def encode_command(command: ControlCommand) -> bytes:
    return _encoder.encode(command)


def decode_command(data: bytes) -> ControlCommand | None:
    """The command, or None (logged) for bytes that are not a known, well-formed one."""
    try:
        command: ControlCommand = _decoder.get().decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("control message dropped: %s", exc)
        return None
    return command


async def send_control(broker: Broker, command: ControlCommand) -> None:
    """Send ``command`` to every gateway, the sender's included. At most once: a broker outage
    is logged, not raised (the command's effect is a courtesy the caches' bounds back up)."""
    try:
        await broker.publish_ephemeral(CONTROL_CHANNEL, encode_command(command))
    except BrokerUnavailable:
        log.warning("could not send control command %s", type(command).__name__)


async def revoke_access(broker: Broker, user_id: int, channel: str) -> None:
    """End ``user_id``'s subscriptions to ``channel`` on every gateway and tell each gateway's
    features (they left a group). Both at most once."""
    await send_control(broker, AccessRevoked(user_id=user_id, channel=channel))
    data = msgpack.packb(
        {"push": "unsubscribed", "channel": channel, "user_id": user_id, "reason": "left"}
    )
    try:
        await broker.publish_ephemeral(channel, data)
    except BrokerUnavailable:
        log.warning("could not announce that user %d left %s", user_id, channel)
