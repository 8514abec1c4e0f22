"""Chat message basics in the gateway (issue 22, docs/design/0027-chat-messages.md): read
positions per user and room (the ``read`` and ``reads`` ops, the ``read`` push to the user's other
connections), and an author's ``edit`` and ``delete`` of their own message.

An edit or delete is recorded in the store and then published on the message's channel as an
event (``{"kind": "edit" | "retract", "target": <offset>, ...}``), a durable publication with its
own offset like a moderator's hide: it reaches every open client live, and a client recovering with
``since`` gets it in order. Older pages are served with the current text by the history view
(``view``), which also blanks deleted messages in recovery, so nothing depends on the hub's
memory or the hot history being rewritten (they never are: stream entries are immutable).

Nothing here runs on a plain ``publish``: the hot path of a message is unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import msgpack

from channels.access import Action, Principal
from channels.broker import Publication
from channels.names import ChannelKind, ChannelRef
from gateway.codes import ErrorCode
from gateway.connection import Connection
from gateway.gateway import QUOTE_CHARS, Gateway, RequestError
from gateway.messages.events import EDIT_KIND, RETRACT_KIND, MessageChanged, ReadMoved
from gateway.wire import MAX_TEXT_CHARS, FrameError, PushFrames, channel_field, register_op
from linli.feature import Services
from linli.types import ChannelName, Offset
from persistence.messages import MessageState
from persistence.messages.sql import SqlMessagesStore

log = logging.getLogger(__name__)

_MAX_OFFSET = 2**53
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Most rooms one ``reads`` request asks about.
MAX_READS_CHANNELS = 100
#: Unread messages counted per room; beyond it ``more`` is true ("99+").
UNREAD_CAP = 100
#: Publications looked at for a room's latest message.
LATEST_SCAN = 10
CHAT_KINDS = (ChannelKind.BUILDING, ChannelKind.GROUP)
#: How long the history view trusts the states it read for a range. A burst of resubscriptions
#: to one room (a gateway restart: every client recovers the same range) then costs one query,
#: not one per client. Changes made through any gateway drop the channel's entries at once
#: (``MessageChanged``); the lifetime bounds a lost control message.
STATES_CACHE_SECONDS = 2.0
STATES_CACHE_MAX = 1000


@dataclass(frozen=True, slots=True)
class ReadRequest:
    id: int
    channel: ChannelRef
    offset: Offset


@dataclass(frozen=True, slots=True)
class ReadsRequest:
    id: int
    channels: tuple[ChannelRef, ...]


@dataclass(frozen=True, slots=True)
class EditRequest:
    id: int
    channel: ChannelRef
    offset: Offset
    text: str


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    id: int
    channel: ChannelRef
    offset: Offset


def _offset(obj: dict[str, Any], request_id: int, *, zero: bool = False) -> Offset:
    value = obj.get("offset")
    low = 0 if zero else 1
    if type(value) is not int or not low <= value <= _MAX_OFFSET:
        what = "a non-negative" if zero else "a positive"
        raise FrameError(
            ErrorCode.BAD_REQUEST, f"field 'offset' must be {what} integer", request_id
        )
    return value


def _chat_channel(obj: dict[str, Any], request_id: int) -> ChannelRef:
    channel = channel_field(obj, request_id)
    if channel.kind not in CHAT_KINDS:
        raise FrameError(
            ErrorCode.BAD_REQUEST, "only building: and group: rooms hold chat messages", request_id
        )
    return channel


def _parse_read(obj: dict[str, Any], request_id: int) -> ReadRequest:
    return ReadRequest(
        request_id, _chat_channel(obj, request_id), _offset(obj, request_id, zero=True)
    )


def _parse_reads(obj: dict[str, Any], request_id: int) -> ReadsRequest:
    raw = obj.get("channels")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_READS_CHANNELS:
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            f"field 'channels' must be a list of 1-{MAX_READS_CHANNELS} rooms",
            request_id,
        )
    channels = tuple(_chat_channel({"channel": name}, request_id) for name in raw)
    return ReadsRequest(request_id, tuple(dict.fromkeys(channels)))


def clean_text(obj: dict[str, Any], request_id: int) -> str:
    """``text`` cleaned as a ``publish``'s is (docs/protocol.md)."""
    text = obj.get("text")
    if not isinstance(text, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "field 'text' must be a string", request_id)
    text = _CONTROL_RE.sub("", text).strip()
    if not text:
        raise FrameError(ErrorCode.BAD_REQUEST, "field 'text' must not be empty", request_id)
    if len(text) > MAX_TEXT_CHARS:
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            f"field 'text' is longer than {MAX_TEXT_CHARS} characters",
            request_id,
        )
    return text


