"""The gateway: one per process. Holds the connections and the channel hubs, receives the
broker's events, and carries out each request of the wire protocol.

The request flow is: transport (``gateway/ws_server.py``) → ``handle_frame`` → decode
(``gateway/wire.py``) → authorise (``channels/access.py``) → broker / store / presence → reply
pushed on the connection's queue. Nothing here awaits a client's socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import msgpack

from channels.access import Action, Principal, may
from channels.broker import Broker, BrokerUnavailable, Publication
from channels.names import ChannelKind, ChannelRef
from gateway.acked import AckedLog
from gateway.codes import CloseCode, ErrorCode
from gateway.connection import Connection, ConnState
from gateway.control import (
    CONTROL_CHANNEL,
    AccessRevoked,
    ControlCommand,
    EndSession,
    PermissionsChanged,
    decode_command,
    revoke_access,
    send_control,
)
from gateway.history import HistoryReader
from gateway.hub import Hub
from gateway.presence_sync import PRESENCE_KINDS, PresenceSync
from gateway.ratelimit import RateLimiter
from gateway.recovery import Recoverable, recover, subscribe_reply
from gateway.stats import STATS
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
from linli.clock import Clock, system_clock
from linli.config import Settings
from linli.roles import Can
from linli.roles import may as may_role
from linli.types import ChannelName, ConnId
from persistence.store import Store
from presence.presence import Presence

log = logging.getLogger(__name__)

#: How long a subscribe waits for a new hub to learn the channel's position before answering
#: ``unavailable`` (the broker is unreachable).
HUB_READY_TIMEOUT = 5.0
#: Characters of the original a reply quotes (``reply_to.text``).
QUOTE_CHARS = 100
#: Bad frames in a row after which a connection is closed with TOO_MANY_ERRORS: a client that
#: far off is broken, and answering it forever costs the server for nothing.
MAX_BAD_FRAMES = 20


#: Carries out one request for a connection: returns the ok-reply body (None when the handler
#: pushed its reply itself) or raises RequestError.
OpHandler = Callable[[Connection, Any], Awaitable[dict[str, Any] | None]]
#: Decides access to a channel kind ``channels.access.may`` cannot (a ``poll:<id>`` channel,
#: whose readers depend on the poll's own channel): True or False, or raises RequestError
#: (``not_found``-like codes).
AccessRule = Callable[[Principal, ChannelRef, Action], Awaitable[bool]]


class PublishCheck(Protocol):
    """Looks at a chat message before it is published (a mute, a word list): raises
    RequestError to refuse it, returns None to let it through unchanged. ``edit``: the text is
    an author's edit of a published message (``gateway/messages/ops.py``), which can be refused
    but never held back for review — it is public already."""

    def __call__(
        self, conn: Connection, channel: ChannelRef, text: str, *, edit: bool = False
    ) -> Awaitable[None]: ...


#: Carries out a feature's control command (``Gateway.control_handlers``, keyed by the command's
#: type), on every gateway; called on the event loop, must not block.
ControlHandler = Callable[[Any], None]
#: Told of a revoked access (user id, channel), on every gateway.
RevokeListener = Callable[[int, ChannelName], None]


class PhotoAttacher(Protocol):
    """Resolves a publish's ``photo`` (``gateway/photos/ops.py``): ``claim`` returns the
    ``data.photo`` object or raises RequestError; ``attached`` records the published offset."""

    async def claim(
        self, conn: Connection, channel: ChannelRef, photo_id: str, client_msg_id: str
    ) -> dict[str, Any]: ...

    async def attached(self, photo_id: str, offset: int) -> None: ...


class RequestError(Exception):
    """A request refused with a wire error code. ``refund``: whether a refused publish gives its
    rate-limit token back (a message held for review was stored, so it keeps its cost, or a
    flood of them would be a flood of writes)."""

    def __init__(self, code: ErrorCode, message: str | None = None, *, refund: bool = True) -> None:
        super().__init__(message or code.info.message)
        self.code = code
        self.message = message
        self.refund = refund


def chat_data(
    principal: Principal,
    text: str,
    client_msg_id: str,
    now_ms: int,
    reply_to: dict[str, Any] | None = None,
    *,
    official: bool = False,
    photo: dict[str, Any] | None = None,
) -> bytes:
    """A chat message's body as stored and fanned out (see ``docs/protocol.md``). ``official``
    (a management post in a building room) is set by the server from the author's role, never
    taken from the client."""
    body: dict[str, Any] = {
        "kind": "chat",
        "text": text,
        "author": {"id": principal.user_id, "name": principal.display_name},
        "ts": now_ms,
        "cmid": client_msg_id,
    }
    if reply_to is not None:
        body["reply_to"] = reply_to
    if official:
        body["official"] = True
    if photo is not None:
        body["photo"] = photo
    return msgpack.packb(body)  # type: ignore[no-any-return]


def is_official(principal: Principal, channel: ChannelRef) -> bool:
    """Whether ``principal``'s post in ``channel`` is an official one (management in a building
    room, ``linli.roles.Can.POST_OFFICIAL``)."""
    return channel.kind is ChannelKind.BUILDING and may_role(principal.role, Can.POST_OFFICIAL)


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
        self,
        broker: Broker,
        store: Store,
        presence: Presence,
        settings: Settings,
        clock: Clock = system_clock,
    ) -> None:
        self.clock = clock
        self.broker = broker
        self.store = store
        self.presence = presence
        self.presence_sync = PresenceSync(broker, presence, settings.presence_ttl)
        self.settings = settings
        self.history = HistoryReader(broker, store)
        self.hubs: dict[ChannelName, Hub] = {}
        self.connections: dict[ConnId, Connection] = {}
        self._connect_hooks: list[Callable[[Principal], None]] = []
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
        #: Handlers of the features' control commands, by command type (moderation: drop
        #: cached sanctions, end a banned user's connections).
        self.control_handlers: dict[type[ControlCommand], ControlHandler] = {}
        #: Called with (user_id, channel) when a user lost access, on every gateway (polls: drop
        #: the cached membership).
        self.revoke_listeners: list[RevokeListener] = []
        #: The photos feature's side of a publish with ``photo`` (None: such a publish is
        #: ``bad_request``).
        self.photo_attacher: PhotoAttacher | None = None
        #: Chat messages acked here and not yet seen in the store, re-submitted if Redis loses
        #: them (design 0033). None in the embedded mode: the in-process broker cannot lose
        #: what it acked without this process, and this log, going too.
        self.acked: AckedLog | None = None
        if not settings.embedded and settings.acked_buffer_bytes > 0:
            self.acked = AckedLog(
                broker,
                store,
                max_bytes=settings.acked_buffer_bytes,
                check_seconds=settings.acked_check_seconds,
            )
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
        self._tasks.append(
            asyncio.create_task(
                self.presence_sync.run(self.connections, self.hubs), name="presence"
            )
        )
        if self.acked is not None:
            self._tasks.append(asyncio.create_task(self.acked.run(), name="acked"))

    def add_task(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coroutine`` for the gateway's life (a feature's cache refresh); cancelled at
        shutdown."""
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def shutdown(self, grace: float = 3.0) -> None:
        """Close every connection with ``SHUTDOWN`` (clients reconnect elsewhere or after the
        restart) and wait up to ``grace`` seconds for them to go — and, within the same
        ``grace``, for the database to hold what this gateway acked."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for conn in list(self.connections.values()):
            conn.close(CloseCode.SHUTDOWN)
        if self.connections:
            self._all_gone.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), grace)
        if self.acked is not None:
            # What only this process remembers: give the persist worker the rest of the grace
            # to store it. One budget for both, so that a stop stays within what the process
            # manager allows (systemd, the Procfile runner, hypercorn's own graceful timeout).
            await self.acked.drain(max(0.0, deadline - loop.time()))
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
            self._on_control(data)
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

    def _on_control(self, data: bytes) -> None:
        command = decode_command(data)
        if isinstance(command, EndSession):
            for conn in list(self.connections.values()):
                if conn.session == command.session:
                    conn.close(CloseCode.SESSION_ENDED)
        elif isinstance(command, PermissionsChanged):
            for conn in list(self.connections.values()):
                if conn.principal.user_id == command.user_id:
                    conn.close(CloseCode.PERMISSIONS_CHANGED)
        elif isinstance(command, AccessRevoked):
            for listener in self.revoke_listeners:
                listener(command.user_id, command.channel)
        elif command is not None:
            handler = self.control_handlers.get(type(command))
            if handler is not None:
                handler(command)

    async def send_control(self, command: ControlCommand) -> None:
        """Send a command to every gateway, this one included (``gateway/control.py``); a
        feature handles its own with ``control_handlers``. At most once, like all control."""
        await send_control(self.broker, command)

    async def end_session(self, session: str) -> None:
        """Close every connection opened with this session (a logout), on every gateway."""
        await self.send_control(EndSession(session=session))

    async def permissions_changed(self, user_id: int) -> None:
        """Close the user's connections everywhere so they reconnect with their new role."""
        await self.send_control(PermissionsChanged(user_id=user_id))

    async def revoke(self, user_id: int, channel: ChannelName) -> None:
        """End ``user_id``'s subscriptions to ``channel`` on every gateway (they left a group)."""
        await revoke_access(self.broker, user_id, channel)

    def on_reconnect(self) -> None:
        log.info("broker link re-established; catching up %d channels", len(self.hubs))
        STATS["broker_reconnects"] += 1
        for hub in self.hubs.values():
            hub.catch_up()

    # -- connections ----------------------------------------------------------------------------

    def new_conn_id(self) -> ConnId:
        return ConnId(f"{self._instance}-{next(self._conn_ids)}")

    def add_connection(self, conn: Connection) -> None:
        """Take over a connection a transport made (see ``gateway/ws_server.py``)."""
        self.connections[conn.conn_id] = conn
        for hook in self._connect_hooks:
            hook(conn.principal)

    def on_connect(self, hook: Callable[[Principal], None]) -> None:
        """Call ``hook`` (synchronous, quick: it may schedule work) for every new connection."""
        self._connect_hooks.append(hook)

    def open(self, principal: Principal, fmt: Format, session: str = "") -> Connection:
        """A queued connection for a sender that writes with a coroutine (a projector's stream)."""
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
        STATS[f"closes:{int(conn.close_code) if conn.close_code is not None else 'client'}"] += 1
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
        await self._require(conn, channel, Action.WRITE)
        principal = conn.principal
        # Only a reply reads anything more: a plain message costs no extra lookup.
        reply_to = request.reply_to
        quote = None if reply_to is None else await self._quote(conn, channel, reply_to)
        photo = None
        if request.photo is not None:
            if self.photo_attacher is None:
                raise RequestError(ErrorCode.BAD_REQUEST, "photos are not taken here")
            photo = await self.photo_attacher.claim(
                conn, channel, request.photo, request.client_msg_id
            )
        if not self.rate_limiter.allow(principal.user_id, asyncio.get_running_loop().time()):
            raise RequestError(ErrorCode.RATE_LIMITED)
        try:
            for check in self.publish_checks:
                # A photo's caption cannot be held for review (the held queue keeps text only):
                # checked as an edit is, a phrase set to hold refuses it instead.
                await check(conn, channel, request.text, edit=photo is not None)
        except RequestError as exc:
            # A refused message (muted, a blocked word) was not published: it costs no token,
            # unless the check says it does (``RequestError.refund``).
            if exc.refund:
                self.rate_limiter.refund(principal.user_id)
            raise
        data = chat_data(
            principal,
            request.text,
            request.client_msg_id,
            self.clock.now_ms(),
            quote,
            official=is_official(principal, channel),
            photo=photo,
        )
        idempotency_key = f"{principal.user_id}:{request.client_msg_id}"
        result = await self.broker.publish(channel.name, data, idempotency_key=idempotency_key)
        if self.acked is not None:
            self.acked.add(channel.name, idempotency_key, request.client_msg_id, data, result)
        if photo is not None and self.photo_attacher is not None:
            # A retry (duplicate) attaches again: the first attempt's ack may have been lost
            # before this line. Until it is recorded the photo is its uploader's alone.
            await self.photo_attacher.attached(photo["id"], result.offset)
        if result.duplicate:
            # A retry of a message already published (its ack was lost) is not a new message:
            # give the token back, or a phone resending its backlog after a reconnect would be
            # rate limited for messages it already paid for.
            self.rate_limiter.refund(principal.user_id)
        return {"offset": result.offset, "epoch": result.epoch, "duplicate": result.duplicate}

    async def _quote(self, conn: Connection, channel: ChannelRef, offset: int) -> dict[str, Any]:
        """The ``reply_to`` of a reply to the message at ``offset``: its author and the start of
        its text as readers see it now (edited; empty for a hidden or deleted message)."""
        pubs, _ = await self.history.page(
            channel.name, after=offset - 1, before=offset + 1, limit=1, newest=False
        )
        if not pubs or pubs[0].offset != offset:
            raise RequestError(ErrorCode.NOT_FOUND, f"no message at offset {offset} to reply to")
        pubs = await self.history.for_reader(conn.principal, channel.name, pubs)
        body = msgpack.unpackb(pubs[0].data, raw=False)
        if not isinstance(body, dict) or body.get("kind") != "chat":
            raise RequestError(ErrorCode.BAD_REQUEST, "field 'reply_to' must name a chat message")
        author = body.get("author")
        if not isinstance(author, dict):
            author = {}
        gone = bool(body.get("moderation") or body.get("deleted"))
        text = "" if gone else str(body.get("text", ""))
        return {
            "offset": offset,
            "author": {"id": author.get("id"), "name": str(author.get("name", ""))},
            "text": text[:QUOTE_CHARS],
        }

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
                    STATS["recoveries:refused"] += 1
                elif top - since.offset > self.settings.recovery_max:
                    recovered = False
                    STATS["recoveries:refused"] += 1
                else:
                    # From the hub's memory when it holds the range, else from history
                    # (gateway/recovery.py); readers' views applied either way.
                    found = await recover(
                        hub, self.history, conn.principal, name, since.offset, top, generation
                    )
                    recovered = found is not None
                    missed = found or []
                    STATS["recoveries:recovered" if recovered else "recoveries:refused"] += 1
            reply = subscribe_reply(request.id, name, epoch, top, recovered, missed, conn.fmt)
        except BaseException:
            await self._detach(conn, name)
            raise
        conn.push(reply)
        hub.promote(conn, top, epoch)
        if channel.kind in PRESENCE_KINDS:
            await self.presence_sync.join(conn, name)

    async def _unsubscribe(self, conn: Connection, request: Unsubscribe) -> dict[str, Any]:
        name = request.channel.name
        if name not in conn.subscriptions:
            raise RequestError(ErrorCode.NOT_SUBSCRIBED)
        await self._detach(conn, name)
        return {"channel": name}

    async def _history(self, conn: Connection, request: History) -> dict[str, Any]:
        channel = request.channel
        await self._require(conn, channel, Action.READ)
        if request.around is not None:
            pubs, position = await self.history.around(
                channel.name, request.around, limit=request.limit
            )
        else:
            pubs, position = await self.history.page(
                channel.name,
                after=request.after or 0,
                before=request.before,
                limit=request.limit,
                newest=request.after is None,
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
        if was_subscribed and name.split(":", 1)[0] in PRESENCE_KINDS:
            await self.presence_sync.leave(conn, name)

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

    # -- heartbeat ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            self.rate_limiter.forget_idle(now)
            for conn in list(self.connections.values()):
                if conn.state is not ConnState.OPEN:
                    # A close this transport could not finish (its peer stopped reading): a
                    # beat is long enough, give up on the handshake (issue 24).
                    if conn.state is ConnState.CLOSING and now - conn.closing_since >= interval:
                        STATS["aborts"] += 1
                        conn.abort()
                    continue
                silent = now - conn.last_seen
                if silent > 2 * interval:
                    conn.close(CloseCode.HEARTBEAT_TIMEOUT)
                elif silent >= interval * 0.9:
                    conn.push(self._ping.get(conn.fmt))
