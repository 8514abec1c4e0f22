"""What one idle Linli installation costs when many share one Redis Cluster and one PostgreSQL
(``docs/capacity.md``): processes, RSS, CPU, Redis keys and memory, connections.

    python -m bench.idle_installations [--count 3] [--idle 20]

Starts a local 3-master, 3-replica cluster (``bench/redis_cluster``), then ``count``
installations, each ``linli serve`` in the scaled mode with its workers as tasks
(``LINLI_RUN_WORKERS=true``, one process) under its own key prefix and PostgreSQL schema, plus
one ``linli worker persist`` process of the first installation (what each Procfile line costs).
After ``idle`` seconds of nobody connecting it prints one JSON object per installation and the
totals. Everything it starts is stopped and its schemas dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.redis_cluster import LocalCluster

PG_URL = os.environ.get("LINLI_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def remote_ports(pid: int) -> list[int]:
    """Remote ports of the process's established TCP connections (IPv4, from /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "01" and parts[9] in inodes:  # ESTABLISHED
            ports.append(int(parts[2].split(":")[1], 16))
    return ports


def wait_healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"installation on port {port} not healthy after {timeout}s")
        time.sleep(0.5)


async def redis_usage(url: str, prefix: str) -> dict[str, int]:
    client = aioredis.RedisCluster.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        memory = 0
        for key in keys:
            memory += int(await client.memory_usage(key) or 0)
        return {"redis_keys": len(keys), "redis_key_bytes": memory}
    finally:
        await client.aclose()


async def main(count: int, idle: float) -> dict[str, Any]:
    cluster = LocalCluster().start()
    redis_ports = set(cluster.ports)
    tmp = Path(tempfile.mkdtemp(prefix="linli-idle-"))
    admin = await asyncpg.connect(PG_URL)
    schemas: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    installs: list[dict[str, Any]] = []
    try:
        for i in range(count):
            schema = f"idle_{os.getpid()}_{i}"
            await admin.execute(f'CREATE SCHEMA "{schema}"')
            schemas.append(schema)
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
            env.update(
                LINLI_DATABASE_URL=f"{PG_URL}?search_path={schema}",
                LINLI_REDIS_URL=cluster.url,
                LINLI_REDIS_CLUSTER="true",
                LINLI_KEY_PREFIX=f"inst{i}:",
                LINLI_RUN_WORKERS="true",
                LINLI_PORT=str(port),
                LINLI_WS_PORT=str(free_port()),
                LINLI_BLOB_DIR=str(tmp / f"blobs{i}"),
                PYTHONUNBUFFERED="1",
            )
            subprocess.run([sys.executable, "-m", "linli", "migrate"], env=env, check=True)
            log = (tmp / f"inst{i}.log").open("ab")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "linli", "serve", "--workers", "1"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                )
            )
            log.close()
            installs.append({"prefix": f"inst{i}:", "schema": schema, "port": port})
            if i == 0:
                worker_env = dict(env, LINLI_RUN_WORKERS="false")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "linli", "worker", "persist"],
                        env=worker_env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        cwd=tmp,
                    )
                )
        for inst in installs:
            wait_healthy(inst["port"], 120)
        time.sleep(5)  # start-up work (migrations checked, groups created) settles
        before = {p.pid: sum(cpu_s(q) for q in tree(p.pid)) for p in procs}
        time.sleep(idle)
        rows = []
        gateways = [p for p in procs if p.args[-1] != "persist"]  # type: ignore[index]
        for inst, proc in zip(installs, gateways, strict=True):
            pids = tree(proc.pid)
            ports = [port for pid in pids for port in remote_ports(pid)]
            row = {
                **inst,
                "processes": len(pids),
                "rss_mb": round(sum(rss_kb(pid) for pid in pids) / 1024, 1),
                "idle_cpu_pct": round(
                    100 * (sum(cpu_s(q) for q in pids) - before[proc.pid]) / idle, 2
                ),
                "redis_connections": sum(1 for port in ports if port in redis_ports),
                "postgres_connections": sum(1 for port in ports if port == 5432),
                **await redis_usage(cluster.url, inst["prefix"]),
            }
            rows.append(row)
            print(json.dumps(row))
        worker = procs[1]
        wpids = tree(worker.pid)
        wports = [port for pid in wpids for port in remote_ports(pid)]
        worker_row = {
            "worker": "persist (one Procfile line)",
            "rss_mb": round(sum(rss_kb(pid) for pid in wpids) / 1024, 1),
            "idle_cpu_pct": round(
                100 * (sum(cpu_s(q) for q in wpids) - before[worker.pid]) / idle, 2
            ),
            "redis_connections": sum(1 for port in wports if port in redis_ports),
            "postgres_connections": sum(1 for port in wports if port == 5432),
        }
        print(json.dumps(worker_row))
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        summary = {"installations": rows, "worker": worker_row, "loadavg": load}
        return summary
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for schema in schemas:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.count, args.idle)), indent=1))
