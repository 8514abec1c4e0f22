"""The timers worker killed mid-promotion (scaled mode: real ``linli worker timers`` processes,
PostgreSQL, Redis): an offer runs out, the worker running its ``events.confirm_timeout`` job is
killed (SIGKILL) while the promotion's transaction is under way, and the worker that takes the
job over after the lease passes the place on exactly once — nothing lost (the next person is
offered the place and told), nobody promoted twice.

To land the kill mid-work every time, the test holds the session's row lock itself: the
worker's transaction claims the job, starts, and waits for the lock. The test sees it waiting
(``pg_blocking_pids``), kills it there, then lets the lock go.
"""

from __future__ import annotations

import time

import asyncpg
import httpx
import pytest

from bench.events_rush import seed_rush
from tests.conftest import wait_until
from tests.e2e.harness import Deployment, Worker, running

pytestmark = pytest.mark.timeout(240)

DAY_MS = 86_400_000


async def test_timers_worker_killed_mid_promotion_loses_and_doubles_nothing(
    scaled: Deployment,
) -> None:
    setup = await seed_rush(scaled.database_url, 3)
    conn = await asyncpg.connect(scaled.database_url)
    blocker = await asyncpg.connect(scaled.database_url)
    first = Worker(scaled, "timers")
    second = Worker(scaled, "timers")
    notifier = Worker(scaled, "notify").start()
    try:
        async with running(scaled) as server:
            now = int(time.time() * 1000)
            body = {
                "title": "太極班",
                "place": "公園",
                "audience": {"buildings": [setup.building_id]},
                "signup_opens": now - DAY_MS,
                "signup_closes": now + DAY_MS,
                "confirm_hours": 2,
                "remind_hours": None,
                "sessions": [
                    {"label": "", "starts_at": now + 2 * DAY_MS,
                     "ends_at": now + 2 * DAY_MS + 1, "capacity": 1}
                ],
            }  # fmt: skip
            headers = {"Origin": server.http}

            def client(token: str) -> httpx.AsyncClient:
                return httpx.AsyncClient(
                    base_url=server.http, cookies={"linli_session": token}, headers=headers
                )

            async with client(setup.organiser) as organiser:
                created = (await organiser.post("/api/events", json=body)).json()["event"]
            event_id, session_id = created["id"], created["sessions"][0]["id"]
            ids = []
            for i, (_, token) in enumerate(setup.residents):
                async with client(token) as person:
                    reply = await person.post(
                        f"/api/events/{event_id}/sessions/{session_id}/signups",
                        json={"request_key": f"k{i}"},
                    )
                    ids.append(reply.json()["signup"]["id"])
            a, b, c = ids
            async with client(setup.residents[0][1]) as ann:
                assert (await ann.post(f"/api/signups/{a}/cancel", json={})).status_code == 200
            assert await conn.fetchval("SELECT state FROM event_signups WHERE id = $1", b) == (
                "offered"
            )
            # B's two hours are up; the only due job is B's confirmation timeout (the backstop
            # of B's promotion notice is moved out of the way).
            now = int(time.time() * 1000)
            await conn.execute("UPDATE event_signups SET offered_until = $2 WHERE id = $1", b, now)
            await conn.execute(
                "UPDATE timer_jobs SET due_at = $2 WHERE key = $1",
                f"events.confirm_timeout:{b}",
                now,
            )
            await conn.execute(
                "UPDATE timer_jobs SET due_at = $2 WHERE key = $1",
                f"events.promoted:{b}",
                now + DAY_MS,
            )

            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute(
                "SELECT id FROM event_sessions WHERE id = $1 FOR UPDATE", session_id
            )
            blocker_pid = await blocker.fetchval("SELECT pg_backend_pid()")
            first.start()

            async def waiting_on_the_test() -> bool:
                waiting = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    blocker_pid,
                )
                return int(waiting) > 0

            await wait_until(waiting_on_the_test, timeout=30, interval=0.05)
            job = await conn.fetchrow(
                "SELECT claimed_by, attempts FROM timer_jobs WHERE key = $1",
                f"events.confirm_timeout:{b}",
            )
            assert job["claimed_by"] is not None and job["attempts"] == 1
            assert first.proc is not None
            first.kill()
            assert first.proc.returncode == -9
            await transaction.rollback()
            # Nothing of the killed run was committed.
            states = await conn.fetch(
                "SELECT id, state FROM event_signups WHERE session_id = $1 ORDER BY id", session_id
            )
            assert [(r["id"], r["state"]) for r in states] == [
                (a, "cancelled"), (b, "offered"), (c, "waitlisted"),
            ]  # fmt: skip

            # Another worker takes the job over once the killed one's lease (60 s) has passed.
            second.start()

            async def passed_on() -> bool:
                state = await conn.fetchval("SELECT state FROM event_signups WHERE id = $1", c)
                return bool(state == "offered")

            await wait_until(passed_on, timeout=120, interval=0.2)

            async def told() -> bool:
                n = await conn.fetchval(
                    "SELECT count(*) FROM notifications WHERE source_key IN ($1, $2)",
                    f"event-signup:{b}:expired",
                    f"event-signup:{c}:promoted",
                )
                return int(n) == 2

            await wait_until(told, timeout=30, interval=0.2)
            await _settle(conn)  # the backstop of C's notice runs too, and tells nobody twice
            states = await conn.fetch(
                "SELECT id, state FROM event_signups WHERE session_id = $1 ORDER BY id", session_id
            )
            assert [(r["id"], r["state"]) for r in states] == [
                (a, "cancelled"), (b, "expired"), (c, "offered"),
            ]  # fmt: skip
            rows = await conn.fetch(
                "SELECT user_id, source_key, count(*) AS n FROM notifications "
                "WHERE source_key LIKE 'event-signup:%' GROUP BY user_id, source_key"
            )
            users = [u for u, _ in setup.residents]
            assert sorted((r["source_key"], r["user_id"], r["n"]) for r in rows) == sorted(
                [
                    (f"event-signup:{b}:promoted", users[1], 1),  # when A cancelled
                    (f"event-signup:{b}:expired", users[1], 1),
                    (f"event-signup:{c}:promoted", users[2], 1),
                ]
            )
            jobs = await conn.fetch(
                "SELECT key FROM timer_jobs WHERE key LIKE 'events.%' ORDER BY key"
            )
            assert [r["key"] for r in jobs] == [
                f"events.confirm_timeout:{c}",
                f"events.ended:{event_id}",
                f"events.promoted:{b}",  # moved a day out by the test; finds B expired: no-op
            ]
    finally:
        first.kill()
        second.stop()
        notifier.stop()
        await blocker.close()
        await conn.close()


async def _settle(conn: asyncpg.Connection) -> None:
    async def backstop_ran() -> bool:
        n = await conn.fetchval(
            "SELECT count(*) FROM timer_jobs WHERE kind = 'events.promoted' AND due_at < $1",
            int(time.time() * 1000) + 60_000,
        )
        return int(n) == 0

    await wait_until(backstop_ran, timeout=30, interval=0.2)
