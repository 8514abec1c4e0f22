"""The recovery table on both brokers (embedded: the in-process ring and SQLite; scaled: Redis
and PostgreSQL): a resubscription with ``since`` on a real gateway, for each kind of position a
client can come back with. The hub's memory is out of the way (the recovering connection is the
channel's first subscriber on the gateway), so each row goes through the broker's hot history
and the store, the path a reconnect after a gateway restart takes.

| since | the broker | reply |
|---|---|---|
| a position in the hot history | — | recovered: every offset above it |
| the channel's last offset | — | recovered: nothing to apply |
| above the last offset (not yet existing) | — | not recovered: reload |
| another epoch (older or newer) | — | not recovered: reload |
| already gone | trimmed from the hot history, not persisted | not recovered |
| gone, persisted | trimmed, the worker has stored it | from the store |
| expired, persisted | stream's TTL passed (Redis), ring cleared (memory) | from the store |
| expired, not persisted | the same, the worker behind | not recovered |

``tests/e2e/test_recovery.py`` covers the hub's side (its memory, shared reads, gaps it filled,
an epoch change emptying it, ``recovery_max``).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import pytest
import redis.asyncio as aioredis

from channels.keys import Keys
from gateway.wire import Format
from linli.types import ChannelName
from tests.e2e.harness import Deployment
from tests.e2e.test_recovery import RESIDENT, ROOM, Env, decode, gateway_env, subscribe
from workers.persist import PersistWorker

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Row:
    name: str
    published: int  # publications before the client comes back
    since: int
    epoch_delta: int = 0
    history_size: int = 1000
    persisted: bool = False
    expire_hot_history: bool = False  # Redis: the stream key gone as its TTL does it
    recovered: bool = True


TABLE = [
    Row("from a position", 20, since=12),
    Row("from the start", 20, since=0),
    Row("same position", 20, since=20),
    Row("not yet existing", 20, since=25, recovered=False),
    Row("wrong epoch, older", 20, since=12, epoch_delta=-1, recovered=False),
    Row("wrong epoch, newer", 20, since=12, epoch_delta=+1, recovered=False),
    # Redis trims approximately (whole stream nodes of 100 entries): 250 publications with a
    # size of 10 leave the first ones out for certain.
    Row("already gone", 250, since=5, history_size=10, recovered=False),
    Row("gone from the hot history, persisted", 250, since=5, history_size=10, persisted=True),
    Row("expired, persisted", 20, since=5, expire_hot_history=True, persisted=True),
    Row("expired, not persisted", 20, since=5, expire_hot_history=True, recovered=False),
]


async def publish(env: Env, count: int) -> int:
    for i in range(count):
        body = msgpack.packb({"kind": "chat", "text": f"m{i}", "cmid": f"c{i}"})
        await env.runtime.broker.publish(ROOM, body)
    return (await env.runtime.broker.position(ROOM)).epoch


async def expire(deployment: Deployment, env: Env, channel: ChannelName) -> None:
    if deployment.redis_url is None:
        # The in-process ring has no TTL: it lives as long as the process, whose end changes
        # the epoch (the "wrong epoch" rows). Trim it instead, as a long silence cannot.
        ring = env.runtime.broker._channels[channel].history  # type: ignore[attr-defined]
        ring.clear()
        return
    client = aioredis.Redis.from_url(deployment.redis_url)
    try:
        assert await client.delete(Keys(deployment.key_prefix).history(channel)) == 1
    finally:
        await client.aclose()


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
async def test_recovery_table(deployment: Deployment, row: Row) -> None:
    async with gateway_env(deployment, history_size=row.history_size) as env:
        epoch = await publish(env, row.published)
        if row.persisted:
            await PersistWorker(env.runtime.work_queue, env.runtime.store).run_until_idle()
            assert await env.runtime.store.count_messages(ROOM) == row.published
        if row.expire_hot_history:
            await expire(deployment, env, ROOM)
        hot = await env.runtime.broker.history(ROOM, after=0, limit=1)
        if row.history_size < row.published:
            assert hot.first_retained > row.since + 1, "the row needs the range trimmed"
        conn = env.gateway.open(RESIDENT, Format.JSON)
        reply = decode(conn, await subscribe(env, conn, (row.since, epoch + row.epoch_delta)))
        ok = reply["ok"]
        # Whatever the row, the reply states the channel's true position.
        assert (ok["epoch"], ok["offset"]) == (epoch, row.published)
        assert ok["recovered"] is row.recovered
        offsets = [p["offset"] for p in ok["publications"]]
        if row.recovered:
            assert offsets == list(range(row.since + 1, row.published + 1))
            texts = [p["data"]["text"] for p in ok["publications"]]
            assert texts == [f"m{i - 1}" for i in offsets]
        else:
            assert offsets == []
