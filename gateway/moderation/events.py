"""The moderation events as they go over the broker, shared by the gateway, the moderation worker
and the HTTP API (``docs/protocol.md`` "Moderation events" describes them for clients).

* On a message's own channel, durable and persisted (so a client that recovers with ``since``,
  or reads history, gets them in order after the message they concern):
  ``{"kind": "hide" | "restore" | "delete", "target": <offset>, "by": "moderator" | "auto",
  "ts": <ms>}``.
* On ``mod:flags``, durable in the hot history but not persisted (``persist=False``): the feed
  page loads the current state over HTTP and follows the channel for what changes —
  ``{"kind": "flag" | "held" | "action", ...}``.
"""

from __future__ import annotations

from typing import Any

import msgpack

from channels.broker import Broker, PublishResult
from channels.names import MOD_FLAGS
from gateway.control import ControlCommand
from linli.types import ChannelName, Millis, Offset
from persistence.moderation import Visibility

#: The work queue flags and held messages go through, to the moderation worker.
MODERATION_QUEUE = "moderation"


class InvalidateSanctions(ControlCommand, frozen=True, tag="mod_invalidate_sanctions"):
    """A user's sanctions changed: every gateway drops its cached copy."""

    user_id: int


class InvalidateWords(ControlCommand, frozen=True, tag="mod_invalidate_words"):
    """The word list changed: every gateway drops its cached copy."""


class EndUser(ControlCommand, frozen=True, tag="mod_end_user"):
    """A ban: every gateway tells the user's connections why (a ``moderation`` push of kind
    ``banned`` with ``reason``) and closes them."""

    user_id: int
    reason: str = ""


class NotifyUser(ControlCommand, frozen=True, tag="mod_notify"):
    """Push ``push`` (a warning, a mute) to the user's open connections on every gateway."""

    user_id: int
    push: dict[str, Any]


_STATE_EVENT = {
    Visibility.HIDDEN: "hide",
    Visibility.VISIBLE: "restore",
    Visibility.DELETED: "delete",
}


async def publish_state(
    broker: Broker,
    channel: ChannelName,
    target: Offset,
    visibility: Visibility,
    *,
    by: str,
    now: Millis,
    idempotency_key: str | None = None,
) -> PublishResult:
    """Tell the message's channel (every open client, every gateway) its new visibility.
    Clients apply these idempotently, so publishing one twice is harmless."""
    body = {"kind": _STATE_EVENT[visibility], "target": target, "by": by, "ts": now}
    return await broker.publish(channel, msgpack.packb(body), idempotency_key=idempotency_key)


async def publish_feed(
    broker: Broker, event: dict[str, Any], *, idempotency_key: str | None = None
) -> PublishResult:
    """An event for the moderators' live feed."""
    return await broker.publish(
        MOD_FLAGS, msgpack.packb(event), idempotency_key=idempotency_key, persist=False
    )
