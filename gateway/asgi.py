"""The WebSocket endpoint as a bare ASGI application.

Bare rather than a Starlette ``WebSocketRoute``: Starlette wraps ``send`` in its exception
middleware, an extra coroutine call on every frame, and the fan-out path sends tens of thousands
of frames per second. The HTTP side stays Starlette (``web/app.py``); ``linli/asgi.py`` routes
``/ws`` here before Starlette sees it.

Handshake: Origin checked, session cookie authenticated, subprotocol chosen (``linli.v1.json``
by default, ``linli.v1.msgpack`` on request). Refusals are HTTP responses (403, 401) sent through
the ASGI ``websocket.http.response`` extension where the server offers it, so a client sees why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.access import Principal
from gateway.codes import CloseCode
from gateway.connection import CLOSE_DEADLINE
from gateway.gateway import Gateway
from gateway.origin import origin_allowed
from gateway.wire import SUBPROTOCOLS, Format, Frame

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: The user and their session id (the hash of the session token) for a handshake, or None.
Authenticate = Callable[[Scope], Awaitable[tuple[Principal, str] | None]]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class WebSocketEndpoint:
    def __init__(
        self,
        gateway: Callable[[], Gateway],
        authenticate: Authenticate,
        allowed_origins: tuple[str, ...],
    ) -> None:
        # The gateway is created at start-up (lifespan), after this endpoint: look it up late.
        self._gateway = gateway
        self._authenticate = authenticate
        self._allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        origin = header(scope, b"origin")
        if not origin_allowed(
            origin, scope.get("scheme", "ws"), header(scope, b"host"), self._allowed_origins
        ):
            await _refuse(scope, send, 403, "origin not allowed")
            return
        identity = await self._authenticate(scope)
        if identity is None:
            await _refuse(scope, send, 401, "log in first")
            return
        principal, session = identity
        fmt = Format.JSON
        chosen: str | None = None
        for offered in scope.get("subprotocols", ()):
            if offered in SUBPROTOCOLS:
                fmt, chosen = SUBPROTOCOLS[offered], offered
                break
        accept: Message = {"type": "websocket.accept"}
        if chosen is not None:
            accept["subprotocol"] = chosen
        await send(accept)
        await self._serve(self._gateway(), principal, session, fmt, receive, send)

    async def _serve(
        self,
        gateway: Gateway,
        principal: Principal,
        session: str,
        fmt: Format,
        receive: Receive,
        send: Send,
    ) -> None:
        conn = gateway.open(principal, fmt, session)

        if fmt is Format.JSON:

            async def send_frame(frame: Frame) -> None:
                await send({"type": "websocket.send", "text": frame})
        else:

            async def send_frame(frame: Frame) -> None:
                await send({"type": "websocket.send", "bytes": frame})

        async def send_close(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        async def read() -> None:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    frame = text if text is not None else message.get("bytes") or b""
                    await gateway.handle_frame(conn, frame)
                elif kind == "websocket.disconnect":
                    return

        writer = asyncio.create_task(conn.run_writer(send_frame, send_close))
        reader = asyncio.create_task(read())

        # The heartbeat aborts a connection whose close never went out (its peer stopped
        # reading, so the writer is stuck in hypercorn's drain): stop waiting for it here.
        # hypercorn itself keeps the socket until it drains (docs/design/0024).
        def abort() -> None:
            writer.cancel()
            reader.cancel()

        conn.on_abort(abort)
        try:
            await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                # The writer sent the close or gave up: the peer has the close deadline to
                # answer, then the gateway forgets the connection whatever hypercorn does.
                await asyncio.wait((reader,), timeout=CLOSE_DEADLINE)
            if reader.done() and not reader.cancelled():
                reader.result()  # its error, if any
        finally:
            await gateway.close_connection(conn)
            for task in (reader, writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        body = reason.encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": int(CloseCode.UNAUTHENTICATED)})
