"""The ASGI application hypercorn serves: ``/ws`` goes straight to the gateway's bare endpoint,
everything else (HTTP, lifespan) to Starlette.

``linli.asgi:app`` builds it from the environment, for ``hypercorn linli.asgi:app``; tests and
``linli serve`` call ``create_app`` with their own settings.
"""

from __future__ import annotations

import time

from channels.access import Principal
from gateway.asgi import Receive, Scope, Send, WebSocketEndpoint, header
from gateway.gateway import Gateway
from linli.config import Settings, load_settings
from web.app import create_starlette
from web.sessions import cookie_token, principal_of, session_user, token_hash

WS_PATH = "/ws"


class LinliApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.starlette = create_starlette(settings)
        self.websocket = WebSocketEndpoint(
            self._gateway, self._authenticate, settings.allowed_origins
        )

    def _gateway(self) -> Gateway:
        gateway: Gateway = self.starlette.state.gateway
        return gateway

    async def _authenticate(self, scope: Scope) -> tuple[Principal, str] | None:
        store = self.starlette.state.runtime.store
        token = cookie_token(header(scope, b"cookie"))
        user = await session_user(store, token, int(time.time() * 1000))
        if user is None or token is None:
            return None
        return principal_of(user), token_hash(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
