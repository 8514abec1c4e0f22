"""Residents' requests end to end, in both modes on the real server: privacy over HTTP and the
WebSocket (a private request is its author's and its team's only; a public one its building's),
the whole lifecycle with authorisation at each step (residents never change status, another
category's team cannot act), a live status change on the request's channel and in the inbox,
rating once per resolution, reopening, merging with the followers moved, a chat message turned
into a request, bad input refused with nothing changed, and overdue marking by the timers with
no page open."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from persistence.requests import Category
from persistence.requests.sql import SqlRequestStore
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import Client, Deployment, Server, running, seed
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(120)


@dataclass
class Hood:
    building_a: int
    building_b: int
    ids: dict[str, int]
    cookies: dict[str, str]


async def make_hood(deployment: Deployment, *, first_response_ms: int | None = None) -> Hood:
    """seed()'s ann, amy (Block A), bob (Block B); fixer handles repairs, desk the rest (two
    teams), root is the admin. Sessions are made in the store (no argon2 per login)."""
    seeded = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        ids = dict(seeded.users)
        for name, role in (
            ("fixer", Role.MANAGEMENT),
            ("desk", Role.MANAGEMENT),
            ("root", Role.ADMIN),
        ):
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash="-",
                role=role,
                building_id=None,
                unit_label=None,
                now=now,
            )
            ids[name] = user.id
        cookies = {}
        for name, user_id in ids.items():
            token = new_token()
            await store.create_session(
                token_hash(token), user_id, expires_at=now + 86_400_000, now=now
            )
            cookies[name] = token
        requests = SqlRequestStore(store.database)
        repairs = await requests.create_team("Repairs", now=now)
        desk = await requests.create_team("Desk", now=now)
        await requests.set_team_members(repairs.id, [ids["fixer"]])
        await requests.set_team_members(desk.id, [ids["desk"]])
        await requests.route(
            Category.REPAIR, team_id=repairs.id, first_response_ms=first_response_ms
        )
        for category in (
            Category.QUESTION,
            Category.SUGGESTION,
            Category.COMPLAINT,
            Category.FEEDBACK,
        ):
            await requests.route(category, team_id=desk.id)
        return Hood(seeded.building_a, seeded.building_b, ids, cookies)
    finally:
        await store.close()


class Api:
    def __init__(self, server: Server, hood: Hood) -> None:
        self.server, self.hood = server, hood
        self.clients: dict[str, httpx.AsyncClient] = {}

    def of(self, who: str) -> httpx.AsyncClient:
        if who not in self.clients:
            self.clients[who] = httpx.AsyncClient(
                base_url=self.server.http, cookies={"linli_session": self.hood.cookies[who]}
            )
        return self.clients[who]

    async def post(self, who: str, path: str, expect: int = 200, /, **body: Any) -> dict[str, Any]:
        response = await self.of(who).post(path, json=body)
        assert response.status_code == expect, (who, path, response.text)
        return response.json()  # type: ignore[no-any-return]

    async def get(self, who: str, path: str, expect: int = 200) -> dict[str, Any]:
        response = await self.of(who).get(path)
        assert response.status_code == expect, (who, path, response.text)
        return response.json()  # type: ignore[no-any-return]

    async def error(self, who: str, path: str, expect: int, /, **body: Any) -> str:
        data = await self.post(who, path, expect, **body)
        return str(data["error"]["code"])

    async def file(self, who: str, **body: Any) -> int:
        body.setdefault("category", "repair")
        body.setdefault("text", "5F corridor light is out")
        return int((await self.post(who, "/api/requests", 201, **body))["request"]["id"])

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@asynccontextmanager
async def serving(
    deployment: Deployment, hood: Hood, **env: str
) -> AsyncIterator[tuple[Server, Api]]:
    async with running(deployment, LINLI_RUN_WORKERS="true", **env) as server:
        api = Api(server, hood)
        try:
            yield server, api
        finally:
            await api.aclose()


async def _inbox(api: Api, who: str) -> list[dict[str, Any]]:
    return list((await api.get(who, "/api/notifications"))["notifications"])


async def test_privacy_over_every_route(deployment: Deployment) -> None:
    hood = await make_hood(deployment)
    async with serving(deployment, hood) as (server, api):
        private = await api.file("ann", category="complaint", text="Noise upstairs", private=True)
        public = await api.file("ann", category="repair", text="Lift B stuck")
        # The private one: its author and the complaint team's member only.
        for who, status in (
            ("ann", 200),
            ("desk", 200),
            ("root", 200),
            ("amy", 404),
            ("bob", 404),
            ("fixer", 404),
        ):
            await api.get(who, f"/api/requests/{private}", status)
        # The public one: its building, its team, the admin; not another building.
        for who, status in (
            ("ann", 200),
            ("amy", 200),
            ("fixer", 200),
            ("root", 200),
            ("bob", 404),
            ("desk", 404),
        ):
            await api.get(who, f"/api/requests/{public}", status)
        assert await api.error("amy", f"/api/requests/{private}/reply", 404, text="hi") == (
            "request_not_found"
        )
        assert await api.error("amy", f"/api/requests/{private}/follow", 404) == (
            "request_not_found"
        )
        assert [r["id"] for r in (await api.get("amy", "/api/requests/mine"))["requests"]] == []
        # Never suggested to a neighbour, whatever its place.
        similar = await api.get("amy", "/api/requests/similar?category=complaint&floor=")
        assert similar["requests"] == []
        # The queue of the complaint team has it; the repair team's does not.
        desk_queue = await api.get("desk", "/api/requests/queue")
        assert [r["id"] for r in desk_queue["requests"]] == [private]
        fixer_queue = await api.get("fixer", "/api/requests/queue")
        assert [r["id"] for r in fixer_queue["requests"]] == [public]
        await api.get("fixer", "/api/requests/queue?category=complaint", 403)
        await api.get("ann", "/api/requests/queue", 403)
        # The WebSocket: subscribing to the request's channel follows the same rule.
        for who, allowed in (
            ("ann", True),
            ("desk", True),
            ("amy", False),
            ("bob", False),
            ("fixer", False),
        ):
            client = await Client.connect(server, hood.cookies[who])
            try:
                reply = await client.request("subscribe", channel=f"request:{private}")
                assert ("ok" in reply) is allowed, (who, reply)
                reply = await client.request("subscribe", channel=f"request:{public}")
                assert ("ok" in reply) is (who != "bob" and who != "desk"), (who, reply)
                assert "error" in await client.request(
                    "publish", channel=f"request:{public}", text="x", client_msg_id="m1"
                )
            finally:
                await client.close()


async def test_lifecycle_with_authorisation_live_and_rating(deployment: Deployment) -> None:
    hood = await make_hood(deployment)
    async with serving(deployment, hood) as (server, api):
        rid = await api.file("ann", text="5F corridor light is out", floor="5")
        path = f"/api/requests/{rid}"
        ann_ws = await Client.connect(server, hood.cookies["ann"])
        try:
            await ann_ws.ok("subscribe", channel=f"request:{rid}")
            # A resident never changes status; another category's team cannot act.
            assert await api.error("ann", f"{path}/status", 403, status="in_progress") == (
                "forbidden"
            )
            assert await api.error("amy", f"{path}/status", 403, status="in_progress") == (
                "forbidden"
            )
            await api.get("desk", path, 404)  # a public repair of Block A: not the desk's
            assert await api.error("desk", f"{path}/note", 404, text="x") == "request_not_found"
            # Bad input changes nothing.
            assert await api.error("fixer", f"{path}/status", 400, status="bogus") == (
                "bad_request"
            )
            assert await api.error("fixer", f"{path}/status", 400, status="rejected") == (
                "bad_request"
            )
            assert await api.error("fixer", f"{path}/status", 409, status="closed") == (
                "request_state"
            )
            assert await api.error("ann", f"{path}/rate", 409, score=5) == "request_state"
            assert (await api.get("ann", path))["request"]["version"] == 1

            moved = await api.post(
                "fixer", f"{path}/status", status="in_progress", reply="Technician on the way"
            )
            assert moved["request"]["status"] == "in_progress"
            pub = await ann_ws.push("pub")
            assert pub["data"] == {
                "kind": "request",
                "id": rid,
                "version": 2,
                "status": "in_progress",
            }
            await api.post("fixer", f"{path}/note", text="needs a ladder")
            seen = await api.get("ann", path)
            assert [e["kind"] for e in seen["events"]] == ["filed", "status"]
            assert seen["events"][1]["text"] == "Technician on the way"
            staff = await api.get("fixer", path)
            assert [e["kind"] for e in staff["events"]] == ["filed", "status", "note"]
            assert seen["request"]["first_response_at"] is not None

            await api.post("fixer", f"{path}/status", status="waiting", reply="Which lamp?")
            await api.post("ann", f"{path}/reply", text="The one by the lift")
            await api.post("fixer", f"{path}/status", status="resolved", reply="Replaced")

            async def told() -> bool:
                texts = [n["text"]["en"] for n in await _inbox(api, "ann")]
                return any("resolved" in t for t in texts) and any("Which lamp" in t for t in texts)

            await wait_until(told, timeout=15)
            assert any(f"#{rid}" in n["text"]["en"] for n in await _inbox(api, "fixer"))

            rated = await api.post("ann", f"{path}/rate", score=4, comment="ok")
            assert rated["rating"] == {"score": 4, "comment": "ok"} and not rated["may_rate"]
            assert await api.error("ann", f"{path}/rate", 409, score=5) == "already_rated"
            assert await api.error("amy", f"{path}/rate", 403, score=1) == "forbidden"
            assert await api.error("amy", f"{path}/reopen", 403) == "forbidden"
            reopened = await api.post("ann", f"{path}/reopen", text="It is out again")
            assert reopened["request"]["status"] == "in_progress"
            await api.post("fixer", f"{path}/status", status="resolved")
            again = await api.post("ann", f"{path}/rate", score=5)
            assert again["rating"]["score"] == 5
            closed = await api.post("fixer", f"{path}/status", status="closed")
            assert closed["request"]["status"] == "closed"
            assert await api.error("fixer", f"{path}/status", 409, status="in_progress") == (
                "request_state"
            )
            statuses = [e["status"] for e in closed["events"] if e["kind"] in ("status", "reopen")]
            assert statuses == [
                "in_progress",
                "waiting",
                "resolved",
                "in_progress",
                "resolved",
                "closed",
            ]
        finally:
            await ann_ws.close()

        # A rejection needs its reason and keeps it.
        other = await api.file("amy", category="suggestion", text="Paint the lobby pink")
        rejected = await api.post(
            "desk", f"/api/requests/{other}/status", status="rejected", reason="Not this year"
        )
        assert rejected["request"]["reject_reason"] == "Not this year"


async def test_merge_similar_follow_and_chat_source(deployment: Deployment) -> None:
    hood = await make_hood(deployment)
    async with serving(deployment, hood) as (server, api):
        # Admins keep the common areas; nobody else may.
        assert await api.error("fixer", "/api/requests/places", 403, name="電梯") == "forbidden"
        place = (await api.post("root", "/api/requests/places", 201, name="電梯"))["place"]["id"]
        assert (
            await api.error(
                "ann", "/api/requests", 400, category="repair", text="x", place_id=place + 99
            )
            == "bad_request"
        )
        first = await api.file("ann", text="電梯 B 壞了", place_id=place)
        similar = await api.get("amy", f"/api/requests/similar?category=repair&place_id={place}")
        assert [r["id"] for r in similar["requests"]] == [first]
        assert (await api.get("bob", f"/api/requests/similar?category=repair&place_id={place}"))[
            "requests"
        ] == []  # another building's lift
        followed = await api.post("amy", f"/api/requests/{first}/follow")
        assert followed["following"] and followed["followers"] == 2
        # amy's duplicate, merged into the first: its followers follow the first.
        dup = await api.file("amy", text="The lift is broken again", place_id=place)
        assert await api.error("desk", f"/api/requests/{dup}/merge", 404, into=first) == (
            "request_not_found"
        )
        merged = await api.post("fixer", f"/api/requests/{dup}/merge", into=first)
        assert merged["request"]["status"] == "merged"
        assert merged["request"]["merged_into"] == first
        kept = await api.get("ann", f"/api/requests/{first}")
        assert kept["followers"] == 2  # ann, amy (amy followed already: not twice)
        assert kept["events"][-1]["kind"] == "merged_in"
        assert await api.error("fixer", f"/api/requests/{dup}/merge", 409, into=first) == (
            "request_state"
        )

        # A chat message turned into a request keeps a link to it.
        ann = await Client.connect(server, hood.cookies["ann"])
        try:
            channel = f"building:{hood.building_a}"
            await ann.ok("subscribe", channel=channel)
            sent = await ann.ok("publish", channel=channel, text="大堂燈壞了", client_msg_id="c1")
            offset = sent["offset"]
        finally:
            await ann.close()
        made = await api.post(
            "ann",
            "/api/requests",
            201,
            category="repair",
            text="大堂燈壞了",
            source_channel=channel,
            source_offset=offset,
        )
        assert made["request"]["source_link"] == f"/#{channel}@{offset}"
        page = await api.of("ann").get(f"/requests?channel={channel}&offset={offset}")
        assert page.status_code == 200 and "大堂燈壞了" in page.text
        assert (
            await api.error(
                "bob",
                "/api/requests",
                403,
                category="repair",
                text="x",
                source_channel=channel,
                source_offset=offset,
            )
            == "forbidden"
        )
        page = await api.of("bob").get(f"/requests?channel={channel}&offset={offset}")
        assert "大堂燈壞了" not in page.text


async def test_overdue_marked_by_the_timers_with_no_page_open(deployment: Deployment) -> None:
    hood = await make_hood(deployment, first_response_ms=1500)
    # Every day a working day: the 1.5 s target must pass whatever day the test runs on.
    async with serving(
        deployment,
        hood,
        LINLI_REQUEST_REOPEN_DAYS="0",
        LINLI_REQUEST_WORKING_DAYS="mon,tue,wed,thu,fri,sat,sun",
    ) as (_server, api):
        late = await api.file("ann", text="Leak in the car park")
        answered = await api.file("amy", text="Door squeaks")
        await api.post("fixer", f"/api/requests/{answered}/status", status="in_progress")

        async def marked() -> bool:
            body = await api.get("fixer", f"/api/requests/{late}")
            return bool(body["request"]["overdue_marked"])

        await wait_until(marked, timeout=20, interval=0.2)
        assert not (await api.get("fixer", f"/api/requests/{answered}"))["request"][
            "overdue_marked"
        ]
        queue = await api.get("fixer", "/api/requests/queue?order=overdue")
        assert [r["id"] for r in queue["requests"]] == [late, answered]
        assert [r["overdue"] for r in queue["requests"]] == [True, False]

        async def told() -> bool:
            return any("Overdue" in n["text"]["en"] for n in await _inbox(api, "fixer"))

        await wait_until(told, timeout=15, interval=0.2)
        # The reopen window of 0 days: reopening fails with its code and changes nothing.
        await api.post("fixer", f"/api/requests/{answered}/status", status="resolved")
        assert await api.error("amy", f"/api/requests/{answered}/reopen", 409) == "reopen_expired"
        assert (await api.get("amy", f"/api/requests/{answered}"))["request"][
            "status"
        ] == "resolved"
        # The figures count it all, by category, building and month.
        figures = (await api.get("fixer", "/api/requests/figures"))["figures"]
        assert figures["total"]["filed"] == 2 and figures["total"]["overdue"] == 1
        assert figures["by_building"][str(hood.building_a)]["filed"] == 2
        await api.get("ann", "/api/requests/figures", 403)


def _png(width: int = 40, height: int = 30) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_photos_checked_five_at_most_and_as_private_as_the_request(
    deployment: Deployment,
) -> None:
    hood = await make_hood(deployment)
    async with serving(deployment, hood, LINLI_UPLOAD_MAX_BYTES="20000") as (_server, api):
        public = await api.file("ann", text="Broken tile in the lobby")
        private = await api.file("ann", category="complaint", text="Noise", private=True)

        async def upload(who: str, rid: int, data: bytes, name: str) -> httpx.Response:
            return await api.of(who).post(
                f"/api/requests/{rid}/photos?name={name}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )

        made = await upload("ann", public, _png(), "tile.png")
        assert made.status_code == 201, made.text
        assert [(p["position"], p["width"], p["height"]) for p in made.json()["photos"]] == [
            (1, 40, 30)
        ]
        # Checked by content, not by name or type; only the author (or the team) adds.
        refused = [
            (
                await upload("ann", public, b"not an image at all", "x.png"),
                415,
                "upload_type_not_allowed",
            ),
            (
                await upload("ann", public, b"%PDF-1.4\n%%EOF", "x.pdf"),
                415,
                "upload_type_not_allowed",
            ),
            (await upload("ann", public, _png()[:60], "cut.png"), 400, "upload_damaged"),
            (await upload("ann", public, _png(), "photo.jpg"), 415, "upload_name_mismatch"),
            (await upload("ann", public, b"", "empty.png"), 400, "upload_empty"),
            (
                await upload("ann", public, b"\x89PNG" + b"0" * 30000, "big.png"),
                413,
                "upload_too_large",
            ),
            (await upload("amy", public, _png(), "amy.png"), 403, "forbidden"),
            (await upload("bob", public, _png(), "bob.png"), 404, "request_not_found"),
        ]
        for response, status, code in refused:
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        assert len((await api.get("ann", f"/api/requests/{public}"))["photos"]) == 1
        for n in range(2, 6):
            response = await upload("fixer" if n == 5 else "ann", public, _png(n * 10), f"{n}.png")
            assert response.status_code == 201, response.text
        sixth = await upload("ann", public, _png(), "6.png")
        assert (sixth.status_code, sixth.json()["error"]["code"]) == (409, "too_many_photos")

        # Read back: the original byte for byte, a JPEG thumbnail; as visible as the request.
        first = await api.of("amy").get(f"/api/requests/{public}/photos/1")
        assert first.status_code == 200 and first.content == _png()
        assert first.headers["content-type"] == "image/png"
        thumb = await api.of("fixer").get(f"/api/requests/{public}/photos/1/thumb")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert thumb.content.startswith(b"\xff\xd8\xff")
        assert (await api.of("bob").get(f"/api/requests/{public}/photos/1")).status_code == 404
        assert (await api.of("ann").get(f"/api/requests/{public}/photos/6")).status_code == 404
        assert (await api.of("ann").get(f"/api/requests/{public}/photos/1/big")).status_code == 404
        secret = await upload("ann", private, _png(), "noise.png")
        assert secret.status_code == 201, secret.text
        for who, status in (("ann", 200), ("desk", 200), ("amy", 404), ("fixer", 404)):
            response = await api.of(who).get(f"/api/requests/{private}/photos/1/thumb")
            assert response.status_code == status, who


async def test_the_site_search_follows_the_same_privacy(deployment: Deployment) -> None:
    """/api/search finds a request for exactly those who may see it: a private complaint for its
    author, its team and the admin; a public repair for its building and its team."""
    hood = await make_hood(deployment)
    async with serving(deployment, hood) as (_server, api):
        private = await api.file(
            "ann", category="complaint", text="樓上噪音 kettledrum", private=True
        )
        public = await api.file("ann", category="repair", text="升降機 kettledrum 壞了")

        async def found(who: str) -> set[int]:
            data = await api.get(who, "/api/search?q=kettledrum&kind=request")
            return {int(h["ref"]) for h in data["hits"]}

        async def indexed() -> bool:
            return await found("root") == {private, public}

        await wait_until(indexed, timeout=20, interval=0.2)
        expected = {
            "ann": {private, public},
            "desk": {private},
            "fixer": {public},
            "amy": {public},
            "bob": set(),
        }
        for who, refs in expected.items():
            assert await found(who) == refs, who
        # A two-character word finds it too, within the same rule.
        hits = await api.get("amy", "/api/search?q=噪音&kind=request")
        assert hits["hits"] == []


async def test_holidays_kept_by_admins_move_the_targets(deployment: Deployment) -> None:
    """Today and the six days after it made holidays (so a weekend is among them whatever day
    the test runs): a request filed now is due one working day after the first working day
    that follows, computed here from the calendar."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    taipei = ZoneInfo("Asia/Taipei")  # the default LINLI_TIME_ZONE
    hood = await make_hood(deployment)
    async with serving(deployment, hood) as (_server, api):
        today = datetime.now(taipei).date()
        days = [today + timedelta(days=k) for k in range(7)]
        for day in days:
            made = await api.post(
                "root", "/api/requests/holidays", 201, day=str(day), name="颱風假"
            )
            assert made["holiday"] == {"day": str(day), "name": "颱風假"}
        # Bad input: a documented code, a message in words, nothing added.
        assert (
            await api.error("root", "/api/requests/holidays", 400, day="2026-13-01", name="x")
            == "bad_request"
        )
        assert (
            await api.error("root", "/api/requests/holidays", 400, day=str(today), name="")
            == "bad_request"
        )
        assert (
            await api.error("fixer", "/api/requests/holidays", 403, day=str(today), name="x")
            == "forbidden"
        )
        assert (
            await api.error("ann", "/api/requests/holidays", 403, day=str(today), name="x")
            == "forbidden"
        )
        meta = await api.get("fixer", "/api/requests/meta")
        assert meta["holidays"] == [{"day": str(d), "name": "颱風假"} for d in days]

        request_id = await api.file("ann", text="Typhoon: water in the lobby")
        found = (await api.get("fixer", f"/api/requests/{request_id}"))["request"]
        first: date = today + timedelta(days=7)
        while first.weekday() >= 5:
            first += timedelta(days=1)
        end = datetime.combine(first + timedelta(days=1), datetime.min.time(), tzinfo=taipei)
        assert found["respond_by"] == int(end.timestamp() * 1000)
        assert found["overdue"] is False

        await api.post("root", f"/api/requests/holidays/{today}/delete", 200)
        assert await api.error("root", f"/api/requests/holidays/{today}/delete", 404) == (
            "not_found"
        )
        assert await api.error("root", "/api/requests/holidays/someday/delete", 404) == "not_found"
        meta = await api.get("root", "/api/requests/meta")
        assert [h["day"] for h in meta["holidays"]] == [str(d) for d in days[1:]]
        # The request's target was fixed when it was filed.
        again = (await api.get("fixer", f"/api/requests/{request_id}"))["request"]
        assert again["respond_by"] == found["respond_by"]


