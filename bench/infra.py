"""What a benchmark run stands on: its own Redis on a free port, a fresh PostgreSQL schema, a
SQLite file, the seeded neighbourhood and logged-in sessions, the servers under test — each
started in a subprocess pinned with ``taskset`` — and the versions of everything.

Core pinning: the server under test and its Redis share CPU 0; load generators run on CPU 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.quota import Quota

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = "0"
LOADGEN_CPU = "1"
PASSWORD = "bench password 鄰里"
#: Staff accounts read every building (moderators) and write every building (admins), so a few
#: logins — each one an argon2 verification of a quarter of a second on a loaded core — cover
#: any number of rooms. A session cookie may open any number of sockets.
SUBSCRIBER_USERS = 10
PUBLISHER_USER = "bench-pub"
DEFAULT_PG_URL = os.environ.get(
    "LINLI_BENCH_DATABASE_URL",
    os.environ.get("LINLI_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)


CORE_PACKAGES = ("linli", "gateway", "channels", "presence", "persistence", "workers", "web")


def snapshot_core(tmp: Path, ref: str = "HEAD") -> tuple[Path, str]:
    """The core packages as committed at ``ref``, unpacked under ``tmp``: the servers run the
    committed code even while the working tree is being edited. Returns the directory to put
    first on ``sys.path`` and the commit."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = tmp / "core"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, *CORE_PACKAGES],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target, commit


def use_core(path: Path) -> None:
    """Import the core from ``path`` here and in every child process."""
    sys.path.insert(0, str(path))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(path), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: str, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > int(cpu):
        return ["taskset", "-c", cpu, *argv]
    return argv


def raise_fd_limit() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


