"""Live polls under load: votes accepted per second, and the time from a vote to a watcher's
screen showing it (p50/p99).

Starts the real server (``linli serve`` in a subprocess, 127.0.0.1 only) in the embedded or the
scaled mode, makes ``--voters`` residents with sessions, connects them all over real WebSockets
(not timed), opens a poll with a watcher subscribed to its channel, then has every voter vote:
all at once (``--pace 0``, a meeting's "vote now!") or spread at ``--pace`` votes per second.

* **accepted/s**: votes acked by the gateway (checked and queued) per second, from the first
  vote sent to the last ack.
* **vote → screen**: for the k-th vote sent, the time until the watcher received a tally with at
  least k voters (tallies are whole snapshots counted from the stored votes; every voter votes
  once, so that is the first screen that can include it). It includes the coalescing delay of
  ``--tally-rate`` updates per second.

Reproduce (from the repository root, with the venv active)::

    python -m bench.votes --voters 500                      # embedded: SQLite, in-process queue
    python -m bench.votes --voters 500 --mode scaled        # Redis + PostgreSQL on 127.0.0.1
    python -m bench.votes --voters 500 --pace 100           # steady 100 votes/s
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.harness import Client, Deployment, Worker, running
from tests.e2e.polls_helpers import PollApi, close_all, connect_many, make_voters

#: Bounds: a benchmark must finish, whatever happens.
MAX_VOTERS = 2000
SETTLE_TIMEOUT = 60.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _scaled_deployment(args: argparse.Namespace, tmp: Path) -> tuple[Deployment, str]:
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(args.database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in args.database_url else "?"
    url = f"{args.database_url}{sep}search_path={schema}"
    prefix = f"linlibench:{uuid.uuid4().hex[:8]}:"
    return Deployment("scaled", url, args.redis_url, prefix, tmp), schema


async def _drop_scaled(args: argparse.Namespace, deployment: Deployment, schema: str) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(args.database_url)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()
    client = aioredis.Redis.from_url(args.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{deployment.key_prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        schema = ""
        if args.mode == "scaled":
            deployment, schema = await _scaled_deployment(args, tmp)
        else:
            deployment = Deployment("embedded", f"sqlite:///{tmp}/linli.sqlite3", None, "l:", tmp)
        try:
            return await _measure(args, deployment)
        finally:
            if schema:
                await _drop_scaled(args, deployment, schema)


async def _measure(args: argparse.Namespace, deployment: Deployment) -> dict[str, Any]:
    voters = await make_voters(deployment, args.voters)
    names = sorted(n for n in voters.cookies if n.startswith("v"))
    # Scaled: as the Procfile runs it, the votes worker in a process of its own.
    scaled = deployment.mode == "scaled"
    env = {
        "LINLI_POLL_TALLY_RATE": str(args.tally_rate),
        "LINLI_RUN_WORKERS": "false" if scaled else "true",
    }
    worker = Worker(deployment, "votes").start() if scaled else None
    try:
        return await _burst(args, deployment, voters, names, env)
    finally:
        if worker is not None:
            worker.stop()


async def _burst(
    args: argparse.Namespace,
    deployment: Deployment,
    voters: Any,
    names: list[str],
    env: dict[str, str],
) -> dict[str, Any]:
    async with running(deployment, **env) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        watcher = await Client.connect(server, voters.cookies[names[0]][1])
        clients = await connect_many(server, [voters.cookies[n][1] for n in names])
        screens: list[tuple[float, int]] = []  # (arrival, voters) of every tally on the watcher
        try:
            poll = await api.create(
                channel=f"building:{voters.building_id}",
                question="Benchmark",
                options=["a", "b", "c", "d"],
            )
            await api.open(poll["id"])
            await watcher.ok("subscribe", channel=f"poll:{poll['id']}")
            done = asyncio.Event()

            async def watch() -> None:
                while True:
                    push = await watcher.push("pub", timeout=SETTLE_TIMEOUT)
                    data = push["data"]
                    if data.get("kind") == "tally":
                        screens.append((time.perf_counter(), int(data["voters"])))
                        if data["voters"] >= len(clients):
                            done.set()
                            return

            watching = asyncio.create_task(watch())
            sent: list[float] = [0.0] * len(clients)
            acked: list[float] = [0.0] * len(clients)

            async def vote(i: int, client: Client) -> None:
                if args.pace:
                    await asyncio.sleep(i / args.pace)
                sent[i] = time.perf_counter()
                reply = await client.request(
                    "vote",
                    timeout=SETTLE_TIMEOUT,
                    poll_id=poll["id"],
                    choices=[i % 4],
                    client_vote_id=f"v{i}",
                )
                assert "ok" in reply, reply
                acked[i] = time.perf_counter()

            await asyncio.gather(*(vote(i, c) for i, c in enumerate(clients)))
            await asyncio.wait_for(done.wait(), SETTLE_TIMEOUT)
            await watching
        finally:
            await close_all([*clients, watcher])
            await api.aclose()

        order = sorted(sent)
        latencies = []
        for k, t_sent in enumerate(order, start=1):
            shown = next(t for t, count in screens if count >= k)
            latencies.append(shown - t_sent)
        # The stored count, afresh: the benchmark's votes all counted, once.
        store = await deployment.store()
        try:
            tally = await store.poll_tally(poll["id"])
        finally:
            await store.close()
        assert tally is not None and tally.voters == len(clients), tally
        span = max(acked) - min(sent)
        return {
            "mode": args.mode,
            "voters": len(clients),
            "pace": args.pace or "burst",
            "accepted_per_s": len(clients) / span,
            "ack_p50_ms": 1000 * percentile([a - s for a, s in zip(acked, sent, strict=True)], 0.5),
            "ack_p99_ms": 1000
            * percentile([a - s for a, s in zip(acked, sent, strict=True)], 0.99),
            "screen_p50_ms": 1000 * percentile(latencies, 0.5),
            "screen_p99_ms": 1000 * percentile(latencies, 0.99),
            "tally_updates": len(screens),
            "tally_rate": args.tally_rate,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voters", type=int, default=500)
    parser.add_argument("--mode", choices=["embedded", "scaled"], default="embedded")
    parser.add_argument("--pace", type=float, default=0.0, help="votes per second (0: all at once)")
    parser.add_argument("--tally-rate", type=float, default=10.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not 1 <= args.voters <= MAX_VOTERS:
        parser.error(f"--voters must be 1 to {MAX_VOTERS}")
    for url in (args.redis_url, args.database_url):
        if args.mode == "scaled" and "127.0.0.1" not in url and "localhost" not in url:
            parser.error("the benchmark only talks to servers on 127.0.0.1")
    result = asyncio.run(run(args))
    print(" ".join(sys.argv))
    print(
        f"{result['mode']}: {result['voters']} voters ({result['pace']}), "
        f"{result['accepted_per_s']:.0f} votes accepted/s; "
        f"ack p50 {result['ack_p50_ms']:.0f} ms p99 {result['ack_p99_ms']:.0f} ms; "
        f"vote→screen p50 {result['screen_p50_ms']:.0f} ms p99 {result['screen_p99_ms']:.0f} ms; "
        f"{result['tally_updates']} tally updates on the watcher "
        f"(at most {result['tally_rate']:g}/s)"
    )


if __name__ == "__main__":
    main()
