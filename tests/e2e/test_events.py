"""Events end to end, in both modes (real ``linli serve`` processes; scaled: two gateways on
PostgreSQL and Redis, the timers and notify workers as their own processes): the sign-up rush
exact, per person and per household; retries that take nothing; the promotion chain driven by
the timers with no page open; the refusals; check-in once; the calendars."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from csv import reader as csv_reader
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from bench.events_rush import RushSetup, check, create_event, run_rush, seed_rush
from persistence.factory import open_database
from tests.conftest import wait_until
from tests.e2e.harness import Deployment, Server, Worker, running

pytestmark = pytest.mark.timeout(240)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@contextlib.asynccontextmanager
async def gateways(deployment: Deployment, *, workers: bool = False) -> AsyncIterator[list[Server]]:
    """One gateway (embedded, its workers inside) or two (scaled, with the timers and notify
    workers as processes of their own when asked)."""
    procs: list[Worker] = []
    async with contextlib.AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(running(deployment))]
        if deployment.mode == "scaled":
            servers.append(await stack.enter_async_context(running(deployment)))
            if workers:
                procs = [Worker(deployment, "timers").start(), Worker(deployment, "notify").start()]
        try:
            yield servers
        finally:
            for proc in procs:
                proc.stop()


class Api:
    """An HTTP client signed in as one user (a session token made in the database)."""

    def __init__(self, server: Server, token: str) -> None:
        self.server = server
        self.client = httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": token}, timeout=30
        )

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(path, json=body or {}, headers={"Origin": self.server.http})

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def close(self) -> None:
        await self.client.aclose()


def _event_body(setup: RushSetup, capacity: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    body: dict[str, Any] = {
        "title": "中秋烤肉",
        "body": "**烤肉** <script>x</script>",
        "place": "平台花園",
        "audience": {"buildings": [setup.building_id]},
        "max_seats": 3,
        "signup_opens": now - DAY_MS,
        "signup_closes": now + DAY_MS,
        "remind_hours": None,
        "sessions": [
            {
                "label": "晚上",
                "starts_at": now + 3 * DAY_MS,
                "ends_at": now + 3 * DAY_MS + 3 * HOUR_MS,
                "capacity": capacity,
            }
        ],
    }
    body.update(overrides)
    return body


async def _rows(deployment: Deployment, query: str, *args: object) -> list[Any]:
    db = await open_database(deployment.database_url)
    try:
        return list(await db.fetch(query, *args))
    finally:
        await db.close()


async def test_rush_exact_per_person_and_per_household(deployment: Deployment) -> None:
    setup = await seed_rush(deployment.database_url, 300)
    async with gateways(deployment) as servers:
        urls = [s.http for s in servers]
        event_id, session_id = await create_event(urls[0], setup, 50)
        result = await run_rush(urls, setup, event_id, session_id)
        check(result, 50)  # the replies: 50 confirmed, 250 waitlisted at 1..250 in id order
        # The stored rows, counted on their own, say the same as the replies.
        rows = await _rows(
            deployment,
            "SELECT user_id, state, id FROM event_signups WHERE session_id = $1 ORDER BY id",
            session_id,
        )
        assert len(rows) == 300 and len({r["user_id"] for r in rows}) == 300
        replied = {o.user_id: (o.signup_id, o.state) for o in result.outcomes}
        assert {r["user_id"]: (r["id"], r["state"]) for r in rows} == replied
        # Retries with the same keys, through the other gateway, take nothing.
        retry = RushSetup(setup.organiser, setup.residents[:40], setup.building_id)
        again = await run_rush(list(reversed(urls)), retry, event_id, session_id)
        assert {o.status for o in again.outcomes} == {200}
        assert {o.user_id: (o.signup_id, o.state) for o in again.outcomes} == {
            u: replied[u] for u, _ in retry.residents
        }
        counted = await _rows(
            deployment,
            "SELECT state, count(*) AS n FROM event_signups GROUP BY state ORDER BY state",
        )
        assert {r["state"]: r["n"] for r in counted} == {"confirmed": 50, "waitlisted": 250}

        # Households: 120 residents in 60 units race for 20 places; one sign-up per unit.
        homes = await seed_rush_households(deployment, setup)
        household_event, household_session = await _create(
            servers[0], setup, 20, counting="household"
        )
        rush = await run_rush(urls, homes, household_event, household_session)
        statuses = Counter(o.status for o in rush.outcomes)
        assert statuses == {201: 60, 409: 60}
        states = Counter(o.state for o in rush.outcomes if o.status == 201)
        assert states == {"confirmed": 20, "waitlisted": 40}
        per_unit = await _rows(
            deployment,
            "SELECT holder, count(*) AS n FROM event_signups WHERE session_id = $1 GROUP BY holder",
            household_session,
        )
        assert len(per_unit) == 60 and {r["n"] for r in per_unit} == {1}


async def seed_rush_households(deployment: Deployment, setup: RushSetup) -> RushSetup:
    """120 more residents of the same building, two to a unit (units H0…H59)."""
    import hashlib
    import secrets

    from persistence.factory import open_store
    from persistence.store import Role

    store = await open_store(deployment.database_url)
    now = int(time.time() * 1000)
    people = []
    try:
        for i in range(120):
            user = await store.create_user(
                username=f"home{i}", display_name=f"Home {i}", password_hash="-",
                role=Role.RESIDENT, building_id=setup.building_id, unit_label=f"H{i // 2}",
                now=now,
            )  # fmt: skip
            token = secrets.token_urlsafe(32)
            await store.create_session(
                hashlib.sha256(token.encode()).hexdigest(), user.id, expires_at=now + DAY_MS,
                now=now,
            )  # fmt: skip
            people.append((user.id, token))
    finally:
        await store.close()
    return RushSetup(setup.organiser, people, setup.building_id)


async def _create(
    server: Server, setup: RushSetup, capacity: int, **overrides: Any
) -> tuple[int, int]:
    organiser = Api(server, setup.organiser)
    try:
        reply = await organiser.post("/api/events", _event_body(setup, capacity, **overrides))
        assert reply.status_code == 201, reply.text
        event = reply.json()["event"]
        return event["id"], event["sessions"][0]["id"]
    finally:
        await organiser.close()


async def test_promotion_chain_runs_on_the_timers_with_no_page_open(
    deployment: Deployment,
) -> None:
    setup = await seed_rush(deployment.database_url, 4)
    async with gateways(deployment, workers=True) as servers:
        event_id, session_id = await _create(servers[0], setup, 1, confirm_hours=2, remind_hours=24)
        people = [Api(servers[i % len(servers)], t) for i, (_, t) in enumerate(setup.residents)]
        try:
            ids = []
            for i, person in enumerate(people[:3]):
                reply = await person.post(
                    f"/api/events/{event_id}/sessions/{session_id}/signups",
                    {"request_key": f"r{i}"},
                )
                assert reply.status_code == 201, reply.text
                ids.append(reply.json()["signup"]["id"])
            a, b, c = ids
            # A cancels: B is offered the place, with two hours to confirm.
            assert (await people[0].post(f"/api/signups/{a}/cancel")).status_code == 200
            mine = (await people[1].get(f"/api/events/{event_id}")).json()["mine"][0]
            assert (mine["id"], mine["state"]) == (b, "offered")
            # Two hours pass (the offer's deadline and its timer moved into the past).
            now = int(time.time() * 1000)
            db = await open_database(deployment.database_url)
            try:
                await db.execute(
                    "UPDATE event_signups SET offered_until = $2 WHERE id = $1", b, now - 1
                )
                await db.execute(
                    "UPDATE timer_jobs SET due_at = $2 WHERE key = $1",
                    f"events.confirm_timeout:{b}",
                    now - 1,
                )
            finally:
                await db.close()

            async def c_offered() -> bool:
                got = (await people[2].get(f"/api/events/{event_id}")).json()["mine"]
                return bool(got) and got[0]["state"] == "offered"

            await wait_until(c_offered, timeout=30, interval=0.2)
            assert (await people[1].get(f"/api/events/{event_id}")).json()["mine"] == []
            confirmed = await people[2].post(f"/api/signups/{c}/confirm")
            assert confirmed.json()["signup"]["state"] == "confirmed"
            assert (await people[2].post(f"/api/signups/{c}/confirm")).json()["error"][
                "code"
            ] == "not_offered"

            # Everyone was told, once: B's offer and its expiry, C's offer.
            async def told() -> bool:
                rows = await _rows(
                    deployment,
                    "SELECT source_key FROM notifications WHERE source_key LIKE 'event-signup:%'",
                )
                return len(rows) == 3

            await wait_until(told, timeout=30, interval=0.2)
            rows = await _rows(
                deployment,
                "SELECT user_id, source_key FROM notifications "
                "WHERE source_key LIKE 'event-signup:%' ORDER BY source_key",
            )
            users = [u for u, _ in setup.residents]
            assert sorted((r["source_key"], r["user_id"]) for r in rows) == sorted(
                [
                    (f"event-signup:{b}:promoted", users[1]),
                    (f"event-signup:{b}:expired", users[1]),
                    (f"event-signup:{c}:promoted", users[2]),
                ]
            )

            # The day before: the reminder reaches whoever holds a place (C), nobody else. After
            # the end: C never checked in, so C is a no-show.
            db = await open_database(deployment.database_url)
            try:
                for key in (f"events.reminder:{session_id}", f"events.ended:{event_id}"):
                    moved = await db.execute(
                        "UPDATE timer_jobs SET due_at = $2 WHERE key = $1",
                        key,
                        int(time.time() * 1000),
                    )
                    assert moved == 1, key
            finally:
                await db.close()

            async def reminded_and_marked() -> bool:
                rows = await _rows(
                    deployment,
                    "SELECT user_id FROM notifications WHERE source_key = $1",
                    f"event-session:{session_id}:reminder",
                )
                marks = await _rows(
                    deployment, "SELECT attendance FROM event_signups WHERE id = $1", c
                )
                return [r["user_id"] for r in rows] == [users[2]] and marks[0][0] == "no_show"

            await wait_until(reminded_and_marked, timeout=30, interval=0.2)
        finally:
            for person in people:
                await person.close()


async def test_refusals_change_nothing(deployment: Deployment) -> None:
    setup = await seed_rush(deployment.database_url, 3)
    outsider = await seed_rush_outsider(deployment)
    async with gateways(deployment) as servers:
        server = servers[0]
        now = int(time.time() * 1000)
        later, later_session = await _create(
            server, setup, 5, signup_opens=now + DAY_MS, signup_closes=now + 2 * DAY_MS
        )
        closed, closed_session = await _create(
            server, setup, 5, signup_opens=now - 2 * DAY_MS, signup_closes=now - DAY_MS
        )
        open_, open_session = await _create(
            server, setup, 5, questions=[{"text": "素食?", "choices": ["是", "否"]}]
        )
        ann = Api(server, setup.residents[0][1])
        bob = Api(server, outsider)
        organiser = Api(server, setup.organiser)
        try:

            async def sign(
                api: Api, event: int, session: int, key: str, **body: Any
            ) -> httpx.Response:
                return await api.post(
                    f"/api/events/{event}/sessions/{session}/signups",
                    {"request_key": key, **body},
                )

            def code(reply: httpx.Response) -> tuple[int, str]:
                return reply.status_code, reply.json()["error"]["code"]

            assert code(await sign(ann, later, later_session, "k1")) == (409, "signup_not_open")
            assert code(await sign(ann, closed, closed_session, "k2")) == (409, "signup_closed")
            over = await sign(ann, open_, open_session, "k3", seats=4, answers=["是"])
            assert code(over) == (400, "too_many_seats") and over.json()["error"]["max"] == 3
            assert code(await sign(ann, open_, open_session, "k4", answers=["maybe"])) == (
                400,
                "bad_request",
            )
            assert code(await sign(bob, open_, open_session, "k5", answers=["是"])) == (
                403,
                "event_not_in_audience",
            )
            assert code(await bob.get(f"/api/events/{open_}")) == (403, "event_not_in_audience")
            assert code(await sign(ann, 999_999, 1, "k6")) == (404, "event_not_found")
            first = await sign(ann, open_, open_session, "k7", answers=["是"], seats=2)
            assert first.status_code == 201
            assert code(await sign(ann, open_, open_session, "k8", answers=["否"])) == (
                409,
                "already_signed_up",
            )
            # A resident may not cancel what is not theirs; the organiser removes it.
            mine = first.json()["signup"]
            assert code(await bob.post(f"/api/signups/{mine['id']}/cancel")) == (
                404,
                "signup_not_found",
            )
            # Nothing above took a place.
            rows = await _rows(deployment, "SELECT event_id, seats, answers FROM event_signups")
            assert [(r["event_id"], r["seats"], r["answers"]) for r in rows] == [
                (open_, 2, '["是"]')
            ]
            # Check-in at the door: once; a second is refused with who and when.
            door = await organiser.post(f"/api/events/{open_}/checkin", {"code": mine["code"]})
            assert door.status_code == 200, door.text
            at = door.json()["signup"]["checked_in_at"]
            twice = await organiser.post(
                f"/api/events/{open_}/checkin", {"code": mine["code"].lower()}
            )
            assert code(twice) == (409, "already_checked_in")
            assert twice.json()["error"]["by"] == "rush-organiser"
            assert twice.json()["error"]["at"] == at
            assert code(
                await organiser.post(f"/api/events/{open_}/checkin", {"code": "ZZZZZZ"})
            ) == (
                404,
                "signup_not_found",
            )
            assert code(await ann.post(f"/api/events/{open_}/checkin", {"code": "ZZZZZZ"})) == (
                403,
                "forbidden",
            )
            listing = (await organiser.get(f"/api/events/{open_}/signups")).json()
            assert listing["counts"][0]["checked_in"] == 1
            assert listing["signups"][0]["checked_in_by"] == "rush-organiser"
            csv = await organiser.get(f"/api/events/{open_}/export.csv")
            assert csv.status_code == 200
            lines = csv.text.lstrip("\ufeff").splitlines()
            assert lines[0].endswith("素食?") and lines[1].split(",")[1] == "rush0"
            # Times as local date-times of the installation's zone (ISO 8601 with the offset,
            # like the audit and poll exports), not raw milliseconds.
            header, row = list(csv_reader(lines))[:2]
            local = dict(zip(header, row, strict=True))
            taipei = ZoneInfo("Asia/Taipei")
            assert local["signed_up_at"] == datetime.fromtimestamp(
                mine["created_at"] / 1000, taipei
            ).isoformat(timespec="seconds")
            assert local["checked_in_at"] == datetime.fromtimestamp(at / 1000, taipei).isoformat(
                timespec="seconds"
            )
            assert local["checked_in_at"].endswith("+08:00")
            # A cancelled event takes no sign-ups.
            assert (await organiser.post(f"/api/events/{open_}/cancel")).status_code == 200
            amy = Api(server, setup.residents[1][1])
            try:
                assert code(await sign(amy, open_, open_session, "k9", answers=["否"])) == (
                    409,
                    "event_cancelled",
                )
            finally:
                await amy.close()
            # The description was rendered safely.
            got = (await ann.get(f"/api/events/{open_}")).json()["event"]
            assert (
                "<script>" not in got["body_html"] and "<strong>烤肉</strong>" in got["body_html"]
            )
        finally:
            for api in (ann, bob, organiser):
                await api.close()


async def seed_rush_outsider(deployment: Deployment) -> str:
    """A resident of another building; their session token."""
    import hashlib
    import secrets

    from persistence.factory import open_store
    from persistence.store import Role

    store = await open_store(deployment.database_url)
    now = int(time.time() * 1000)
    try:
        building = await store.create_building("Elsewhere", now=now)
        user = await store.create_user(
            username="bob", display_name="Bob", password_hash="-", role=Role.RESIDENT,
            building_id=building.id, unit_label="1A", now=now,
        )  # fmt: skip
        token = secrets.token_urlsafe(32)
        await store.create_session(
            hashlib.sha256(token.encode()).hexdigest(), user.id, expires_at=now + DAY_MS, now=now
        )
        return token
    finally:
        await store.close()


async def test_calendars_validate_and_carry_the_zone(deployment: Deployment) -> None:
    setup = await seed_rush(deployment.database_url, 2)
    async with gateways(deployment) as servers:
        server = servers[0]
        event_id, session_id = await _create(server, setup, 5)
        ann = Api(server, setup.residents[0][1])
        try:
            reply = await ann.post(
                f"/api/events/{event_id}/sessions/{session_id}/signups", {"request_key": "c1"}
            )
            assert reply.status_code == 201
            ics = await ann.get(f"/events/{event_id}.ics")
            assert ics.headers["content-type"].startswith("text/calendar")
            cal = Calendar.from_ical(ics.content)
            (vevent,) = cal.walk("VEVENT")
            assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Asia/Taipei"]
            start = vevent.decoded("DTSTART")
            assert str(start.tzinfo) == "Asia/Taipei"
            event = (await ann.get(f"/api/events/{event_id}")).json()["event"]
            assert int(start.timestamp() * 1000) == event["sessions"][0]["starts_at"] // 1000 * 1000
            assert str(vevent["SUMMARY"]) == "中秋烤肉 — 晚上"
            assert str(vevent["UID"]) == f"event-{event_id}-session-{session_id}@linli"

            feed_url = (await ann.get("/api/events/feed")).json()["url"]
            assert (await ann.get("/api/events/feed")).json()["url"] == feed_url
            path = feed_url.removeprefix(server.http)
            async with httpx.AsyncClient(base_url=server.http) as anonymous:
                feed = await anonymous.get(path)
                assert feed.status_code == 200
                entries = Calendar.from_ical(feed.content).walk("VEVENT")
                assert [str(e["UID"]) for e in entries] == [str(vevent["UID"])]
                # Revoked: the old address answers 404, the new one works.
                new_url = (await ann.post("/api/events/feed/revoke")).json()["url"]
                assert new_url != feed_url
                assert (await anonymous.get(path)).status_code == 404
                assert (await anonymous.get(new_url.removeprefix(server.http))).status_code == 200
            qr = await ann.get(f"/api/signups/{reply.json()['signup']['id']}/qr.svg")
            assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
        finally:
            await ann.close()


async def test_live_counts_reach_a_watching_page(deployment: Deployment) -> None:
    """A page subscribed to ``event:<id>`` on one gateway sees the counts of a sign-up made
    through another (scaled) and is refused the channel outside the audience."""
    from tests.e2e.harness import Client

    setup = await seed_rush(deployment.database_url, 2)
    async with gateways(deployment) as servers:
        event_id, session_id = await _create(servers[0], setup, 1)
        watcher = await Client.connect(servers[0], setup.residents[0][1])
        try:
            await watcher.ok("subscribe", channel=f"event:{event_id}")
            amy = Api(servers[-1], setup.residents[1][1])
            try:
                reply = await amy.post(
                    f"/api/events/{event_id}/sessions/{session_id}/signups", {"request_key": "l1"}
                )
                assert reply.status_code == 201
            finally:
                await amy.close()
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                pub = await watcher.push("pub", timeout=10)
                counts = pub["data"]["sessions"][0]
                if counts["confirmed"] == 1 or asyncio.get_running_loop().time() > deadline:
                    break
            assert (counts["taken"], counts["free"], counts["waitlisted"]) == (1, 0, 0)
            assert await watcher.error(
                "publish", channel=f"event:{event_id}", text="x", client_msg_id="x1"
            )
        finally:
            await watcher.close()


async def test_organiser_capacity_removal_and_message(deployment: Deployment) -> None:
    """More places promote the waiting at once; a removal promotes too; a message reaches
    exactly those holding a place or waiting; a resident may do none of it."""
    setup = await seed_rush(deployment.database_url, 4)
    async with gateways(deployment, workers=True) as servers:
        event_id, session_id = await _create(servers[0], setup, 1)
        people = [Api(servers[i % len(servers)], t) for i, (_, t) in enumerate(setup.residents)]
        organiser = Api(servers[-1], setup.organiser)
        try:
            ids = []
            for i, person in enumerate(people):
                reply = await person.post(
                    f"/api/events/{event_id}/sessions/{session_id}/signups",
                    {"request_key": f"m{i}"},
                )
                ids.append(reply.json()["signup"]["id"])
            path = f"/api/events/{event_id}/sessions/{session_id}/capacity"
            refused = await people[0].post(path, {"capacity": 9})
            assert refused.status_code == 403
            more = await organiser.post(path, {"capacity": 2})
            assert [s["id"] for s in more.json()["promoted"]] == [ids[1]]
            low = await organiser.post(path, {"capacity": 1})
            assert (low.status_code, low.json()["error"]["code"]) == (409, "capacity_too_low")
            assert low.json()["error"]["taken"] == 2
            removed = await organiser.post(f"/api/events/{event_id}/signups/{ids[0]}/remove")
            assert removed.json()["signup"]["state"] == "removed"
            assert [s["id"] for s in removed.json()["promoted"]] == [ids[2]]
            # ids[3] still waits at 1; everyone but the removed one hears the message.
            mine = (await people[3].get(f"/api/events/{event_id}")).json()["mine"][0]
            assert (mine["state"], mine["position"]) == ("waitlisted", 1)
            sent = await organiser.post(
                f"/api/events/{event_id}/message", {"text": "帶水 Bring water"}
            )
            assert sent.json() == {"recipients": 3}
            users = [u for u, _ in setup.residents]

            async def told() -> bool:
                rows = await _rows(
                    deployment,
                    "SELECT user_id FROM notifications WHERE source_key LIKE $1 ORDER BY user_id",
                    f"event:{event_id}:message:%",
                )
                return [r["user_id"] for r in rows] == sorted(users[1:])

            await wait_until(told, timeout=30, interval=0.2)
            audit = await _rows(
                deployment,
                "SELECT action FROM audit_log WHERE feature = 'events' ORDER BY id",
            )
            assert [r["action"] for r in audit] == [
                "event_create", "capacity_set", "signup_remove", "event_message",
            ]  # fmt: skip
        finally:
            for api in (*people, organiser):
                await api.close()


async def test_the_site_search_finds_an_event_only_for_its_audience(deployment: Deployment) -> None:
    """/api/search: a Block-only event is found by its building's residents and its organiser,
    never by a resident of another building."""
    setup = await seed_rush(deployment.database_url, 1)
    outsider = await seed_rush_outsider(deployment)
    indexer = Worker(deployment, "search").start() if deployment.mode == "scaled" else None
    async with gateways(deployment) as servers:
        server = servers[0]
        event_id, _ = await _create(server, setup, 5, title="中秋烤肉 marshmallow")
        inside, organiser, elsewhere = (
            Api(server, token) for token in (setup.residents[0][1], setup.organiser, outsider)
        )
        try:

            async def found(api: Api) -> set[str]:
                hits = (await api.get("/api/search?q=marshmallow&kind=event")).json()["hits"]
                return {h["ref"] for h in hits}

            async def indexed() -> bool:
                return await found(organiser) == {str(event_id)}

            await wait_until(indexed, timeout=20, interval=0.2)
            assert await found(inside) == {str(event_id)}
            assert await found(elsewhere) == set()
            hits = (await elsewhere.get("/api/search?q=烤肉&kind=event")).json()["hits"]
            assert hits == []
        finally:
            for api in (inside, organiser, elsewhere):
                await api.close()
            if indexer is not None:
                indexer.stop()
