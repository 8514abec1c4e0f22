"""The gateway: one per process. Holds the connections and the channel hubs, receives the
broker's events, and carries out each request of the wire protocol.

The request flow is: transport (``gateway/asgi.py``) → ``handle_frame`` → decode
(``gateway/wire.py``) → authorise (``channels/access.py``) → broker / store / presence → reply
pushed on the connection's queue. Nothing here awaits a client's socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from channels.access import Action, Principal, may
from channels.broker import Broker, BrokerUnavailable, Publication
from channels.names import ChannelKind, ChannelRef
from gateway.codes import CloseCode, ErrorCode
from gateway.connection import Connection, ConnState
from gateway.history import HistoryReader
from gateway.hub import Hub
from gateway.ratelimit import RateLimiter
from gateway.recovery import Recoverable, recover, subscribe_reply
from gateway.wire import (
    Format,
    Frame,
    FrameError,
    History,
    Pong,
    PresenceQuery,
    Publish,
    PushFrames,
    Request,
    Subscribe,
    Unsubscribe,
    decode_frame,
    decode_request,
    encode_error,
    encode_ok,
    publication_body,
)
from linli.config import Settings
from linli.types import ChannelName, ConnId
from persistence.store import Store
from presence.presence import Presence, PresenceMember

log = logging.getLogger(__name__)

#: How long a subscribe waits for a new hub to learn the channel's position before answering
#: ``unavailable`` (the broker is unreachable).
HUB_READY_TIMEOUT = 5.0
#: Bad frames in a row after which a connection is closed with TOO_MANY_ERRORS: a client that
#: far off is broken, and answering it forever costs the server for nothing.
MAX_BAD_FRAMES = 20
_PRESENCE_KINDS = (ChannelKind.BUILDING, ChannelKind.GROUP)
#: Every gateway subscribes to this broker channel for instructions that concern connections
#: wherever they are (a logout, a changed role). Not a wire channel: clients cannot name it.
CONTROL_CHANNEL = "sys:control"


#: Carries out one request for a connection: returns the ok-reply body (None when the handler
#: pushed its reply itself) or raises RequestError.
OpHandler = Callable[[Connection, Any], Awaitable[dict[str, Any] | None]]
#: Decides access to a channel kind ``channels.access.may`` cannot (a ``poll:<id>`` channel,
#: whose readers depend on the poll's own channel): True or False, or raises RequestError
#: (``not_found``-like codes).
AccessRule = Callable[[Principal, ChannelRef, Action], Awaitable[bool]]
#: Looks at a chat message before it is published (a mute, a word list): raises RequestError to
#: refuse it, returns None to let it through unchanged.
PublishCheck = Callable[[Connection, ChannelRef, str], Awaitable[None]]
#: Carries out a control-channel instruction a feature registered in
#: ``Gateway.control_handlers``, on every gateway; called on the event loop, must not block.
ControlHandler = Callable[[dict[str, Any]], None]
#: Told of a revoked access (user id, channel) before it is announced.
RevokeListener = Callable[[int, ChannelName], Awaitable[None]]


class RequestError(Exception):
    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or code.info.message)
        self.code = code
        self.message = message


def chat_data(principal: Principal, text: str, client_msg_id: str, now_ms: int) -> bytes:
    """A chat message's body as stored and fanned out (see ``docs/protocol.md``)."""
    return msgpack.packb(  # type: ignore[no-any-return]
        {
            "kind": "chat",
            "text": text,
            "author": {"id": principal.user_id, "name": principal.display_name},
            "ts": now_ms,
            "cmid": client_msg_id,
        }
    )


def _peek_id(frame: Frame, fmt: Format) -> int | None:
    """The request id of a frame refused for its size, so the client knows which request it was
    (decoding is safe: the WebSocket layer already capped the frame at the hard limit)."""
    try:
        value = decode_frame(frame, fmt).get("id")
    except FrameError:
        return None
    return value if type(value) is int and value > 0 else None


