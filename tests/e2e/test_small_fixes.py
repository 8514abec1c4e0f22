"""End to end, issue 24 item 6: the smaller holes, each with the answer it used to give."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.harness import Client, Deployment, running
from tests.e2e.polls_helpers import PollApi, make_voters

pytestmark = pytest.mark.timeout(90)

OPTIONS = ["yes", "no"]


async def test_poll_channels_missing_and_draft_and_join_codes(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 2)
    room = f"building:{voters.building_id}"
    async with running(deployment) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        resident_cookie = voters.cookies["v0000"][1]
        try:
            draft = await api.create(channel=room, question="Paint?", options=OPTIONS)
            opened = await api.open(
                (await api.create(channel=room, question="Lift?", options=OPTIONS))["id"]
            )
            async with httpx.AsyncClient(
                base_url=server.http, cookies={"linli_session": resident_cookie}
            ) as http:
                # A missing poll's history: 404 poll_not_found (it was a 500).
                missing = await http.get("/api/channels/poll:999999/history")
                assert missing.status_code == 404, missing.text
                assert missing.json()["error"]["code"] == "poll_not_found"
                # A draft's channel is not there for residents, over HTTP...
                hidden = await http.get(f"/api/channels/poll:{draft['id']}/history")
                assert hidden.status_code == 404, hidden.text
                assert hidden.json()["error"]["code"] == "poll_not_found"
                shown = await http.get(f"/api/channels/poll:{opened['id']}/history")
                assert shown.status_code == 200, shown.text
            # ... and over the WebSocket; its organiser still watches it.
            resident = await Client.connect(server, resident_cookie)
            assert await resident.error("subscribe", channel=f"poll:{draft['id']}") == (
                "poll_not_found"
            )
            assert await resident.error("subscribe", channel="poll:999999") == "poll_not_found"
            await resident.ok("subscribe", channel=f"poll:{opened['id']}")
            organiser = await Client.connect(server, voters.cookies[voters.organiser][1])
            await organiser.ok("subscribe", channel=f"poll:{draft['id']}")
            await resident.close()
            await organiser.close()
            # /p/<code>: a logged-out visitor learns nothing, whether the code exists or not.
            async with httpx.AsyncClient(base_url=server.http) as anonymous:
                real = await anonymous.get(f"/p/{opened['join_code']}")
                fake = await anonymous.get("/p/NOSUCHCODE")
                assert real.status_code == fake.status_code == 303
                # To the login, coming back to the address they typed: the same answer for a
                # code that exists and one that does not.
                assert real.headers["location"] == f"/login?next=/p/{opened['join_code']}"
                assert fake.headers["location"] == "/login?next=/p/NOSUCHCODE"
            async with httpx.AsyncClient(
                base_url=server.http, cookies={"linli_session": resident_cookie}
            ) as http:
                real = await http.get(f"/p/{opened['join_code']}")
                assert real.headers["location"] == f"/polls/{opened['id']}"
                if draft["join_code"]:
                    early = await http.get(f"/p/{draft['join_code']}")
                    assert early.headers["location"] == "/"
        finally:
            await api.aclose()


async def test_a_duplicated_host_header_is_a_bad_request(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 1)
    async with running(deployment) as server:
        assert server.ws_port is not None
        cookie = voters.cookies["v0000"][1]
        for repeated in ("Host: 127.0.0.1\r\nHost: evil.example", "Origin: a\r\nOrigin: b"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.ws_port)
            if repeated.startswith("Origin"):
                repeated = f"Host: 127.0.0.1:{server.ws_port}\r\n{repeated}"
            writer.write(
                (
                    f"GET /ws HTTP/1.1\r\n{repeated}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    f"Sec-WebSocket-Version: 13\r\nCookie: linli_session={cookie}\r\n\r\n"
                ).encode()
            )
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            assert status.startswith(b"HTTP/1.1 400"), (repeated, status)
        # The server is fine afterwards.
        ok = await Client.connect(server, cookie)
        await ok.ok("subscribe", channel=f"building:{voters.building_id}")
        await ok.close()
