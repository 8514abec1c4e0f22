"""Running the web process under hypercorn, with a shutdown that closes WebSockets properly.

Hypercorn, on SIGTERM, stops accepting and then waits for open connections; WebSockets never end
by themselves, so they would be cut when its grace period runs out. Our shutdown trigger first
closes every WebSocket with 4000 ("server restarting: reconnect"), then lets hypercorn finish.

With ``workers > 1`` the parent binds the socket and starts that many processes sharing it (as
hypercorn's own multi-worker mode does), each one a full gateway.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from linli.asgi import LinliApp, create_app
from linli.config import Settings
from linli.eventloop import loop_name
from linli.eventloop import run as run_loop
from linli.gctune import tune_gc

log = logging.getLogger(__name__)


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.websocket_max_message_size = settings.hard_frame_bytes
    config.graceful_timeout = 5.0
    config.accesslog = None
    config.errorlog = "-"
    return config


async def serve_app(app: LinliApp, config: Config, sockets: Sockets | None = None) -> None:
    loop = asyncio.get_running_loop()
    log.info("event loop: %s (LINLI_EVENT_LOOP)", loop_name())
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def shutdown_trigger() -> None:
        await stop.wait()
        gateway = getattr(app.starlette.state, "gateway", None)
        if gateway is not None:
            await gateway.shutdown()

    await worker_serve(
        wrap_app(app, config.wsgi_max_body_size, "asgi"),  # type: ignore[arg-type]
        config,
        sockets=sockets,
        shutdown_trigger=shutdown_trigger,
    )


def _worker_main(settings: Settings, config: Config, sockets: Sockets) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s: %(message)s")
    app = create_app(settings)
    tune_gc(settings.gc_threshold)
    run_loop(serve_app(app, config, sockets), settings.event_loop)


def serve(settings: Settings, *, workers: int = 1) -> None:
    config = hypercorn_config(settings)
    if workers <= 1:
        app = create_app(settings)
        tune_gc(settings.gc_threshold)  # after the app is built: its objects are frozen too
        run_loop(serve_app(app, config), settings.event_loop)
        return
    # One scrape of /metrics answers for every process (linli/metrics.py): prometheus-client's
    # multiprocess mode, each process writing its values under this directory. Set before the
    # processes start; they import the library after it is set.
    made_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made_dir = tempfile.mkdtemp(prefix="linli-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_dir
    sockets = config.create_sockets()
    ctx = multiprocessing.get_context("spawn")
    processes: list[Any] = []
    for _ in range(workers):
        process = ctx.Process(target=_worker_main, args=(settings, config, sockets))
        process.start()
        processes.append(process)

    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for process in processes:
        process.join()
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
        sock.close()
    if made_dir is not None:
        shutil.rmtree(made_dir, ignore_errors=True)
