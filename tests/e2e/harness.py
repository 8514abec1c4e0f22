"""End-to-end harness: the real server in its own process (``python -m linli serve`` under
hypercorn) on a free port, and real WebSocket clients (the ``websockets`` library) logged in
through the real HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import msgpack
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role, Store
from tests.conftest import IN_CI, free_port

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployment:
    """One Linli installation: a database, maybe a Redis, and the environment for its processes."""

    mode: str  # "embedded" or "scaled"
    database_url: str
    redis_url: str | None
    key_prefix: str
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
        env.update(
            LINLI_DATABASE_URL=self.database_url,
            LINLI_KEY_PREFIX=self.key_prefix,
            LINLI_HASH_IN_THREAD="true",
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["LINLI_REDIS_URL"] = self.redis_url
            env.setdefault("LINLI_AUTO_MIGRATE", "false")
        env.update(self.extra_env)
        env.update(overrides)
        return env

    async def store(self) -> Store:
        await migrate(self.database_url)
        return await open_store(self.database_url)


@dataclass
class Neighbourhood:
    building_a: int
    building_b: int
    users: dict[str, int]


async def seed(deployment: Deployment) -> Neighbourhood:
    """Two buildings; ann and amy live in A, bob in B; mo is a moderator; gardening is a group
    ann belongs to."""
    from web.passwords import hash_password

    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        a = await store.create_building("Block A", now=now)
        b = await store.create_building("Block B", now=now)
        pw = await hash_password(PASSWORD)
        users = {}
        for name, building, role in (
            ("ann", a.id, Role.RESIDENT),
            ("amy", a.id, Role.RESIDENT),
            ("bob", b.id, Role.RESIDENT),
            ("mo", None, Role.MODERATOR),
        ):
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash=pw,
                role=role,
                building_id=building,
                unit_label="1A" if building else None,
                now=now,
            )
            users[name] = user.id
        await store.create_group("gardening", "Gardening", "", created_by=users["ann"], now=now)
        return Neighbourhood(a.id, b.id, users)
    finally:
        await store.close()


class Server:
    """``linli serve`` in a subprocess."""

    def __init__(self, deployment: Deployment, *args: str, **env: str) -> None:
        self.deployment = deployment
        self.args = args  # extra `linli serve` arguments, e.g. "--workers", "2"
        self.port = free_port()
        self.env = deployment.env(
            **{"LINLI_PORT": str(self.port), "LINLI_HOST": "127.0.0.1", **env}
        )
        # As deployed by default, /ws is served by the websockets library's server on a port of
        # its own (LINLI_WS_PORT "auto"; here a free port rather than LINLI_PORT + 1, which may be
        # taken) and the clients use it. hypercorn's HTTP port refuses WebSocket upgrades.
        self.ws_port: int | None = None
        if self.env.get("LINLI_WS_PORT", "auto") == "auto":
            self.ws_port = free_port()
            while self.ws_port == self.port:  # both were free a moment ago; they must differ
                self.ws_port = free_port()
            self.env["LINLI_WS_PORT"] = str(self.ws_port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = deployment.tmp / f"server-{self.port}.log"
        self._log_file: IO[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port or self.port}/ws"

    async def start(self, timeout: float = 20.0) -> Server:
        if self._log_file is None:
            self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "linli", "serve", *self.args],
            env=self.env,
            cwd=self.deployment.tmp,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            await self._wait_healthy(self.proc, timeout)
        except BaseException:
            # A server that never came up is never stopped by its caller: end it (if it still
            # runs) and close its log here, or both outlive the test (ResourceWarning).
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self._close_log()
            raise
        return self

    async def _wait_healthy(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{self.log.read_text()[-4000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    # Up once the database and Redis answer; a test may start a server on a
                    # database it has not migrated yet (readyz then says migrations: false).
                    checks = (await client.get(f"{self.http}/readyz")).json()
                    if checks.get("database") and checks.get("redis", True):
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{self.log.read_text()[-4000:]}")
                await asyncio.sleep(0.1)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            self._close_log()
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"server ignored signal {sig}:\n{self.log.read_text()[-4000:]}")
            await asyncio.sleep(0.05)
        self._close_log()
        return self.proc.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def output(self) -> str:
        return self.log.read_text()


class Worker:
    """``linli worker <name>`` in a subprocess."""

    def __init__(self, deployment: Deployment, name: str = "persist") -> None:
        self.deployment, self.name = deployment, name
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Worker:
        if self._log is not None:
            self._log.close()
        log = self._log = (self.deployment.tmp / f"worker-{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "linli", "worker", self.name],
            env=self.deployment.env(),
            cwd=self.deployment.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._close_log()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._close_log()


async def login(server: Server, username: str, password: str = PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=server.http) as client:
        response = await client.post(
            "/api/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return response.cookies["linli_session"]


class Client:
    """A WebSocket client of the Linli protocol: replies are matched by id; pushes queue up."""

    def __init__(self, ws: ClientConnection, fmt: str) -> None:
        self.ws = ws
        self.fmt = fmt
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: asyncio.Future[tuple[int | None, str]] = (
            asyncio.get_running_loop().create_future()
        )
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        server: Server,
        cookie: str | None,
        *,
        fmt: str = "json",
        origin: str | None = None,
        **kwargs: Any,
    ) -> Client:
        headers = {"Cookie": f"linli_session={cookie}"} if cookie else {}
        headers.update(kwargs.pop("additional_headers", {}))
        subprotocol = "linli.v1.msgpack" if fmt == "msgpack" else "linli.v1.json"
        ws = await connect(
            server.ws,
            additional_headers=headers,
            subprotocols=[subprotocol],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            open_timeout=10,
            **kwargs,
        )
        return cls(ws, fmt)

    def decode(self, frame: str | bytes) -> dict[str, Any]:
        if isinstance(frame, str):
            return orjson.loads(frame)  # type: ignore[no-any-return]
        return msgpack.unpackb(frame, raw=False)  # type: ignore[no-any-return]

    def encode(self, obj: dict[str, Any]) -> str | bytes:
        return orjson.dumps(obj).decode() if self.fmt == "json" else msgpack.packb(obj)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                msg = self.decode(frame)
                waiter = self._waiting.pop(msg["id"], None) if "id" in msg else None
                if waiter is not None:
                    if not waiter.done():
                        waiter.set_result(msg)
                else:
                    await self.pushes.put(msg)
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason or ""))
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("connection closed"))

    async def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        await self.ws.send(self.encode({"id": request_id, "op": op, **fields}))
        return await asyncio.wait_for(future, timeout)

    async def ok(self, op: str, **fields: Any) -> dict[str, Any]:
        reply = await self.request(op, **fields)
        assert "ok" in reply, reply
        return reply["ok"]  # type: ignore[no-any-return]

    async def error(self, op: str, **fields: Any) -> str:
        reply = await self.request(op, **fields)
        assert "error" in reply, reply
        return reply["error"]["code"]  # type: ignore[no-any-return]

    async def push(self, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next push (of ``kind``, skipping pings and other kinds)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            msg = await asyncio.wait_for(self.pushes.get(), max(remaining, 0.001))
            if msg.get("push") == "ping":
                continue
            if kind is None or msg.get("push") == kind:
                return msg

    async def pubs(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return [await self.push("pub", timeout) for _ in range(count)]

    def drain(self) -> list[dict[str, Any]]:
        items = []
        while not self.pushes.empty():
            items.append(self.pushes.get_nowait())
        return items

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def running(deployment: Deployment, **env: str) -> AsyncIterator[Server]:
    server = await Server(deployment, **env).start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.contextmanager
def own_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of the test's own on ``port``, keeping nothing on disk: a test may kill,
    restart or flush it (never the shared one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server (Debian package redis-server) is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait(5)
