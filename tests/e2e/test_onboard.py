"""Onboarding end to end, in both modes, through the real server: a building's poster, its QR
code read back by a real decoder to a link that registers a new account, registrations counted
by source; a resident registered at the management desk in both modes (printed code, first
password), refused to non-staff, bad input with its documented codes and nothing written, the
first login that makes the resident choose a password, the consent and the audit trail."""

from __future__ import annotations

import io
import re
import time
import zipfile
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from persistence.audit.sql import SqlAuditLog
from persistence.store import Role
from tests.e2e.harness import PASSWORD, Deployment, Server, login, running, seed
from tests.e2e.qr_helpers import decode, poster_svg, rasterise

pytestmark = pytest.mark.timeout(240)

PUBLIC = "https://linli.example"
HOURS = "週一至週五 9:00-18:00 / Mon-Fri 9:00-18:00"


async def _user(deployment: Deployment, username: str, role: Role) -> int:
    from web.passwords import hash_password

    store = await deployment.store()
    try:
        user = await store.create_user(
            username=username,
            display_name=username.title(),
            password_hash=await hash_password(PASSWORD),
            role=role,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
        return user.id
    finally:
        await store.close()


async def _rows(deployment: Deployment, query: str, *args: Any) -> list[tuple[Any, ...]]:
    store = await deployment.store()
    try:
        rows = await store.database.fetch(query, *args)
        width = query.split(" FROM ")[0].count(",") + 1
        return [tuple(r[i] for i in range(width)) for r in rows]
    finally:
        await store.close()


async def _audit(deployment: Deployment) -> list[tuple[str, int | None, int | None]]:
    store = await deployment.store()
    try:
        entries = await SqlAuditLog(store.database).entries(limit=500)
        return [
            (e.action, e.actor_id, e.target_user_id)
            for e in reversed(entries)
            if e.feature == "onboard"
        ]
    finally:
        await store.close()


def _client(server: Server, cookie: str | None = None) -> httpx.AsyncClient:
    cookies = {"linli_session": cookie} if cookie else {}
    return httpx.AsyncClient(
        base_url=server.http, cookies=cookies, timeout=30, headers={"Accept": "text/html"}
    )


async def test_poster_qr_code_decodes_to_a_link_that_registers(deployment: Deployment) -> None:
    hood = await seed(deployment)
    await _user(deployment, "boss", Role.ADMIN)
    desk_id = await _user(deployment, "desk", Role.MANAGEMENT)
    async with running(deployment, LINLI_PUBLIC_URL=PUBLIC) as server:
        a = hood.building_a
        async with (
            _client(server, await login(server, "ann")) as ann,
            _client(server, await login(server, "mo")) as mo,
            _client(server) as nobody,
            _client(server, await login(server, "desk")) as desk,
            _client(server, await login(server, "boss")) as boss,
        ):
            # Residents and moderators may not; nobody logged in is sent to log in.
            for who in (ann, mo):
                for path in ("/admin/posters", f"/admin/posters/{a}", "/admin/desk"):
                    assert (await who.get(path)).status_code == 403, path
                refused = await who.post(f"/api/onboard/posters/{a}", json={})
                assert refused.status_code == 403
                assert refused.json()["error"]["code"] == "forbidden"
                assert (await who.get("/api/onboard/sources")).status_code == 403
            page = await nobody.get(f"/admin/posters/{a}")
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
            assert (await nobody.post(f"/api/onboard/posters/{a}", json={})).status_code == 401
            assert await _audit(deployment) == []

            # The help desk's hours are the console's setting.
            saved = await boss.post("/api/admin/settings", json={"help_desk": HOURS})
            assert saved.status_code == 200, saved.text
            # No poster code yet: the page offers to make one; the management office makes it.
            page = await desk.get(f"/admin/posters/{a}")
            assert page.status_code == 200 and 'id="make-code"' in page.text
            assert "poster-qr" not in page.text
            assert (await desk.post("/api/onboard/posters/999999", json={})).status_code == 404
            made = await desk.post(f"/api/onboard/posters/{a}", json={})
            assert made.status_code == 201, made.text
            code = made.json()["code"]
            assert made.json()["url"] == f"{PUBLIC}/register?invite={code}"

            page = await desk.get(f"/admin/posters/{a}")
            assert page.status_code == 200
            html = page.text
            assert f'<span class="poster-invite" id="poster-invite">{code}</span>' in html
            assert "Block A" in html and "週一至週五 9:00-18:00" in html
            # 繁體中文 first, English below, whatever the reader's language.
            assert html.index("用手機相機掃描 QR 碼") < html.index("Scan the QR code")
            assert html.count('class="poster-step"') == 3

            # What a phone reads from the printed code.
            link = decode(rasterise(poster_svg(html)))
            assert link == f"{PUBLIC}/register?invite={code}"

        # Following it (on this server, not linli.example) registers a new account.
        parts = urlsplit(link)
        async with _client(server) as phone:
            form = await phone.get(f"{parts.path}?{parts.query}")
            assert form.status_code == 200
            filled = re.search(r'id="invite_code"[^>]* value="([A-Z0-9]+)"', form.text)
            assert filled and filled.group(1) == code
            done = await phone.post(
                "/api/register",
                json={
                    "invite_code": filled.group(1),
                    "username": "newbie",
                    "display_name": "新住戶",
                    "password": "a long password",
                    "unit": "3C",
                    "consent": True,
                },
            )
            assert done.status_code == 201, done.text
            me = await phone.get("/api/me")
            assert me.json()["user"]["username"] == "newbie"
            assert me.json()["user"]["building_id"] == a

        # Registrations by source: the poster's one; an ordinary invite's counts apart.
        store = await deployment.store()
        try:
            now = int(time.time() * 1000)
            await store.create_invite(a, "PLAINONE", uses=2, expires_at=now + 86_400_000, now=now)
        finally:
            await store.close()
        async with _client(server) as other:
            done = await other.post(
                "/api/register",
                json={
                    "invite_code": "PLAINONE",
                    "username": "plain",
                    "display_name": "Plain",
                    "password": "a long password",
                    "unit": "4D",
                    "consent": True,
                },
            )
            assert done.status_code == 201, done.text
        async with _client(server, await login(server, "desk")) as desk:
            counts = (await desk.get("/api/onboard/sources")).json()["buildings"]
            assert counts == [{"building_id": a, "poster": 1, "invite": 1, "desk": 0}]
            listing = await desk.get("/admin/posters")
            assert listing.status_code == 200 and f"海報邀請碼：{code}" in listing.text
        assert await _audit(deployment) == [("poster_code", desk_id, None)]


async def test_desk_registration_both_ways_and_the_first_login(deployment: Deployment) -> None:
    hood = await seed(deployment)
    desk_id = await _user(deployment, "desk", Role.MANAGEMENT)
    a = hood.building_a
    users_before = len(await _rows(deployment, "SELECT id FROM users"))
    base = {
        "building_id": a,
        "unit": "1a",  # the seed's 1A, compared as registration compares
        "display_name": "王阿姨",
        "username": "wang1a",
        "mode": "code",
        "consent_how": "paper_form",
        "consent": True,
    }
    async with running(deployment) as server:
        async with (
            _client(server, await login(server, "ann")) as ann,
            _client(server) as nobody,
            _client(server, await login(server, "desk")) as desk,
        ):
            assert (await ann.post("/api/onboard/residents", json=base)).status_code == 403
            assert (await nobody.post("/api/onboard/residents", json=base)).status_code == 401

            async def refused(status: int, code: str, field: str | None, **change: Any) -> None:
                answer = await desk.post("/api/onboard/residents", json={**base, **change})
                assert answer.status_code == status, answer.text
                error = answer.json()["error"]
                assert (error["code"], error.get("field")) == (code, field)

            await refused(400, "unit_unknown", "unit", unit="99Z")
            await refused(409, "username_taken", "username", username="ANN")
            await refused(400, "consent_required", "consent", consent=False)
            await refused(400, "weak_password", "password", mode="password", password="short")
            await refused(400, "bad_request", "consent_how", consent_how="nodded")
            await refused(404, "not_found", "building_id", building_id=999999)
            assert len(await _rows(deployment, "SELECT id FROM users")) == users_before
            assert await _audit(deployment) == []

            # A printed one-time code.
            made = await desk.post("/api/onboard/residents", json=base)
            assert made.status_code == 201, made.text
            wang = made.json()["user"]["id"]
            code = made.json()["code"]
            assert re.fullmatch(r"[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}", code)
            # A first password staff type in.
            first = "Welcome 2026!"
            made = await desk.post(
                "/api/onboard/residents",
                json={
                    **base,
                    "username": "lee1a",
                    "display_name": "李伯",
                    "mode": "password",
                    "password": first,
                    "consent_how": "verbal_desk",
                },
            )
            assert made.status_code == 201 and made.json()["code"] is None
            lee = made.json()["user"]["id"]

        async with _client(server) as http:
            # Neither logs in before choosing a password.
            for username, password, status, error in (
                ("wang1a", code, 401, "wrong_credentials"),
                ("lee1a", first, 403, "password_change_required"),
            ):
                answer = await http.post(
                    "/api/login", json={"username": username, "password": password}
                )
                assert answer.status_code == status, answer.text
                assert answer.json()["error"]["code"] == error
            page = await http.get("/first-login?username=lee1a")
            assert page.status_code == 200 and 'value="lee1a"' in page.text

            async def first_login(username: str, secret: str, password: str) -> httpx.Response:
                return await http.post(
                    "/api/first-login",
                    json={"username": username, "secret": secret, "password": password},
                )

            wrong = await first_login("wang1a", "AAAAA-AAAAA", "my own password")
            assert wrong.status_code == 400
            assert wrong.json()["error"]["code"] == "invalid_first_login"
            same = await first_login("lee1a", first, first)
            assert same.status_code == 400 and same.json()["error"]["code"] == "same_password"
            # Not a first login: an ordinary resident cannot use the page.
            assert (await first_login("ann", PASSWORD, "another password")).status_code == 400

            done = await first_login("wang1a", code.lower().replace("-", " "), "my own password")
            assert done.status_code == 200, done.text
            assert done.json()["user"]["username"] == "wang1a" and done.cookies["linli_session"]
            done = await first_login("lee1a", first, "lee's own password")
            assert done.status_code == 200, done.text
            # Each works once.
            assert (await first_login("wang1a", code, "yet another one")).status_code == 400
            assert (await first_login("lee1a", first, "yet another one")).status_code == 400

        assert await login(server, "wang1a", "my own password")
        assert await login(server, "lee1a", "lee's own password")
        async with _client(server) as http:
            old = await http.post("/api/login", json={"username": "lee1a", "password": first})
            assert old.status_code == 401

        # A resident who lost the slip: an admin's reset code sets a password, and the first
        # login takes it (the account is not left refused for ever).
        await _user(deployment, "boss", Role.ADMIN)
        async with (
            _client(server, await login(server, "desk")) as desk,
            _client(server, await login(server, "boss")) as boss,
            _client(server) as http,
        ):
            made = await desk.post("/api/onboard/residents", json={**base, "username": "chen1a"})
            assert made.status_code == 201, made.text
            chen = made.json()["user"]["id"]
            reset = await boss.post(f"/api/admin/residents/{chen}/reset-code", json={})
            assert reset.status_code == 201, reset.text
            body = {"username": "chen1a", "code": reset.json()["code"], "password": "chen's pw 1"}
            redeemed = await http.post("/api/password-reset", json=body)
            assert redeemed.status_code == 403
            assert redeemed.json()["error"]["code"] == "password_change_required"
            done = await http.post(
                "/api/first-login",
                json={"username": "chen1a", "secret": "chen's pw 1", "password": "chen's pw 2"},
            )
            assert done.status_code == 200, done.text
        assert await login(server, "chen1a", "chen's pw 2")

    # Who registered whom, how the consent was given, and the resident's own first login.
    assert await _audit(deployment) == [
        ("desk_register", desk_id, wang),
        ("desk_register", desk_id, lee),
        ("first_password", wang, wang),
        ("first_password", lee, lee),
        ("desk_register", desk_id, chen),
        ("first_password", chen, chen),
    ]
    consents = await _rows(
        deployment,
        "SELECT user_id, how, by_user_id FROM privacy_consents WHERE user_id IN ($1, $2) "
        "ORDER BY user_id",
        wang,
        lee,
    )
    assert consents == [(wang, "desk:paper_form", desk_id), (lee, "desk:verbal_desk", desk_id)]
    units = await _rows(
        deployment,
        "SELECT u.username, n.label FROM users u JOIN units n ON n.id = u.unit_id "
        "WHERE u.id IN ($1, $2) ORDER BY u.id",
        wang,
        lee,
    )
    assert units == [("wang1a", "1A"), ("lee1a", "1A")]
    assert await _rows(deployment, "SELECT user_id FROM onboard_first_login") == []


async def test_a_helper_files_a_request_for_a_resident(deployment: Deployment) -> None:
    hood = await seed(deployment)
    desk_id = await _user(deployment, "desk", Role.MANAGEMENT)
    ann, amy, bob = hood.users["ann"], hood.users["amy"], hood.users["bob"]
    body = {"category": "repair", "text": "走廊燈壞了 / the corridor light is out"}
    async with running(deployment) as server:
        async with (
            _client(server, await login(server, "ann")) as ann_http,
            _client(server, await login(server, "amy")) as amy_http,
            _client(server, await login(server, "bob")) as bob_http,
            _client(server, await login(server, "desk")) as desk_http,
        ):

            async def call(http: httpx.AsyncClient, path: str, want: int, **json: Any) -> Any:
                answer = await http.post(path, json=json)
                assert answer.status_code == want, (path, answer.text)
                return answer.json()

            # Naming: nobody unknown, never oneself.
            bad = await call(ann_http, "/api/helpers", 404, username="nobody")
            assert bad["error"] == {**bad["error"], "code": "not_found", "field": "username"}
            bad = await call(ann_http, "/api/helpers", 400, username="ANN")
            assert bad["error"]["code"] == "bad_request"
            # Nobody acts for ann before she asks.
            refused = await call(amy_http, f"/api/helpers/for/{ann}/requests", 403, **body)
            assert refused["error"]["code"] == "forbidden"

            row = (await call(ann_http, "/api/helpers", 201, username="amy"))["helper"]["id"]
            # Naming the same helper again is the same row.
            again = await call(ann_http, "/api/helpers", 201, username="amy")
            assert again["helper"]["id"] == row
            # bob was not named: refused, and nothing filed.
            await call(bob_http, f"/api/helpers/for/{ann}/requests", 403, **body)
            bad = await call(amy_http, f"/api/helpers/for/{ann}/requests", 400, category="x")
            assert bad["error"]["code"] == "bad_request"

            filed = await call(amy_http, f"/api/helpers/for/{ann}/requests", 201, **body)
            request_id = filed["request"]["id"]
            assert filed["request"]["author_id"] == ann
            assert filed["request"]["building_id"] == hood.building_a

            # "by amy for ann", on the request, for ann and for the office handling it.
            for http in (ann_http, desk_http):
                seen = (await http.get(f"/api/requests/{request_id}")).json()
                assert seen["filed_by"] == {"id": amy, "name": "Amy"}
                assert seen["mine"] is (http is ann_http)
            mine = (await ann_http.get("/api/helpers")).json()
            assert [(h["helper_id"], h["by_desk"]) for h in mine["helpers"]] == [(amy, False)]
            assert [(a["kind"], a["object_id"], a["helper_id"]) for a in mine["acts"]] == [
                ("request", request_id, amy)
            ]
            helping = (await amy_http.get("/api/helpers")).json()["helping"]
            assert [h["resident_id"] for h in helping] == [ann]
            # A request ann filed herself says nothing of a helper.
            own = await call(ann_http, "/api/requests", 201, category="question", text="Hello?")
            seen = (await ann_http.get(f"/api/requests/{own['request']['id']}")).json()
            assert seen["filed_by"] is None

            # In ann's data export: her helper and what was done for her.
            exported = await ann_http.get("/api/privacy/export")
            assert exported.status_code == 200
            with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
                document = orjson.loads(archive.read("data.json"))
            assert [(h["helper_id"], h["ended_at"]) for h in document["helpers"]] == [(amy, None)]
            assert [(d["object_id"], d["helper"]) for d in document["done_for_me"]] == [
                (request_id, "Amy")
            ]

            # ann ends it: amy may not any more; bob cannot end what is not his.
            await call(bob_http, f"/api/helpers/{row}/end", 404)
            await call(ann_http, f"/api/helpers/{row}/end", 200)
            await call(amy_http, f"/api/helpers/for/{ann}/requests", 403, **body)

            # bob asked the desk: the staff member becomes his helper.
            refused = await call(ann_http, "/api/onboard/helpers", 403, username="bob")
            assert refused["error"]["code"] == "forbidden"
            await call(desk_http, "/api/onboard/helpers", 404, username="nobody")
            await call(desk_http, "/api/onboard/helpers", 201, username="bob")
            filed = await call(desk_http, f"/api/helpers/for/{bob}/requests", 201, **body)
            seen = (await bob_http.get(f"/api/requests/{filed['request']['id']}")).json()
            assert seen["filed_by"] == {"id": desk_id, "name": "Desk"}
            bobs = (await bob_http.get("/api/helpers")).json()["helpers"]
            assert [(h["helper_id"], h["by_desk"]) for h in bobs] == [(desk_id, True)]

    requests = await _rows(deployment, "SELECT author_id FROM requests ORDER BY id")
    assert requests == [(ann,), (ann,), (bob,)]
    assert await _audit(deployment) == [
        ("helper_add", ann, ann),
        ("act_for", amy, ann),
        ("helper_end", ann, ann),
        ("helper_add", desk_id, bob),
        ("act_for", desk_id, bob),
    ]
