"""The Starlette application and its life cycle: open the runtime (store, broker, presence),
start the gateway and, in the embedded mode, the workers as tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from websockets.asyncio.server import Server as WebsocketsServer

from channels.access import Principal
from gateway.gateway import Gateway
from linli.config import Settings
from linli.feature import Feature, Runnable
from linli.runtime import Runtime, open_runtime
from persistence.activity import ActivityKind
from persistence.admin.sql import SqlAdminStore
from web.activity import ActivityRecorder
from web.http import ApiError, HttpCode, error_response
from web.metrics_api import MetricsMiddleware, sample_forever
from web.pages import error_page, wants_page

log = logging.getLogger(__name__)

#: How long a graceful shutdown waits for the in-process persist queue to drain.
DRAIN_SECONDS = 10.0


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if wants_page(request):
        kind = {404: "not_found", 403: "forbidden"}.get(exc.status_code, "error")
        return await error_page(request, kind, exc.status_code)
    code = {404: HttpCode.NOT_FOUND, 405: HttpCode.METHOD_NOT_ALLOWED}.get(
        exc.status_code, HttpCode.HTTP_ERROR
    )
    return JSONResponse(
        {"error": {"code": code, "message": exc.detail}}, status_code=exc.status_code
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    """An unexpected error (logged by Starlette): a page for a browser, JSON for the API."""
    if wants_page(request):
        return await error_page(request, "error", 500)
    return JSONResponse(
        {"error": {"code": HttpCode.INTERNAL, "message": "Something went wrong; try again."}},
        status_code=500,
    )


def create_starlette(settings: Settings, features: Sequence[Feature] | None = None) -> Starlette:
    """The web app of ``features`` (by default every feature, ``linli/features.py``)."""
    if features is None:
        from linli.features import FEATURES

        features = FEATURES

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            gateway = Gateway(
                runtime.broker, runtime.store, runtime.presence, settings, runtime.clock
            )
            for feature in features:
                if feature.install is not None:
                    feature.install(gateway, runtime)
            activity = ActivityRecorder(runtime.work_queue, runtime.clock)
            gateway.on_connect(lambda p: activity.seen(p.user_id, ActivityKind.CONNECT))
            app.state.activity = activity
            await gateway.start()
            app.state.runtime = runtime
            app.state.gateway = gateway
            ws_server = await _start_ws_server(settings, gateway, runtime)
            stop_workers = asyncio.Event()
            # Made with the admin's settings, not the environment's: a timers worker plans its
            # daily jobs in the settings page's time zone (the refresh task may not have run).
            if settings.workers_in_process:
                runtime.live.replace(await SqlAdminStore(runtime.database).settings())
            workers, tasks = _start_workers(runtime, features, stop_workers)
            sampler = asyncio.create_task(
                sample_forever(gateway, stop_workers), name="metrics-sampler"
            )
            try:
                yield
            finally:
                await gateway.shutdown()
                await activity.drain()
                ws_server.close()
                await ws_server.wait_closed()
                await _stop_workers(workers, tasks, stop_workers)
                await sampler

    app = Starlette(
        routes=[route for feature in features for route in feature.routes],
        middleware=[Middleware(MetricsMiddleware)],
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, 500: _server_error},
    )
    app.state.settings = settings
    app.state.login_checks = [check for feature in features for check in feature.login_checks]
    app.state.held_publishers = {
        kind: publisher
        for feature in features
        for kind, publisher in feature.held_publishers.items()
    }
    app.state.place_namers = {
        kind: namer for feature in features for kind, namer in feature.place_namers.items()
    }
    app.state.figure_sources = [f.figures for f in features if f.figures is not None]
    app.state.nav = sorted(
        (item for feature in features for item in feature.nav), key=lambda item: item.order
    )
    return app


async def _start_ws_server(
    settings: Settings, gateway: Gateway, runtime: Runtime
) -> WebsocketsServer:
    """The WebSocket transport the pages use (``LINLI_WS_PORT``, gateway/ws_server.py)."""
    from gateway.ws_server import WebsocketsEndpoint, start_server
    from web.sessions import identify

    async def identify_cookie(cookie: str | None, secure: bool) -> tuple[Principal, str] | None:
        return await identify(runtime.store, cookie, runtime.clock.now_ms(), secure=secure)

    endpoint = WebsocketsEndpoint(lambda: gateway, identify_cookie, settings)
    port = settings.websocket_port
    try:
        return await start_server(endpoint, settings, settings.host, port)
    except OSError as exc:
        raise RuntimeError(
            f"cannot listen for WebSockets on {settings.host}:{port} ({exc.strerror or exc}). "
            "Set LINLI_WS_PORT to a free port (by default it is LINLI_PORT + 1)."
        ) from exc


def _start_workers(
    runtime: Runtime, features: Sequence[Feature], stop: asyncio.Event
) -> tuple[list[Runnable], list[asyncio.Task[None]]]:
    if not runtime.settings.workers_in_process:
        return [], []
    from linli.features import all_workers, expect_groups

    expect_groups(runtime, features)
    workers = [make(runtime) for make in all_workers(features).values()]
    tasks = [asyncio.create_task(w.run(stop), name=f"worker-{w.queue}") for w in workers]
    return workers, tasks


async def _stop_workers(
    workers: list[Runnable], tasks: list[asyncio.Task[None]], stop: asyncio.Event
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