def _parse_edit(obj: dict[str, Any], request_id: int) -> EditRequest:
    channel = _chat_channel(obj, request_id)
    return EditRequest(request_id, channel, _offset(obj, request_id), clean_text(obj, request_id))


def _parse_delete(obj: dict[str, Any], request_id: int) -> DeleteRequest:
    return DeleteRequest(request_id, _chat_channel(obj, request_id), _offset(obj, request_id))


register_op("read", _parse_read)
register_op("reads", _parse_reads)
register_op("edit", _parse_edit)
register_op("delete", _parse_delete)


def _body(pub: Publication) -> dict[str, Any] | None:
    try:
        body = msgpack.unpackb(pub.data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    return body if isinstance(body, dict) else None


class GatewayMessages:
    def __init__(self, gateway: Gateway, services: Services) -> None:
        self.gateway = gateway
        self.broker = services.broker
        self.clock = services.clock
        self.window_ms = services.settings.edit_window_seconds * 1000
        self.store = SqlMessagesStore(services.database)
        #: (channel, first, last) -> (monotonic time read, states); see STATES_CACHE_SECONDS.
        self._states: dict[
            tuple[ChannelName, Offset, Offset], tuple[float, dict[Offset, MessageState]]
        ] = {}

    def install(self) -> None:
        gateway = self.gateway
        gateway.register_op(ReadRequest, self.read)
        gateway.register_op(ReadsRequest, self.reads)
        gateway.register_op(EditRequest, self.edit)
        gateway.register_op(DeleteRequest, self.delete)
        gateway.history.views.append(self.view)
        gateway.control_handlers[ReadMoved] = self._on_read_moved
        gateway.control_handlers[MessageChanged] = self._on_message_changed

    def _on_message_changed(self, command: MessageChanged) -> None:
        self._forget(command.channel)

    def _forget(self, channel: ChannelName) -> None:
        for key in [k for k in self._states if k[0] == channel]:
            del self._states[key]

    async def _cached_states(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, MessageState]:
        now = self.clock.monotonic()
        key = (channel, first, last)
        cached = self._states.get(key)
        if cached is not None and now - cached[0] < STATES_CACHE_SECONDS:
            return cached[1]
        states = await self.store.states(channel, first, last)
        if len(self._states) >= STATES_CACHE_MAX:
            self._states.clear()
        self._states[key] = (now, states)
        return states

    async def _changed(self, channel: ChannelName) -> None:
        """Drop this gateway's cached states of ``channel`` now, and every other gateway's."""
        self._forget(channel)
        await self.gateway.send_control(MessageChanged(channel=channel))

    # -- read positions -------------------------------------------------------------------------

    async def read(self, conn: Connection, request: ReadRequest) -> dict[str, Any]:
        channel = request.channel
        await self.gateway.require(conn, channel, Action.READ)
        top = (await self.broker.position(channel.name)).offset
        offset = await self.store.set_read(
            conn.principal.user_id, channel.name, min(request.offset, top), now=self.clock.now_ms()
        )
        await self.gateway.send_control(
            ReadMoved(user_id=conn.principal.user_id, channel=channel.name, offset=offset)
        )
        return {"channel": channel.name, "offset": offset}

    def _on_read_moved(self, command: ReadMoved) -> None:
        frames = PushFrames({"push": "read", "channel": command.channel, "offset": command.offset})
        for conn in list(self.gateway.connections.values()):
            if conn.principal.user_id == command.user_id:
                conn.push(frames.get(conn.fmt))

    async def reads(self, conn: Connection, request: ReadsRequest) -> dict[str, Any]:
        principal = conn.principal
        for channel in request.channels:
            await self.gateway.require(conn, channel, Action.READ)
        marks = await self.store.reads(principal.user_id)
        rooms = []
        for channel in request.channels:
            rooms.append(await self._room(principal, channel.name, marks.get(channel.name, 0)))
        return {"rooms": rooms}

    async def _room(self, principal: Principal, name: ChannelName, mark: Offset) -> dict[str, Any]:
        """One room's read position, unread count (chat messages after it by others, not deleted
        or hidden; at most ``UNREAD_CAP``) and latest message."""
        history = self.gateway.history
        latest_pubs, position = await history.page(
            name, after=0, before=None, limit=LATEST_SCAN, newest=True
        )
        top = position.offset
        unread, more = 0, False
        if top > mark:
            pubs, _ = await history.page(
                name, after=mark, before=None, limit=UNREAD_CAP, newest=False
            )
            pubs = await history.for_reader(principal, name, pubs)
            for pub in pubs:
                body = _body(pub)
                if body is None or body.get("kind") != "chat":
                    continue
                if body.get("deleted") or body.get("moderation"):
                    continue
                if (body.get("author") or {}).get("id") == principal.user_id:
                    continue
                unread += 1
            more = len(pubs) == UNREAD_CAP and pubs[-1].offset < top
        latest = None
        for pub in reversed(await history.for_reader(principal, name, latest_pubs)):
            body = _body(pub)
            if body is not None and body.get("kind") == "chat":
                author = body.get("author") or {}
                gone = bool(body.get("deleted") or body.get("moderation"))
                latest = {
                    "offset": pub.offset,
                    "author": {"id": author.get("id"), "name": str(author.get("name", ""))},
                    "text": "" if gone else str(body.get("text", ""))[:100],
                    "ts": body.get("ts"),
                    "deleted": gone,
                }
                break
        return {
            "channel": name,
            "offset": mark,
            "last": top,
            "unread": unread,
            "more": more,
            "latest": latest,
        }

    # -- edit and delete ----------------------------------------------------------------------

    async def _own_message(
        self, conn: Connection, channel: ChannelRef, offset: Offset
    ) -> tuple[dict[str, Any], MessageState | None]:
        """The chat message at ``offset`` and its state, if it is the connection's user's and may
        still be changed; else RequestError."""
        await self.gateway.require(conn, channel, Action.WRITE)
        history = self.gateway.history
        pubs, _ = await history.page(
            channel.name, after=offset - 1, before=offset + 1, limit=1, newest=False
        )
        if not pubs or pubs[0].offset != offset:
            raise RequestError(ErrorCode.NOT_FOUND, f"no message at offset {offset}")
        body = _body(pubs[0])
        if body is None or body.get("kind") != "chat":
            raise RequestError(ErrorCode.BAD_REQUEST, f"offset {offset} is not a chat message")
        if (body.get("author") or {}).get("id") != conn.principal.user_id:
            raise RequestError(ErrorCode.NOT_AUTHOR)
        # A moderator's hide or delete is final for the author (the view marks it).
        seen = _body((await history.for_reader(conn.principal, channel.name, pubs))[0]) or {}
        if seen.get("moderation"):
            raise RequestError(ErrorCode.MESSAGE_DELETED, "a moderator acted on this message")
        state = (await self.store.states(channel.name, offset, offset)).get(offset)
        return body, state

    async def edit(self, conn: Connection, request: EditRequest) -> dict[str, Any]:
        channel, offset, text = request.channel, request.offset, request.text
        body, state = await self._own_message(conn, channel, offset)
        if state is not None and state.deleted_at is not None:
            raise RequestError(ErrorCode.MESSAGE_DELETED)
        now = self.clock.now_ms()
        ts = body.get("ts")
        if type(ts) is not int or now - ts >= self.window_ms:
            raise RequestError(
                ErrorCode.EDIT_WINDOW_CLOSED,
                f"messages can be edited for {self.window_ms // 1000} seconds after writing",
            )
        gateway = self.gateway
        user_id = conn.principal.user_id
        if not gateway.rate_limiter.allow(user_id, asyncio.get_running_loop().time()):
            raise RequestError(ErrorCode.RATE_LIMITED)
        try:
            # The same rules as a new message: a mute, a ban, the word list.
            for check in gateway.publish_checks:
                await check(conn, channel, text, edit=True)
        except RequestError as exc:
            if exc.refund:
                gateway.rate_limiter.refund(user_id)
            raise
        current = state.text if state is not None else str(body.get("text", ""))
        if current != text and not await self.store.record_edit(
            channel.name, offset, author_id=user_id, old_text=current, new_text=text, now=now
        ):
            raise RequestError(ErrorCode.MESSAGE_DELETED)
        await self._changed(channel.name)
        event = {"kind": EDIT_KIND, "target": offset, "text": text, "ts": now}
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        result = await self.broker.publish(
            channel.name,
            msgpack.packb(event),
            idempotency_key=f"edit:{user_id}:{offset}:{digest}",
        )
        return {"channel": channel.name, "offset": offset, "event": result.offset, "text": text}

    async def delete(self, conn: Connection, request: DeleteRequest) -> dict[str, Any]:
        channel, offset = request.channel, request.offset
        body, state = await self._own_message(conn, channel, offset)
        user_id = conn.principal.user_id
        text = state.text if state is not None else str(body.get("text", ""))
        await self.store.record_delete(
            channel.name, offset, author_id=user_id, text=text, now=self.clock.now_ms()
        )
        await self._changed(channel.name)
        event = {"kind": RETRACT_KIND, "target": offset, "ts": self.clock.now_ms()}
        # Published even when it was deleted already: a retry after a lost event sends it, and
        # the broker's dedupe keeps one within its window (clients apply it idempotently).
        result = await self.broker.publish(
            channel.name, msgpack.packb(event), idempotency_key=f"retract:{user_id}:{offset}"
        )
        # Search hears of it from the event itself, as of an edit: the chat indexer reads the
        # persist stream in order (workers/search.py index_chat).
        return {"channel": channel.name, "offset": offset, "event": result.offset}

    # -- history ------------------------------------------------------------------------------

    async def view(
        self, principal: Principal, channel: ChannelName, pubs: list[Publication]
    ) -> list[Publication]:
        """Edited messages with their current text (``edited``: when), deleted ones blanked
        (``deleted: true``), and what quotes or repeats a deleted message's text blanked too (a
        reply's quote, an earlier edit event)."""
        if not channel.startswith(("building:", "group:")):
            return pubs
        bodies = [_body(p) for p in pubs]
        first, last = pubs[0].offset, pubs[-1].offset
        for body in bodies:
            if body is None:
                continue
            if body.get("kind") == EDIT_KIND and type(body.get("target")) is int:
                first = min(first, body["target"])
            quote = body.get("reply_to")
            if isinstance(quote, dict) and type(quote.get("offset")) is int:
                first = min(first, quote["offset"])
        try:
            states = await self._cached_states(channel, first, last)
        except Exception:
            # Fail open like moderation's view: the edit and retract events are in the channel.
            log.warning("message states of %s unavailable; page served as is", channel)
            return pubs
        if not states:
            return pubs
        out = []
        for pub, body in zip(pubs, bodies, strict=True):
            changed = body is not None and self._apply(body, pub.offset, states)
            out.append(
                Publication(pub.channel, pub.offset, pub.epoch, msgpack.packb(body))
                if changed
                else pub
            )
        return out

    @staticmethod
    def _apply(body: dict[str, Any], offset: Offset, states: dict[Offset, MessageState]) -> bool:
        changed = False
        kind = body.get("kind")
        if kind == "chat":
            state = states.get(offset)
            if state is not None:
                if state.deleted_at is not None:
                    body["text"], body["deleted"] = "", True
                    body.pop("reply_to", None)
                    body.pop("photo", None)
                else:
                    if not body.get("moderation"):
                        body["text"] = state.text
                    body["edited"] = state.edited_at
                changed = True
            quote = body.get("reply_to")
            if isinstance(quote, dict):
                quoted = states.get(quote.get("offset"))  # type: ignore[arg-type]
                if quoted is not None:
                    gone = quoted.deleted_at is not None
                    quote["text"] = "" if gone else quoted.text[:QUOTE_CHARS]
                    changed = True
        elif kind == EDIT_KIND:
            target = states.get(body.get("target"))  # type: ignore[arg-type]
            if target is not None and target.deleted_at is not None:
                body["text"] = ""
                changed = True
        return changed


def install(gateway: Gateway, services: Services) -> GatewayMessages:
    """The chat messages feature of a gateway (its entry in ``linli/features.py``)."""
    messages = GatewayMessages(gateway, services)
    messages.install()
    return messages
