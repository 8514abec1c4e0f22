"""The benchmark runner: for each repetition, each server and each scenario, start what is
needed, run the load generator in its own process on its own core, and collect the figures;
then medians, ratios to the peers from the same repetition, targets, a table and a JSON file."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.infra import (
    LOADGEN_CPU,
    ROOT,
    Infra,
    pinned,
    raise_fd_limit,
    snapshot_core,
    stop_process,
    tail,
    use_core,
    versions,
    voters,
)
from bench.quota import Quota, make_quota
from bench.servers import SERVERS, Running, ServerKind, running


@dataclass(frozen=True)
class Mode:
    name: str
    repetitions: int
    s1: dict[str, Any]
    s2: dict[str, Any]
    s3: dict[str, Any]
    s4: dict[str, Any]
    recovery: dict[str, Any]
    persist: dict[str, Any]
    votes: dict[str, Any]
    #: CPU quota (cores) of the server's cgroup (``bench/quota.py``); 0 for none.
    quota: float = 0.5


MODES = {
    "smoke": Mode(
        "smoke",
        1,
        s1={"subscribers": 100, "seconds": 1.0},
        s2={"subscribers": 100, "rooms": 10, "rate": 100, "seconds": 1.0},
        s3={"connections": 200, "rooms": 20},
        s4={"connections": 100, "rooms": 20, "seconds": 1.0},
        recovery={"clients": 100, "rooms": 10, "missed": 10},
        persist={"messages": 5_000},
        votes={"voters": 50},
        quota=0.0,
    ),
    "quick": Mode(
        "quick",
        1,
        s1={"subscribers": 1000, "seconds": 4.0},
        s2={"subscribers": 1000, "rooms": 50, "rate": 500, "seconds": 4.0},
        s3={"connections": 5000, "rooms": 250},
        s4={"connections": 2000, "rooms": 400, "seconds": 4.0},
        recovery={"clients": 1000, "rooms": 10, "missed": 100},
        persist={"messages": 100_000},
        votes={"voters": 1000},
    ),
    "full": Mode(
        "full",
        3,
        s1={"subscribers": 1000, "seconds": 10.0},
        s2={"subscribers": 1000, "rooms": 50, "rate": 500, "seconds": 10.0},
        s3={"connections": 5000, "rooms": 250},
        s4={"connections": 2000, "rooms": 400, "seconds": 10.0},
        recovery={"clients": 1000, "rooms": 10, "missed": 100},
        persist={"messages": 300_000},
        votes={"voters": 1000},
    ),
}

#: Scenario → the servers it runs on. ``s1z`` is S1 with permessage-deflate offered by the
#: clients (as every browser does); ``s1`` and the rest offer no extension.
_ALL = (
    "linli", "linli-embedded", "websockets", "starlette", "socketio",
)  # fmt: skip
#: The Node peers (``bench/peers/node``): the raw ``ws`` ceiling without Redis, ``ws`` with one
#: Redis subscription, Socket.IO with its Redis adapter.
_NODE = ("node-ws", "node-ws-redis", "node-socketio")
#: Linli with Python's own collector settings (``LINLI_GC_THRESHOLD=0``): what linli/gctune.py
#: gives, in the same run.
_GC700 = ("linli-gc700", "linli-embedded-gc700")
SCENARIOS: dict[str, tuple[str, ...]] = {
    "s1": (*_ALL, "websockets-uvloop", "linli-asyncio", "websockets-preframed", *_NODE),
    "s1z": ("linli", "websockets", "starlette", "socketio"),
    "s2": (*_ALL, "websockets-uvloop", "linli-asyncio", *_NODE, *_GC700),
    "s3": ("linli", "websockets", "starlette", "socketio", *_NODE),
    "s4": ("linli", "websockets", *_NODE, "linli-gc700"),
    "recovery": ("linli", "linli-asyncio"),
    "votes": ("linli", "linli-asyncio"),
    "persist": ("linli",),
}
#: What ``python -m bench run`` runs unless told otherwise.
DEFAULT_SCENARIOS = tuple(SCENARIOS)
#: Scenarios that share one server start (S3 and recovery get a fresh server each: memory is
#: measured from a clean baseline, recovery from a quiet one).
SHARED = ("s1", "s1z", "s2")


#: The run's cgroups (``bench/quota.py``); the load generator joins its own.
QUOTA: Quota | None = None


async def loadgen(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *pinned(LOADGEN_CPU, [sys.executable, "-m", "bench.loadgen"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    if QUOTA is not None:
        QUOTA.add_loadgen(proc.pid)
    job = {**job, "timeout": timeout}
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(job).encode()), timeout + 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return {"error": f"load generator timed out after {timeout + 15} s"}
    if proc.returncode != 0:
        return {"error": err.decode()[-2000:]}
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def run_ws_scenario(
    server: Running, scenario: str, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    db = server.db
    job = {
        "scenario": "s1" if scenario == "s1z" else scenario,
        "protocol": server.kind.protocol,
        "port": server.port,
        "cookies": db.cookies if db else None,
        "pub_cookie": db.pub_cookie if db else None,
        "deflate": scenario == "s1z",
        "params": params,
        "pids": server.pids,
    }
    if PROFILE_DIR is not None and shutil.which("py-spy"):
        os.makedirs(PROFILE_DIR, exist_ok=True)
        job["profile"] = str(PROFILE_DIR / f"{scenario}-{server.kind.name}.txt")
    return await loadgen(job, timeout)


#: Set by ``--profile DIR``: every scenario's server (and the persist worker) is sampled with
#: py-spy while the load runs; collapsed stacks land in DIR (summarise with bench/profiles.py).
PROFILE_DIR: Path | None = None


@contextlib.asynccontextmanager
async def profiling(pid: int, name: str) -> AsyncIterator[None]:
    if PROFILE_DIR is None or shutil.which("py-spy") is None:
        yield
        return
    os.makedirs(PROFILE_DIR, exist_ok=True)
    out = PROFILE_DIR / f"{name}.txt"
    spy = await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
        "--output", str(out), "--nonblocking",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(spy.wait(), 20)
        except TimeoutError:
            spy.kill()
            await spy.wait()


async def _drained(
    client: Any,
    stream: str,
    worker: subprocess.Popen[bytes],
    log: Path,
    deadline: float,
    group_name: str = "persist",
) -> tuple[float | None, float | None]:
    """When the worker (of consumer group ``group_name``) first read from the stream, and when
    its backlog was empty (nothing unread, nothing unacked)."""
    started = None
    names = (group_name, group_name.encode())
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"{group_name} worker exited:\n{tail(log)}")
        groups = await client.xinfo_groups(stream)
        group = next((g for g in groups if g["name"] in names), None)
        now = time.perf_counter()
        if group is not None:
            if started is None and (group.get("entries-read") or 0) > 0:
                started = now
            if started is not None and group["lag"] == 0 and group["pending"] == 0:
                return started, now
        await asyncio.sleep(0.02)
    return started, None


async def run_persist(infra: Infra, messages: int, *, index: bool = False) -> dict[str, Any]:
    """The persist worker (``linli worker persist``, pinned with Redis) draining a backlog of
    ``messages`` publications from the Redis work stream into a fresh PostgreSQL schema.

    ``index``: ``linli worker search-chat`` (the chat indexer, the stream's second consumer
    group) starts at the same moment on the other CPU, as deployed beside the persist worker,
    so the persist rate is measured with indexing on; its own drain is reported too."""
    import asyncpg
    import msgpack
    import redis.asyncio as aioredis

    from channels.keys import Keys
    from channels.workqueue import PERSIST_QUEUE
    from gateway.search.events import CHAT_GROUP
    from persistence.migrate import migrate

    redis_url = await infra.redis()
    schema = f"bench_persist_{os.getpid()}_{int(time.time())}"
    admin = await asyncpg.connect(infra.pg_url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in infra.pg_url else "?"
    url = f"{infra.pg_url}{sep}search_path={schema}"
    prefix = f"bench:persist:{schema}:"
    client = aioredis.Redis.from_url(redis_url)
    worker: subprocess.Popen[bytes] | None = None
    indexer: subprocess.Popen[bytes] | None = None
    try:
        await migrate(url)
        stream = Keys(prefix).work(PERSIST_QUEUE)
        epoch = int(time.time() * 1000)
        channels = 50
        pipe = client.pipeline(transaction=False)
        for i in range(messages):
            body = msgpack.packb(
                {
                    "kind": "chat",
                    "text": f"各位街坊：今晚八點喺平台開會，討論電梯維修，請準時出席 |{i}|",
                    "author": {"id": i % 1000 + 1, "name": "陳太"},
                    "ts": epoch + i,
                    "cmid": f"b{i}",
                }
            )
            pipe.xadd(
                stream,
                {
                    "channel": f"building:{i % channels + 1}",
                    "offset": i // channels + 1,
                    "epoch": epoch,
                    "data": body,
                },
            )
            if len(pipe) >= 5000:
                await pipe.execute()
        await pipe.execute()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
        env.update(
            LINLI_DATABASE_URL=url, LINLI_REDIS_URL=redis_url, LINLI_KEY_PREFIX=prefix,
            PYTHONUNBUFFERED="1",
        )  # fmt: skip
        log = infra.tmp / "persist-worker.log"
        worker = subprocess.Popen(
            pinned("0", [sys.executable, "-m", "linli", "worker", "persist"]),
            env=env,
            cwd=infra.tmp,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        if index:
            # Started at once, like the persist worker: whichever runs first, neither group
            # loses an entry to the other's trim (``WorkQueue.expect_groups``, which the first
            # run of this pair lacked: docs/performance.md).
            index_log = infra.tmp / "search-chat-worker.log"
            indexer = subprocess.Popen(
                pinned("1", [sys.executable, "-m", "linli", "worker", "search-chat"]),
                env=env,
                cwd=infra.tmp,
                stdout=index_log.open("ab"),
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        async with profiling(worker.pid, "persist-worker"):
            started, finished = await _drained(client, stream, worker, log, deadline)
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetchval("SELECT count(*) FROM messages")
        finally:
            await conn.close()
        if started is None or finished is None:
            return {"messages": messages, "rows": rows, "error": "backlog not drained in 120 s"}
        elapsed = finished - started
        result: dict[str, Any] = {
            "messages": messages,
            "rows": rows,
            "seconds": round(elapsed, 3),
            "messages_per_s": round(messages / elapsed) if elapsed > 0 else None,
            "note": "rate counted from the worker's first read to an empty backlog (polled "
            "every 20 ms); start-up excluded",
        }
        if indexer is not None:
            # Bounded: a slow indexer is reported as not drained, not waited for.
            index_deadline = time.monotonic() + 600
            i_started, i_finished = await _drained(
                client, stream, indexer, index_log, index_deadline, CHAT_GROUP
            )
            conn = await asyncpg.connect(url)
            try:
                docs = await conn.fetchval("SELECT count(*) FROM search_docs")
            finally:
                await conn.close()
            result["indexed"] = docs
            if i_started is not None and i_finished is not None:
                took = i_finished - i_started
                result["index_seconds"] = round(took, 3)
                result["indexed_per_s"] = round(messages / took) if took > 0 else None
            else:
                result["index_error"] = "the indexer did not drain in 600 s"
        return result
    finally:
        stop_process(worker)
        stop_process(indexer)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def run_s4(
    infra: Infra, kind: ServerKind, params: dict[str, Any], rooms: int
) -> dict[str, Any]:
    """S4 on a fresh server; for Linli, then ``linli worker persist`` (outside the quota: this
    is the check, not the measurement) drains the server's work stream, and every acknowledged
    message must be in PostgreSQL exactly once (rows are unique per channel and offset, so
    "once" is: as many new rows in the S4 rooms as publishes acknowledged)."""
    import asyncpg
    import redis.asyncio as aioredis

    from channels.keys import Keys
    from channels.workqueue import PERSIST_QUEUE

    async with running(infra, kind, max(rooms, params["rooms"])) as server:
        db = server.db
        room_names = [f"building:{r + 1}" for r in range(params["rooms"])]
        before = 0
        if db is not None and not kind.embedded:
            conn = await asyncpg.connect(db.url)
            try:
                before = await conn.fetchval(
                    "SELECT count(*) FROM messages WHERE channel = ANY($1)", room_names
                )
            finally:
                await conn.close()
        res = await run_ws_scenario(server, "s4", params, 240)
        if db is None or kind.embedded or "error" in res:
            return res
        prefix = f"bench:{server.http_port}:"
        log = infra.tmp / f"s4-persist-{server.http_port}.log"
        worker = subprocess.Popen(
            pinned("0", [sys.executable, "-m", "linli", "worker", "persist"]),
            env=server.env,
            cwd=infra.tmp,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = aioredis.Redis.from_url(infra.redis_url)
        try:
            stream = Keys(prefix).work(PERSIST_QUEUE)
            t0 = time.perf_counter()
            _started, finished = await _drained(client, stream, worker, log, time.monotonic() + 60)
            conn = await asyncpg.connect(db.url)
            try:
                after = await conn.fetchval(
                    "SELECT count(*) FROM messages WHERE channel = ANY($1)", room_names
                )
            finally:
                await conn.close()
        finally:
            stop_process(worker)
            await client.aclose()
        res["persisted"] = after - before
        res["persist_drain_s"] = round(finished - t0, 2) if finished else None
        res["persisted_once"] = res["persisted"] == res.get("acked")
        return res


def votes_available() -> bool:
    """The polls feature: its live ops and its votes worker."""
    return all((ROOT / path).exists() for path in ("gateway/polls/ops.py", "workers/votes.py"))


async def run_votes(
    infra: Infra, kind: ServerKind, params: dict[str, Any], rooms: int
) -> dict[str, Any]:
    """Votes, pinned like the rest: the server (scaled: and ``linli worker votes``, as the
    Procfile runs it; embedded: its workers run inside the server) with Redis on CPU 0, and
    from the load generator on CPU 1 ``voters`` resident sockets and a watcher. The poll is made
    and opened by an organiser over HTTP; the final tally is read back over HTTP.

    ``params``: ``voters``; optionally ``changes`` (who then change their vote; default a
    tenth), ``pace`` (first ballots per second; default 0, all at once) and ``tally_rate``
    (``LINLI_POLL_TALLY_RATE``; default the server's)."""
    if not votes_available():
        return {"error": "not yet available: the polls feature has not landed"}
    db = await infra.database("sqlite" if kind.embedded else "postgres", rooms)
    await voters(db, params["voters"])
    env = {}
    if params.get("tally_rate") is not None:
        env["LINLI_POLL_TALLY_RATE"] = str(params["tally_rate"])
    worker = None if kind.embedded else "votes"
    async with running(infra, kind, rooms, worker=worker, env_extra=env) as server:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.http_port}",
            headers={"Cookie": db.organiser_cookie},
            timeout=30,
        ) as http:
            response = await http.post(
                "/api/polls",
                json={
                    "channel": "building:1",
                    "question": "大堂翻新用邊個設計？ Which lobby design?",
                    "options": ["A", "B", "C", "D"],
                },
            )
            if response.status_code != 201:
                return {"error": f"create poll: {response.status_code} {response.text[:300]}"}
            poll_id = response.json()["poll"]["id"]
            response = await http.post(f"/api/polls/{poll_id}/open", json={})
            if response.status_code != 200:
                return {"error": f"open poll: {response.status_code} {response.text[:300]}"}
            job = {
                "scenario": "votes",
                "protocol": "linli",
                "port": server.port,
                "cookies": db.voter_cookies[: params["voters"]],
                "pub_cookie": db.organiser_cookie,
                "params": {
                    "voters": params["voters"],
                    "changes": params.get("changes", params["voters"] // 10),
                    "poll_id": poll_id,
                    "pace": params.get("pace", 0.0),
                },
                "pids": server.pids,
            }
            if PROFILE_DIR is not None and shutil.which("py-spy"):
                os.makedirs(PROFILE_DIR, exist_ok=True)
                job["profile"] = str(PROFILE_DIR / f"votes-{kind.name}.txt")
            result = await loadgen(job, 240)
            response = await http.get(f"/api/polls/{poll_id}")
            tally = response.json().get("tally") if response.status_code == 200 else None
    if tally is not None:
        result["stored_counts"] = tally.get("counts")
        result["stored_voters"] = tally.get("voters")
        result["exact"] = tally.get("counts") == result.get("expected_counts") == result.get(
            "screen_counts"
        ) and tally.get("voters") == result.get("accepted") == result.get("screen_voters")
    return result


# -- the run ------------------------------------------------------------------------------------


#: Measured in the first repetition only: they are not ratios against a noisy neighbour, and
#: they take most of a repetition's time (5,000 sockets, 1,000 voters, a 300,000-row backlog).
ONCE = ("s3", "recovery", "votes", "persist")


async def run(
    mode: Mode,
    servers: list[str],
    scenarios: list[str],
    core: str = "HEAD",
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run everything; ``progress`` gets the report so far after every repetition."""
    raise_fd_limit()
    started = datetime.datetime.now(datetime.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    if core == "worktree":
        use_core(ROOT)  # the peers (bench.peers) are imported from here too
        core_desc = f"working tree of {ROOT}"
    else:
        path, commit = snapshot_core(tmp, core)
        use_core(path)
        core_desc = f"commit {commit}"
    quota = make_quota(mode.quota, f"{os.getpid()}")
    if mode.quota and not quota.applied:
        print(f"quota mode: NOT applied ({quota.reason}); figures are unquota'd", file=sys.stderr)
    global QUOTA
    QUOTA = quota
    infra = Infra(tmp, quota=quota)
    runs: list[dict[str, Any]] = []
    rooms = max(mode.s2["rooms"], mode.s3["rooms"], mode.s4["rooms"], mode.recovery["rooms"], 1)
    context = {
        "mode": mode.name,
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "started": started.isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "uptime_before": _uptime(),
        "pinning": {"server_and_redis_cpu": 0, "loadgen_cpu": 1},
        "quota": quota.describe(),
        "parameters": {k: v for k, v in mode.__dict__.items() if k != "name"},
        "measured_once": list(ONCE) if mode.repetitions > 1 else [],
        "core": core_desc,
        "servers": {name: SERVERS[name].label for name in servers},
        "versions": versions(infra),
    }
    try:
        for rep in range(mode.repetitions):
            result: dict[str, dict[str, Any]] = {}
            for name in servers:
                kind = SERVERS[name]
                wanted = [s for s in scenarios if name in SCENARIOS[s]]
                if rep > 0:
                    wanted = [s for s in wanted if s not in ONCE]
                shared = [s for s in wanted if s in SHARED]
                if shared:
                    async with running(infra, kind, rooms) as server:
                        for scenario in shared:
                            params = getattr(mode, "s1" if scenario == "s1z" else scenario)
                            res = await run_ws_scenario(server, scenario, params, 240)
                            _log(rep, scenario, name, res)
                            result.setdefault(scenario, {})[name] = res
                if "s4" in wanted:
                    res = await run_s4(infra, kind, mode.s4, rooms)
                    _log(rep, "s4", name, res)
                    result.setdefault("s4", {})[name] = res
                for scenario in ("s3", "recovery"):
                    if scenario in wanted:
                        async with running(infra, kind, rooms) as server:
                            res = await run_ws_scenario(
                                server, scenario, getattr(mode, scenario), 300
                            )
                            _log(rep, scenario, name, res)
                            result.setdefault(scenario, {})[name] = res
            if rep == 0 and "votes" in scenarios:
                for name in SCENARIOS["votes"]:
                    if name in servers:
                        res = await run_votes(infra, SERVERS[name], mode.votes, rooms)
                        _log(rep, "votes", name, res)
                        result.setdefault("votes", {})[name] = res
            if rep == 0 and "linli" in servers and "persist" in scenarios:
                res = await run_persist(infra, mode.persist["messages"])
                _log(rep, "persist", "linli", res)
                result["persist"] = {"linli": res}
            runs.append(result)
            if progress is not None:
                progress(_report(context, runs, complete=rep + 1 == mode.repetitions))
    finally:
        await infra.close()
        if os.environ.get("LINLI_BENCH_KEEP"):
            print(f"kept {tmp} (server logs)", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return _report(context, runs, complete=len(runs) == mode.repetitions)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _report(context: dict[str, Any], runs: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
    report = {
        **context,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "uptime_after": _uptime(),
        "repetitions_done": len(runs),
        "complete": complete,
        "runs": runs,
    }
    summary = summarise(runs)
    report["summary"] = summary
    report["targets"] = targets(summary, runs)
    return report


def save(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


def _log(rep: int, scenario: str, server: str, res: dict[str, Any]) -> None:
    brief = {k: v for k, v in res.items() if not isinstance(v, dict | list)}
    print(f"[run {rep + 1}] {scenario:<8} {server:<15} {json.dumps(brief)}", file=sys.stderr)


# -- medians, ratios, targets -------------------------------------------------------------------

#: Figures where the worst repetition counts, not the median.
WORST = {"lost", "gaps", "duplicates", "not_recovered", "publish_errors", "closed_during_run"}


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for scenario in {s for r in runs for s in r}:
        for server in {srv for r in runs for srv in r.get(scenario, {})}:
            results = [r[scenario][server] for r in runs if server in r.get(scenario, {})]
            merged: dict[str, Any] = {}
            for key in results[0]:
                values = [res.get(key) for res in results]
                numbers = [
                    v for v in values if isinstance(v, int | float) and not isinstance(v, bool)
                ]
                if len(numbers) == len(values):
                    merged[key] = max(numbers) if key in WORST else statistics.median(numbers)
                else:
                    merged[key] = values[0] if len(set(map(str, values))) == 1 else values
            if any("error" in res for res in results):
                merged["error"] = "; ".join(res["error"] for res in results if "error" in res)
            merged["repetitions"] = len(results)
            summary.setdefault(scenario, {})[server] = merged
    return summary


def _ratio_median(
    runs: list[dict[str, Any]],
    scenario: str,
    key: str,
    peer: str,
    *,
    diff: bool = False,
    mine: str = "linli",
) -> float | None:
    """Median over the repetitions of ``mine``'s figure divided by (or minus) ``peer``'s, each
    ratio taken within one repetition."""
    values = []
    for r in runs:
        linli = r.get(scenario, {}).get(mine, {}).get(key)
        other = r.get(scenario, {}).get(peer, {}).get(key)
        if isinstance(linli, int | float) and isinstance(other, int | float):
            if diff:
                values.append(linli - other)
            elif other:
                values.append(linli / other)
    return round(statistics.median(values), 3) if values else None


LINLI_TRANSPORTS = {"linli": "Linli"}


def targets(summary: dict[str, Any], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, figure: Any, target: str, met: bool | None) -> None:
        out.append({"target": name, "measured": figure, "goal": target, "met": met})

    for mine, who in LINLI_TRANSPORTS.items():
        s1 = summary.get("s1", {}).get(mine)
        if s1:
            for peer, goal in (("websockets", 1.0), ("starlette", 2.5), ("socketio", 6.0)):
                ratio = _ratio_median(runs, "s1", "deliveries_per_s", peer, mine=mine)
                if ratio is not None:
                    add(f"S1 {who} ÷ {peer}, deliveries/s", ratio, f">= {goal}x", ratio >= goal)
            for peer in ("websockets", "starlette", "socketio"):
                ratio = _ratio_median(runs, "s1", "deliveries_per_server_cpu_s", peer, mine=mine)
                if ratio is not None:
                    add(f"S1 {who} ÷ {peer}, per server CPU-second (information)", ratio,
                        "—", None)  # fmt: skip
            for peer, goal in (("node-ws", 1.0), ("websockets", 1.5)):
                ratio = _ratio_median(runs, "s1", "deliveries_per_s", peer, mine=mine)
                if ratio is not None:
                    add(f"S1 {who} ÷ {peer} at the quota, deliveries/s", ratio, f">= {goal}x",
                        ratio >= goal)  # fmt: skip
            add(f"S1 {who} lost", s1.get("lost"), "0", s1.get("lost") == 0)
        s2 = summary.get("s2", {}).get(mine)
        if s2:
            diff = _ratio_median(runs, "s2", "p99_ms", "websockets", diff=True, mine=mine)
            if diff is not None:
                add(f"S2 {who} p99 − websockets p99 (ms)", diff, "<= 0.3", diff <= 0.3)
            add(f"S2 {who} lost", s2.get("lost"), "0", s2.get("lost") == 0)
        s3 = summary.get("s3", {}).get(mine)
        if s3:
            ratio = _ratio_median(runs, "s3", "kb_per_connection", "websockets", mine=mine)
            if ratio is not None:
                add(f"S3 {who} KB/conn ÷ websockets", ratio, "<= 1.2x", ratio <= 1.2)
            add(f"S3 {who}: one message per room reached all",
                f"{s3.get('delivered')}/{s3.get('expected')}", "all",
                s3.get("delivered") == s3.get("expected"))  # fmt: skip
        s4 = summary.get("s4", {}).get(mine)
        if s4:
            for peer, goal in (("node-socketio", 1.0), ("websockets", 2.0)):
                ratio = _ratio_median(runs, "s4", "acked_per_s", peer, mine=mine)
                if ratio is not None:
                    add(f"S4 {who} ÷ {peer}, publishes acked/s", ratio, f">= {goal}x",
                        ratio >= goal)  # fmt: skip
            add(f"S4 {who} lost", s4.get("lost"), "0", s4.get("lost") == 0)
            add(f"S4 {who}: every acked message persisted once", s4.get("persisted_once"),
                "yes", s4.get("persisted_once") is True)  # fmt: skip
        rec = summary.get("recovery", {}).get(mine)
        if rec and "recover_s" in rec:
            add(f"Recovery {who}: time (s)", rec["recover_s"], "<= 2", rec["recover_s"] <= 2)
            clean = rec.get("gaps") == 0 and rec.get("duplicates") == 0
            clean = clean and not rec.get("not_recovered")
            figure = f"{rec.get('gaps')} / {rec.get('duplicates')}"
            add(f"Recovery {who}: gaps / duplicates", figure, "0 / 0", clean)
    for mine, who in LINLI_TRANSPORTS.items():
        votes = summary.get("votes", {}).get(mine)
        if not votes:
            continue
        if "accepted_per_s" in votes:
            rate = votes["accepted_per_s"]
            add(f"Votes {who}: accepted/s", rate, ">= 10,000", rate >= 10_000)
            p99 = votes.get("screen_p99_ms")
            add(f"Votes {who}: vote → tally on screen p99 (ms)", p99, "<= 300", p99 <= 300)
            add(f"Votes {who}: final tally = stored = ballots acked", votes.get("exact"),
                "exact", votes.get("exact") is True)  # fmt: skip
        else:
            add(f"Votes {who}", votes.get("error"), ">= 10,000 votes/s, p99 <= 300 ms", None)
    persist = summary.get("persist", {}).get("linli")
    if persist and persist.get("messages_per_s"):
        rate = persist["messages_per_s"]
        ok = rate >= 30_000 and persist.get("rows") == persist.get("messages")
        add("Persist messages/s (every row written)", rate, ">= 30,000", ok)
    return out


# -- the table ----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value)


COLUMNS: dict[str, list[tuple[str, str]]] = {
    "s1": [("deliveries/s", "deliveries_per_s"),
           ("per server CPU-s", "deliveries_per_server_cpu_s"),
           ("lost", "lost"), ("server CPU", "server_cpu"),
           ("redis CPU", "redis_cpu"), ("core 0 idle", "core0_idle"),
           ("loadgen CPU", "loadgen_cpu")],
    "s1z": [("deliveries/s", "deliveries_per_s"),
            ("per server CPU-s", "deliveries_per_server_cpu_s"), ("lost", "lost"),
            ("deflate", "deflate_negotiated"), ("server CPU", "server_cpu"),
            ("loadgen CPU", "loadgen_cpu")],
    "s2": [("p50 ms", "p50_ms"), ("p90 ms", "p90_ms"), ("p99 ms", "p99_ms"),
           ("p99.9 ms", "p999_ms"), ("max ms", "max_ms"), ("lost", "lost"),
           ("server CPU", "server_cpu"), ("redis CPU", "redis_cpu"),
           ("per server CPU-s", "deliveries_per_server_cpu_s")],
    "s3": [("KB/conn", "kb_per_connection"), ("connect s", "connect_s"),
           ("conn per server CPU-s", "connections_per_server_cpu_s"),
           ("RSS before→after MB", None), ("delivered", "delivered")],  # type: ignore[list-item]
    "s4": [("acked/s", "acked_per_s"), ("per server CPU-s", "acked_per_server_cpu_s"),
           ("per server+redis CPU-s", "acked_per_tree_cpu_s"), ("lost", "lost"),
           ("refused", "refused"), ("persisted once", "persisted_once"),
           ("server CPU", "server_cpu"), ("redis CPU", "redis_cpu"),
           ("loadgen CPU", "loadgen_cpu")],
    "recovery": [("recover s", "recover_s"), ("recovered", "publications_recovered"),
                 ("gaps", "gaps"), ("dups", "duplicates")],
    "persist": [("messages/s", "messages_per_s"), ("rows", "rows"), ("seconds", "seconds")],
    "votes": [("accepted/s", "accepted_per_s"), ("ack p99 ms", "ack_p99_ms"),
              ("screen p50 ms", "screen_p50_ms"), ("screen p99 ms", "screen_p99_ms"),
              ("accepted", "accepted"), ("changed", "changed"), ("exact tally", "exact"),
              ("server CPU", "server_cpu")],
}  # fmt: skip
TITLES = {
    "s1": "S1 fan-out, 1 room (no compression offered)",
    "s1z": "S1 fan-out with permessage-deflate offered",
    "s2": "S2 latency, 50 rooms, 500 msg/s",
    "s3": "S3 memory, idle connections",
    "s4": "S4 publish throughput, 2,000 connections in 400 rooms of 5, all publishing",
    "recovery": "Recovery with since",
    "persist": "Persist worker into PostgreSQL",
    "votes": "Votes: every voter votes at once, a tenth then change their vote",
}
ORDER = ["s1", "s1z", "s2", "s3", "s4", "votes", "persist", "recovery"]


#: The figure the "linli ÷ this" column divides.
RATIO_METRIC = {"s3": "kb_per_connection", "s4": "acked_per_s"}


def table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    quota = report.get("quota")
    if quota:
        if quota.get("applied"):
            lines.append(
                f"Quota: server + Redis capped at {quota['cores']} core ({quota['limit']})."
            )
        elif quota.get("cores"):
            lines.append(f"Quota: **not applied** ({quota.get('reason')}).")
    load = report.get("load_average_before"), report.get("load_average_after")
    if all(load):
        lines.append(f"Load average before / after: {load[0]} / {load[1]}.")
    summary = report["summary"]
    for scenario in ORDER:
        if scenario not in summary:
            continue
        cols = COLUMNS[scenario]
        lines.append(f"\n### {TITLES[scenario]}\n")
        ratio_col = scenario in ("s1", "s1z", "s3", "s4")
        header = ["server", *[c[0] for c in cols]]
        if ratio_col:
            header += ["linli ÷ this"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        order = list(SERVERS)
        for server, res in sorted(summary[scenario].items(), key=lambda kv: order.index(kv[0])):
            row = [server]
            for _title, key in cols:
                if key is None:
                    row.append(f"{_fmt(res.get('rss_before_mb'))}→{_fmt(res.get('rss_after_mb'))}")
                else:
                    row.append(_fmt(res.get(key)))
            if ratio_col:
                metric = RATIO_METRIC.get(scenario, "deliveries_per_s")
                for mine in LINLI_TRANSPORTS:
                    r = _ratio_median(report["runs"], scenario, metric, server, mine=mine)
                    row.append("—" if server == mine or r is None else f"{r:.2f}×")
            if "error" in res:
                row[-1] += f" (error: {str(res['error'])[:80]})"
            lines.append("| " + " | ".join(row) + " |")
    if report.get("targets"):
        lines.append("\n### Targets\n")
        lines.append("| target | measured | goal | met |")
        lines.append("|---|---|---|---|")
        for t in report["targets"]:
            met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
            lines.append(f"| {t['target']} | {_fmt(t['measured'])} | {t['goal']} | {met} |")
    return "\n".join(lines)
