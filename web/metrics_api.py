"""``GET /metrics``: the operators' metrics (``linli/metrics.py``) in the Prometheus text format,
behind a bearer token (``LINLI_METRICS_TOKEN``; without one the route answers 404), and the
sampler that copies the gateway's totals into them; ``MetricsMiddleware`` counts HTTP requests.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.gateway import Gateway
from gateway.stats import STATS
from linli.feature import Services
from linli.metrics import CONTENT_TYPE, SAMPLE_EVERY, metrics
from web import throttle
from web.http import ApiError, services_of
from workers.base import Worker


def sample(gateway: Gateway) -> None:
    metrics().sample(
        connections=len(gateway.connections),
        subscriptions=sum(len(c.subscriptions) for c in gateway.connections.values()),
        hubs=len(gateway.hubs),
        stats=STATS,
        acked=0 if gateway.acked is None else len(gateway.acked),
    )


async def sample_forever(gateway: Gateway, stop: asyncio.Event) -> None:
    """Copy the gateway's totals into the metrics every ``SAMPLE_EVERY`` seconds."""
    while not stop.is_set():
        sample(gateway)
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
        except TimeoutError:
            pass


def _worker_queues() -> list[tuple[str, str]]:
    """(queue, group) of every kind of worker (each a subclass of ``workers.base.Worker``)."""
    found: set[tuple[str, str]] = set()
    todo: list[type] = [Worker]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        queue, group = getattr(cls, "queue", None), getattr(cls, "group", None)
        if isinstance(queue, str) and isinstance(group, str):
            found.add((queue, group))
    return sorted(found)


async def throttle_state(services: Services) -> dict[str, tuple[int, int]]:
    """Per key kind of the login throttle: (failures in the window, keys delayed), from the
    store, so exact across every process and gateway."""
    settings = services.settings
    counts = await services.store.login_failure_counts(
        now=services.clock.now_ms(), window_ms=settings.login_window_seconds * 1000
    )
    state = {kind: (0, 0) for kind in throttle.KINDS}
    for key, n in counts.items():
        kind = key.split(":", 1)[0]
        failures, waiting = state.get(kind, (0, 0))
        state[kind] = (failures + n, waiting + (n >= throttle.free_failures(settings, key)))
    return state


async def metrics_endpoint(request: Request) -> Response:
    services = services_of(request)
    token = services.settings.metrics_token
    if not token:
        raise ApiError(404, "not_found", "Metrics are off (LINLI_METRICS_TOKEN).")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "unauthenticated", "The metrics need their bearer token.")
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        sample(gateway)
    queues: dict[tuple[str, str], tuple[int, int]] = {}
    for queue, group in _worker_queues():
        try:
            queues[(queue, group)] = (
                await services.work_queue.backlog(queue, group),
                await services.work_queue.pending(queue, group),
            )
        except Exception:  # Redis down: the scrape still shows the rest
            continue
    return Response(
        metrics().render(queues, await throttle_state(services)), media_type=CONTENT_TYPE
    )


class MetricsMiddleware:
    """Counts HTTP requests by route (the route's pattern, never the raw path: bounded labels)
    and status, with their duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            m = metrics()
            m.http_requests.labels(route=name, status=str(status)).inc()
            m.http_seconds.labels(route=name).observe(time.perf_counter() - start)


ROUTES = [Route("/metrics", metrics_endpoint)]
