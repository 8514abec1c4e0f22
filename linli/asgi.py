"""The ASGI application hypercorn serves: HTTP and lifespan, through Starlette.

WebSockets are not served here: the gateway's one WebSocket transport is the websockets
library's server on ``LINLI_WS_PORT`` (``gateway/ws_server.py``, started by the app's lifespan),
and a reverse proxy routes ``/ws`` to it. hypercorn could neither cut a client that stopped
reading nor answer bad frames with a close code (docs/design/0024-reliability-round-2.md, 4), so an
upgrade on the HTTP port is refused with a 404 that names the right port.

``linli.asgi:app`` builds it from the environment, for ``hypercorn linli.asgi:app``; tests and
``linli serve`` call ``create_app`` with their own settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from hypercorn.middleware import ProxyFixMiddleware

from linli.config import Settings, load_settings
from linli.feature import Feature
from web.app import create_starlette

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class LinliApp:
    def __init__(self, settings: Settings, features: Sequence[Feature] | None = None) -> None:
        self.settings = settings
        self.starlette = create_starlette(settings, features)
        # Behind a TLS-terminating proxy the scheme, host and client address are the proxy's
        # unless its X-Forwarded-* headers are trusted: the Origin check, Secure cookies and
        # the login throttle all depend on them.
        self._entry = (
            ProxyFixMiddleware(
                self._dispatch,  # type: ignore[arg-type]
                mode="legacy",
                trusted_hops=settings.trusted_proxy_hops,
            )
            if settings.trusted_proxy_hops > 0
            else self._dispatch
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)  # type: ignore[arg-type]

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await _refuse_websocket(scope, send, self.settings.websocket_port)
        elif scope["type"] == "http" and scope.get("scheme") == "https":
            await self.starlette(scope, receive, _with_hsts(send))  # type: ignore[arg-type]
        else:
            await self.starlette(scope, receive, send)  # type: ignore[arg-type]


async def _refuse_websocket(scope: Scope, send: Send, ws_port: int) -> None:
    """A 404 naming the WebSocket port, as an HTTP response where the server offers the ASGI
    ``websocket.http.response`` extension (hypercorn does), else a refused handshake."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    message = (
        f"WebSockets are served on port {ws_port} (LINLI_WS_PORT), not on the HTTP port; "
        "behind a reverse proxy, route /ws there (docs/operations.md)."
    )
    body = orjson.dumps({"error": {"code": "not_found", "message": message}})
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


#: Browsers that reached Linli over https keep to https for a year (RFC 6797). Not
#: ``includeSubDomains``: the operator's other hosts under the same domain are not ours to pin.
HSTS = b"max-age=31536000"


def _with_hsts(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"strict-transport-security", HSTS))
            message = {**message, "headers": headers}
        await send(message)

    return sending


def create_app(
    settings: Settings | None = None, features: Sequence[Feature] | None = None
) -> LinliApp:
    """The app of ``features`` (by default every one in ``linli/features.py``)."""
    return LinliApp(settings or load_settings(), features)


def __getattr__(name: str) -> LinliApp:
    # Built on first access, so importing this module has no side effects.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
