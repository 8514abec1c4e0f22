"""The ASGI application hypercorn serves: ``/ws`` goes straight to the gateway's bare endpoint,
everything else (HTTP, lifespan) to Starlette.

``linli.asgi:app`` builds it from the environment, for ``hypercorn linli.asgi:app``; tests and
``linli serve`` call ``create_app`` with their own settings.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypercorn.middleware import ProxyFixMiddleware

from channels.access import Principal
from gateway.asgi import Message, Receive, Scope, Send, WebSocketEndpoint, header
from gateway.gateway import Gateway
from linli.config import Settings, is_secure, load_settings
from linli.feature import Feature
from web.app import create_starlette
from web.sessions import identify

WS_PATH = "/ws"


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
        self.websocket = WebSocketEndpoint(
            self._gateway, self._authenticate, settings.allowed_origins
        )

    def _gateway(self) -> Gateway:
        gateway: Gateway = self.starlette.state.gateway
        return gateway

    async def _authenticate(self, scope: Scope) -> tuple[Principal, str] | None:
        secure = is_secure(self.settings, str(scope.get("scheme", "ws")))
        return await self.identify_cookie(header(scope, b"cookie"), secure)

    async def identify_cookie(
        self, cookie_header: str | None, secure: bool = False
    ) -> tuple[Principal, str] | None:
        runtime = self.starlette.state.runtime
        return await identify(runtime.store, cookie_header, runtime.clock.now_ms(), secure=secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)  # type: ignore[arg-type]

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            await self.websocket(scope, receive, send)
        elif scope["type"] == "http" and scope.get("scheme") == "https":
            await self.starlette(scope, receive, _with_hsts(send))  # type: ignore[arg-type]
        else:
            await self.starlette(scope, receive, send)  # type: ignore[arg-type]


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
