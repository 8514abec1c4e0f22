"""One urgent notice to a building of ``--recipients`` residents (5,000 by default), each with
``--devices`` push subscriptions: the time from ``notify()`` until every inbox row and every
delivery is written and every gateway has been told every recipient's new unread count.

The notify worker (``workers/notify.py``, as ``linli worker notify`` or the embedded mode's task
runs it) runs in this process over the mode's real backends — embedded: SQLite and the
in-process broker and queue; scaled: PostgreSQL and Redis on 127.0.0.1 — and ``notify()`` is the
action every feature calls. The clock stops at the last ``InboxChanged`` command on the control
channel: the worker sends each chunk's command after that chunk's rows and deliveries are
committed, so the last one means everything is written. The pushes themselves are not timed:
the delivery worker's push sender is not on this branch, so the deliveries stay pending (their
number is checked).

Each run gets a fresh database (a new SQLite file, or a new PostgreSQL schema and Redis key
prefix, dropped afterwards); the residents and their devices are made with one SQL statement
each (not timed).

Reproduce (from the repository root, with the venv active)::

    python -m bench.notify --mode embedded --runs 5
    python -m bench.notify --mode scaled --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from channels.broker import Publication
from gateway.control import CONTROL_CHANNEL, decode_command
from gateway.notifications.events import InboxChanged
from linli.config import load_settings
from linli.features import FEATURES, all_workers
from linli.runtime import Runtime, open_runtime
from linli.types import ChannelName
from persistence.db import Database
from persistence.migrate import migrate
from persistence.notifications import Kind
from web.notifications.actions import notify

REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: A run must end, whatever happens.
TIMEOUT = 600.0


async def make_residents(db: Database, building_id: int, count: int, devices: int) -> None:
    """``count`` residents of the building (``r00001``…) with ``devices`` push subscriptions
    each, in one INSERT per table (a recursive series: both databases have it)."""
    now = int(time.time() * 1000)
    await db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) "
        "INSERT INTO users (username, username_lower, display_name, role, building_id, "
        "password_hash, created_at) "
        "SELECT 'r' || i, 'r' || i, 'Resident ' || i, 'resident', $2, '-', $3 FROM n",
        count,
        building_id,
        now,
    )
    await db.execute(
        "WITH RECURSIVE d(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM d WHERE j < $1) "
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, label, created_at) "
        "SELECT u.id, 'https://push.invalid/' || u.id || '/' || d.j, 'k', 'a', 'bench', $3 "
        "FROM users u, d WHERE u.building_id = $2",
        devices,
        building_id,
        now,
    )


class _Announcements:
    """Counts the users the ``InboxChanged`` commands name, and when the last one came."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.users: set[int] = set()
        self.commands = 0
        self.last = 0.0
        self.done = asyncio.Event()

    def on_publication(self, publication: Publication) -> None:
        pass

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        command = decode_command(data)
        if channel == CONTROL_CHANNEL and isinstance(command, InboxChanged):
            self.commands += 1
            self.users.update(command.counts)
            self.last = time.perf_counter()
            if len(self.users) >= self.expected:
                self.done.set()

    def on_reconnect(self) -> None:
        pass


@asynccontextmanager
async def _deployment(args: argparse.Namespace) -> AsyncIterator[dict[str, str]]:
    if args.mode == "embedded":
        with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
            yield {"LINLI_DATABASE_URL": f"sqlite:///{Path(tmp)}/linli.sqlite3"}
        return
    import asyncpg
    import redis.asyncio as aioredis

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    prefix = f"linlibench:{uuid.uuid4().hex[:8]}:"
    conn = await asyncpg.connect(args.database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in args.database_url else "?"
    try:
        yield {
            "LINLI_DATABASE_URL": f"{args.database_url}{sep}search_path={schema}",
            "LINLI_REDIS_URL": args.redis_url,
            "LINLI_KEY_PREFIX": prefix,
        }
    finally:
        conn = await asyncpg.connect(args.database_url)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()
        client = aioredis.Redis.from_url(args.redis_url)
        try:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


async def _count(runtime: Runtime, table: str) -> int:
    return int(await runtime.database.fetchval(f"SELECT count(*) FROM {table}"))


async def one_run(args: argparse.Namespace) -> dict[str, Any]:
    async with _deployment(args) as env:
        settings = load_settings(env)
        await migrate(settings.database_url)
        async with open_runtime(settings, migrate_first=False) as runtime:
            building = await runtime.store.create_building("Tower", now=runtime.clock.now_ms())
            await make_residents(runtime.database, building.id, args.recipients, args.devices)
            heard = _Announcements(args.recipients)
            await runtime.broker.start(heard)
            await runtime.broker.subscribe(CONTROL_CHANNEL)
            worker = all_workers(FEATURES)["notify"](runtime)
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            try:
                started = time.perf_counter()
                await notify(
                    runtime,
                    key="urgent:water",
                    kind=Kind.NOTICE,
                    text_zh="明日 09:00–17:00 停水",
                    text_en="Water off tomorrow 09:00-17:00",
                    link="/notices/1",
                    buildings=[building.id],
                    urgent=True,
                )
                await asyncio.wait_for(heard.done.wait(), TIMEOUT)
                seconds = heard.last - started
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
            rows = await _count(runtime, "notifications")
            deliveries = await _count(runtime, "notify_deliveries")
    assert rows == args.recipients, rows
    assert deliveries == args.recipients * args.devices, deliveries
    return {"seconds": seconds, "rows": rows, "deliveries": deliveries, "commands": heard.commands}


async def main_async(args: argparse.Namespace) -> None:
    runs = []
    for index in range(args.runs):
        result = await one_run(args)
        runs.append(result)
        print(f"run {index + 1}: {result}", flush=True)
    seconds = [r["seconds"] for r in runs]
    print(
        f"{args.mode}: {args.recipients} recipients × {args.devices} device(s), {args.runs} runs: "
        f"p50 {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s, "
        f"min {min(seconds):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["embedded", "scaled"], default="embedded")
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--database-url", default=DATABASE_URL)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
