"""The chat-notify worker: a chat message that mentions a member of its room (``@陳太``) or is
posted in a room someone follows notifies them, through the notify worker (one ``NotifyRequest``
per message and kind on the ``notify`` queue).

It reads the ``persist`` work stream in a consumer group of its own (``chat-notify``), beside the
persist worker's: the broker already appends every chat message there, atomically with
publishing, so the message hot path does nothing more for notifications — no extra append, no
lookup (``docs/design/0015-chat-notifications.md`` has the figures and the alternatives).

Who is notified of a message, once (source key ``chat:<channel>:<offset>``):

* **mentioned** (kind ``mention``): the members of the room (a building's residents, a group's
  members) whose display name follows an ``@``, the longest name first (Chinese names have no
  spaces: ``@陳太今日`` mentions 陳太, and 陳太太 if there is one);
* **following** (kind ``chat``): those who follow the room and may read it, unless mentioned;
* never the author, never someone who muted the room (a mute silences mentions too).

Idempotent like every worker: the notify requests carry idempotency keys and the inbox is unique
per (user, source key), so a redelivered batch notifies nobody twice. Messages older than
``MAX_AGE_MS`` are passed over: a group that starts (or restarts after an outage) at the oldest
entry the stream still holds does not ring phones for yesterday's chat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import ClassVar

import msgpack

from channels.names import ChannelKind, InvalidChannel, parse_channel
from channels.workqueue import PERSIST_QUEUE, WorkItem, WorkQueue
from gateway.notifications.events import (
    NOTIFY_QUEUE,
    AudienceSpec,
    NotifyRequest,
    encode_request,
)
from linli.clock import Clock, system_clock
from linli.types import ChannelName, Millis, Offset, Role, UserId
from persistence.notifications import Audience, Kind, NotificationStore, RoomMode
from persistence.store import Store
from workers.base import Worker

log = logging.getLogger(__name__)

#: How long a room's members (their display names, for ``@`` mentions) and its name are
#: remembered: a resident who joins is mentionable within this time, and a busy room costs one
#: members query per this time rather than one per message.
MEMBERS_TTL_MS = 10_000
#: How long the set of rooms anyone follows or muted is remembered. A message without ``@`` in a
#: room outside that set needs no query at all (the common message); the price is that the first
#: follow of a room nobody had chosen a mode for takes effect within this time. Every other
#: change takes effect at once: a message with ``@``, or in a room of the set, reads the room's
#: modes afresh (one query per batch for all its rooms).
ROOMS_TTL_MS = 5_000
#: Messages older than this notify nobody (see the module docstring). An hour: long enough for
#: any backlog of a worker that was restarted, short of pinging phones for stale chat.
MAX_AGE_MS = 3_600_000
#: Characters of the message quoted in the notification.
QUOTE_CHARS = 80
#: Staff may read every room (``channels/access.py``), so they may follow any.
_STAFF = (Role.MODERATOR, Role.ADMIN)

MENTION_TEXT = ("{author}在 {room} 提到你：{quote}", "{author} mentioned you in {room}: {quote}")
FOLLOW_TEXT = ("{author}在 {room}：{quote}", "{author} in {room}: {quote}")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    channel: ChannelName
    offset: Offset
    author_id: UserId
    author_name: str
    text: str
    ts: Millis


def chat_message(item: WorkItem) -> ChatMessage | None:
    """The chat message a persist entry holds, or None for anything else (moderation events,
    rooms of no building or group, bodies of another shape)."""
    try:
        kind = parse_channel(item.channel).kind
    except InvalidChannel:
        return None
    if kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        return None
    try:
        body = msgpack.unpackb(item.data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(body, dict) or body.get("kind") != "chat":
        return None
    author, text, ts = body.get("author"), body.get("text"), body.get("ts")
    if not isinstance(author, dict) or not isinstance(text, str) or type(ts) is not int:
        return None
    author_id, author_name = author.get("id"), author.get("name")
    if type(author_id) is not int or not isinstance(author_name, str):
        return None
    return ChatMessage(item.channel, item.offset, author_id, author_name, text, ts)


class Mentions:
    """The display names of a room's members, ready to find ``@name`` in a message."""

    def __init__(self, names: dict[UserId, str]) -> None:
        # (length, casefolded name) -> who has it: several members may share a name, and a
        # mention of it mentions them all. The length is the name's own, not its casefolded
        # one (which may differ: "ß" folds to "ss"), as it measures the text's slice.
        by_name: dict[tuple[int, str], set[UserId]] = {}
        for user_id, name in names.items():
            name = name.strip()
            if name:
                by_name.setdefault((len(name), name.casefold()), set()).add(user_id)
        #: casefolded first character -> the names starting with it, longest first.
        self._index: dict[str, list[tuple[int, str, frozenset[UserId]]]] = {}
        for (length, folded), users in by_name.items():
            first = _first(folded)
            self._index.setdefault(first, []).append((length, folded, frozenset(users)))
        for candidates in self._index.values():
            candidates.sort(key=lambda c: -c[0])

    def find(self, text: str) -> set[UserId]:
        """Everyone ``text`` mentions: at each ``@``, the longest member name that follows it
        (case-insensitive). A name ending in a Latin letter or digit must not run on into
        another one (``@Amyx`` does not mention Amy); other names need no boundary (Chinese
        is written without spaces: ``@陳太今日`` mentions 陳太)."""
        found: set[UserId] = set()
        start = text.find("@")
        while start != -1:
            rest = start + 1
            matched = 0
            for length, folded, users in self._index.get(_first(text[rest : rest + 1]), ()):
                if text[rest : rest + length].casefold() != folded:
                    continue
                after = text[rest + length : rest + length + 1]
                if after and _latin(text[rest + length - 1]) and _latin(after):
                    continue
                found |= users
                matched = length
                break
            start = text.find("@", rest + matched)
        return found


