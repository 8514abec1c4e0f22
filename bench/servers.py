"""The servers under test: Linli in both modes and the three peers, each a subprocess pinned to
the server core."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from bench.infra import (
    ROOT,
    SERVER_CPU,
    Database,
    Infra,
    free_port,
    login,
    pinned,
    stop_process,
    wait_port,
)


@dataclass(frozen=True)
class ServerKind:
    name: str
    #: ``linli``, ``peer`` or ``socketio`` (``bench/protocols.py``).
    protocol: str
    #: Module run with ``python -m`` for a peer; None for Linli.
    module: str | None = None
    embedded: bool = False
    label: str = ""
    #: Extra environment for Linli.
    env: tuple[tuple[str, str], ...] = ()
    #: Script under ``bench/peers/node/`` run with ``node`` for a Node peer (``module`` None).
    node: str | None = None

    @property
    def is_linli(self) -> bool:
        return self.module is None and self.node is None


SERVERS: dict[str, ServerKind] = {
    s.name: s
    for s in (
        ServerKind("linli", "linli", label="Linli (scaled: Redis, PostgreSQL)"),
        ServerKind("linli-embedded", "linli", embedded=True,
                   label="Linli embedded (no Redis, SQLite)"),
        ServerKind(
            "websockets", "peer", "bench.peers.ws_broadcast", label="websockets + broadcast()"
        ),
        ServerKind(
            "websockets-uvloop", "peer", "bench.peers.ws_broadcast_uvloop",
            label="websockets + broadcast() on uvloop (for information)",
        ),
        ServerKind(
            "linli-asyncio", "linli", env=(("LINLI_EVENT_LOOP", "asyncio"),),
            label="Linli (the default) on the standard asyncio loop (for information)",
        ),
        ServerKind(
            "linli-gc700", "linli", env=(("LINLI_GC_THRESHOLD", "0"),),
            label="Linli with Python's collector settings (LINLI_GC_THRESHOLD=0; for information)",
        ),
        ServerKind(
            "linli-embedded-gc700", "linli", embedded=True, env=(("LINLI_GC_THRESHOLD", "0"),),
            label="Linli embedded, LINLI_GC_THRESHOLD=0 (for information)",
        ),
        ServerKind(
            "websockets-preframed", "peer", "bench.peers.ws_preframed",
            label="websockets, one pre-built frame written to every transport (upper bound)",
        ),
        ServerKind(
            "starlette", "peer", "bench.peers.starlette_naive",
            label="Starlette on hypercorn, send_text loop",
        ),
        ServerKind(
            "socketio", "socketio", "bench.peers.socketio_redis",
            label="python-socketio + AsyncRedisManager (aiohttp)",
        ),
        ServerKind(
            "node-ws", "peer", node="ws_plain.mjs",
            label="Node ws, fan-out in process, no Redis (the ceiling)",
        ),
        ServerKind(
            "node-ws-redis", "peer", node="ws_redis.mjs",
            label="Node ws + one Redis PSUBSCRIBE (node-redis)",
        ),
        ServerKind(
            "node-socketio", "socketio", node="socketio_redis.mjs",
            label="Socket.IO on Node + @socket.io/redis-adapter",
        ),
    )
}  # fmt: skip


#: The Node peers and their package.json / package-lock.json (``python -m bench setup`` runs
#: ``npm ci`` there; node_modules is not committed).
NODE_PEERS = ROOT / "bench" / "peers" / "node"


def node_peers_installed() -> bool:
    return shutil.which("node") is not None and (NODE_PEERS / "node_modules" / "ws").is_dir()


@dataclass
class Running:
    kind: ServerKind
    #: Where the load generator opens its WebSockets.
    port: int
    proc: subprocess.Popen[bytes]
    redis_pid: int | None
    db: Database | None
    #: The HTTP API's port (differs from ``port`` on the websockets transport).
    http_port: int = 0
    #: The server's environment (a worker started later gets the same).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pids(self) -> dict[str, int | None]:
        return {"server": self.proc.pid, "redis": self.redis_pid}


def _linli_env(infra: Infra, db: Database, port: int, embedded: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(
        LINLI_DATABASE_URL=db.url,
        LINLI_HOST="127.0.0.1",
        LINLI_PORT=str(port),
        LINLI_KEY_PREFIX=f"bench:{port}:",
        # The load is one publisher account sending hundreds of messages per second.
        LINLI_PUBLISH_RATE="1000000",
        LINLI_PUBLISH_BURST="1000000",
        LINLI_AUTO_MIGRATE="false",
        LINLI_HASH_IN_THREAD="true",
        PYTHONUNBUFFERED="1",
    )
    if not embedded:
        env["LINLI_REDIS_URL"] = infra.redis_url
    return env


@contextlib.asynccontextmanager
async def running(
    infra: Infra,
    kind: ServerKind,
    rooms: int,
    *,
    worker: str | None = None,
    env_extra: dict[str, str] | None = None,
) -> AsyncIterator[Running]:
    """The server, and with ``worker`` also ``linli worker <worker>`` on the same core and with
    the same environment (scaled mode: workers are processes of their own)."""
    port = free_port()
    log = infra.tmp / f"{kind.name}-{port}.log"
    db: Database | None = None
    redis_pid: int | None = None
    ws_port = 0
    if not kind.embedded:
        await infra.redis()
        redis_pid = infra.redis_proc.pid if infra.redis_proc else None
    if kind.is_linli:
        db = await infra.database("sqlite" if kind.embedded else "postgres", rooms)
        argv = [sys.executable, "-m", "linli", "serve"]
        env = _linli_env(infra, db, port, kind.embedded)
        # Always explicit: the default (the HTTP port + 1) may be taken.
        ws_port = free_port()
        env["LINLI_WS_PORT"] = str(ws_port)
        env.update(kind.env)
        env.update(env_extra or {})
    else:
        if kind.node is not None:
            if not node_peers_installed():
                raise RuntimeError(f"{kind.name}: Node peers not installed (python -m bench setup)")
            head = ["node", str(NODE_PEERS / kind.node)]
        else:
            head = [sys.executable, "-m", str(kind.module)]
        argv = [
            *head, "--port", str(port),
            "--redis-url", infra.redis_url, "--prefix", f"bench:{port}:",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        pinned(SERVER_CPU, argv),
        env=env,
        cwd=infra.tmp,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    infra.quota.add(proc.pid)
    worker_proc: subprocess.Popen[bytes] | None = None
    try:
        await wait_port(port, proc, log)
        if db is not None:
            await _healthy(port, proc, log)
            await login(db, f"http://127.0.0.1:{port}")
        if worker is not None:
            worker_proc = subprocess.Popen(
                pinned(SERVER_CPU, [sys.executable, "-m", "linli", "worker", worker]),
                env=env,
                cwd=infra.tmp,
                stdout=(infra.tmp / f"worker-{worker}-{port}.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
            infra.quota.add(worker_proc.pid)
        http_port = port
        if kind.is_linli:  # Linli: /ws is on the WebSocket server's port
            await wait_port(ws_port, proc, log)
            port = ws_port
        yield Running(kind, port, proc, redis_pid, db, http_port, env)
    finally:
        stop_process(worker_proc)
        stop_process(proc)


async def _healthy(port: int, proc: subprocess.Popen[bytes], log: os.PathLike[str]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy; see {log}")
            await asyncio.sleep(0.1)
