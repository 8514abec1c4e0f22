"""What chat notifications cost, for ``docs/design/0015-chat-notifications.md``.

* ``redis``: Redis's own time per publication (its one thread is what every gateway's publish
  waits on) for the writes of ``channels/lua/publish.lua`` — counter, hot history, persist
  stream, pub/sub — and for the same plus one more stream append (what a separate
  ``chat-notify`` queue filled by the publish would add). Measured inside Redis: a Lua loop of
  ``--messages`` publications timed with ``TIME``, so no client or network time is counted.
* ``worker``: the chat-notify worker's time per message (``workers/chat_notify.py``,
  ``handle``) on SQLite and PostgreSQL, for the common message (no ``@``, nobody follows the
  room), one with a mention, and one in a followed room; in batches of 1 (a quiet room: each
  message alone) and 500 (a busy one). In the embedded mode this runs on the gateway's event
  loop, so it is the figure to compare with the gateway's own time per message.

Reproduce (from the repository root, with the venv active; Redis and PostgreSQL on 127.0.0.1)::

    python -m bench.chat_notify redis
    python -m bench.chat_notify worker
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack

from channels.workqueue import WorkItem
from channels.workqueue_memory import MemoryWorkQueue
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.notifications import RoomMode
from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role
from workers.chat_notify import ChatNotifyWorker

REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"

# KEYS: meta, history, persist stream, extra stream. ARGV: data, count, extra (0/1), pub/sub
# channel. The writes of publish.lua, ``count`` times, and the microseconds they took.
_LOOP = """
local t0 = redis.call('TIME')
for i = 1, tonumber(ARGV[2]) do
  local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
  local offset_s = string.format('%d', offset)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, offset_s .. '-1', 'e', '1', 'd', ARGV[1])
  redis.call('XADD', KEYS[3], '*', 'channel', 'building:1', 'offset', offset_s, 'epoch', '1',
             'data', ARGV[1])
  if ARGV[3] == '1' then
    redis.call('XADD', KEYS[4], '*', 'channel', 'building:1', 'offset', offset_s, 'epoch', '1',
               'data', ARGV[1])
  end
  redis.call('PUBLISH', ARGV[4], 'P' .. offset_s .. ' 1 ' .. ARGV[1])
end
local t1 = redis.call('TIME')
return (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])
"""
# KEYS: the persist stream (filled by _LOOP). ARGV: group, batch size. What one more consumer
# group costs Redis: reading every entry in batches and acking them, in microseconds.
_GROUP = """
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
local t0 = redis.call('TIME')
local read = 0
while true do
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], 'c1', 'COUNT', ARGV[2],
                           'STREAMS', KEYS[1], '>')
  if not reply then break end
  local entries = reply[1][2]
  if #entries == 0 then break end
  local ids = {}
  for i, entry in ipairs(entries) do ids[i] = entry[1] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  read = read + #entries
end
local t1 = redis.call('TIME')
return {read, (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])}
"""


def _body(text: str, author: int = 1) -> bytes:
    data: bytes = msgpack.packb(
        {
            "kind": "chat",
            "text": text,
            "author": {"id": author, "name": "Ann"},
            "ts": int(time.time() * 1000),
            "cmid": uuid.uuid4().hex,
        }
    )
    return data


async def measure_redis(args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(args.redis_url)
    prefix = f"linlibench:{uuid.uuid4().hex[:8]}:"
    keys = [f"{prefix}{name}" for name in ("meta", "history", "persist", "extra")]
    data = _body("今晚八點大堂開會，記得帶單據。")
    results: dict[str, list[float]] = {
        "publish": [],
        "publish + 1 append": [],
        "a second group reading (batches of 1)": [],
        "a second group reading (batches of 500)": [],
    }
    try:
        script = client.register_script(_LOOP)
        group = client.register_script(_GROUP)
        for _ in range(args.runs):
            for label, extra in (("publish", 0), ("publish + 1 append", 1)):
                micros = await script(
                    keys=keys, args=[data, args.messages, extra, f"{prefix}pubsub"]
                )
                results[label].append(int(micros) / args.messages)
                if not extra:
                    # The persist stream as the publishes left it, read by one more group.
                    for batch in (1, 500):
                        read, taken = await group(keys=[keys[2]], args=[f"g{batch}", batch])
                        results[f"a second group reading (batches of {batch})"].append(
                            int(taken) / int(read)
                        )
                # Fresh streams for each run, so both variants append to streams of one size.
                await client.delete(*keys[2:])
    finally:
        await client.delete(*keys)
        await client.aclose()
    medians = {label: statistics.median(values) for label, values in results.items()}
    return {
        "messages per run": args.messages,
        "runs": args.runs,
        "µs per publication (median)": {k: round(v, 2) for k, v in medians.items()},
        "extra append": f"{medians['publish + 1 append'] / medians['publish'] - 1:+.0%}",
    }


async def _worker_case(
    worker: ChatNotifyWorker, channel: str, texts: list[str], batch: int
) -> float:
    """Microseconds of ``handle`` per message."""
    items = [
        WorkItem(f"{i}-0", channel, i + 1, 1, _body(text, author=1), 1)
        for i, text in enumerate(texts)
    ]
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        await worker.handle(items[start : start + batch])
    return (time.perf_counter() - started) * 1e6 / len(items)


async def measure_worker(args: argparse.Namespace, url: str) -> dict[str, Any]:
    await migrate(url)
    core = await open_store(url)
    try:
        now = int(time.time() * 1000)
        building = await core.create_building("A座", now=now)
        quiet_room = await core.create_building("B座", now=now)
        names = [f"住戶{i}" for i in range(args.members - 1)] + ["陳太"]
        ids = []
        for i, name in enumerate(names):
            user = await core.create_user(
                username=f"u{i}",
                display_name=name,
                password_hash="-",
                role=Role.RESIDENT,
                building_id=building.id,
                unit_label=f"{i}F",
                now=now,
            )
            ids.append(user.id)
        store = SqlNotificationStore(core.database)
        for user_id in ids[:5]:
            await store.set_room(user_id, f"building:{building.id}", RoomMode.FOLLOW)
        worker = ChatNotifyWorker(MemoryWorkQueue(), core, store)
        plain = ["今晚八點大堂開會，記得帶單據。"] * args.messages
        mention = ["今晚八點大堂開會，@陳太記得帶單據。"] * args.messages
        results: dict[str, float] = {}
        for batch in (1, 500):
            cases = (
                ("plain", f"building:{quiet_room.id}", plain),
                ("mention", f"building:{quiet_room.id}", mention),
                ("followed", f"building:{building.id}", plain),
            )
            for label, channel, texts in cases:
                await _worker_case(worker, channel, texts[:50], batch)  # warm the caches
                runs = [await _worker_case(worker, channel, texts, batch) for _ in range(args.runs)]
                results[f"{label}, batch {batch}"] = round(statistics.median(runs), 1)
        return {"µs per message (median)": results, "members": args.members}
    finally:
        await core.close()


async def _postgres_schema(url: str) -> tuple[str, str]:
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}search_path={schema}", schema


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> None:
    if args.what == "redis":
        print(await measure_redis(args))
        return
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        print("sqlite", await measure_worker(args, f"sqlite:///{Path(tmp)}/linli.sqlite3"))
    url, schema = await _postgres_schema(args.database_url)
    try:
        print("postgres", await measure_worker(args, url))
    finally:
        await _drop_schema(args.database_url, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["redis", "worker"])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--database-url", default=DATABASE_URL)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