def _first(text: str) -> str:
    return text[:1].casefold()[:1]


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def quote(text: str) -> str:
    """The first ``QUOTE_CHARS`` characters, on one line."""
    line = " ".join(text.split())
    return line if len(line) <= QUOTE_CHARS else line[:QUOTE_CHARS] + "…"


@dataclass(slots=True)
class _Room:
    name: str
    members: frozenset[UserId]
    mentions: Mentions
    expires: float


class ChatNotifyWorker(Worker):
    queue: ClassVar[str] = PERSIST_QUEUE
    group: ClassVar[str] = "chat-notify"

    def __init__(
        self,
        work_queue: WorkQueue,
        core: Store,
        store: NotificationStore,
        *,
        clock: Clock = system_clock,
        consumer: str | None = None,
    ) -> None:
        super().__init__(work_queue, consumer=consumer)
        self.core = core
        self.store = store
        self.clock = clock
        self._rooms: dict[ChannelName, _Room] = {}
        self._moded: set[ChannelName] = set()
        self._moded_expires = float("-inf")
        #: Notify requests submitted (for tests and logs).
        self.requested = 0

    async def healthy(self) -> bool:
        await self.store.next_delivery_due()  # raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        now = self.clock.now_ms()
        messages = [
            m
            for item in items
            if (m := chat_message(item)) is not None and now - m.ts <= MAX_AGE_MS
        ]
        if not messages:
            return
        moded = await self._moded_rooms()
        messages = [m for m in messages if "@" in m.text or m.channel in moded]
        if not messages:
            return  # the common batch: nobody to notify, and no query to find that out
        # One query for the follows and mutes of every room left in the batch.
        modes = await self.store.room_modes_of(sorted({m.channel for m in messages}))
        submits = []
        for message in messages:
            for request in await self._requests(message, modes[message.channel]):
                submits.append(
                    self.work_queue.submit(
                        NOTIFY_QUEUE,
                        encode_request(request),
                        idempotency_key=f"notify:{request.key}:{request.kind}",
                    )
                )
        # Together: the Redis work queue sends concurrent submits in one pipeline.
        await asyncio.gather(*submits)
        self.requested += len(submits)

    async def _requests(
        self, message: ChatMessage, modes: dict[UserId, RoomMode]
    ) -> list[NotifyRequest]:
        followers = {u for u, mode in modes.items() if mode is RoomMode.FOLLOW}
        if "@" not in message.text and not followers - {message.author_id}:
            return []  # the common case: no query, nothing to do
        room = await self._room(message.channel)
        muted = {u for u, mode in modes.items() if mode is RoomMode.MUTE}
        silent = muted | {message.author_id}
        mentioned = room.mentions.find(message.text) - silent if "@" in message.text else set()
        following = await self._readers(room, followers - silent - mentioned)
        key = f"chat:{message.channel}:{message.offset}"
        link = f"/#{message.channel}"
        values = {"author": message.author_name, "room": room.name, "quote": quote(message.text)}
        requests = []
        for kind, users, (text_zh, text_en) in (
            (Kind.MENTION, mentioned, MENTION_TEXT),
            (Kind.CHAT, following, FOLLOW_TEXT),
        ):
            if users:
                requests.append(
                    NotifyRequest(
                        key=key,
                        kind=kind,
                        text_zh=text_zh.format(**values),
                        text_en=text_en.format(**values),
                        link=link,
                        audience=AudienceSpec(user_ids=sorted(users)),
                        actor_id=message.author_id,
                    )
                )
        return requests

    async def _moded_rooms(self) -> set[ChannelName]:
        now = self.clock.monotonic()
        if now >= self._moded_expires:
            self._moded = await self.store.rooms_with_modes()
            self._moded_expires = now + ROOMS_TTL_MS / 1000
        return self._moded

    async def _readers(self, room: _Room, users: set[UserId]) -> set[UserId]:
        """Those of ``users`` who may read the room: members, and staff (a follow outlives a
        move to another building or leaving a group; it must not outlive the right to read)."""
        outsiders = users - room.members
        if not outsiders:
            return users
        staff = {
            r.user_id
            for r in await self.store.audience(Audience(user_ids=tuple(sorted(outsiders))))
            if r.role in _STAFF
        }
        return (users & room.members) | staff

    async def _room(self, channel: ChannelName) -> _Room:
        now = self.clock.monotonic()
        room = self._rooms.get(channel)
        if room is not None and room.expires > now:
            return room
        ref = parse_channel(channel)
        if ref.kind is ChannelKind.BUILDING:
            building = await self.core.get_building(ref.building_id)
            name = building.name if building is not None else channel
            audience = Audience(buildings=(ref.building_id,))
        else:
            group = await self.core.get_group(ref.key)
            name = group.name if group is not None else channel
            audience = Audience(groups=(ref.key,))
        members = await self.store.audience(audience)
        room = _Room(
            name=name,
            members=frozenset(r.user_id for r in members),
            mentions=Mentions({r.user_id: r.display_name for r in members}),
            expires=now + MEMBERS_TTL_MS / 1000,
        )
        if len(self._rooms) > 10_000:  # a bound, in case of very many rooms
            self._rooms.clear()
        self._rooms[channel] = room
        return room
