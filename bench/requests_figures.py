"""The plan's request figures (``persistence/requests/sql.py`` ``figures``) over ``--requests``
requests (100,000 by default) filed over a year: the time of one ``figures()`` call — shares
resolved within 7/30/365 days, median and p90 of first response and resolution, open and
overdue, CSAT — by category, building (``--buildings``, 10) and month of Asia/Taipei.

The rows are made with a fixed seed and written in bulk straight into a fresh database (not
timed): SQLite in a temporary file, or a PostgreSQL schema of its own on 127.0.0.1, dropped
afterwards. About 6 % rejected, 4 % merged, 15 % never answered, 70 % resolved (a tenth of them
reopened), 40 % of resolutions rated.

Reproduce (from the repository root, with the venv active)::

    python -m bench.requests_figures --db sqlite --runs 5
    python -m bench.requests_figures --db postgres --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from persistence.db import Database
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.requests import DAY_MS, Category, Status
from persistence.requests.sql import WINDOW_DAYS, SqlRequestStore
from persistence.requests.workdays import add_working_time
from persistence.store import Role

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
ZONE = ZoneInfo("Asia/Taipei")
HOUR = 3_600_000
#: Rows per INSERT batch.
CHUNK = 5_000
#: A run must end, whatever happens.
TIMEOUT = 900.0


@asynccontextmanager
async def _database_url(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
            yield f"sqlite:///{Path(tmp)}/linli.sqlite3"
        return
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(args.database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in args.database_url else "?"
    try:
        yield f"{args.database_url}{sep}search_path={schema}"
    finally:
        conn = await asyncpg.connect(args.database_url)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


def _rows(
    count: int, buildings: list[int], author: int, start: int, now: int, seed: int
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The requests (id order) and their ratings."""
    rng = random.Random(seed)
    categories = [str(c) for c in Category]
    targets = {"repair": (DAY_MS, 14 * DAY_MS), "question": (DAY_MS, 3 * DAY_MS)}
    requests: list[tuple[object, ...]] = []
    ratings: list[tuple[object, ...]] = []
    for i in range(1, count + 1):
        created = start + (now - start) * i // (count + 1)
        category = rng.choice(categories)
        first_ms, resolve_ms = targets.get(category, (3 * DAY_MS, 30 * DAY_MS))
        fate = rng.random()
        first = resolved = closed = None
        resolutions = 0
        status = Status.RECEIVED
        if fate < 0.06:
            status, first = Status.REJECTED, created + rng.randrange(HOUR, 3 * DAY_MS)
        elif fate < 0.10:
            status = Status.MERGED
        elif fate >= 0.25:
            first = created + rng.randrange(HOUR // 2, 4 * DAY_MS)
            status = Status.IN_PROGRESS
            if fate >= 0.30:
                resolved = first + rng.choice(
                    [rng.randrange(HOUR, 5 * DAY_MS), rng.randrange(5 * DAY_MS, 60 * DAY_MS)]
                )
                resolutions = 2 if rng.random() < 0.1 else 1
                status = Status.CLOSED if rng.random() < 0.5 else Status.RESOLVED
                closed = resolved + DAY_MS if status is Status.CLOSED else None
        if (first is not None and first > now) or (resolved is not None and resolved > now):
            status, resolved, closed, resolutions = Status.IN_PROGRESS, None, None, 0
            first = first if first is not None and first <= now else None
        requests.append(
            (
                i,
                category,
                str(status),
                0,
                "bench",
                author,
                rng.choice(buildings),
                "",
                "",
                "",
                1,
                created,
                created,
                # The targets in working time and the figures' windows in calendar days, as the
                # store makes them.
                add_working_time(created, first_ms, ZONE),
                add_working_time(created, resolve_ms, ZONE),
                first,
                resolved,
                closed,
                resolutions,
                *(created + days * DAY_MS for days in WINDOW_DAYS),
            )
        )
        if resolutions and rng.random() < 0.4:
            ratings.append((i, resolutions, author, rng.randint(1, 5), "", resolved))
    return requests, ratings


async def _fill(
    db: Database, requests: list[tuple[object, ...]], ratings: list[tuple[object, ...]]
) -> None:
    for at in range(0, len(requests), CHUNK):
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO requests (id, category, status, private, text, author_id, "
                "building_id, floor, source_link, reject_reason, version, created_at, "
                "updated_at, respond_by, resolve_by, first_response_at, resolved_at, closed_at, "
                "resolutions, due_7, due_30, due_365) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
                requests[at : at + CHUNK],
            )
    for at in range(0, len(ratings), CHUNK):
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO request_ratings (request_id, resolution, user_id, score, comment, "
                "rated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                ratings[at : at + CHUNK],
            )
    if db.dialect == "postgres":
        await db.execute("ANALYZE requests")
        await db.execute("ANALYZE request_ratings")
    else:
        await db.execute("ANALYZE")


async def main_async(args: argparse.Namespace) -> None:
    async with _database_url(args) as url:
        await migrate(url)
        store = await open_store(url)
        try:
            now = int(datetime(2026, 12, 1, tzinfo=ZONE).timestamp() * 1000)
            start = int(datetime(2025, 12, 1, tzinfo=ZONE).timestamp() * 1000)
            buildings = [
                (await store.create_building(f"B{i}", now=start)).id for i in range(args.buildings)
            ]
            user = await store.create_user(
                username="bench",
                display_name="Bench",
                password_hash="-",
                role=Role.RESIDENT,
                building_id=buildings[0],
                unit_label="1A",
                now=start,
            )
            requests, ratings = _rows(args.requests, buildings, user.id, start, now, args.seed)
            began = time.perf_counter()
            await _fill(store.database, requests, ratings)
            print(
                f"{args.db}: {len(requests):,} requests, {len(ratings):,} ratings written in "
                f"{time.perf_counter() - began:.1f} s (not timed below)"
            )
            figures_store = SqlRequestStore(store.database)
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                figures = await figures_store.figures(
                    since=start, until=now + 1, now=now, zone=ZONE
                )
                times.append(time.perf_counter() - began)
            total = figures.total
            assert total.filed == args.requests, total
            print(
                f"figures(): median {statistics.median(times) * 1000:.0f} ms, "
                f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over "
                f"{args.runs} runs ({len(figures.by_category)} categories, "
                f"{len(figures.by_building)} buildings, {len(figures.by_month)} months)"
            )
            share = 100 * total.resolved_30 / max(total.eligible_30, 1)
            print(
                f"  check: filed {total.filed:,}, rejected {total.rejected:,}, merged "
                f"{total.merged:,}, open {total.open:,}, overdue {total.overdue:,}, resolved "
                f"within 30 days {share:.1f} %, ratings {total.ratings:,}"
            )
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--buildings", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--database-url", default=DATABASE_URL)
    args = parser.parse_args()
    if not 1 <= args.requests <= 1_000_000 or not 1 <= args.runs <= 50:
        parser.error("--requests is 1 to 1,000,000 and --runs 1 to 50 (a bounded benchmark)")
    asyncio.run(asyncio.wait_for(main_async(args), TIMEOUT))


if __name__ == "__main__":
    main()
