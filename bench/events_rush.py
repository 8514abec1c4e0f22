"""The sign-up rush: ``--residents`` residents (300 by default) sign up for a session of
``--capacity`` places (50) in the same instant, over HTTP, spread over the mode's gateways —
embedded: one ``linli serve`` on a SQLite file; scaled: two ``linli serve`` processes on one
PostgreSQL and one Redis. Every reply is checked against the stored rows: exactly ``capacity``
confirmed, the rest waitlisted at positions 1…n in id (arrival) order, no holder twice.

Figures: the time from the release of the requests until the last resident has their reply
(everyone knows their outcome: the reply says confirmed, or waitlisted at position n), and the
median and p99 of one sign-up's reply time. The residents and their sessions are made straight
in the database (not timed); the event is created over the API by an organiser.

Reproduce (from the repository root, with the venv active)::

    python -m bench.events_rush --mode embedded
    python -m bench.events_rush --mode scaled --residents 300 --capacity 50 --runs 3

Bounded: at most ``--residents`` requests per run, each with a 60 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.infra import free_port, stop_process, tail
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role

REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY_MS = 86_400_000
REQUEST_TIMEOUT = 60.0


@dataclass
class RushSetup:
    organiser: str
    #: (user id, session token) of every resident.
    residents: list[tuple[int, str]]
    building_id: int


@dataclass
class Outcome:
    user_id: int
    status: int
    state: str | None
    position: int | None
    signup_id: int | None
    seconds: float


@dataclass
class RushResult:
    outcomes: list[Outcome]
    #: From the release of the requests until the last reply.
    all_told_seconds: float

    def latency(self, q: float) -> float:
        times = sorted(o.seconds for o in self.outcomes)
        return times[min(len(times) - 1, int(q * len(times)))]


async def seed_rush(database_url: str, residents: int, *, per_unit: int = 1) -> RushSetup:
    """A building of ``residents`` residents (``per_unit`` to a unit) and an organiser, each
    with a session token of their own (made in the database: no password hashing)."""
    await migrate(database_url)
    store = await open_store(database_url)
    now = int(time.time() * 1000)
    try:
        building = await store.create_building("Rush Tower", now=now)

        async def person(name: str, role: Role, unit: str) -> tuple[int, str]:
            user = await store.create_user(
                username=name,
                display_name=name,
                password_hash="-",
                role=role,
                building_id=building.id,
                unit_label=unit,
                now=now,
            )
            token = secrets.token_urlsafe(32)
            await store.create_session(
                hashlib.sha256(token.encode()).hexdigest(),
                user.id,
                expires_at=now + DAY_MS,
                now=now,
            )
            return user.id, token

        _, organiser = await person("rush-organiser", Role.ORGANISER, "G")
        people = [
            await person(f"rush{i}", Role.RESIDENT, f"{i // per_unit}F") for i in range(residents)
        ]
        return RushSetup(organiser, people, building.id)
    finally:
        await store.close()


async def create_event(
    http: str, setup: RushSetup, capacity: int, *, counting: str = "person"
) -> tuple[int, int]:
    """The rush's event over the API; returns (event id, session id)."""
    now = int(time.time() * 1000)
    body = {
        "title": "中秋烤肉 rush",
        "place": "Podium",
        "audience": {"buildings": [setup.building_id]},
        "counting": counting,
        "max_seats": 1,
        "signup_opens": now - DAY_MS,
        "signup_closes": now + DAY_MS,
        "remind_hours": None,
        "sessions": [
            {
                "label": "",
                "starts_at": now + 3 * DAY_MS,
                "ends_at": now + 3 * DAY_MS + 1,
                "capacity": capacity,
            }
        ],
    }
    async with httpx.AsyncClient(base_url=http, cookies={"linli_session": setup.organiser}) as c:
        reply = await c.post("/api/events", json=body, headers={"Origin": http})
        assert reply.status_code == 201, reply.text
        event = reply.json()["event"]
        return event["id"], event["sessions"][0]["id"]


