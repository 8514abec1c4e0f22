"""CPU per durable publish in the broker, one Redis against a Redis Cluster (``docs/capacity.md``).

    python -m bench.publish_cost [--publishes 5000] [--channels 100] [--window 50]

Runs ``RedisBroker.publish`` with ``window`` publishes in flight over ``channels`` channels,
against a private ``redis-server`` and a local 3+3 cluster (``bench/redis_cluster``) with
``wait_replicas`` 0 and 1. Reports publishes/s, this process's CPU per publish (the gateway's
share: batching, the client, the pipeline) and the Redis masters' CPU per publish (the script,
replication), from ``INFO cpu``. The gateway's own per-publish work (decode, checks, the ack)
is not in it: ``python -m bench run`` S4 measures the whole path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from typing import Any

import redis.asyncio as aioredis

from bench.redis_cluster import LocalCluster, free_ports
from channels.broker_redis import RedisBroker
from channels.keys import ClusterKeys, Keys
from linli.types import ChannelName


class _Quiet:
    def on_publication(self, publication: Any) -> None:
        pass

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        pass

    def on_reconnect(self) -> None:
        pass


async def no_seed(channel: ChannelName) -> int:
    return 0


async def redis_cpu(ports: list[int]) -> float:
    total = 0.0
    for port in ports:
        client = aioredis.Redis(port=port)
        try:
            info = await client.info("cpu")
            total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        finally:
            await client.aclose()
    return total


async def run(
    client: aioredis.Redis | aioredis.RedisCluster,
    keys: Keys,
    ports: list[int],
    *,
    publishes: int,
    channels: int,
    window: int,
    wait_replicas: int,
) -> dict[str, float]:
    broker = RedisBroker(client, no_seed, keys=keys, wait_replicas=wait_replicas)
    await broker.start(_Quiet())
    names = [ChannelName(f"building:{i}") for i in range(channels)]
    body = "各位街坊：今晚八點喺平台開會，討論電梯維修，請準時出席".encode() * 2
    for ch in names:  # seeded outside the measurement
        await broker.publish(ch, body)
    sem = asyncio.Semaphore(window)

    async def one(i: int) -> None:
        async with sem:
            await broker.publish(names[i % channels], body, idempotency_key=f"k{i}")

    redis_before = await redis_cpu(ports)
    cpu_before, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(publishes)))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu_before
    redis = await redis_cpu(ports) - redis_before
    await broker.close()
    return {
        "publishes_per_s": round(publishes / wall),
        "client_cpu_us_per_publish": round(cpu / publishes * 1e6, 1),
        "redis_cpu_us_per_publish": round(redis / publishes * 1e6, 1),
    }


async def main(publishes: int, channels: int, window: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    directory = tempfile.mkdtemp(prefix="linli-pc-")
    (port,) = free_ports(1)
    single = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    cluster = LocalCluster().start()
    try:
        await asyncio.sleep(0.5)
        client = aioredis.Redis(port=port)
        results["single"] = await run(
            client, Keys("pc:"), [port], publishes=publishes, channels=channels,
            window=window, wait_replicas=0,
        )  # fmt: skip
        await client.aclose()
        masters = cluster.masters_of(cluster.ports[0])
        for wait in (0, 1):
            rc = aioredis.RedisCluster.from_url(cluster.url)
            results[f"cluster_wait{wait}"] = await run(
                rc, ClusterKeys(f"pc{wait}:"), masters, publishes=publishes,
                channels=channels, window=window, wait_replicas=wait,
            )  # fmt: skip
            await rc.aclose()
    finally:
        single.terminate()
        single.wait(timeout=10)
        cluster.stop()
    with open("/proc/loadavg") as f:
        results["loadavg"] = f.read().split()[:3]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--window", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.publishes, args.channels, args.window)), indent=1))
