"""Accounts over the real HTTP API: invites and registration, login throttling, sessions,
groups (with their effect on open sockets), admin-only endpoints, CSRF and proxy handling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import PASSWORD, Client, Deployment, login, running, seed

pytestmark = pytest.mark.timeout(90)


async def _admin_cookie(deployment: Deployment, server_http: str) -> str:
    from web.passwords import hash_password

    store = await deployment.store()
    try:
        from persistence.store import Role

        await store.create_user(
            username="boss",
            display_name="Boss",
            password_hash=await hash_password(PASSWORD),
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=0,
        )
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=server_http) as http:
        response = await http.post("/api/login", json={"username": "boss", "password": PASSWORD})
        assert response.status_code == 200
        return response.cookies["linli_session"]


async def test_invites_and_registration(deployment: Deployment) -> None:
    hood = await seed(deployment)
    async with running(deployment) as server:
        admin = await _admin_cookie(deployment, server.http)
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": admin}
        ) as http:
            made = await http.post(
                "/api/admin/invites", json={"building_id": hood.building_b, "uses": 1, "days": 7}
            )
            assert made.status_code == 201
            code = made.json()["invite"]["code"]
            assert len(code) == 8 and made.json()["invite"]["uses_left"] == 1
            bad = await http.post("/api/admin/invites", json={"building_id": 999999})
            assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"

        form = {
            "invite_code": code.lower(),
            "username": "Carol",
            "display_name": "陳小姐",
            "password": "a long password",
            "unit": " 12 b ",
            "consent": True,
        }
        async with httpx.AsyncClient(base_url=server.http) as http:
            # Consent to the privacy notice is required (web/privacy): refused with its code,
            # and nothing is written (the invite's one use is still there for the right form).
            for consent in (False, None, "yes"):
                body = (
                    {**form, "consent": consent}
                    if consent is not None
                    else {k: v for k, v in form.items() if k != "consent"}
                )
                refused = await http.post("/api/register", json=body)
                assert refused.status_code == 400, refused.text
                assert refused.json()["error"]["code"] in ("consent_required", "bad_request")
                assert refused.json()["error"]["field"] == "consent"
            weak = await http.post("/api/register", json={**form, "password": "short"})
            assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
            taken = await http.post("/api/register", json={**form, "username": "ann"})
            assert taken.status_code == 409 and taken.json()["error"]["code"] == "username_taken"
            wrong = await http.post("/api/register", json={**form, "invite_code": "ZZZZZZZZ"})
            assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_invite"
            ok = await http.post("/api/register", json=form)  # the code is read case-insensitively
            assert ok.status_code == 201, ok.text
            user = ok.json()["user"]
            assert user["username"] == "carol" and user["display_name"] == "陳小姐"
            assert user["building_id"] == hood.building_b and user["role"] == "resident"
            cookie = ok.cookies["linli_session"]
            set_cookie = ok.headers["set-cookie"].lower()
            assert "httponly" in set_cookie and "samesite=lax" in set_cookie
            assert "secure" not in set_cookie  # plain http here
            used_up = await http.post("/api/register", json={**form, "username": "dave"})
            assert used_up.json()["error"]["code"] == "invalid_invite"
            # Guessing codes is throttled per address (LINLI_LOGIN_MAX_FAILURES=5 wrong codes are
            # free, then each attempt waits 1 s, 2 s, 4 s … after the latest wrong one; checking
            # takes a while here, so a guess or two more may get through first).
            for guess in ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC"):
                response = await http.post("/api/register", json={**form, "invite_code": guess})
                assert response.json()["error"]["code"] == "invalid_invite"
            for _ in range(4):
                locked = await http.post("/api/register", json={**form, "username": "erin"})
                if locked.status_code == 429:
                    break
                assert locked.json()["error"]["code"] == "invalid_invite"
            assert locked.status_code == 429
            assert locked.json()["error"]["code"] == "too_many_attempts"
            assert 1 <= int(locked.headers["retry-after"]) <= 60
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}
        ) as http:
            me = (await http.get("/api/me")).json()
            assert me["channels"] == [f"building:{hood.building_b}"]
        # The new resident is authorised for their building's room only.
        carol = await Client.connect(server, cookie)
        assert (await carol.ok("subscribe", channel=f"building:{hood.building_b}"))["offset"] == 0
        assert await carol.error("subscribe", channel=f"building:{hood.building_a}") == "forbidden"
        await carol.close()


async def test_login_errors_and_throttling(deployment: Deployment) -> None:
    await seed(deployment)
    async with running(deployment, LINLI_LOGIN_MAX_FAILURES="3") as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            for _ in range(3):
                wrong = await http.post("/api/login", json={"username": "ann", "password": "nope"})
                assert wrong.status_code == 401
                assert wrong.json()["error"]["code"] == "wrong_credentials"
            # Delayed, not locked: attempts must now wait (1 s, 2 s … after the latest failure;
            # a check takes a while here, so a guess more may get through first), then even
            # the right password waits for its turn, and is accepted when it comes.
            for _ in range(4):
                locked = await http.post("/api/login", json={"username": "ann", "password": "no"})
                if locked.status_code == 429:
                    break
                assert locked.status_code == 401
            assert locked.status_code == 429
            assert locked.json()["error"]["code"] == "too_many_attempts"
            retry = int(locked.headers["retry-after"])
            assert 1 <= retry <= 60 and locked.json()["error"]["retry_after"] == retry
            await asyncio.sleep(retry)
            right = await http.post("/api/login", json={"username": "ANN", "password": PASSWORD})
            assert right.status_code == 200, right.text
            # Another user is not affected; unknown users get the same answer as wrong passwords.
            assert (
                await http.post("/api/login", json={"username": "amy", "password": PASSWORD})
            ).status_code == 200
            ghost = await http.post("/api/login", json={"username": "ghost", "password": "x" * 9})
            assert ghost.status_code == 401
        async with httpx.AsyncClient(base_url=server.http) as anonymous:
            me = await anonymous.get("/api/me")
            assert me.status_code == 401 and me.json()["error"]["code"] == "unauthenticated"


async def test_groups_and_leaving_ends_the_subscription(deployment: Deployment) -> None:
    await seed(deployment)
    async with running(deployment) as server:
        amy_cookie = await login(server, "amy")
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": amy_cookie}
        ) as http:
            made = await http.post("/api/groups", json={"slug": "chess", "name": "象棋 Chess"})
            assert made.status_code == 201 and made.json()["group"]["channel"] == "group:chess"
            dup = await http.post("/api/groups", json={"slug": "chess", "name": "again"})
            assert dup.status_code == 409 and dup.json()["error"]["code"] == "slug_taken"
            bad = await http.post("/api/groups", json={"slug": "Chess Club!", "name": "x"})
            assert bad.status_code == 400
            listing = (await http.get("/api/groups")).json()["groups"]
            assert [(g["slug"], g["joined"], g["member_count"]) for g in listing] == [
                ("gardening", False, 1),
                ("chess", True, 1),
            ] or sorted((g["slug"], g["joined"], g["member_count"]) for g in listing) == [
                ("chess", True, 1),
                ("gardening", False, 1),
            ]
            assert (await http.post("/api/groups/gardening/join", json={})).status_code == 200
            assert (await http.post("/api/groups/nope/join", json={})).status_code == 404

        amy = await Client.connect(server, amy_cookie)
        await amy.ok("subscribe", channel="group:gardening")
        ack = await amy.ok("publish", channel="group:gardening", text="新會員", client_msg_id="g1")
        assert ack["offset"] == 1
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": amy_cookie}
        ) as http:
            assert (await http.post("/api/groups/gardening/leave", json={})).status_code == 200
        gone = await amy.push("unsubscribed")
        assert gone["channel"] == "group:gardening" and gone["reason"] == "left"
        assert (
            await amy.error("publish", channel="group:gardening", text="x", client_msg_id="g2")
            == "forbidden"
        )
        await amy.close()


async def test_admin_only_and_csrf_rules(deployment: Deployment) -> None:
    hood = await seed(deployment)
    async with running(deployment) as server:
        ann = await login(server, "ann")
        async with httpx.AsyncClient(base_url=server.http, cookies={"linli_session": ann}) as http:
            for path, body in (
                ("/api/admin/buildings", {"name": "C"}),
                ("/api/admin/invites", {"building_id": hood.building_a}),
                (f"/api/admin/users/{hood.users['amy']}/role", {"role": "admin"}),
            ):
                refused = await http.post(path, json=body)
                assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
            # A cross-site form post: not JSON, and from another origin.
            form = await http.post("/api/groups", data={"slug": "evil", "name": "x"})
            assert form.status_code == 415
            cross = await http.post(
                "/api/groups",
                json={"slug": "evil", "name": "x"},
                headers={"Origin": "https://evil.example"},
            )
            assert cross.status_code == 403
            assert cross.json()["error"]["code"] == "origin_not_allowed"

        # An admin's role change closes the user's sockets so they come back with the new role.
        admin = await _admin_cookie(deployment, server.http)
        amy = await Client.connect(server, await login(server, "amy"))
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": admin}
        ) as http:
            changed = await http.post(
                f"/api/admin/users/{hood.users['amy']}/role", json={"role": "moderator"}
            )
            assert changed.status_code == 200
        code, _ = await asyncio.wait_for(amy.closed, 5)
        assert code == 4004


async def test_behind_a_trusted_proxy(tmp_path: Path) -> None:
    # Proxy handling does not depend on the mode: the embedded one is enough.
    deployment = Deployment(
        "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path
    )
    await seed(deployment)
    public = "https://linli.example"
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "linli.example",
        "X-Forwarded-For": "203.0.113.9",
    }
    async with running(deployment, LINLI_TRUSTED_PROXY_HOPS="1") as server:
        async with httpx.AsyncClient(base_url=server.http, headers=forwarded) as http:
            response = await http.post("/api/login", json={"username": "ann", "password": PASSWORD})
            assert response.status_code == 200
            assert "secure" in response.headers["set-cookie"].lower()
            # Secure, so __Host- (tests/e2e/test_nginx.py checks the rest through nginx).
            cookie = response.cookies["__Host-linli_session"]
        ok = await Client.connect(
            server,
            cookie,
            origin=public,
            additional_headers={**forwarded, "Cookie": f"__Host-linli_session={cookie}"},
        )
        await ok.close()
    # Without trusting the proxy, the same handshake is cross-origin and refused.
    async with running(deployment) as server:
        cookie = await login(server, "ann")
        with pytest.raises(InvalidStatus) as refused:
            await Client.connect(
                server,
                cookie,
                origin=public,
                additional_headers={**forwarded, "Cookie": f"linli_session={cookie}"},
            )
        assert refused.value.response.status_code == 403


async def test_pages_send_browsers_to_the_websocket_port_or_to_their_own_origin(
    tmp_path: Path,
) -> None:
    """Direct, a page names the websockets server's port (and its CSP allows exactly that port
    on the page's host); behind a trusted proxy it names none, so the browser uses /ws on the
    page's origin and the proxy routes it."""
    import json
    import re

    deployment = Deployment(
        "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path
    )
    await seed(deployment)

    def page_facts(html: str) -> dict[str, object]:
        found = re.search(r'<script type="application/json" id="linli-page">(.*?)</script>', html)
        assert found is not None
        return dict(json.loads(found.group(1)))

    async with running(deployment) as server:
        assert server.ws_port is not None
        async with httpx.AsyncClient(base_url=server.http) as http:
            page = await http.get("/login")
        assert page.status_code == 200
        assert page_facts(page.text)["ws_port"] == server.ws_port
        csp = page.headers["content-security-policy"]
        assert (
            f"connect-src 'self' ws://127.0.0.1:{server.ws_port} wss://127.0.0.1:{server.ws_port};"
            in csp
        )
    async with running(deployment, LINLI_TRUSTED_PROXY_HOPS="1") as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            page = await http.get("/login", headers={"X-Forwarded-Host": "linli.example"})
        assert page_facts(page.text)["ws_port"] is None
        assert "connect-src 'self';" in page.headers["content-security-policy"]