async def run_rush(
    urls: Sequence[str], setup: RushSetup, event_id: int, session_id: int
) -> RushResult:
    """Every resident signs up at once (resident i through gateway i mod len(urls)); each
    request is built and its connection opened first, then all are released together."""
    clients = [
        httpx.AsyncClient(
            base_url=url,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=len(setup.residents), max_keepalive_connections=0),
        )
        for url in urls
    ]
    start = asyncio.Event()
    began = 0.0

    async def one(i: int, user_id: int, token: str) -> Outcome:
        url = urls[i % len(urls)]
        client = clients[i % len(urls)]
        await start.wait()
        sent = time.perf_counter()
        reply = await client.post(
            f"/api/events/{event_id}/sessions/{session_id}/signups",
            json={"request_key": f"rush-{user_id}", "seats": 1},
            headers={"Origin": url, "Cookie": f"linli_session={token}"},
        )
        took = time.perf_counter() - sent
        signup: dict[str, Any] = reply.json().get("signup") or {}
        return Outcome(
            user_id, reply.status_code, signup.get("state"), signup.get("position"),
            signup.get("id"), took,
        )  # fmt: skip

    try:
        tasks = [asyncio.create_task(one(i, u, t)) for i, (u, t) in enumerate(setup.residents)]
        await asyncio.sleep(0.2)  # every task is waiting at the gate
        began = time.perf_counter()
        start.set()
        outcomes = await asyncio.gather(*tasks)
        return RushResult(list(outcomes), time.perf_counter() - began)
    finally:
        for client in clients:
            await client.aclose()


def check(result: RushResult, capacity: int) -> None:
    """The replies alone: every resident told, exactly ``capacity`` confirmed, the rest
    waitlisted at 1…n in the order of their sign-up ids."""
    outcomes = result.outcomes
    assert all(o.status == 201 for o in outcomes), Counter(o.status for o in outcomes)
    states = Counter(o.state for o in outcomes)
    assert states == {"confirmed": capacity, "waitlisted": len(outcomes) - capacity}, states
    by_id = sorted(outcomes, key=lambda o: o.signup_id or 0)
    assert [o.state for o in by_id[:capacity]] == ["confirmed"] * capacity
    assert [o.position for o in by_id[capacity:]] == list(range(1, len(outcomes) - capacity + 1))


# -- the command ----------------------------------------------------------------------------


@asynccontextmanager
async def _servers(mode: str, tmp: Path) -> AsyncIterator[tuple[list[str], str]]:
    """The mode's gateways (URLs) and its database URL; everything dropped afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    schema = None
    if mode == "embedded":
        database_url = f"sqlite:///{tmp}/rush.sqlite3"
        count = 1
    else:
        import asyncpg

        schema = f"rush_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
        database_url = f"{DATABASE_URL}?search_path={schema}"
        env.update(
            LINLI_REDIS_URL=REDIS_URL, LINLI_KEY_PREFIX=f"{schema}:", LINLI_AUTO_MIGRATE="false"
        )
        count = 2
    await migrate(database_url)
    env.update(LINLI_DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for n in range(count):
            port = free_port()
            log = (tmp / f"server-{n}.log").open("ab")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "linli", "serve"],
                    env={
                        **env,
                        "LINLI_PORT": str(port),
                        "LINLI_WS_PORT": str(free_port()),  # unused here, but never taken
                        "LINLI_HOST": "127.0.0.1",
                    },
                    cwd=tmp,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            url = f"http://127.0.0.1:{port}"
            urls.append(url)
            await _healthy(url, procs[-1], tmp / f"server-{n}.log")
        yield urls, database_url
    finally:
        for proc in procs:
            stop_process(proc)
        if schema is not None:
            import asyncpg

            conn = await asyncpg.connect(DATABASE_URL)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()


async def _healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{tail(log)}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{tail(log)}")


async def _run(mode: str, residents: int, capacity: int, runs: int) -> list[RushResult]:
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            async with _servers(mode, Path(tmp)) as (urls, database_url):
                setup = await seed_rush(database_url, residents)
                event_id, session_id = await create_event(urls[0], setup, capacity)
                result = await run_rush(urls, setup, event_id, session_id)
                check(result, capacity)
                results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("embedded", "scaled"), default="embedded")
    parser.add_argument("--residents", type=int, default=300)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 < args.capacity <= args.residents <= 2000 or not 1 <= args.runs <= 10:
        parser.error("need 0 < capacity <= residents <= 2000 and 1 <= runs <= 10")
    results = asyncio.run(_run(args.mode, args.residents, args.capacity, args.runs))
    told = [r.all_told_seconds for r in results]
    p50 = [r.latency(0.5) for r in results]
    p99 = [r.latency(0.99) for r in results]
    print(
        f"events rush, {args.mode}: {args.residents} residents, {args.capacity} places, "
        f"{args.runs} run(s); exact every run ({args.capacity} confirmed, "
        f"{args.residents - args.capacity} waitlisted in order)"
    )
    print(f"  all told:      median {statistics.median(told) * 1000:.0f} ms (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in told) + ")")  # fmt: skip
    print(f"  reply p50:     median {statistics.median(p50) * 1000:.0f} ms")
    print(f"  reply p99:     median {statistics.median(p99) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
