"""What each way of making an ack survive a Redis loss costs a publish (design 0033).

On a redis-server this script starts itself (a free port, its own directory, never the shared
one), ``--count`` publishes of a ~150-byte chat body through the real ``RedisBroker``, one at a
time (the latency an author waits) and ``--concurrency`` at once (the throughput), for:

* ``redis``: today's ack (Redis without disk writes);
* ``redis+log``: the same plus ``AckedLog.add`` (the design chosen: the gateway keeps a copy),
  interleaved with ``redis`` block by block so that the machine's load falls on both alike;
* ``aof-always``: Redis with ``appendonly yes``, ``appendfsync always`` (an fsync before the ack);
* ``pg-first``: an INSERT committed in PostgreSQL before the publish (write-ahead to the
  database), when ``--database-url`` is given (a schema of its own, dropped afterwards).

    python -m bench.acked_publish --count 2000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import msgpack
import redis.asyncio as aioredis

from channels.broker_redis import RedisBroker
from gateway.acked import AckedLog
from linli.types import ChannelName
from persistence.factory import open_store
from persistence.migrate import migrate

ROOM = ChannelName("building:1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _redis_server(*extra: str) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as directory:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                directory,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("redis-server did not start") from None
                    time.sleep(0.05)
            yield port
        finally:
            proc.kill()
            proc.wait(5)


def _body(i: int) -> bytes:
    text = "今晚七點大堂有住戶大會，請各位準時出席。" + str(i)
    return msgpack.packb(  # type: ignore[no-any-return]
        {"kind": "chat", "text": text, "author": {"id": 7, "name": "陳太"}, "ts": i, "cmid": str(i)}
    )


async def _measure(
    publish: Callable[[int], Awaitable[None]], count: int, concurrency: int
) -> tuple[float, float, float]:
    """(median µs and p99 µs of one publish at a time, publishes per second at ``concurrency``)."""
    for i in range(50):  # warm up: scripts loaded, connections open
        await publish(-1 - i)
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        await publish(i)
        latencies.append((time.perf_counter() - started) * 1e6)
    started = time.perf_counter()
    for start in range(0, count, concurrency):
        await asyncio.gather(*[publish(count + i) for i in range(start, start + concurrency)])
    rate = count / (time.perf_counter() - started)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99)], rate


async def _paired(port: int, count: int, concurrency: int) -> list[tuple[str, float, float, float]]:
    """``redis`` and ``redis+log`` interleaved block by block (100 publishes each), so that the
    machine's load drifting during the run falls on both alike."""
    redis = aioredis.Redis(port=port)

    async def seed(channel: ChannelName) -> int:
        return 0

    plain_broker = RedisBroker(redis, seed, prefix=f"bench:{uuid.uuid4().hex[:8]}:")
    log_broker = RedisBroker(redis, seed, prefix=f"bench:{uuid.uuid4().hex[:8]}:")
    log = AckedLog(log_broker, None, max_bytes=64 << 20)  # type: ignore[arg-type]

    async def plain(i: int) -> None:
        await plain_broker.publish(ROOM, _body(i), idempotency_key=f"7:{i}")

    async def logged(i: int) -> None:
        data = _body(i)
        key = f"7:{i}"
        log.add(ROOM, key, str(i), data, await log_broker.publish(ROOM, data, idempotency_key=key))

    variants = {"redis": plain, "redis+log": logged}
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    seconds: dict[str, float] = dict.fromkeys(variants, 0.0)
    try:
        for publish in variants.values():
            for i in range(50):
                await publish(-1 - i)
        block = 100
        for start in range(0, count, block):
            for name, publish in variants.items():
                for i in range(start, start + block):
                    began = time.perf_counter()
                    await publish(i)
                    latencies[name].append((time.perf_counter() - began) * 1e6)
        for start in range(0, count, concurrency):
            for name, publish in variants.items():
                began = time.perf_counter()
                await asyncio.gather(
                    *[publish(count + i) for i in range(start, start + concurrency)]
                )
                seconds[name] += time.perf_counter() - began
    finally:
        await plain_broker.close()
        await log_broker.close()
        await redis.aclose()
    rows = []
    for name in variants:
        values = sorted(latencies[name])
        rows.append(
            (
                name,
                statistics.median(values),
                values[int(len(values) * 0.99)],
                count / seconds[name],
            )
        )
    return rows


async def _variant(
    name: str, port: int, count: int, concurrency: int, database_url: str | None
) -> tuple[str, float, float, float]:
    redis = aioredis.Redis(port=port)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"

    async def seed(channel: ChannelName) -> int:
        return 0

    broker = RedisBroker(redis, seed, prefix=prefix)
    try:
        if name == "pg-first":
            assert database_url is not None
            schema = f"bench_acked_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect(database_url)
            await admin.execute(f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in database_url else "?"
            url = f"{database_url}{sep}search_path={schema}"
            try:
                await migrate(url)
                store = await open_store(url)
                db = store.database
                try:

                    async def publish(i: int) -> None:
                        data = _body(i)
                        # The write-ahead: one committed row per message before it is published.
                        await db.execute(
                            'INSERT INTO messages (channel, "offset", epoch, data, author_id, '
                            "created_at, client_msg_id) VALUES ($1, $2, 0, $3, 7, 0, $4)",
                            ROOM,
                            i + 1_000_000,
                            data,
                            str(i),
                        )
                        await broker.publish(ROOM, data, idempotency_key=f"7:{i}")

                    return (name, *await _measure(publish, count, concurrency))
                finally:
                    await store.close()
            finally:
                await admin.execute(f"DROP SCHEMA {schema} CASCADE")
                await admin.close()

        async def plain(i: int) -> None:
            await broker.publish(ROOM, _body(i), idempotency_key=f"7:{i}")

        return (name, *await _measure(plain, count, concurrency))
    finally:
        await broker.close()
        await redis.aclose()


async def main(count: int, concurrency: int, database_url: str | None) -> None:
    rows = []
    with _redis_server("--appendonly", "no") as port:
        rows.extend(await _paired(port, count, concurrency))
        if database_url:
            rows.append(await _variant("pg-first", port, count, concurrency, database_url))
    with _redis_server("--appendonly", "yes", "--appendfsync", "always") as port:
        rows.append(await _variant("aof-always", port, count, concurrency, None))
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"{count} publishes, {concurrency} at once; load average {' '.join(load)}")
    print(f"{'variant':<12} {'median µs':>10} {'p99 µs':>10} {'publishes/s':>12}")
    for name, median, p99, rate in rows:
        print(f"{name:<12} {median:>10.0f} {p99:>10.0f} {rate:>12.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--database-url", default=os.environ.get("LINLI_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    asyncio.run(main(min(args.count, 20_000), args.concurrency, args.database_url))
