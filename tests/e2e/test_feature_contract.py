"""A new feature is files in its own folders plus one entry in the features list: a skeleton
feature, defined here and nowhere else, registers a route, a worker, a timer and a wire op
through ``linli.feature.Feature`` alone, and the real server (hypercorn, a real WebSocket, the
embedded mode's workers and timers) serves all four."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import orjson
import pytest
import websockets
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.workqueue import WorkItem
from gateway.connection import Connection
from gateway.gateway import Gateway
from gateway.wire import register_op
from linli.asgi import create_app
from linli.config import load_settings
from linli.feature import Feature, Services
from linli.features import FEATURES
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role
from persistence.timers import TimerJob
from tests.conftest import free_port, wait_until
from web.http import services_of
from web.passwords import hash_password
from workers.base import Worker

QUEUE = "skeleton"


@dataclass(frozen=True, slots=True)
class Echo:
    id: int
    text: str


def _parse_echo(obj: dict[str, Any], request_id: int) -> Echo:
    return Echo(request_id, str(obj.get("text", "")))


register_op("skeleton_echo", _parse_echo)

#: What the skeleton's worker and timer did (one process: the embedded mode).
seen: list[str] = []


def _install(gateway: Gateway, services: Services) -> None:
    async def echo(conn: Connection, request: Echo) -> dict[str, Any]:
        await services.work_queue.submit(QUEUE, request.text.encode(), idempotency_key=None)
        await services.timers.schedule(
            f"skeleton.ring:{request.text}",
            "skeleton.ring",
            services.clock.now_ms(),
            {"text": request.text},
            now=services.clock.now_ms(),
        )
        return {"echo": request.text.upper()}

    gateway.register_op(Echo, echo)


class SkeletonWorker(Worker):
    queue: ClassVar[str] = QUEUE
    group: ClassVar[str] = QUEUE
    block_ms: ClassVar[int] = 100

    async def handle(self, items: list[WorkItem]) -> None:
        seen.extend(f"worker:{item.data.decode()}" for item in items)


async def _ring(job: TimerJob) -> None:
    seen.append(f"timer:{job.payload['text']}")


async def _seen(request: Request) -> Response:
    services_of(request)  # the route reaches the same Services as every feature
    return JSONResponse({"seen": sorted(seen)})


SKELETON = Feature(
    name="skeleton",
    install=_install,
    routes=[Route("/api/skeleton/seen", _seen)],
    workers={"skeleton": lambda s: SkeletonWorker(s.work_queue)},
    timers={"skeleton.ring": lambda s: _ring},
)


@contextlib.asynccontextmanager
async def _serve(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    db = f"sqlite:///{tmp_path}/linli.sqlite3"
    await migrate(db)
    store = await open_store(db)
    try:
        building = await store.create_building("A", now=1)
        await store.create_user(
            username="ann",
            display_name="Ann",
            password_hash=await hash_password("correct horse"),
            role=Role.RESIDENT,
            building_id=building.id,
            unit_label="1A",
            now=1,
        )
    finally:
        await store.close()
    port = free_port()
    ws_port = free_port()
    while ws_port == port:
        ws_port = free_port()
    settings = load_settings(
        {}, database_url=db, port=port, ws_port=ws_port, host="127.0.0.1", auto_migrate=False
    )
    app = create_app(settings, [*FEATURES, SKELETON])
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:

            async def up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get("/readyz")).status_code == 200
                return False

            await wait_until(up, timeout=20)
        yield base, f"ws://127.0.0.1:{ws_port}/ws"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@pytest.mark.slow
async def test_a_feature_plugs_in_through_the_contract_alone(tmp_path: Path) -> None:
    seen.clear()
    async with _serve(tmp_path) as (base, ws_url), httpx.AsyncClient(base_url=base) as http:
        login = await http.post("/api/login", json={"username": "ann", "password": "correct horse"})
        assert login.status_code == 200, login.text
        cookie = login.cookies["linli_session"]
        async with websockets.connect(
            ws_url, additional_headers={"Cookie": f"linli_session={cookie}", "Origin": base}
        ) as ws:
            await ws.send(orjson.dumps({"id": 1, "op": "skeleton_echo", "text": "hi"}).decode())
            while True:
                reply = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                if reply.get("id") == 1:
                    break
            assert reply == {"id": 1, "ok": {"echo": "HI"}}

        async def both() -> bool:
            got = (await http.get("/api/skeleton/seen")).json()["seen"]
            return bool(got == ["timer:hi", "worker:hi"])

        await wait_until(both, timeout=10)