async def test_websockets_are_served_on_their_own_port_only(tmp_path: Path) -> None:
    """One WebSocket transport (design 0024, 4): an upgrade on the HTTP port gets a 404 that
    names the WebSocket port, and LINLI_WS_PORT=0 (which once moved /ws there) stops the server
    with a message saying what to set."""
    from tests.e2e.harness import Server

    deployment = Deployment(
        "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path
    )
    await seed(deployment)
    async with running(deployment) as server:
        cookie = await login(server, "amy")
        with pytest.raises(InvalidStatus) as refused:
            await connect(
                f"ws://127.0.0.1:{server.port}/ws",
                additional_headers={"Cookie": f"linli_session={cookie}"},
            )
        response = refused.value.response
        assert response.status_code == 404
        error = orjson.loads(response.body)["error"]
        assert error["code"] == "not_found"
        assert f"port {server.ws_port} (LINLI_WS_PORT)" in error["message"]
        # The right port serves (Client.connect fails on a refused handshake).
        client = await Client.connect(server, cookie)
        await client.close()
    server = Server(deployment, LINLI_WS_PORT="0")
    with pytest.raises(RuntimeError, match="server exited early") as failed:
        await server.start()
    assert "LINLI_WS_PORT: 0 is not a port" in str(failed.value)


async def test_a_taken_websocket_port_stops_the_server_with_a_clear_message(
    tmp_path: Path,
) -> None:
    import socket

    from tests.e2e.harness import Server

    deployment = Deployment(
        "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(deployment, LINLI_WS_PORT=str(port))
        with pytest.raises(RuntimeError, match="server exited early") as failed:
            await server.start()
    assert f"cannot listen for WebSockets on 127.0.0.1:{port}" in str(failed.value)
    assert "Set LINLI_WS_PORT to a free port" in str(failed.value)
