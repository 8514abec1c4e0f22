"""The community-figures page's server time over a year of activity for ``--residents``
residents (2,000 by default): the month view (6 months, every figure of every feature), the
30-day chart and the cohorts (what ``/figures`` computes per request; the page's HTTP and
template time is not included) — each timed ``--runs`` times, p50 and max reported.

The year is written straight into the rollup (``activity_days``: each resident active on a
random share of days), plus a chat message and a vote per resident-week, with one SQL statement
per table (not timed): the page reads the rollup, never the raw events.

Reproduce (from the repository root, with the venv active)::

    python -m bench.figures --mode embedded
    python -m bench.figures --mode scaled
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
from datetime import timedelta
from pathlib import Path
from typing import Any

from linli.config import load_settings
from linli.features import FEATURES
from linli.periods import local_date
from linli.runtime import open_runtime
from persistence.migrate import migrate
from web.figures.actions import cohorts, daily_active_series, table

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY_MS = 86_400_000


@asynccontextmanager
async def _database(mode: str) -> AsyncIterator[str]:
    if mode == "embedded":
        with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
            yield f"sqlite:///{Path(tmp)}/linli.sqlite3"
        return
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(DATABASE_URL)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    try:
        yield f"{DATABASE_URL}?search_path={schema}"
    finally:
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def _fill(url: str, residents: int, seed: int) -> int:
    """A year of rollup rows, chat posts and votes; the number of resident-days written."""
    settings = load_settings({"LINLI_DATABASE_URL": url})
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    async with open_runtime(settings, migrate_first=False) as runtime:
        db = runtime.database
        buildings = [(await runtime.store.create_building(f"B{i}", now=0)).id for i in range(4)]
        for start in range(0, residents, 500):
            await db.executemany(
                "INSERT INTO users (username, username_lower, display_name, role, building_id, "
                "password_hash, created_at) VALUES ($1, $1, $1, 'resident', $2, '-', $3)",
                [
                    (f"r{i}", buildings[i % 4], now - rng.randrange(0, 365) * DAY_MS)
                    for i in range(start, min(residents, start + 500))
                ],
            )
        users = [
            (r["id"], r["created_at"]) for r in await db.fetch("SELECT id, created_at FROM users")
        ]
        today = local_date(now, settings.zone)
        rows = []
        for user_id, joined in users:
            keen = rng.random()
            day = local_date(joined, settings.zone)
            while day <= today:
                if rng.random() < keen:
                    rows.append(
                        (str(day), user_id, buildings[user_id % 4], rng.random() < 0.1, 1, 2)
                    )
                day += timedelta(days=1)
        for start in range(0, len(rows), 5000):
            await db.executemany(
                "INSERT INTO activity_days (day, user_id, building_id, logins, visits, events) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                rows[start : start + 5000],
            )
        await db.executemany(
            'INSERT INTO messages (channel, "offset", epoch, data, author_id, created_at) '
            "VALUES ($1, $2, 1, $3, $4, $5)",
            [
                (
                    f"building:{buildings[u % 4]}",
                    n + 1,
                    b"x",
                    u,
                    now - rng.randrange(0, 365) * DAY_MS,
                )
                for n, (u, _) in enumerate(users * 52)
            ],
        )
        return len(rows)


async def _timed(work: Any, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return {"p50_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}


async def main_async(args: argparse.Namespace) -> None:
    async with _database(args.mode) as url:
        await migrate(url)
        filled = await _fill(url, args.residents, args.seed)
        settings = load_settings({"LINLI_DATABASE_URL": url})
        async with open_runtime(settings, migrate_first=False) as runtime:
            sources = [f.figures for f in FEATURES if f.figures is not None]
            report = {
                "month table (6 months)": await _timed(
                    lambda: table(runtime, sources, kind="month", count=6, building=None), args.runs
                ),
                "30-day chart": await _timed(
                    lambda: daily_active_series(runtime, 30, None), args.runs
                ),
                "cohorts (6 months)": await _timed(lambda: cohorts(runtime, 6, None), args.runs),
            }
        print(f"mode={args.mode} residents={args.residents} resident-days={filled}")
        for name, figures in report.items():
            print(f"  {name:26s} p50 {figures['p50_ms']:8.1f} ms   max {figures['max_ms']:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["embedded", "scaled"], default="embedded")
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
