"""The admin console's API end to end, in both modes, through the real server: every route
refused for a non-admin (403 ``forbidden``) and for nobody logged in (401); the CSV import's
preview and its all-or-nothing commit, counted in the tables; residents moved, disabled (login
refused, sessions ended) and enabled; sessions listed and ended; a reset code redeemed once,
throttled like a login; invites per unit, their uses and revocation; settings checked and
changed; each change in the one audit log."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from persistence.audit.sql import SqlAuditLog
from persistence.store import Role
from tests.e2e.harness import PASSWORD, Deployment, Server, login, running, seed
from web.sessions import token_hash

pytestmark = pytest.mark.timeout(240)

#: (method, path, body) of every admin route.
ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/admin/units", None),
    ("GET", "/api/admin/units/export", None),
    ("POST", "/api/admin/units/import", {"csv": "棟,樓,戶號,持分‰,人數\n", "commit": False}),
    ("POST", "/api/admin/buildings/1", {"name": "X"}),
    ("POST", "/api/admin/buildings/1/units", {"label": "9Z"}),
    ("POST", "/api/admin/buildings/1/units/1", {"label": "9Z"}),
    ("GET", "/api/admin/residents", None),
    ("POST", "/api/admin/residents/1/role", {"role": "admin"}),
    ("POST", "/api/admin/residents/1/unit", {"building_id": 1, "unit": "2B"}),
    ("POST", "/api/admin/residents/1/status", {"disabled": True}),
    ("GET", "/api/admin/residents/1/sessions", None),
    ("POST", "/api/admin/residents/1/sessions/end", {}),
    ("POST", "/api/admin/residents/1/reset-code", {}),
    ("GET", "/api/admin/invites", None),
    ("POST", "/api/admin/invite-codes", {"building_id": 1}),
    ("POST", "/api/admin/invites/ABCDEFGH/revoke", {}),
    ("GET", "/api/admin/settings", None),
    ("POST", "/api/admin/settings", {"help_desk": "x"}),
]


_OPEN: list[httpx.AsyncClient] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


class Http:
    def __init__(self, server: Server, cookie: str | None) -> None:
        cookies = {"linli_session": cookie} if cookie else {}
        self.client = httpx.AsyncClient(base_url=server.http, cookies=cookies, timeout=30)
        _OPEN.append(self.client)

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        if method == "GET":
            return await self.client.get(path)
        return await self.client.post(path, json=body if body is not None else {})

    async def post(self, path: str, expect: int = 200, **body: Any) -> dict[str, Any]:
        response = await self.client.post(path, json=body)
        assert response.status_code == expect, (path, response.text)
        return response.json()  # type: ignore[no-any-return]

    async def get(self, path: str, expect: int = 200) -> dict[str, Any]:
        response = await self.client.get(path)
        assert response.status_code == expect, (path, response.text)
        return response.json()  # type: ignore[no-any-return]


async def _admin_user(deployment: Deployment) -> int:
    from web.passwords import hash_password

    store = await deployment.store()
    try:
        user = await store.create_user(
            username="boss",
            display_name="Boss",
            password_hash=await hash_password(PASSWORD),
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
        return user.id
    finally:
        await store.close()


async def _count(deployment: Deployment, table: str) -> int:
    store = await deployment.store()
    try:
        return int(await store.database.fetchval(f"SELECT COUNT(*) FROM {table}"))
    finally:
        await store.close()


async def _audit(deployment: Deployment) -> list[tuple[str, str]]:
    store = await deployment.store()
    try:
        entries = await SqlAuditLog(store.database).entries(limit=500)
        return [(e.feature, e.action) for e in reversed(entries)]
    finally:
        await store.close()


async def test_every_admin_route_is_refused_to_others(deployment: Deployment) -> None:
    hood = await seed(deployment)
    async with running(deployment) as server:
        residents = Http(server, await login(server, "ann"))
        moderator = Http(server, await login(server, "mo"))
        nobody = Http(server, None)
        for method, path, body in ADMIN_ROUTES:
            for who in (residents, moderator):
                response = await who.call(method, path, body)
                assert response.status_code == 403, (method, path, response.text)
                assert response.json()["error"]["code"] == "forbidden"
            response = await nobody.call(method, path, body)
            assert response.status_code == 401, (method, path)
        # Nothing of it happened.
        me = await residents.get("/api/me")
        assert me["user"]["role"] == "resident"
        assert await _audit(deployment) == []
        pages = residents.client
        for path in ("/admin", "/admin/residents", "/admin/invites", "/admin/settings"):
            page = await pages.get(path, headers={"Accept": "text/html"})
            assert page.status_code == 403, path
        home = await pages.get("/", headers={"Accept": "text/html"})
        assert home.status_code == 200 and 'href="/admin"' not in home.text
        await _admin_user(deployment)
        boss = Http(server, await login(server, "boss"))
        home = await boss.client.get("/", headers={"Accept": "text/html"})
        assert 'href="/admin"' in home.text
        console = await boss.client.get("/admin", headers={"Accept": "text/html"})
        assert console.status_code == 200 and 'aria-current="page">棟、樓與戶' in console.text
        assert hood.users["ann"]


async def test_units_import_preview_commit_and_export(deployment: Deployment) -> None:
    hood = await seed(deployment)
    await _admin_user(deployment)
    async with running(deployment) as server:
        admin = Http(server, await login(server, "boss"))
        units_before = await _count(deployment, "units")
        bad = (
            "棟,樓,戶號,持分‰,人數\n"
            "Block A,1,1A,12.5,3\n"
            "Block Z,2,2A,10,2\n"  # unknown building
            "Block A,1,1a,10,2\n"  # the same unit as line 2
            "Block B,3,3B,abc,2\n"  # bad share
            "Block B,3,3C,0,2\n"  # share must be above 0
            "Block B,4,4A,10,-1\n"  # bad size
        )
        preview = await admin.post("/api/admin/units/import", csv=bad, commit=False)
        assert not preview["ok"] and not preview["written"]
        errors = {x["line"]: x["errors"] for x in preview["lines"]}
        assert errors == {
            2: [],
            3: ["admin.import.unknown_building"],
            4: ["admin.import.duplicate_unit"],
            5: ["admin.import.bad_share"],
            6: ["admin.import.bad_share"],
            7: ["admin.import.bad_size"],
        }
        refused = await admin.post("/api/admin/units/import", 400, csv=bad, commit=True)
        assert refused["error"]["code"] == "import_invalid"
        assert len(refused["error"]["lines"]) == 6
        assert await _count(deployment, "units") == units_before
        assert await _count(deployment, "admin_units") == 0
        header = await admin.post("/api/admin/units/import", csv="a,b\n1,2\n")
        assert header["file_error"] == "admin.import.bad_header"

        good = (
            "building,floor,unit,share_permille,household_size\n"
            "Block A,1,1A,12.5,3\n"  # 1A exists (the seed's): an update
            "Block A,2,2A,10,2\n"
            "Block B,5,5B,7.125,4\n"
        )
        preview = await admin.post("/api/admin/units/import", csv=good)
        assert preview["ok"] and (preview["created"], preview["updated"]) == (2, 1)
        assert [x["action"] for x in preview["lines"]] == ["update", "create", "create"]
        assert await _count(deployment, "admin_units") == 0  # a preview writes nothing
        done = await admin.post("/api/admin/units/import", csv=good, commit=True)
        assert done["written"] and (done["created"], done["updated"]) == (2, 1)
        assert await _count(deployment, "units") == units_before + 2
        assert await _count(deployment, "admin_units") == 3

        listed = await admin.get("/api/admin/units")
        by_label = {(u["building"], u["label"]): u for u in listed["units"]}
        assert by_label[("Block B", "5B")]["share"] == "7.125"
        assert by_label[("Block A", "1A")]["residents"] == 2  # ann and amy
        exported = await admin.client.get("/api/admin/units/export")
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.lstrip("\ufeff").splitlines()
        assert lines[0] == "棟,樓,戶號,持分‰,人數"
        assert "Block B,5,5B,7.125,4" in lines and "Block A,1,1A,12.5,3" in lines
        # The export imports again: every line an update, except bob's unit (made by the seed
        # with no details), whose empty share and size are errors to fill in.
        again = await admin.post("/api/admin/units/import", csv=exported.text)
        assert {x["unit"]: x["action"] for x in again["lines"] if not x["errors"]} == {
            "1A": "update", "2A": "update", "5B": "update",
        }  # fmt: skip
        assert [(x["building"], x["unit"], x["errors"]) for x in again["lines"] if x["errors"]] == [
            ("Block B", "1A", ["admin.import.bad_share", "admin.import.bad_size"])
        ]

        # Buildings and single units.
        await admin.post(f"/api/admin/buildings/{hood.building_b}", name="B棟")
        made = await admin.post(
            f"/api/admin/buildings/{hood.building_b}/units", 201, label="9F", floor="9",
            share="3", household_size=1,
        )  # fmt: skip
        taken = await admin.post(f"/api/admin/buildings/{hood.building_b}/units", 409, label="9f")
        assert taken["error"]["code"] == "unit_exists"
        await admin.post(
            f"/api/admin/buildings/{hood.building_b}/units/{made['unit']['id']}", label="9G",
            floor="9", share="4", household_size=2,
        )  # fmt: skip
        bad_share = await admin.post(
            f"/api/admin/buildings/{hood.building_b}/units", 400, label="9H", share="x"
        )
        assert bad_share["error"]["field"] == "share"
        listed = await admin.get("/api/admin/units")
        assert {u["building"] for u in listed["units"]} == {"Block A", "B棟"}
        assert await _audit(deployment) == [
            ("admin", "units_import"),
            ("admin", "building_rename"),
            ("admin", "unit_create"),
            ("admin", "unit_update"),
        ]


async def test_residents_reset_codes_invites_settings(deployment: Deployment) -> None:
    hood = await seed(deployment)
    await _admin_user(deployment)
    async with running(deployment) as server:
        admin = Http(server, await login(server, "boss"))
        ann_id = hood.users["ann"]
        ann_cookie = await login(server, "ann")
        ann = Http(server, ann_cookie)
        await ann.get("/api/me")

        # Listing and filters.
        found = await admin.get(f"/api/admin/residents?building={hood.building_a}")
        assert sorted(r["username"] for r in found["residents"]) == ["amy", "ann"]
        found = await admin.get("/api/admin/residents?role=moderator")
        assert [r["username"] for r in found["residents"]] == ["mo"]
        found = await admin.get("/api/admin/residents?q=AN")
        assert [r["username"] for r in found["residents"]] == ["ann"]
        assert found["residents"][0]["sessions"] == 1
        assert (await admin.get("/api/admin/residents?role=king", 400))["error"]["code"] == (
            "bad_request"
        )

        # Role, move.
        await admin.post(f"/api/admin/residents/{ann_id}/role", role="organiser")
        await admin.post(
            f"/api/admin/residents/{ann_id}/unit", building_id=hood.building_b, unit="7C"
        )
        me = await Http(server, await login(server, "ann")).get("/api/me")
        assert me["user"]["role"] == "organiser" and me["user"]["building_id"] == hood.building_b

        # Sessions: listed, one ended.
        sessions = (await admin.get(f"/api/admin/residents/{ann_id}/sessions"))["sessions"]
        assert len(sessions) == 2
        first = token_hash(ann_cookie)[:10]
        assert first in {s["ref"] for s in sessions}
        ended = await admin.post(f"/api/admin/residents/{ann_id}/sessions/end", ref=first)
        assert ended["ended"] == 1
        assert len((await admin.get(f"/api/admin/residents/{ann_id}/sessions"))["sessions"]) == 1
        await ann.get("/api/me", 401)  # that session is over

        # Disable: sessions end, login refused; enable again.
        await admin.post(f"/api/admin/residents/{ann_id}/status", disabled=True, reason="test")
        assert (await admin.get(f"/api/admin/residents/{ann_id}/sessions"))["sessions"] == []
        response = await ann.client.post(
            "/api/login", json={"username": "ann", "password": PASSWORD}
        )
        assert response.status_code == 403 and response.json()["error"]["code"] == (
            "account_disabled"
        )
        found = await admin.get("/api/admin/residents?status=disabled")
        assert [r["username"] for r in found["residents"]] == ["ann"]
        await admin.post(f"/api/admin/residents/{ann_id}/status", disabled=False)
        await login(server, "ann")

        # A reset code: wrong code refused, the right one once, then old password gone.
        issued = await admin.post(f"/api/admin/residents/{ann_id}/reset-code", 201)
        code = issued["code"]
        assert len(code) == 11 and code[5] == "-"
        hours = (issued["expires_at"] - time.time() * 1000) / 3_600_000
        assert 71.9 < hours <= 72
        anyone = Http(server, None)
        wrong = await anyone.post(
            "/api/password-reset", 400, username="ann", code="AAAAA-AAAAA",
            password="a new secret 1",
        )  # fmt: skip
        assert wrong["error"]["code"] == "invalid_reset_code"
        nobody = await anyone.post(
            "/api/password-reset", 400, username="nosuch", code=code, password="a new secret 1"
        )
        assert nobody["error"]["code"] == "invalid_reset_code"
        short = await anyone.post(
            "/api/password-reset", 400, username="ann", code=code, password="short"
        )
        assert short["error"]["code"] == "weak_password"
        redeemed = await anyone.client.post(
            "/api/password-reset",
            json={"username": "ann", "code": code.lower(), "password": "a new secret 1"},
        )
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.cookies.get("linli_session")
        assert redeemed.json()["user"]["username"] == "ann"
        again = await anyone.post(
            "/api/password-reset", 400, username="ann", code=code, password="another one 2"
        )
        assert again["error"]["code"] == "invalid_reset_code"
        old = await anyone.client.post("/api/login", json={"username": "ann", "password": PASSWORD})
        assert old.status_code == 401
        await login(server, "ann", "a new secret 1")

        # Invites: one for a unit; registering with it lands in that unit; revoke.
        made = await admin.post(
            "/api/admin/invite-codes", 201, building_id=hood.building_a, unit="12F", uses=2,
            days=3,
        )  # fmt: skip
        code = made["invite"]["code"]
        registered = await anyone.client.post(
            "/api/register",
            json={
                "username": "newbie", "password": PASSWORD, "invite_code": code,
                "display_name": "Newbie", "unit": "1A", "consent": True,
            },
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        assert registered.json()["user"]["unit_id"] == made["invite"]["unit_id"]
        invites = {i["code"]: i for i in (await admin.get("/api/admin/invites"))["invites"]}
        assert invites[code]["unit"] == "12F" and invites[code]["uses_left"] == 1
        assert [u["username"] for u in invites[code]["used_by"]] == ["newbie"]
        assert invites[code]["state"] == "live"
        revoked = await admin.post(f"/api/admin/invites/{code}/revoke")
        assert revoked["revoked"]
        refused = await anyone.client.post(
            "/api/register",
            json={
                "username": "late", "password": PASSWORD, "invite_code": code,
                "display_name": "Late", "unit": "1A", "consent": True,
            },
        )  # fmt: skip
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_invite"
        invites = {i["code"]: i for i in (await admin.get("/api/admin/invites"))["invites"]}
        assert invites[code]["state"] == "revoked"
        await admin.post("/api/admin/invites/NOPE2345/revoke", 404)
        await admin.post("/api/admin/invite-codes", 404, building_id=999_999)

        # Settings.
        current = await admin.get("/api/admin/settings")
        assert current["settings"]["reset_code_hours"] == "72"
        assert current["settings"]["time_zone"] == "Asia/Taipei"
        assert "time_zone" not in current["read_only"]
        bad = await admin.post("/api/admin/settings", 400, reset_code_hours="0")
        assert bad["error"] == {
            "code": "bad_setting", "field": "reset_code_hours",
            "message": bad["error"]["message"],
        }  # fmt: skip
        unknown = await admin.post("/api/admin/settings", 400, session_days="3")
        assert unknown["error"]["code"] == "setting_unknown"
        changed = await admin.post(
            "/api/admin/settings", reset_code_hours="24", help_desk="每天 9:00–21:00 一樓管理處"
        )
        assert changed["settings"]["reset_code_hours"] == "24"
        issued = await admin.post(f"/api/admin/residents/{hood.users['amy']}/reset-code", 201)
        hours = (issued["expires_at"] - time.time() * 1000) / 3_600_000
        assert 23.9 < hours <= 24
        visitor = Http(server, None)  # ``anyone`` holds ann's new session by now
        page = await visitor.client.get("/forgot-password", headers={"Accept": "text/html"})
        assert "每天 9:00–21:00 一樓管理處" in page.text

        assert await _audit(deployment) == [
            ("core", "role_set"),
            ("admin", "user_move"),
            ("admin", "sessions_end"),
            ("admin", "user_disable"),
            ("admin", "user_enable"),
            ("admin", "reset_code_issue"),
            ("admin", "reset_code_use"),
            ("core", "invite_create"),
            ("admin", "invite_create"),
            ("admin", "invite_revoke"),
            ("admin", "settings_change"),
            ("admin", "reset_code_issue"),
        ]


async def test_reset_codes_are_throttled_like_logins(deployment: Deployment) -> None:
    hood = await seed(deployment)
    await _admin_user(deployment)
    async with running(deployment, LINLI_LOGIN_MAX_FAILURES="2") as server:
        admin = Http(server, await login(server, "boss"))
        code = (await admin.post(f"/api/admin/residents/{hood.users['amy']}/reset-code", 201))[
            "code"
        ]
        anyone = Http(server, None)
        statuses = []
        for _ in range(4):
            response = await anyone.client.post(
                "/api/password-reset",
                json={"username": "amy", "code": "WRONG-WRONG", "password": "a new secret 1"},
            )
            statuses.append(response.status_code)
        # Two free failures, then each attempt must wait (1 s after the latest failure).
        assert statuses[:2] == [400, 400] and 429 in statuses[2:], statuses
        waited = await anyone.client.post(
            "/api/password-reset",
            json={"username": "amy", "code": code, "password": "a new secret 1"},
        )
        assert waited.status_code == 429
        assert int(waited.headers["Retry-After"]) >= 1
