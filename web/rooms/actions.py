"""The rooms feature's state changes: pinning a message at the top of a building room (by those
who speak for the management, ``linli.roles.Can.POST_OFFICIAL``), and the room list as a role
sees it (staff see every room by name, with whether they may post there and why not).

A pin is kept in ``chat_pins`` (one per room) and told to every open client of the room as a
``pin`` / ``unpin`` event on the room's own channel (``docs/protocol.md``, "Pins"); each is one
entry of the audit log (feature ``rooms``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from channels.access import Action, Principal, may
from channels.broker import BrokerUnavailable
from channels.names import ChannelKind, ChannelRef
from gateway.history import HistoryReader
from linli.feature import Services
from linli.roles import Can
from linli.roles import may as may_role
from linli.types import ChannelName, Offset, Role
from persistence.audit import NewEntry
from persistence.messages.sql import SqlMessagesStore
from persistence.moderation.sql import SqlModerationStore
from persistence.rooms import Pin, RoomStore
from persistence.rooms.sql import SqlRoomStore
from persistence.store import User
from web.http import ApiError, HttpCode

FEATURE = "rooms"
#: The roles that see every room on the chat page (not only their own).
STAFF_ROLES = (Role.MODERATOR, Role.ADMIN, Role.MANAGEMENT)


def room_store(services: Services) -> RoomStore:
    return SqlRoomStore(services.database)


def pin_json(pin: Pin) -> dict[str, Any]:
    return {
        "channel": pin.channel,
        "offset": pin.offset,
        "author": {"id": pin.author_id, "name": pin.author_name},
        "text": pin.body,
        "official": pin.official,
        "ts": pin.posted_at,
        "pinned_at": pin.pinned_at,
    }


@dataclass(frozen=True, slots=True)
class RoomView:
    channel: ChannelName
    name: str
    kind: str
    #: Whether the user's own room (their building, a group they joined).
    own: bool
    may_post: bool
    #: Why not, when not: ``read_only`` (the role reads only), ``join_group`` (join to post).
    why: str | None


async def rooms_for(services: Services, user: User, principal: Principal) -> list[RoomView]:
    """The rooms ``user`` sees on the chat page: their own, and for staff every building's and
    group's, each with whether they may post (``channels.access.may``, the gateway's rule)."""
    store = services.store
    joined = set(await store.user_groups(user.id))
    staff = user.role in STAFF_ROLES
    views = []

    async def is_member(user_id: int, slug: str) -> bool:
        return slug in joined

    for building in await store.list_buildings():
        own = user.building_id == building.id
        if not (own or staff):
            continue
        ref = ChannelRef(ChannelKind.BUILDING, str(building.id))
        writes = await may(principal, ref, Action.WRITE, is_member)
        views.append(
            RoomView(
                ref.name, building.name, "building", own, writes, None if writes else "read_only"
            )
        )
    for group in await store.list_groups():
        own = group.slug in joined
        if not (own or staff):
            continue
        ref = ChannelRef(ChannelKind.GROUP, group.slug)
        writes = await may(principal, ref, Action.WRITE, is_member)
        views.append(
            RoomView(ref.name, group.name, "group", own, writes, None if writes else "join_group")
        )
    return views


async def _message(services: Services, channel: ChannelName, offset: Offset) -> dict[str, Any]:
    pubs, _ = await HistoryReader(services.broker, services.store).page(
        channel, after=offset - 1, before=offset + 1, limit=1, newest=False
    )
    if not pubs or pubs[0].offset != offset:
        raise ApiError(404, HttpCode.NOT_FOUND, "No chat message at this offset.")
    body = msgpack.unpackb(pubs[0].data, raw=False)
    if not isinstance(body, dict) or body.get("kind") != "chat":
        raise ApiError(404, HttpCode.NOT_FOUND, "No chat message at this offset.")
    return body


def _require_pinner(user: User, channel: ChannelRef) -> None:
    if not may_role(user.role, Can.POST_OFFICIAL):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only management and admins pin messages.")
    if channel.kind is not ChannelKind.BUILDING:
        raise ApiError(400, HttpCode.BAD_REQUEST, "Only a building room's messages are pinned.")


async def _tell(services: Services, channel: ChannelName, event: dict[str, Any]) -> None:
    try:
        await services.broker.publish(channel, msgpack.packb(event))
    except BrokerUnavailable:
        raise ApiError(
            503,
            HttpCode.UNAVAILABLE,
            "The pin is saved but could not be sent to open pages; send it again.",
        ) from None


async def pin(services: Services, user: User, channel: ChannelRef, offset: Offset) -> Pin:
    """Pin the message at ``offset`` at the top of ``channel`` (replacing the room's pin)."""
    _require_pinner(user, channel)
    body = await _message(services, channel.name, offset)
    if await SqlModerationStore(services.database).hidden_states(channel.name, offset, offset):
        raise ApiError(400, HttpCode.BAD_REQUEST, "A hidden message cannot be pinned.")
    # The copy is of the message as its author left it: edited text, never a deleted one's.
    state = (await SqlMessagesStore(services.database).states(channel.name, offset, offset)).get(
        offset
    )
    if state is not None and state.deleted_at is not None:
        raise ApiError(400, HttpCode.BAD_REQUEST, "A deleted message cannot be pinned.")
    text = state.text if state is not None else str(body.get("text", ""))
    author = body.get("author") or {}
    now = services.clock.now_ms()
    made = Pin(
        channel=channel.name,
        offset=offset,
        author_id=author.get("id"),
        author_name=str(author.get("name", "")),
        body=text,
        official=bool(body.get("official")),
        posted_at=int(body.get("ts", 0)),
        pinned_by=user.id,
        pinned_at=now,
    )
    await room_store(services).pin(made)
    await services.audit.append(
        NewEntry(
            feature=FEATURE, action="pin", actor_id=user.id, reason="", at=now,
            channel=channel.name, offset=offset,
        )
    )  # fmt: skip
    await _tell(
        services, channel.name, {"kind": "pin", "target": offset, "pin": pin_json(made), "ts": now}
    )
    return made


async def unpin(services: Services, user: User, channel: ChannelRef) -> bool:
    """Take the room's pin away; False when there was none."""
    _require_pinner(user, channel)
    removed = await room_store(services).unpin(channel.name)
    now = services.clock.now_ms()
    if removed is not None:
        await services.audit.append(
            NewEntry(
                feature=FEATURE, action="unpin", actor_id=user.id, reason="", at=now,
                channel=channel.name, offset=removed.offset,
            )
        )  # fmt: skip
    await _tell(
        services,
        channel.name,
        {"kind": "unpin", "target": removed.offset if removed else None, "ts": now},
    )
    return removed is not None


async def drop_hidden_pin(services: Services, channel: ChannelName, offset: Offset) -> None:
    """A moderator hid or deleted the message at ``offset``: if it is the room's pin, the pin
    goes too (its copy of the text must not outlive the decision)."""
    store = room_store(services)
    current = await store.pin_of(channel)
    if current is None or current.offset != offset or await store.unpin(channel) is None:
        return
    now = services.clock.now_ms()
    try:
        await services.broker.publish(
            channel, msgpack.packb({"kind": "unpin", "target": offset, "ts": now})
        )
    except BrokerUnavailable:
        pass  # pages read the pins again on load; the pin is gone from the store