async def wait_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{tail(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not open port {port}:\n{tail(log)}")
        await asyncio.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Database:
    url: str
    cookies: list[str] = field(default_factory=list)
    pub_cookie: str = ""
    schema: str | None = None
    #: Residents of building 1, one per unit, with sessions made in the store (``voters``).
    voter_cookies: list[str] = field(default_factory=list)
    organiser_cookie: str = ""


class Infra:
    """Everything shared by the runs of one ``python -m bench run``; ``close`` undoes it."""

    def __init__(self, tmp: Path, pg_url: str = DEFAULT_PG_URL, quota: Quota | None = None) -> None:
        self.tmp = tmp
        #: The cgroup the server under test, its Redis and its workers run in (quota mode).
        self.quota = quota or Quota(0.0, reason="not asked for")
        self.pg_url = pg_url
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.redis_port = 0
        self.databases: dict[str, Database] = {}
        self.rooms = 0

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    # -- Redis ----------------------------------------------------------------------------------

    async def redis(self) -> str:
        if self.redis_proc is None:
            self.redis_port = free_port()
            log = self.tmp / "redis.log"
            self.redis_proc = subprocess.Popen(
                pinned(
                    SERVER_CPU,
                    [
                        "redis-server",
                        "--port",
                        str(self.redis_port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(self.tmp),
                    ],
                ),
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
            )
            await wait_port(self.redis_port, self.redis_proc, log)
            self.quota.add(self.redis_proc.pid)
        return self.redis_url

    # -- databases ------------------------------------------------------------------------------

    async def database(self, kind: str, rooms: int) -> Database:
        """A migrated, seeded database (``postgres`` schema or ``sqlite`` file) with at least
        ``rooms`` buildings; sessions are added by ``login``."""
        db = self.databases.get(kind)
        if db is not None and self.rooms >= rooms:
            return db
        if kind == "postgres":
            import asyncpg

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            conn = await asyncpg.connect(self.pg_url)
            try:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
            finally:
                await conn.close()
            sep = "&" if "?" in self.pg_url else "?"
            db = Database(f"{self.pg_url}{sep}search_path={schema}", schema=schema)
        else:
            db = Database(f"sqlite:///{self.tmp}/linli-{uuid.uuid4().hex[:6]}.sqlite3")
        await seed(db.url, rooms)
        self.rooms = max(self.rooms, rooms)
        self.databases[kind] = db
        return db

    async def drop_schemas(self) -> None:
        import asyncpg

        schemas = [db.schema for db in self.databases.values() if db.schema]
        if not schemas:
            return
        conn = await asyncpg.connect(self.pg_url)
        try:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    async def close(self) -> None:
        stop_process(self.redis_proc)
        self.quota.close()
        with contextlib.suppress(Exception):
            await self.drop_schemas()


async def seed(url: str, rooms: int) -> None:
    from persistence.factory import open_store
    from persistence.migrate import migrate
    from persistence.store import Role
    from web.passwords import hash_password

    await migrate(url)
    store = await open_store(url)
    try:
        now = int(time.time() * 1000)
        for i in range(rooms):
            building = await store.create_building(f"Block {i + 1}", now=now)
            assert building.id == i + 1, "buildings must be numbered from 1 in a fresh database"
        password_hash = await hash_password(PASSWORD)
        for i in range(SUBSCRIBER_USERS):
            await store.create_user(
                username=f"bench-sub{i}",
                display_name=f"住戶 {i}",
                password_hash=password_hash,
                role=Role.MODERATOR,
                building_id=None,
                unit_label=None,
                now=now,
            )
        await store.create_user(
            username=PUBLISHER_USER,
            display_name="管理處",
            password_hash=password_hash,
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=now,
        )
    finally:
        await store.close()


async def voters(db: Database, count: int) -> None:
    """``count`` residents of building 1 (one unit each) and an organiser there, each with a
    session written straight into the store: a thousand argon2 logins would take minutes and
    measure nothing of interest here."""
    if len(db.voter_cookies) >= count:
        return
    from persistence.factory import open_store
    from persistence.store import Role
    from web.sessions import new_token, token_hash

    store = await open_store(db.url)
    try:
        now = int(time.time() * 1000)

        async def person(name: str, role: Role, unit: str) -> str:
            user = await store.create_user(
                username=name,
                display_name=name,
                password_hash="-",  # never logs in with a password
                role=role,
                building_id=1,
                unit_label=unit,
                now=now,
            )
            token = new_token()
            await store.create_session(
                token_hash(token), user.id, expires_at=now + 86_400_000, now=now
            )
            return f"linli_session={token}"

        if not db.organiser_cookie:
            db.organiser_cookie = await person("bench-organiser", Role.ORGANISER, "G/F")
        for i in range(len(db.voter_cookies), count):
            db.voter_cookies.append(await person(f"bench-voter{i}", Role.RESIDENT, f"U{i}"))
    finally:
        await store.close()


async def login(db: Database, http: str) -> None:
    """Log every bench user in once; the cookies are kept for every later server on this
    database (sessions live in the database)."""
    if db.cookies:
        return
    async with httpx.AsyncClient(base_url=http, timeout=30) as client:
        for i in range(SUBSCRIBER_USERS):
            db.cookies.append(await _login(client, f"bench-sub{i}"))
        db.pub_cookie = await _login(client, PUBLISHER_USER)


async def _login(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    if response.status_code != 200:
        raise RuntimeError(f"login {username}: {response.status_code} {response.text}")
    return f"linli_session={response.cookies['linli_session']}"


# -- versions ---------------------------------------------------------------------------------

PACKAGES = (
    "linli", "starlette", "hypercorn", "wsproto", "websockets", "redis", "hiredis", "orjson",
    "msgpack", "asyncpg", "aiosqlite", "python-socketio", "python-engineio", "aiohttp",
    "uvloop", "httpx",
)  # fmt: skip


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions(infra: Infra) -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "packages": packages,
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
    with contextlib.suppress(Exception):
        out["redis"] = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    with contextlib.suppress(Exception):
        out["postgres"] = subprocess.run(
            ["psql", infra.pg_url, "-tAc", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    with contextlib.suppress(Exception):
        out["git_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    return out
