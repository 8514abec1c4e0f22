"""The Starlette application and its life cycle: open the runtime (store, broker, presence),
start the gateway and, in the embedded mode, the workers as tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from websockets.asyncio.server import Server as WebsocketsServer

from channels.access import Principal
from gateway.gateway import Gateway
from linli.config import Settings
from linli.features import FEATURES
from linli.runtime import Runtime, open_runtime
from web.api import ROUTES, ApiError, error_response
from web.moderation_api import MODERATION_ROUTES
from web.moderation_pages import MODERATION_PAGE_ROUTES
from web.pages import PAGE_ROUTES
from web.polls_api import POLL_ROUTES
from web.polls_pages import POLL_PAGE_ROUTES
from workers.base import Worker
from workers.registry import WORKERS

log = logging.getLogger(__name__)

#: How long a graceful shutdown waits for the in-process persist queue to drain.
DRAIN_SECONDS = 10.0


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": {"code": code, "message": exc.detail}}, status_code=exc.status_code
    )


def create_starlette(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            gateway = Gateway(runtime.broker, runtime.store, runtime.presence, settings)
            for install in FEATURES:
                install(gateway, runtime)
            await gateway.start()
            app.state.runtime = runtime
            app.state.gateway = gateway
            ws_server = await _start_ws_server(settings, gateway, runtime)
            stop_workers = asyncio.Event()
            workers, tasks = _start_workers(runtime, stop_workers)
            try:
                yield
            finally:
                await gateway.shutdown()
                if ws_server is not None:
                    ws_server.close()
                    await ws_server.wait_closed()
                await _stop_workers(workers, tasks, stop_workers)

    app = Starlette(
        routes=[*ROUTES, *MODERATION_ROUTES, *MODERATION_PAGE_ROUTES, *PAGE_ROUTES],
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.settings = settings
    app.router.routes.extend([*POLL_ROUTES, *POLL_PAGE_ROUTES])
    return app


async def _start_ws_server(
    settings: Settings, gateway: Gateway, runtime: Runtime
) -> WebsocketsServer | None:
    """The WebSocket transport the pages use (``LINLI_WS_PORT``, gateway/ws_server.py)."""
    if not settings.websocket_port:
        return None
    from gateway.ws_server import WebsocketsEndpoint, start_server
    from web.sessions import identify

    async def identify_cookie(cookie: str | None) -> tuple[Principal, str] | None:
        return await identify(runtime.store, cookie, int(time.time() * 1000))

    endpoint = WebsocketsEndpoint(lambda: gateway, identify_cookie, settings)
    port = settings.websocket_port
    try:
        return await start_server(endpoint, settings, settings.host, port)
    except OSError as exc:
        raise RuntimeError(
            f"cannot listen for WebSockets on {settings.host}:{port} ({exc.strerror or exc}). "
            "Set LINLI_WS_PORT to a free port (by default it is LINLI_PORT + 1), or to 0 to "
            "serve /ws on the HTTP port only."
        ) from exc


def _start_workers(
    runtime: Runtime, stop: asyncio.Event
) -> tuple[list[Worker], list[asyncio.Task[None]]]:
    if not runtime.settings.workers_in_process:
        return [], []
    workers = [make(runtime) for make in WORKERS.values()]
    tasks = [asyncio.create_task(w.run(stop), name=f"worker-{w.queue}") for w in workers]
    return workers, tasks


async def _stop_workers(
    workers: list[Worker], tasks: list[asyncio.Task[None]], stop: asyncio.Event
) -> None:
    # Ask, do not cancel: a batch cut off mid-transaction would only be written again, but
    # waiting for the current batch (at most one read's block time) is cleaner and short.
    stop.set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # Whatever was acknowledged to a publisher must reach the store before the process ends: in
    # the embedded mode the queue lives in this process.
    for worker in workers:
        try:
            await asyncio.wait_for(worker.run_until_idle(), DRAIN_SECONDS)
        except TimeoutError:
            log.error("%s worker did not drain within %ss", worker.queue, DRAIN_SECONDS)
