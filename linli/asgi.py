"""The ASGI application hypercorn serves: ``/ws`` goes straight to the gateway's bare endpoint,
everything else (HTTP, lifespan) to Starlette.

``linli.asgi:app`` builds it from the environment, for ``hypercorn linli.asgi:app``; tests and
``linli serve`` call ``create_app`` with their own settings.
"""

from __future__ import annotations

import time

from hypercorn.middleware import ProxyFixMiddleware

from channels.access import Principal
from gateway.asgi import Receive, Scope, Send, WebSocketEndpoint, header
from gateway.gateway import Gateway
from linli.config import Settings, load_settings
from web.app import create_starlette
from web.sessions import identify

WS_PATH = "/ws"


class LinliApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.starlette = create_starlette(settings)
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
        return await self.identify_cookie(header(scope, b"cookie"))

    async def identify_cookie(self, cookie_header: str | None) -> tuple[Principal, str] | None:
        store = self.starlette.state.runtime.store
        return await identify(store, cookie_header, int(time.time() * 1000))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)  # type: ignore[arg-type]

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            await self.websocket(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)  # type: ignore[arg-type]


def create_app(settings: Settings | None = None) -> LinliApp:
    return LinliApp(settings or load_settings())


def __getattr__(name: str) -> LinliApp:
    # Built on first access, so importing this module has no side effects.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