class Gateway:
    def __init__(
        self, broker: Broker, store: Store, presence: Presence, settings: Settings
    ) -> None:
        self.broker = broker
        self.store = store
        self.presence = presence
        self.settings = settings
        self.history = HistoryReader(broker, store)
        self.hubs: dict[ChannelName, Hub] = {}
        self.connections: dict[ConnId, Connection] = {}
        self.rate_limiter = RateLimiter(settings.publish_rate, settings.publish_burst)
        self._hub_locks: dict[ChannelName, asyncio.Lock] = {}
        self._instance = uuid.uuid4().hex[:10]
        self._conn_ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._ping = PushFrames({"push": "ping"})
        #: Set whenever no connection is open; shutdown waits on it.
        self._all_gone = asyncio.Event()
        #: Run in order before every chat publish (features append to it).
        self.publish_checks: list[PublishCheck] = []
        #: Access decisions for channel kinds registered by features (polls).
        self.access_rules: dict[ChannelKind, AccessRule] = {}
        #: Control-channel ops registered by features (moderation: invalidate caches, end a
        #: banned user's connections).
        self.control_handlers: dict[str, ControlHandler] = {}
        #: Called with (user_id, channel) before ``revoke`` announces a lost access (polls: drop
        #: the cached membership on every gateway).
        self.revoke_listeners: list[RevokeListener] = []
        self._handlers: dict[type[Any], OpHandler] = {
            Publish: self._publish,
            Subscribe: self._subscribe,
            Unsubscribe: self._unsubscribe,
            History: self._history,
            PresenceQuery: self._presence,
        }

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start(self)
        await self.broker.subscribe(CONTROL_CHANNEL)
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="heartbeat"))
        self._tasks.append(asyncio.create_task(self._presence_loop(), name="presence"))

    async def shutdown(self, grace: float = 3.0) -> None:
        """Close every connection with ``SHUTDOWN`` (clients reconnect elsewhere or after the
        restart) and wait up to ``grace`` seconds for them to go."""
        for conn in list(self.connections.values()):
            conn.close(CloseCode.SHUTDOWN)
        if self.connections:
            self._all_gone.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for hub in self.hubs.values():
            hub.close()
        self.hubs.clear()

    # -- BrokerEvents ---------------------------------------------------------------------------

    def on_publication(self, publication: Publication) -> None:
        hub = self.hubs.get(publication.channel)
        if hub is not None:
            hub.on_publication(publication)

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        if channel == CONTROL_CHANNEL:
            self._on_control(msgpack.unpackb(data, raw=False))
            return
        hub = self.hubs.get(channel)
        if hub is None:
            return
        obj = msgpack.unpackb(data, raw=False)
        if obj.get("push") == "unsubscribed":
            # A user lost access (left the group) on some gateway: every gateway drops that
            # user's subscriptions to the channel and tells the client why.
            frames = PushFrames(obj)
            for conn in list(self.connections.values()):
                if conn.principal.user_id == obj.get("user_id") and channel in conn.subscriptions:
                    conn.push(frames.get(conn.fmt))
                    task = asyncio.create_task(self._detach(conn, channel))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            return
        hub.on_ephemeral(PushFrames(obj))

    def _on_control(self, obj: dict[str, Any]) -> None:
        op = obj.get("op")
        if op == "end_session":
            for conn in list(self.connections.values()):
                if conn.session == obj.get("session"):
                    conn.close(CloseCode.SESSION_ENDED)
        elif op == "permissions_changed":
            for conn in list(self.connections.values()):
                if conn.principal.user_id == obj.get("user_id"):
                    conn.close(CloseCode.PERMISSIONS_CHANGED)
        else:
            handler = self.control_handlers.get(str(op))
            if handler is not None:
                handler(obj)

    async def send_control(self, obj: dict[str, Any]) -> None:
        """Send an instruction (``{"op": ..., ...}``) to every gateway, this one included; a
        feature handles its ops with ``control_handlers``. At most once, like all control."""
        await self._control(obj)

    async def _control(self, obj: dict[str, Any]) -> None:
        try:
            await self.broker.publish_ephemeral(CONTROL_CHANNEL, msgpack.packb(obj))
        except BrokerUnavailable:
            log.warning("could not send control message %r", obj.get("op"))

    async def end_session(self, session: str) -> None:
        """Close every connection opened with this session (a logout), on every gateway."""
        await self._control({"op": "end_session", "session": session})

    async def permissions_changed(self, user_id: int) -> None:
        """Close the user's connections everywhere so they reconnect with their new role."""
        await self._control({"op": "permissions_changed", "user_id": user_id})

    async def revoke(self, user_id: int, channel: ChannelName) -> None:
        """End ``user_id``'s subscriptions to ``channel`` on every gateway (they left a group)."""
        for listener in self.revoke_listeners:
            await listener(user_id, channel)
        data = msgpack.packb(
            {"push": "unsubscribed", "channel": channel, "user_id": user_id, "reason": "left"}
        )
        try:
            await self.broker.publish_ephemeral(channel, data)
        except BrokerUnavailable:
            log.warning("could not announce that user %d left %s", user_id, channel)

    def on_reconnect(self) -> None:
        log.info("broker link re-established; catching up %d channels", len(self.hubs))
        for hub in self.hubs.values():
            hub.catch_up()

    # -- connections ----------------------------------------------------------------------------

    def new_conn_id(self) -> ConnId:
        return ConnId(f"{self._instance}-{next(self._conn_ids)}")

    def add_connection(self, conn: Connection) -> None:
        """Take over a connection a transport made (see ``gateway/ws_server.py``)."""
        self.connections[conn.conn_id] = conn

    def open(self, principal: Principal, fmt: Format, session: str = "") -> Connection:
        """A queued connection for a transport that sends with a coroutine (ASGI)."""
        conn_id = self.new_conn_id()
        conn = Connection(
            conn_id,
            principal,
            fmt,
            max_queued=self.settings.send_queue_bytes,
            now=asyncio.get_running_loop().time(),
            session=session,
        )
        self.add_connection(conn)
        return conn

    async def close_connection(self, conn: Connection) -> None:
        """Forget a connection whose socket is gone: leave its channels and presence."""
        conn.mark_closed()
        for channel in list(conn.subscriptions):
            await self._detach(conn, channel)
        self.connections.pop(conn.conn_id, None)
        if not self.connections:
            self._all_gone.set()

    async def handle_frame(self, conn: Connection, frame: Frame) -> None:
        conn.last_seen = asyncio.get_running_loop().time()
        limit = self.settings.max_frame_bytes
        # A text frame of n characters is at most 4n bytes in UTF-8: skip measuring short ones.
        if (len(frame) * 4 if isinstance(frame, str) else len(frame)) > limit and len(
            frame.encode() if isinstance(frame, str) else frame
        ) > limit:
            conn.push(
                encode_error(
                    _peek_id(frame, conn.fmt),
                    ErrorCode.TOO_LARGE,
                    conn.fmt,
                    f"frame larger than {limit} bytes",
                )
            )
            self._bad_frame(conn)
            return
        try:
            request = decode_request(frame, conn.fmt)
        except FrameError as exc:
            conn.push(encode_error(exc.request_id, exc.code, conn.fmt, exc.message))
            self._bad_frame(conn)
            return
        conn.bad_frames = 0
        if isinstance(request, Pong):
            return
        try:
            body = await self._dispatch(conn, request)
        except RequestError as exc:
            conn.push(encode_error(request.id, exc.code, conn.fmt, exc.message))
            return
        except BrokerUnavailable:
            conn.push(encode_error(request.id, ErrorCode.UNAVAILABLE, conn.fmt))
            return
        except Exception:
            log.exception("request %r failed", request)
            conn.push(encode_error(request.id, ErrorCode.INTERNAL, conn.fmt))
            return
        if body is not None:
            conn.push(encode_ok(request.id, body, conn.fmt))

    def _bad_frame(self, conn: Connection) -> None:
        conn.bad_frames += 1
        if conn.bad_frames >= MAX_BAD_FRAMES:
            conn.close(CloseCode.TOO_MANY_ERRORS)

    def register_op(self, request_type: type[Any], handler: OpHandler) -> None:
        """Handle a request type (registered with ``gateway.wire.register_op``) with
        ``handler(conn, request)``, which returns the ok-reply body or raises RequestError."""
        self._handlers[request_type] = handler

    async def _dispatch(self, conn: Connection, request: Request) -> dict[str, Any] | None:
        handler = self._handlers.get(type(request))
        if handler is None:
            raise AssertionError(f"no handler for {request!r}")
        return await handler(conn, request)

    async def require(self, conn: Connection, channel: ChannelRef, action: Action) -> None:
        """Raise RequestError (forbidden / not_found) unless the connection's user may."""
        await self._require(conn, channel, action)

    async def allowed(self, principal: Principal, channel: ChannelRef, action: Action) -> bool:
        """The one authorisation rule for a channel, over the wire and over HTTP alike: a
        feature's rule for its channel kind, else ``channels.access.may``."""
        rule = self.access_rules.get(channel.kind)
        if rule is not None:
            return await rule(principal, channel, action)
        return await may(principal, channel, action, self.store.is_member)

    async def _require(self, conn: Connection, channel: ChannelRef, action: Action) -> None:
        if not await self.allowed(conn.principal, channel, action):
            if (
                channel.kind is ChannelKind.GROUP
                and await self.store.get_group(channel.key) is None
            ):
                raise RequestError(ErrorCode.NOT_FOUND, f"no group {channel.key!r}")
            raise RequestError(
                ErrorCode.FORBIDDEN, f"you may not {action.value} channel {channel.name}"
            )

    # -- ops ----------------------------------------------------------------------------------

    async def _publish(self, conn: Connection, request: Publish) -> dict[str, Any]:
        channel = request.channel
        if channel.kind is ChannelKind.MOD:
            raise RequestError(ErrorCode.FORBIDDEN, "nobody publishes to the moderation feed")
        await self._require(conn, channel, Action.WRITE)
        principal = conn.principal
        if not self.rate_limiter.allow(principal.user_id, asyncio.get_running_loop().time()):
            raise RequestError(ErrorCode.RATE_LIMITED)
        try:
            for check in self.publish_checks:
                await check(conn, channel, request.text)
        except RequestError as exc:
            # A refused message (muted, a blocked word) was not published: it costs no token.
            # One held for review was stored, so it keeps its cost (or a flood of them would
            # be a flood of writes).
            if exc.code is not ErrorCode.HELD_FOR_REVIEW:
                self.rate_limiter.refund(principal.user_id)
            raise
        data = chat_data(principal, request.text, request.client_msg_id, int(time.time() * 1000))
        result = await self.broker.publish(
            channel.name, data, idempotency_key=f"{principal.user_id}:{request.client_msg_id}"
        )
        if result.duplicate:
            # A retry of a message already published (its ack was lost) is not a new message:
            # give the token back, or a phone resending its backlog after a reconnect would be
            # rate limited for messages it already paid for.
            self.rate_limiter.refund(principal.user_id)
        return {"offset": result.offset, "epoch": result.epoch, "duplicate": result.duplicate}

    async def _subscribe(self, conn: Connection, request: Subscribe) -> None:
        """Replies itself (returns None): the reply must be queued before the buffered live
        publications that follow it."""
        channel = request.channel
        name = channel.name
        await self._require(conn, channel, Action.READ)
        if name in conn.subscriptions:
            raise RequestError(ErrorCode.ALREADY_SUBSCRIBED)
        if len(conn.subscriptions) >= self.settings.max_subscriptions:
            raise RequestError(ErrorCode.TOO_MANY_SUBSCRIPTIONS)
        conn.subscriptions.add(name)
        try:
            hub = await self._attach(conn, name)
            try:
                await asyncio.wait_for(asyncio.shield(hub.ready), HUB_READY_TIMEOUT)
            except TimeoutError:
                raise BrokerUnavailable(f"no position for {name}") from None
            assert hub.epoch is not None
            epoch, top, generation = hub.epoch, hub.last, hub.generation
            recovered: bool | None = None
            missed: list[Recoverable] = []
            since = request.since
            if since is not None:
                if since.epoch != epoch or since.offset > top:
                    recovered = False
                elif top - since.offset > self.settings.recovery_max:
                    recovered = False
                else:
                    # From the hub's memory when it holds the range, else from history
                    # (gateway/recovery.py); readers' views applied either way.
                    found = await recover(
                        hub, self.history, conn.principal, name, since.offset, top, generation
                    )
                    recovered = found is not None
                    missed = found or []
            reply = subscribe_reply(request.id, name, epoch, top, recovered, missed, conn.fmt)
        except BaseException:
            await self._detach(conn, name)
            raise
        conn.push(reply)
        hub.promote(conn, top, epoch)
        if channel.kind in _PRESENCE_KINDS:
            await self._presence_join(conn, name)

    async def _unsubscribe(self, conn: Connection, request: Unsubscribe) -> dict[str, Any]:
        name = request.channel.name
        if name not in conn.subscriptions:
            raise RequestError(ErrorCode.NOT_SUBSCRIBED)
        await self._detach(conn, name)
        return {"channel": name}

    async def _history(self, conn: Connection, request: History) -> dict[str, Any]:
        channel = request.channel
        await self._require(conn, channel, Action.READ)
        newest = request.after is None
        pubs, position = await self.history.page(
            channel.name,
            after=request.after or 0,
            before=request.before,
            limit=request.limit,
            newest=newest,
        )
        pubs = await self.history.for_reader(conn.principal, channel.name, pubs)
        return {
            "channel": channel.name,
            "epoch": position.epoch,
            "offset": position.offset,
            "publications": [publication_body(p.offset, p.epoch, p.data) for p in pubs],
        }

    async def _presence(self, conn: Connection, request: PresenceQuery) -> dict[str, Any]:
        channel = request.channel
        await self._require(conn, channel, Action.READ)
        members = await self.presence.members(channel.name)
        return {
            "channel": channel.name,
            "members": [{"id": m.user_id, "name": m.name} for m in members],
        }

    # -- hubs -----------------------------------------------------------------------------------

    async def _attach(self, conn: Connection, name: ChannelName) -> Hub:
        hub = self.hubs.get(name)
        if hub is None:
            lock = self._hub_locks.setdefault(name, asyncio.Lock())
            async with lock:
                hub = self.hubs.get(name)
                if hub is None:
                    # Subscribe upstream before the hub asks for the position, so nothing
                    # published in between can fall through.
                    await self.broker.subscribe(name)
                    hub = Hub(
                        name,
                        self.history.missed,
                        self.broker.position,
                        keep=self.settings.recovery_max,
                    )
                    self.hubs[name] = hub
        hub.add_recovering(conn)
        return hub

    async def _detach(self, conn: Connection, name: ChannelName) -> None:
        was_subscribed = name in conn.subscriptions
        conn.subscriptions.discard(name)
        hub = self.hubs.get(name)
        if hub is not None:
            hub.remove(conn)
            if len(hub) == 0:
                await self._release(name, hub)
        if was_subscribed and name.split(":", 1)[0] in _PRESENCE_KINDS:
            await self._presence_leave(conn, name)

    async def _release(self, name: ChannelName, hub: Hub) -> None:
        lock = self._hub_locks.setdefault(name, asyncio.Lock())
        async with lock:
            if len(hub) or self.hubs.get(name) is not hub:
                return
            del self.hubs[name]
            hub.close()
            try:
                await self.broker.unsubscribe(name)
            except BrokerUnavailable:
                log.warning("could not unsubscribe %s upstream; broker unavailable", name)
        if name not in self.hubs and not lock.locked():
            self._hub_locks.pop(name, None)

    # -- presence -------------------------------------------------------------------------------

    async def _presence_event(self, kind: str, name: ChannelName, member: PresenceMember) -> None:
        data = msgpack.packb(
            {"push": kind, "channel": name, "user": {"id": member.user_id, "name": member.name}}
        )
        await self.broker.publish_ephemeral(name, data)

    async def _presence_join(self, conn: Connection, name: ChannelName) -> None:
        p = conn.principal
        member = PresenceMember(p.user_id, p.display_name)
        try:
            if await self.presence.join(name, conn.conn_id, member):
                await self._presence_event("join", name, member)
        except Exception:
            # Presence is a courtesy: its failure must not fail the subscription.
            log.warning("presence join failed for %s", name, exc_info=True)

    async def _presence_leave(self, conn: Connection, name: ChannelName) -> None:
        p = conn.principal
        try:
            if await self.presence.leave(name, conn.conn_id, p.user_id):
                await self._presence_event("leave", name, PresenceMember(p.user_id, p.display_name))
        except Exception:
            log.warning("presence leave failed for %s", name, exc_info=True)

    async def _presence_loop(self) -> None:
        interval = self.settings.presence_ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                entries = [
                    (
                        name,
                        conn.conn_id,
                        PresenceMember(conn.principal.user_id, conn.principal.display_name),
                    )
                    for conn in self.connections.values()
                    if conn.state is ConnState.OPEN
                    for name in conn.subscriptions
                    if name.split(":", 1)[0] in _PRESENCE_KINDS
                ]
                if entries:
                    await self.presence.refresh(entries)
                for name in list(self.hubs):
                    if name.split(":", 1)[0] not in _PRESENCE_KINDS:
                        continue
                    for member in await self.presence.expire(name):
                        await self._presence_event("leave", name, member)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence refresh failed", exc_info=True)

    # -- heartbeat ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            self.rate_limiter.forget_idle(now)
            for conn in list(self.connections.values()):
                silent = now - conn.last_seen
                if silent > 2 * interval:
                    conn.close(CloseCode.HEARTBEAT_TIMEOUT)
                elif silent >= interval * 0.9:
                    conn.push(self._ping.get(conn.fmt))