async def test_a_forum_post_becomes_a_request_and_shows_it(deployment: Deployment) -> None:
    """A post in Block A's forum category: its author makes a request of it, the repairs team
    makes one of another resident's post for her; the link goes both ways; nobody else may,
    and each reader sees only the requests they may see."""
    hood = await make_hood(deployment)
    async with serving(deployment, hood) as (_server, api):
        category = await api.post(
            "root", "/api/forum/categories", 201, slug="block-a", name_zh="A 座", name_en="Block A",
            scope=f"building:{hood.building_a}",
        )  # fmt: skip
        started = await api.post(
            "ann", f"/api/forum/categories/{category['category']['id']}/topics", 201,
            title="Lift noise", text="The lift in block A squeaks on every floor", client_id="t1",
        )  # fmt: skip
        topic, first = started["topic"]["id"], started["post"]
        reply = await api.post(
            "amy", f"/api/forum/topics/{topic}/replies", 201, text="And the door sticks",
            client_id="r1",
        )  # fmt: skip
        second = reply["post"]
        assert second["number"] == 2

        # Bob (Block B) cannot read the post: answered as if it did not exist.
        code = await api.error(
            "bob", "/api/requests", 400, category="repair", text="x", source_post=first["id"]
        )
        assert code == "bad_request"
        await api.get("bob", f"/api/requests/from-topic?topic={topic}", 404)
        # Amy reads it but neither wrote it nor handles requests; the desk handles other
        # categories than repairs.
        assert await api.error(
            "amy", "/api/requests", 403, category="repair", text="x", source_post=first["id"]
        ) == "forbidden"  # fmt: skip
        assert await api.error(
            "desk", "/api/requests", 403, category="repair", text="x", source_post=second["id"]
        ) == "forbidden"  # fmt: skip
        assert await api.error(
            "ann", "/api/requests", 400, category="repair", text="x", source_post=first["id"],
            source_channel=f"building:{hood.building_a}", source_offset=1,
        ) == "bad_request"  # fmt: skip
        assert (await api.get("fixer", "/api/requests/queue"))["requests"] == []

        own = (
            await api.post(
                "ann",
                "/api/requests",
                201,
                category="repair",
                text="The lift in block A squeaks on every floor",
                source_post=first["id"],
            )
        )["request"]
        assert own["author_id"] == hood.ids["ann"]
        assert own["source_link"] == f"/forum/t/{topic}?n=1#p1"
        for_amy = (
            await api.post(
                "fixer",
                "/api/requests",
                201,
                category="repair",
                text="The door sticks",
                source_post=second["id"],
            )
        )["request"]
        assert for_amy["author_id"] == hood.ids["amy"]
        assert for_amy["building_id"] == hood.building_a
        assert for_amy["source_link"] == f"/forum/t/{topic}?n=2#p2"
        assert [r["id"] for r in (await api.get("amy", "/api/requests/mine"))["requests"]] == [
            for_amy["id"]
        ]
        private = (
            await api.post(
                "ann",
                "/api/requests",
                201,
                category="complaint",
                text="Noise at night",
                private=True,
                source_post=first["id"],
            )
        )["request"]

        # The posts show their requests, as each reader may see them.
        seen = await api.get("amy", f"/api/requests/from-topic?topic={topic}")
        assert seen == {
            "requests": {
                "1": [{"id": own["id"], "status": "received"}],
                "2": [{"id": for_amy["id"], "status": "received"}],
            },
            "handled": [],
        }
        seen = await api.get("ann", f"/api/requests/from-topic?topic={topic}")
        assert seen["requests"]["1"] == [
            {"id": own["id"], "status": "received"},
            {"id": private["id"], "status": "received"},
        ]
        seen = await api.get("fixer", f"/api/requests/from-topic?topic={topic}")
        assert seen["handled"] == ["repair"]
        assert seen["requests"]["1"] == [{"id": own["id"], "status": "received"}]
        # A status change shows on the post.
        await api.post("fixer", f"/api/requests/{own['id']}/status", status="in_progress")
        seen = await api.get("amy", f"/api/requests/from-topic?topic={topic}")
        assert seen["requests"]["1"] == [{"id": own["id"], "status": "in_progress"}]
        # A deleted post makes no more requests.
        await api.post("amy", f"/api/forum/posts/{second['id']}/delete", 200)
        assert await api.error(
            "fixer", "/api/requests", 400, category="repair", text="x", source_post=second["id"]
        ) == "bad_request"  # fmt: skip
