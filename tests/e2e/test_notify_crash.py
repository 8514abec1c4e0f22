"""The notify worker killed mid-batch (scaled mode: a real ``linli worker notify`` process, Redis,
PostgreSQL): every recipient of an urgent notice gets exactly one inbox row and exactly one
delivery per device and e-mail address — none twice, none missing — once another worker has
taken over the request.

To land the kill mid-write every time, the test holds an uncommitted inbox row of its own for a
recipient in the fourth chunk of 500: the worker commits three chunks (rows and deliveries
together), then its fourth INSERT waits for the test's transaction. The test sees 1,500 rows,
sees the worker's statement waiting on it, and kills the worker there (SIGKILL), then rolls its
own row back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast

import asyncpg
import redis.asyncio as aioredis

from channels.workqueue_redis import RedisWorkQueue
from linli.feature import Services
from persistence.notifications import Kind
from tests.conftest import wait_until
from tests.e2e.harness import Deployment, Worker
from web.notifications.actions import notify
from workers.notify import RECIPIENTS_PER_WRITE

RECIPIENTS = 3000
KEY = "notice:water-cut"


@dataclass
class _Queue:
    """What ``notify()`` uses of ``Services``: the work queue."""

    work_queue: RedisWorkQueue


async def _make_audience(conn: asyncpg.Connection, building_id: int) -> None:
    """3,000 residents in one INSERT; a device each, a second one for every third, and an
    e-mail address for every fifth."""
    now = int(time.time() * 1000)
    await conn.execute(
        "INSERT INTO users (username, username_lower, display_name, role, building_id, "
        "password_hash, created_at) SELECT 'r' || g, 'r' || g, 'Resident ' || g, 'resident', "
        "$1, '-', $2 FROM generate_series(1, $3) AS g",
        building_id,
        now,
        RECIPIENTS,
    )
    await conn.execute(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, label, created_at) "
        "SELECT id, 'https://push.invalid/' || id || '/' || d, 'k', 'a', 'phone', $1 "
        "FROM users, generate_series(1, 2) AS d WHERE d = 1 OR id % 3 = 0",
        now,
    )
    await conn.execute(
        "INSERT INTO notify_settings (user_id, quiet_start, quiet_end, email, digest, "
        "unsubscribe_token) SELECT id, 1320, 420, 'r' || id || '@example.org', 'daily', "
        "'t' || id FROM users WHERE id % 5 = 0"
    )


async def test_worker_killed_mid_batch_notifies_everyone_exactly_once(
    scaled: Deployment,
) -> None:
    # E-mail deliveries are written only where e-mail is configured; the deliver worker that
    # would send them does not run here.
    scaled.extra_env["LINLI_SMTP_HOST"] = "127.0.0.1"
    store = await scaled.store()  # migrates
    try:
        building = await store.create_building("Tower", now=int(time.time() * 1000))
    finally:
        await store.close()
    conn = await asyncpg.connect(scaled.database_url)
    blocker = await asyncpg.connect(scaled.database_url)
    redis = aioredis.Redis.from_url(cast(str, scaled.redis_url))
    first = Worker(scaled, "notify")
    second = Worker(scaled, "notify")
    try:
        await _make_audience(conn, building.id)
        users = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
        # Every device and address, worked out from what was inserted.
        expected = {
            (r["user_id"], f"push:{r['id']}")
            for r in await conn.fetch("SELECT id, user_id FROM push_subscriptions")
        } | {
            (r["user_id"], f"email:{r['email']}")
            for r in await conn.fetch("SELECT user_id, email FROM notify_settings")
        }
        assert len(expected) == RECIPIENTS + RECIPIENTS // 3 + RECIPIENTS // 5

        # The test's own row for a recipient of the fourth chunk, not committed.
        held = users[3 * RECIPIENTS_PER_WRITE + 200]
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "INSERT INTO notifications (user_id, source_key, kind, urgent, text_zh, text_en, "
            "link, created_at) VALUES ($1, $2, 'notice', 1, '', '', '', 0)",
            held,
            KEY,
        )
        blocker_pid = await blocker.fetchval("SELECT pg_backend_pid()")

        first.start()
        queued = await notify(
            cast(Services, _Queue(RedisWorkQueue(redis, prefix=scaled.key_prefix))),
            key=KEY,
            kind=Kind.NOTICE,
            text_zh="明日停水",
            text_en="Water off tomorrow",
            link="/notices/1",
            buildings=[building.id],
            urgent=True,
        )
        assert queued

        async def count(table: str) -> int:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))

        async def waiting_on_the_test() -> bool:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                blocker_pid,
            )
            return int(waiting) > 0 and await count("notifications") == 3 * RECIPIENTS_PER_WRITE

        await wait_until(waiting_on_the_test, timeout=60, interval=0.05)
        # Mid-batch: three chunks are in, with all their deliveries; the worker is writing.
        assert 0 < await count("notifications") < RECIPIENTS
        committed = {
            (r["user_id"], r["target"])
            for r in await conn.fetch(
                "SELECT n.user_id, d.target FROM notifications n "
                "JOIN notify_deliveries d ON d.notification_id = n.id"
            )
        }
        written = set(users[: 3 * RECIPIENTS_PER_WRITE])
        assert committed == {(u, t) for u, t in expected if u in written}
        assert first.proc is not None
        first.kill()
        assert first.proc.returncode == -9
        await transaction.rollback()

        # Another worker takes the request over (once it has been pending 15 s) and finishes.
        second.start()

        async def finished() -> bool:
            return await count("notifications") == RECIPIENTS and await count(
                "notify_deliveries"
            ) == len(expected)

        await wait_until(finished, timeout=90, interval=0.2)
        await asyncio.sleep(1.0)  # nothing more is coming: no duplicate can slip in late
        rows = await conn.fetch(
            "SELECT user_id, count(*) AS n FROM notifications WHERE source_key = $1 "
            "GROUP BY user_id",
            KEY,
        )
        assert sorted(r["user_id"] for r in rows) == users
        assert {r["n"] for r in rows} == {1}
        deliveries = await conn.fetch(
            "SELECT n.user_id, d.target, d.state FROM notify_deliveries d "
            "JOIN notifications n ON n.id = d.notification_id"
        )
        assert len(deliveries) == len(expected)
        assert {(r["user_id"], r["target"]) for r in deliveries} == expected
        assert {r["state"] for r in deliveries} == {"pending"}  # no sender on this branch
    finally:
        first.kill()
        second.stop()
        await redis.aclose()
        await blocker.close()
        await conn.close()
