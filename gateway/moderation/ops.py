"""Moderation in the gateway: the ``flag`` op, the publish check (bans, mutes, the word list),
the history view that blanks hidden messages for residents, and the control ops that carry a
moderator's decision to every gateway.

Sanctions and the word list are cached per gateway process, because the check runs before every
chat message: a cached check costs a dict lookup, a store lookup a database round trip (see
``docs/design/0007-moderation.md`` for the numbers). The cache is invalidated on every gateway by
a control message when a moderator changes something, and entries also expire after
``CACHE_SECONDS``: control messages are at most once, so a lost one delays a new mute by at most
that long. A mute's own expiry needs no invalidation: the check compares times.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack

from channels.access import Action, Principal
from channels.broker import Publication
from channels.names import ChannelKind, ChannelRef
from gateway.codes import CloseCode, ErrorCode
from gateway.connection import Connection
from gateway.gateway import Gateway, RequestError
from gateway.moderation.events import (
    MODERATION_QUEUE,
    EndUser,
    InvalidateSanctions,
    InvalidateWords,
    NotifyUser,
)
from gateway.wire import FrameError, PushFrames, channel_field, register_op
from linli.feature import Services
from linli.types import ChannelName, Offset, UserId
from persistence.moderation import (
    FlagReason,
    Sanction,
    SanctionKind,
    Visibility,
    Word,
    WordAction,
    find_word,
)
from persistence.moderation.sql import SqlModerationStore

log = logging.getLogger(__name__)

#: How long a gateway trusts its cached sanctions and word list without an invalidation.
CACHE_SECONDS = 30.0
#: After a failed lookup (the database is down), how long to go on with what is cached.
RETRY_SECONDS = 5.0
#: Cached users per gateway before the cache starts over (an upper bound on memory).
MAX_CACHED_USERS = 10_000
MAX_NOTE_CHARS = 500


@dataclass(frozen=True, slots=True)
class FlagRequest:
    id: int
    channel: ChannelRef
    offset: Offset
    reason: FlagReason
    note: str


def _parse_flag(obj: dict[str, Any], request_id: int) -> FlagRequest:
    channel = channel_field(obj, request_id)
    offset = obj.get("offset")
    if type(offset) is not int or not 0 < offset <= 2**53:
        raise FrameError(
            ErrorCode.BAD_REQUEST, "field 'offset' must be a positive integer", request_id
        )
    try:
        reason = FlagReason(str(obj.get("reason")))
    except ValueError:
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            "field 'reason' must be one of " + ", ".join(r.value for r in FlagReason),
            request_id,
        ) from None
    note = obj.get("text", "")
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            f"field 'text' must be a string of at most {MAX_NOTE_CHARS}",
            request_id,
        )
    note = "".join(ch for ch in note if ch in "\n\t" or ord(ch) >= 0x20).strip()
    if reason is FlagReason.OTHER and not note:
        raise FrameError(
            ErrorCode.BAD_REQUEST, "reason 'other' needs a 'text' saying what is wrong", request_id
        )
    return FlagRequest(request_id, channel, offset, reason, note)


register_op("flag", _parse_flag)


def _until(ms: int | None) -> str:
    if ms is None:
        return "until lifted"
    return "until " + datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class GatewayModeration:
    def __init__(self, gateway: Gateway, services: Services) -> None:
        self.gateway = gateway
        self.work_queue = services.work_queue
        self.clock = services.clock
        self.store = SqlModerationStore(services.database)
        self._sanctions: dict[UserId, tuple[float, list[Sanction]]] = {}
        self._words: tuple[float, list[Word]] | None = None

    def install(self) -> None:
        gateway = self.gateway
        gateway.register_op(FlagRequest, self.flag)
        gateway.publish_checks.append(self.check_publish)
        gateway.history.views.append(self.view)
        gateway.access_rules[ChannelKind.MOD] = self.may_read_feed
        gateway.control_handlers[InvalidateSanctions] = self._on_invalidate_sanctions
        gateway.control_handlers[InvalidateWords] = self._on_invalidate_words
        gateway.control_handlers[EndUser] = self._on_end_user
        gateway.control_handlers[NotifyUser] = self._on_notify

    # -- caches ---------------------------------------------------------------------------------

    async def sanctions(self, user_id: UserId) -> list[Sanction]:
        now = time.monotonic()
        cached = self._sanctions.get(user_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            found = await self.store.active_sanctions(user_id, now=self.clock.now_ms())
        except Exception:
            # Fail open: chat works without the database (the broker carries it), and a
            # database outage must not silence the neighbourhood. Keep what was known, and ask
            # again after RETRY_SECONDS rather than on every message.
            log.warning(
                "sanctions of user %d unavailable; using what is cached", user_id, exc_info=True
            )
            found = cached[1] if cached is not None else []
            now -= CACHE_SECONDS - RETRY_SECONDS
        if len(self._sanctions) >= MAX_CACHED_USERS:
            self._sanctions.clear()
        self._sanctions[user_id] = (now, found)
        return found

    async def words(self) -> list[Word]:
        now = time.monotonic()
        if self._words is None or now - self._words[0] >= CACHE_SECONDS:
            try:
                self._words = (now, await self.store.list_words())
            except Exception:  # fail open, as for sanctions
                log.warning("word list unavailable; using what is cached", exc_info=True)
                known = self._words[1] if self._words is not None else []
                self._words = (now - CACHE_SECONDS + RETRY_SECONDS, known)
        return self._words[1]

    def _on_invalidate_sanctions(self, command: InvalidateSanctions) -> None:
        self._sanctions.pop(command.user_id, None)

    def _on_invalidate_words(self, command: InvalidateWords) -> None:
        self._words = None

    def _on_end_user(self, command: EndUser) -> None:
        self._sanctions.pop(command.user_id, None)
        # Flushed before the close frame (Connection.close): the page says why it closed.
        frames = PushFrames({"push": "moderation", "kind": "banned", "reason": command.reason})
        for conn in list(self.gateway.connections.values()):
            if conn.principal.user_id == command.user_id:
                conn.push(frames.get(conn.fmt))
                conn.close(CloseCode.SESSION_ENDED)

    def _on_notify(self, command: NotifyUser) -> None:
        frames = PushFrames(command.push)
        for conn in list(self.gateway.connections.values()):
            if conn.principal.user_id == command.user_id:
                conn.push(frames.get(conn.fmt))

    @staticmethod
    async def may_read_feed(principal: Principal, channel: ChannelRef, action: Action) -> bool:
        """``mod:flags``: moderators and admins read; nobody publishes over the wire (the
        moderation worker does)."""
        return action is Action.READ and principal.is_staff

    # -- checks ---------------------------------------------------------------------------------

    async def refuse_sanctioned(
        self, principal: Principal, channel: ChannelName, *, bans_only: bool = False
    ) -> None:
        now = self.clock.now_ms()
        for sanction in await self.sanctions(principal.user_id):
            if not sanction.applies(channel, now):
                continue
            if bans_only and sanction.kind is not SanctionKind.BAN:
                continue
            if sanction.kind is SanctionKind.BAN:
                raise RequestError(ErrorCode.BANNED)
            where = "here" if sanction.channel else "everywhere"
            raise RequestError(
                ErrorCode.MUTED, f"muted {where} {_until(sanction.expires_at)}: {sanction.reason}"
            )

    async def check_publish(
        self, conn: Connection, channel: ChannelRef, text: str, *, edit: bool = False
    ) -> None:
        principal = conn.principal
        await self.refuse_sanctioned(principal, channel.name)
        if principal.is_staff:
            return  # moderators' and admins' notices are not filtered by the list they keep
        word = find_word(await self.words(), text)
        if word is None:
            return
        if word.action is WordAction.BLOCK:
            raise RequestError(ErrorCode.BLOCKED_WORD)
        if edit:
            # An edit of a published message cannot wait for review (approving it would publish
            # a second message): refused, to be put another way, with nothing queued — as the
            # forum refuses such an edit.
            raise RequestError(
                ErrorCode.BLOCKED_WORD, "an edit with a phrase moderators review is not taken"
            )
        # The check does not see the client_msg_id; the text's digest stands in for it, so a
        # resent message is held once.
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        item = {
            "type": "held",
            "channel": channel.name,
            "author_id": principal.user_id,
            "author_name": principal.display_name,
            "text": text,
            "cmid": digest,
            "matched": word.pattern,
            "at": self.clock.now_ms(),
        }
        await self.work_queue.submit(
            MODERATION_QUEUE,
            msgpack.packb(item),
            idempotency_key=f"held:{principal.user_id}:{channel.name}:{digest}",
        )
        # Stored for review: it keeps its rate-limit token, or a flood of held messages would
        # be a flood of writes.
        raise RequestError(ErrorCode.HELD_FOR_REVIEW, refund=False)

    # -- the flag op ------------------------------------------------------------------------------

    async def flag(self, conn: Connection, request: FlagRequest) -> dict[str, Any]:
        channel = request.channel
        if channel.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
            raise RequestError(ErrorCode.BAD_REQUEST, "only chat messages can be flagged")
        await self.gateway.require(conn, channel, Action.READ)
        principal = conn.principal
        # A ban stops reporting; a mute does not (the muted may well be the ones harassed).
        await self.refuse_sanctioned(principal, channel.name, bans_only=True)
        pubs, _ = await self.gateway.history.page(
            channel.name,
            after=request.offset - 1,
            before=request.offset + 1,
            limit=1,
            newest=False,
        )
        if not pubs or pubs[0].offset != request.offset:
            raise RequestError(ErrorCode.NOT_FOUND, f"no message at offset {request.offset}")
        body = msgpack.unpackb(pubs[0].data, raw=False)
        if not isinstance(body, dict) or body.get("kind") != "chat":
            raise RequestError(ErrorCode.BAD_REQUEST, "only chat messages can be flagged")
        author = body.get("author") or {}
        if author.get("id") == principal.user_id:
            raise RequestError(ErrorCode.BAD_REQUEST, "you cannot flag your own message")
        item = {
            "type": "flag",
            "channel": channel.name,
            "offset": request.offset,
            "flagger_id": principal.user_id,
            "flagger_name": principal.display_name,
            "reason": str(request.reason),
            "note": request.note,
            "author_id": author.get("id"),
            "author_name": str(author.get("name", "")),
            "text": str(body.get("text", "")),
            "ts": int(body.get("ts", 0)),
            "at": self.clock.now_ms(),
        }
        fresh = await self.work_queue.submit(
            MODERATION_QUEUE,
            msgpack.packb(item),
            idempotency_key=f"flag:{principal.user_id}:{channel.name}:{request.offset}",
        )
        return {"channel": channel.name, "offset": request.offset, "duplicate": not fresh}

    # -- history ----------------------------------------------------------------------------------

    async def view(
        self, principal: Principal, channel: ChannelName, pubs: list[Publication]
    ) -> list[Publication]:
        """Hidden messages keep their place (offset, author, time) with the text blanked and
        ``moderation`` set; moderators still read a hidden (not a deleted) message's text, and
        the message's own author reads the moderator's reason (``moderation_reason``)."""
        if not channel.startswith(("building:", "group:")):
            return pubs
        try:
            states = await self.store.hidden_states(channel, pubs[0].offset, pubs[-1].offset)
        except Exception:
            # Fail open: while the database is down, pages from the hot history and recovery
            # keep working as they did before moderation existed. The hide events themselves
            # are in the channel, so a client still hides what a moderator hid.
            log.warning(
                "moderation states of %s unavailable; page served as is", channel, exc_info=True
            )
            return pubs
        if not states:
            return pubs
        redacted = [self._redacted(p, states.get(p.offset), principal) for p in pubs]
        own = [
            pub.offset
            for pub, body in redacted
            if body is not None and (body.get("author") or {}).get("id") == principal.user_id
        ]
        reasons: dict[Offset, str] = {}
        if own:
            try:
                reasons = await self.store.decision_reasons(channel, own)
            except Exception:
                log.warning("moderation reasons of %s unavailable", channel, exc_info=True)
        out = []
        for pub, body in redacted:
            if body is not None and pub.offset in reasons:
                body["moderation_reason"] = reasons[pub.offset]
                pub = Publication(pub.channel, pub.offset, pub.epoch, msgpack.packb(body))
            out.append(pub)
        return out

    @staticmethod
    def _redacted(
        pub: Publication, state: Visibility | None, principal: Principal
    ) -> tuple[Publication, dict[str, Any] | None]:
        """The publication as ``principal`` reads it, and its new body when it changed."""
        if state is None:
            return pub, None
        body = msgpack.unpackb(pub.data, raw=False)
        if not isinstance(body, dict) or body.get("kind") != "chat":
            return pub, None
        body["moderation"] = str(state)
        if state is Visibility.DELETED or not principal.is_staff:
            body["text"] = ""
            # A hidden or deleted message's photo goes with its text (its URLs refuse too).
            body.pop("photo", None)
        return Publication(pub.channel, pub.offset, pub.epoch, msgpack.packb(body)), body


def install(gateway: Gateway, services: Services) -> GatewayModeration:
    """The moderation feature of a gateway (its entry in ``linli/features.py``)."""
    moderation = GatewayModeration(gateway, services)
    moderation.install()
    return moderation
