"""Moderation end to end, in both modes: the real server (and, scaled, the real ``linli worker
moderation`` process), real WebSocket clients, the real HTTP API.

Flags reach a moderator's open feed within a second; residents cannot read the feed or act;
hide/restore/delete reach live clients (on two gateways in the scaled mode) and history; the
auto-hide threshold; the word list with Chinese text; mutes until they expire and bans; the audit
log; the figures against a hand-computed case.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from persistence.moderation import FlagReason, MessageAction, NewFlag
from persistence.moderation.sql import SqlModerationStore
from persistence.store import Role
from tests.e2e.harness import (
    PASSWORD,
    Client,
    Deployment,
    Neighbourhood,
    Server,
    Worker,
    login,
    running,
    seed,
)
from web.moderation.figures import periods

pytestmark = pytest.mark.timeout(120)

HOUR = 3_600_000


async def seed_moderation(deployment: Deployment) -> Neighbourhood:
    """The harness's neighbourhood plus ada (a third resident of Block A) and root (admin)."""
    from web.passwords import hash_password

    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        pw = await hash_password(PASSWORD)
        for name, building, role in (
            ("ada", hood.building_a, Role.RESIDENT),
            ("root", None, Role.ADMIN),
        ):
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash=pw,
                role=role,
                building_id=building,
                unit_label="2B" if building else None,
                now=now,
            )
            hood.users[name] = user.id
    finally:
        await store.close()
    return hood


@contextlib.asynccontextmanager
async def moderated(deployment: Deployment, **env: str) -> AsyncIterator[Server]:
    """A server; in the scaled mode also the moderation worker as its own process (embedded runs
    it as a task)."""
    worker = Worker(deployment, "moderation").start() if deployment.mode == "scaled" else None
    try:
        async with running(deployment, **env) as server:
            yield server
    finally:
        if worker is not None:
            worker.stop()


class Http:
    """The HTTP API as one logged-in user."""

    def __init__(self, server: Server, cookie: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}, timeout=10
        )

    @classmethod
    async def login(cls, server: Server, username: str) -> Http:
        return cls(server, await login(server, username))

    async def get(self, path: str, status: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == status, response.text
        return response.json()

    async def post(self, path: str, status: int = 200, **body: Any) -> Any:
        response = await self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()


async def feed_event(client: Client, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next ``mod:flags`` publication of ``kind``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        pub = await client.push("pub", max(remaining, 0.001))
        if pub["channel"] == "mod:flags" and pub["data"]["kind"] == kind:
            return pub["data"]  # type: ignore[no-any-return]


async def test_flag_reaches_the_open_feed_within_a_second(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        mo = await Client.connect(server, await login(server, "mo"))
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        bob = await Client.connect(server, await login(server, "bob"))
        await mo.ok("subscribe", channel="mod:flags")
        await ann.ok("publish", channel=room, text="平價手袋，私訊我", client_msg_id="s1")

        started = time.monotonic()
        reply = await amy.ok("flag", channel=room, offset=1, reason="spam", text="廣告")
        event = await feed_event(mo, "flag", timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert reply == {"channel": room, "offset": 1, "duplicate": False}
        assert {k: event[k] for k in ("channel", "offset", "reason", "note", "flag_count")} == {
            "channel": room,
            "offset": 1,
            "reason": "spam",
            "note": "廣告",
            "flag_count": 1,
        }
        assert event["flagger"] == {"id": hood.users["amy"], "name": "Amy"}
        assert event["author"] == {"id": hood.users["ann"], "name": "Ann"}
        assert (event["visibility"], event["review"]) == ("visible", "open")

        # Once per resident: the same flag again is a duplicate and changes nothing.
        again = await amy.ok("flag", channel=room, offset=1, reason="other", text="again")
        assert again["duplicate"] is True
        assert await ann.error("flag", channel=room, offset=1, reason="spam") == "bad_request"
        assert await amy.error("flag", channel=room, offset=9, reason="spam") == "not_found"
        assert await amy.error("flag", channel=room, offset=1, reason="nonsense") == "bad_request"
        assert await amy.error("flag", channel=room, offset=1, reason="other") == "bad_request"
        assert await bob.error("flag", channel=room, offset=1, reason="spam") == "forbidden"

        amy_http = await Http.login(server, "amy")
        assert await amy_http.get("/api/flags/mine", channel=room) == {
            "channel": room,
            "offsets": [1],
        }
        mo_http = await Http.login(server, "mo")
        queue = await mo_http.get("/api/mod/queue")
        assert [(m["channel"], m["offset"], m["flag_count"]) for m in queue["messages"]] == [
            (room, 1, 1)
        ]
        only = queue["messages"][0]
        assert only["text"] == "平價手袋，私訊我" and only["author"]["name"] == "Ann"
        assert [(f["flagger"]["name"], f["reason"], f["note"]) for f in only["flags"]] == [
            ("Amy", "spam", "廣告")
        ]
        assert (await mo_http.get("/api/mod/queue", building=str(hood.building_b)))[
            "messages"
        ] == []
        context = await mo_http.get(f"/api/mod/messages/{room}/1/context")
        assert [p["offset"] for p in context["publications"]] == [1]
        for client in (mo, ann, amy, bob):
            await client.close()
        await amy_http.close()
        await mo_http.close()


async def test_residents_cannot_read_the_feed_or_act(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        assert await ann.error("subscribe", channel="mod:flags") == "forbidden"
        assert await ann.error("history", channel="mod:flags") == "forbidden"
        await ann.ok("publish", channel=room, text="hello", client_msg_id="h1")
        amy = await Http.login(server, "amy")
        body = {"reason": "because"}
        await amy.get("/api/mod/queue", status=403)
        await amy.get("/api/mod/figures", status=403)
        await amy.post(f"/api/mod/messages/{room}/1/hide", status=403, **body)
        await amy.post(f"/api/mod/users/{hood.users['ann']}/mute", status=403, seconds=60, **body)
        await amy.post(f"/api/mod/users/{hood.users['ann']}/ban", status=403, **body)
        await amy.post("/api/mod/words", status=403, pattern="x", **body)
        await amy.get("/api/mod/audit", status=403)
        await amy.post("/api/mod/words/test", status=403, text="x")
        # Moderators act but do not administer: the word list and settings are admins'; they
        # read the audit log's moderation entries.
        mo = await Http.login(server, "mo")
        await mo.post("/api/mod/words", status=403, pattern="x", **body)
        await mo.post("/api/mod/settings", status=403, auto_hide_threshold=1, **body)
        assert (await mo.get("/api/mod/audit"))["entries"] == []
        # An action needs a reason.
        await mo.post(f"/api/mod/messages/{room}/1/hide", status=400)
        await ann.close()
        await amy.close()
        await mo.close()


async def _hide_restore_delete(
    ann: Client, amy: Client, mo: Http, room: str, amy_http: Http
) -> None:
    """ann and amy are subscribed to room, whose offset 1 is ann's message '我的電話 9123 4567'
    and offset 2 amy's 'ok'."""
    hidden = await mo.post(f"/api/mod/messages/{room}/1/hide", reason="私隱資料")
    assert hidden["changed"] is True and hidden["message"]["visibility"] == "hidden"
    for client in (ann, amy):
        event = (await client.pubs(1))[0]
        assert event["offset"] == hidden["event"] == 3
        assert {k: event["data"][k] for k in ("kind", "target", "by")} == {
            "kind": "hide",
            "target": 1,
            "by": "moderator",
        }
    # History (WebSocket and HTTP): the message keeps its place, without its text, for residents.
    page = await amy.ok("history", channel=room)
    assert [p["offset"] for p in page["publications"]] == [1, 2, 3]
    first = page["publications"][0]["data"]
    assert (first["text"], first["moderation"], first["author"]["name"]) == ("", "hidden", "Ann")
    assert page["publications"][1]["data"]["text"] == "ok"
    http_page = await amy_http.get(f"/api/channels/{room}/history")
    assert http_page["publications"][0]["data"]["text"] == ""
    mo_page = await mo.get(f"/api/channels/{room}/history")
    assert mo_page["publications"][0]["data"]["text"] == "我的電話 9123 4567"
    assert mo_page["publications"][0]["data"]["moderation"] == "hidden"

    restored = await mo.post(f"/api/mod/messages/{room}/1/restore", reason="她同意公開")
    assert restored["message"]["visibility"] == "visible"
    for client in (ann, amy):
        assert (await client.pubs(1))[0]["data"]["kind"] == "restore"
    page = await amy.ok("history", channel=room)
    assert page["publications"][0]["data"]["text"] == "我的電話 9123 4567"
    assert "moderation" not in page["publications"][0]["data"]

    deleted = await mo.post(f"/api/mod/messages/{room}/2/delete", reason="spam")
    assert deleted["message"]["visibility"] == "deleted"
    for client in (ann, amy):
        event = (await client.pubs(1))[0]
        assert (event["data"]["kind"], event["data"]["target"]) == ("delete", 2)
    mo_page = await mo.get(f"/api/channels/{room}/history")
    assert (
        mo_page["publications"][1]["data"]["text"],
        mo_page["publications"][1]["data"]["moderation"],
    ) == ("", "deleted")
    # A reconnecting client recovers the events in order after the messages they concern.
    sub = await amy.ok("unsubscribe", channel=room)
    assert sub == {"channel": room}
    again = await amy.ok("subscribe", channel=room, since={"offset": 0, "epoch": page["epoch"]})
    assert [
        (p["offset"], p["data"]["kind"], p["data"].get("text")) for p in again["publications"]
    ] == [
        (1, "chat", "我的電話 9123 4567"),
        (2, "chat", ""),
        (3, "hide", None),
        (4, "restore", None),
        (5, "delete", None),
    ]


async def test_hide_restore_delete_reach_clients_and_history(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"), fmt="msgpack")
        for client in (ann, amy):
            await client.ok("subscribe", channel=room)
        await ann.ok("publish", channel=room, text="我的電話 9123 4567", client_msg_id="p1")
        await amy.ok("publish", channel=room, text="ok", client_msg_id="p2")
        for client in (ann, amy):
            assert [p["offset"] for p in await client.pubs(2)] == [1, 2]
        mo = await Http.login(server, "mo")
        amy_http = await Http.login(server, "amy")
        await _hide_restore_delete(ann, amy, mo, room, amy_http)
        for client in (ann, amy):
            await client.close()
        await mo.close()
        await amy_http.close()


async def test_hide_propagates_across_two_gateways(scaled: Deployment) -> None:
    hood = await seed_moderation(scaled)
    room = f"building:{hood.building_a}"
    worker = Worker(scaled, "moderation").start()
    try:
        async with running(scaled) as one, running(scaled) as two:
            ann = await Client.connect(one, await login(one, "ann"))
            amy = await Client.connect(two, await login(two, "amy"))
            for client in (ann, amy):
                await client.ok("subscribe", channel=room)
            await ann.ok("publish", channel=room, text="我的電話 9123 4567", client_msg_id="p1")
            await amy.ok("publish", channel=room, text="ok", client_msg_id="p2")
            for client in (ann, amy):
                assert [p["offset"] for p in await client.pubs(2)] == [1, 2]
            mo = await Http.login(two, "mo")
            amy_http = await Http.login(one, "amy")
            await _hide_restore_delete(ann, amy, mo, room, amy_http)
            await mo.close()
            await amy_http.close()
            for client in (ann, amy):
                await client.close()
    finally:
        worker.stop()


async def test_auto_hide_at_the_threshold(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        root = await Http.login(server, "root")
        assert (await root.get("/api/mod/settings")) == {"auto_hide_threshold": 3}
        await root.post("/api/mod/settings", auto_hide_threshold=2, reason="small building")
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        ada = await Client.connect(server, await login(server, "ada"))
        mo = await Client.connect(server, await login(server, "mo"))
        await mo.ok("subscribe", channel="mod:flags")
        await ann.ok("subscribe", channel=room)
        await ann.ok("publish", channel=room, text="某某係騙子！", client_msg_id="x1")
        assert (await ann.pubs(1))[0]["offset"] == 1
        await amy.ok("flag", channel=room, offset=1, reason="harassment")
        first = await feed_event(mo, "flag")
        assert (first["flag_count"], first["visibility"], first["auto_hidden"]) == (
            1,
            "visible",
            False,
        )
        await ada.ok("flag", channel=room, offset=1, reason="false_information")
        second = await feed_event(mo, "flag")
        assert (second["flag_count"], second["visibility"], second["auto_hidden"]) == (
            2,
            "hidden",
            True,
        )
        hide = (await ann.pubs(1))[0]
        assert (
            hide["offset"],
            hide["data"]["kind"],
            hide["data"]["target"],
            hide["data"]["by"],
        ) == (
            2,
            "hide",
            1,
            "auto",
        )
        page = await amy.ok("history", channel=room)
        assert page["publications"][0]["data"]["moderation"] == "hidden"
        assert page["publications"][0]["data"]["text"] == ""
        # Still waiting for a person: open in the queue, no first action yet.
        mo_http = await Http.login(server, "mo")
        [item] = (await mo_http.get("/api/mod/queue"))["messages"]
        assert (item["review"], item["auto_hidden"], item["first_action_at"]) == (
            "open",
            True,
            None,
        )
        # Dismissing the flags undoes the automatic hide.
        dismissed = await mo_http.post(f"/api/mod/messages/{room}/1/dismiss", reason="有根據")
        assert dismissed["message"]["visibility"] == "visible"
        assert (await ann.pubs(1))[0]["data"]["kind"] == "restore"
        assert (await mo_http.get("/api/mod/queue"))["messages"] == []
        for client in (ann, amy, ada, mo):
            await client.close()
        await root.close()
        await mo_http.close()


async def test_word_list_blocks_and_holds_chinese_text(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        root = await Http.login(server, "root")
        await root.post("/api/mod/words", 201, pattern="六合彩", action="block", reason="賭博廣告")
        await root.post("/api/mod/words", 201, pattern="網上賭場", action="hold", reason="可疑")
        words = await root.get("/api/mod/words")
        assert [(w["pattern"], w["action"]) for w in words["words"]] == [
            ("六合彩", "block"),
            ("網上賭場", "hold"),
        ]
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        mo = await Client.connect(server, await login(server, "mo"))
        await mo.ok("subscribe", channel="mod:flags")
        await amy.ok("subscribe", channel=room)

        # Inside a sentence without spaces, with a zero-width space, in full-width: all found.
        for i, text in enumerate(("今晚一齊買六合彩啦", "六\u200b合彩貼士", "LUCKY六合彩")):
            reply = await ann.request("publish", channel=room, text=text, client_msg_id=f"b{i}")
            assert reply["error"]["code"] == "blocked_word", reply
        held = await ann.request(
            "publish", channel=room, text="邊個試過呢個網上賭場？", client_msg_id="h1"
        )
        assert held["error"]["code"] == "held_for_review"
        event = await feed_event(mo, "held")
        assert (event["channel"], event["matched"], event["author"]["id"]) == (
            room,
            "網上賭場",
            hood.users["ann"],
        )
        await ann.ok("publish", channel=room, text="早晨，今日天氣好好", client_msg_id="ok1")
        # Only the clean message reached the room.
        assert [(p["offset"], p["data"]["text"]) for p in await amy.pubs(1)] == [
            (1, "早晨，今日天氣好好")
        ]
        ann_http = await Http.login(server, "ann")
        [mine] = (await ann_http.get("/api/held/mine"))["held"]
        assert (mine["text"], mine["state"]) == ("邊個試過呢個網上賭場？", "held")

        mo_http = await Http.login(server, "mo")
        [waiting] = (await mo_http.get("/api/mod/queue"))["held"]
        assert waiting["id"] == event["id"] and waiting["text"] == "邊個試過呢個網上賭場？"
        approved = await mo_http.post(f"/api/mod/held/{waiting['id']}/approve", reason="問路而已")
        assert approved == {"changed": True, "state": "approved", "offset": 2}
        again = await mo_http.post(f"/api/mod/held/{waiting['id']}/approve", reason="twice")
        assert again["changed"] is False
        [pub] = await amy.pubs(1)
        assert (pub["offset"], pub["data"]["text"], pub["data"]["author"]["id"]) == (
            2,
            "邊個試過呢個網上賭場？",
            hood.users["ann"],
        )
        assert (await mo_http.get("/api/mod/queue"))["held"] == []

        # An edit with a phrase to hold is refused and queues nothing (approving it would
        # publish a second message): the next held message is the only one in the queue.
        edit = await ann.request("edit", channel=room, offset=1, text="早晨，網上賭場見")
        assert edit["error"]["code"] == "blocked_word", edit
        held = await ann.request("publish", channel=room, text="網上賭場又嚟", client_msg_id="h2")
        assert held["error"]["code"] == "held_for_review"
        await feed_event(mo, "held")
        assert [h["text"] for h in (await mo_http.get("/api/mod/queue"))["held"]] == [
            "網上賭場又嚟"
        ]
        mine = (await ann_http.get("/api/held/mine"))["held"]
        assert sorted(h["text"] for h in mine) == ["網上賭場又嚟", "邊個試過呢個網上賭場？"]
        page = await amy.ok("history", channel=room, limit=5)
        assert page["publications"][0]["data"]["text"] == "早晨，今日天氣好好"
        assert "edited" not in page["publications"][0]["data"]
        for client in (ann, amy, mo):
            await client.close()
        for http in (root, ann_http, mo_http):
            await http.close()


async def test_mute_until_it_expires_and_ban(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        mo = await Http.login(server, "mo")
        await ann.ok("publish", channel=room, text="first", client_msg_id="m0")
        muted = await mo.post(
            f"/api/mod/users/{hood.users['ann']}/mute",
            seconds=2,
            channel=room,
            offset=1,
            channel_only=True,
            reason="洗版",
        )
        until = muted["sanction"]["expires_at"]
        notice = await ann.push("moderation")
        assert (notice["kind"], notice["channel"], notice["until"], notice["reason"]) == (
            "muted",
            room,
            until,
            "洗版",
        )
        reply = await ann.request("publish", channel=room, text="again", client_msg_id="m1")
        assert reply["error"]["code"] == "muted" and reply["error"]["temporary"] is False
        # Only this room: the group is fine.
        await ann.ok("publish", channel="group:gardening", text="花開了", client_msg_id="g1")
        while time.time() * 1000 < until:
            await asyncio.sleep(0.1)
        await ann.ok("publish", channel=room, text="again", client_msg_id="m1")

        # Everywhere, then lifted early.
        await mo.post(f"/api/mod/users/{hood.users['ann']}/mute", seconds=600, reason="冷靜")
        await ann.push("moderation")
        reply = await ann.request(
            "publish", channel="group:gardening", text="x", client_msg_id="g2"
        )
        assert reply["error"]["code"] == "muted"
        assert (await mo.post(f"/api/mod/users/{hood.users['ann']}/unmute", reason="ok"))[
            "lifted"
        ] == 1
        await ann.ok("publish", channel="group:gardening", text="x", client_msg_id="g2")

        # A ban ends the user's connections (4501) and sessions, and refuses a new login.
        await mo.post(f"/api/mod/users/{hood.users['ann']}/ban", reason="屢勸不改")
        code, _ = await asyncio.wait_for(ann.closed, 5)
        assert code == 4501
        async with httpx.AsyncClient(base_url=server.http) as client:
            response = await client.post(
                "/api/login", json={"username": "ann", "password": PASSWORD}
            )
            assert response.status_code == 403 and response.json()["error"]["code"] == "banned"
        await mo.post(f"/api/mod/users/{hood.users['ann']}/unban", reason="上訴成功")
        ann = await Client.connect(server, await login(server, "ann"))
        await ann.ok("publish", channel=room, text="back", client_msg_id="m2")
        await ann.close()
        await mo.close()


async def test_audit_log_records_every_action(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    ann_id = hood.users["ann"]
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        await ann.ok("publish", channel=room, text="hello", client_msg_id="a1")
        mo = await Http.login(server, "mo")
        root = await Http.login(server, "root")
        await mo.post(f"/api/mod/messages/{room}/1/hide", reason="r1")
        await mo.post(f"/api/mod/messages/{room}/1/restore", reason="r2")
        await mo.post(f"/api/mod/users/{ann_id}/warn", channel=room, offset=1, reason="r3")
        # The hide told its author why (tests/e2e/test_moderation_residents.py), then the warning.
        assert (await ann.push("moderation"))["kind"] == "hidden"
        assert (await ann.push("moderation"))["kind"] == "warning"
        await mo.post(f"/api/mod/users/{ann_id}/mute", seconds=60, reason="r4")
        await mo.post(f"/api/mod/users/{ann_id}/unmute", reason="r5")
        await root.post("/api/mod/words", 201, pattern="壞話", reason="r6")
        await root.post("/api/mod/settings", auto_hide_threshold=5, reason="r7")
        await root.post("/api/mod/rules/en", body="# Rules\n\nBe <kind>.", reason="r8")
        async with httpx.AsyncClient(base_url=server.http, cookies={"linli_lang": "en"}) as web:
            page = (await web.get("/rules")).text
            assert "<h1>Rules</h1>" in page and "<p>Be &lt;kind&gt;.</p>" in page
            web.cookies.set("linli_lang", "zh-Hant")
            chinese = (await web.get("/rules")).text
            assert "<h1>鄰里社區發布守則</h1>" in chinese  # the other language is untouched
        await mo.post(f"/api/mod/users/{ann_id}/ban", reason="r9")
        await mo.post(f"/api/mod/users/{ann_id}/unban", reason="r10")
        entries = (await root.get("/api/mod/audit"))["entries"]
        assert [(e["action"], e["reason"], e["actor"]["name"]) for e in reversed(entries)] == [
            ("hide", "r1", "Mo"),
            ("restore", "r2", "Mo"),
            ("warn", "r3", "Mo"),
            ("mute", "r4", "Mo"),
            ("unmute", "r5", "Mo"),
            ("add_word", "r6", "Root"),
            ("set_setting", "r7", "Root"),
            ("edit_rules", "r8", "Root"),
            ("ban", "r9", "Mo"),
            ("unban", "r10", "Mo"),
        ]
        assert [e["target_user_id"] for e in reversed(entries)] == [
            ann_id,
            ann_id,
            ann_id,
            ann_id,
            ann_id,
            None,
            None,
            None,
            ann_id,
            ann_id,
        ]
        assert entries[-1]["channel"] == room and entries[-1]["offset"] == 1
        ids = [e["id"] for e in entries]
        assert ids == sorted(ids, reverse=True)
        page = (await root.get("/api/mod/audit", before=str(ids[2]), limit="2"))["entries"]
        assert [e["id"] for e in page] == ids[3:5]
        await ann.close()
        await mo.close()
        await root.close()


async def test_figures_match_a_hand_computed_case(deployment: Deployment) -> None:
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    # A past week, written straight into the store with chosen times; the API must compute:
    # message 1: flagged at T (ann) and T+1h (amy), hidden at T+2h      → 2 h
    # message 2: flagged at T+1h, dismissed at T+30h                    → 29 h (over 24 h)
    # message 3: flagged at T+2h, restored at T+3h                      → 1 h
    # message 4: flagged at T+3h, never handled
    # message 5: flagged before the period (T-1h), handled in it        → not counted
    # flags received in [T, T+7d): 5; messages first flagged: 4; handled: 3;
    # durations sorted 1 h, 2 h, 29 h → median (nearest rank 2 of 3) 2 h, p90 (rank 3) 29 h;
    # handled within 24 h: 2 of 4 = 0.5.
    t0 = 1_700_000_000_000
    store = await deployment.store()
    try:
        mod = SqlModerationStore(store.database)
        users, mo = hood.users, hood.users["mo"]

        def flag(offset: int, flagger: str) -> NewFlag:
            return NewFlag(
                room,
                offset,
                users[flagger],
                FlagReason.SPAM,
                "",
                users["bob"],
                "Bob",
                f"m{offset}",
                t0,
            )

        await mod.record_flag(flag(5, "ann"), now=t0 - HOUR)
        await mod.record_flag(flag(1, "ann"), now=t0)
        await mod.record_flag(flag(1, "amy"), now=t0 + HOUR)
        await mod.record_flag(flag(2, "ann"), now=t0 + HOUR)
        await mod.record_flag(flag(3, "ann"), now=t0 + 2 * HOUR)
        await mod.record_flag(flag(4, "ann"), now=t0 + 3 * HOUR)
        for offset, action, at in (
            (1, MessageAction.HIDE, t0 + 2 * HOUR),
            (2, MessageAction.DISMISS, t0 + 30 * HOUR),
            (3, MessageAction.RESTORE, t0 + 3 * HOUR),
            (5, MessageAction.HIDE, t0 + HOUR),
        ):
            await mod.act_on_message(room, offset, action, actor_id=mo, reason="r", now=at)
    finally:
        await store.close()
    async with moderated(deployment) as server:
        mo_http = await Http.login(server, "mo")
        result = await mo_http.get(
            "/api/mod/figures", status=200, **{"from": str(t0), "to": str(t0 + 7 * 24 * HOUR)}
        )
        assert result["periods"] == [
            {
                "start": t0,
                "end": t0 + 7 * 24 * HOUR,
                "label": "custom",
                "flags_received": 5,
                "messages_flagged": 4,
                "handled": 3,
                "time_to_first_action": {"median_ms": 2 * HOUR, "p90_ms": 29 * HOUR},
                "handled_within_24h": 0.5,
            }
        ]
        monthly = await mo_http.get("/api/mod/figures", period="month", count="2")
        assert len(monthly["periods"]) == 2
        assert monthly["periods"][-1]["messages_flagged"] == 0  # the seeded week is long past
        await mo_http.close()


async def test_daily_figures_split_at_local_midnight(deployment: Deployment) -> None:
    """With ``LINLI_TIME_ZONE`` set, the daily figures count a flag 1 ms before the zone's
    midnight in the day before it and one at midnight in the new day. New York rather than the
    default Taipei, so that the setting (not the default) is what the API must have used."""
    zone = ZoneInfo("America/New_York")
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    now = int(time.time() * 1000)
    if periods("day", 1, now, zone=zone)[0].end - now < 30_000:
        # So close to midnight that the request could see the next day: wait until it is here.
        await asyncio.sleep(31)
        now = int(time.time() * 1000)
    yesterday, today = periods("day", 2, now, zone=zone)
    midnight = today.start
    store = await deployment.store()
    try:
        mod = SqlModerationStore(store.database)
        users = hood.users
        for offset, at in ((1, midnight - 1), (2, midnight), (3, midnight + 1)):
            flag = NewFlag(
                room, offset, users["ann"], FlagReason.SPAM, "", users["bob"], "Bob", "m", at
            )
            await mod.record_flag(flag, now=at)
        await mod.act_on_message(
            room, 2, MessageAction.HIDE, actor_id=users["mo"], reason="r", now=midnight + HOUR
        )
    finally:
        await store.close()
    async with moderated(deployment, LINLI_TIME_ZONE="America/New_York") as server:
        mo_http = await Http.login(server, "mo")
        result = await mo_http.get("/api/mod/figures", period="day", count="2")
        await mo_http.close()
    summary = [
        (p["label"], p["start"], p["end"], p["flags_received"], p["messages_flagged"], p["handled"])
        for p in result["periods"]
    ]
    assert summary == [
        (yesterday.label, yesterday.start, midnight, 1, 1, 0),
        (today.label, midnight, today.end, 2, 2, 1),
    ]
    assert result["periods"][1]["time_to_first_action"]["median_ms"] == HOUR
    # The boundary is New York's midnight, whatever the UTC offset of the day (-4 or -5 hours).
    assert datetime.fromtimestamp(midnight / 1000, zone).time() == dt_time(0, 0)
    assert midnight % (24 * HOUR) in {4 * HOUR, 5 * HOUR}


async def test_flags_survive_a_moderation_worker_restart(scaled: Deployment) -> None:
    """Flags sent while the worker is dead (killed, SIGKILL) wait in the durable queue and are
    all recorded, once each, when a new worker starts."""
    hood = await seed_moderation(scaled)
    room = f"building:{hood.building_a}"
    worker = Worker(scaled, "moderation").start()
    try:
        async with running(scaled) as server:
            ann = await Client.connect(server, await login(server, "ann"))
            mo = await Client.connect(server, await login(server, "mo"))
            await mo.ok("subscribe", channel="mod:flags")
            await ann.ok("subscribe", channel=room)
            for i in range(1, 4):
                await ann.ok("publish", channel=room, text=f"m{i}", client_msg_id=f"m{i}")
            await ann.pubs(3)
            worker.kill()
            flaggers = [
                await Client.connect(server, await login(server, n)) for n in ("amy", "ada")
            ]
            for client in flaggers:
                for offset in (1, 2, 3):
                    await client.ok("flag", channel=room, offset=offset, reason="spam")
            worker = Worker(scaled, "moderation").start()
            events = [await feed_event(mo, "flag", timeout=20) for _ in range(6)]
            assert sorted((e["offset"], e["flagger"]["name"]) for e in events) == [
                (1, "Ada"),
                (1, "Amy"),
                (2, "Ada"),
                (2, "Amy"),
                (3, "Ada"),
                (3, "Amy"),
            ]
            for client in flaggers:  # sent again: still one flag each
                assert (await client.ok("flag", channel=room, offset=1, reason="spam"))[
                    "duplicate"
                ] is True
            mo_http = await Http.login(server, "mo")
            queue = (await mo_http.get("/api/mod/queue"))["messages"]
            assert sorted((m["offset"], m["flag_count"]) for m in queue) == [(1, 2), (2, 2), (3, 2)]
            await mo_http.close()
            for client in (ann, mo, *flaggers):
                await client.close()
    finally:
        worker.stop()


async def test_chat_goes_on_when_the_moderation_tables_cannot_be_read(
    deployment: Deployment,
) -> None:
    """The publish check and the history view fail open: a database problem must not stop the
    neighbourhood's chat (which runs on the broker). Simulated by renaming the tables away."""
    hood = await seed_moderation(deployment)
    room = f"building:{hood.building_a}"
    tables = ("mod_sanctions", "mod_words", "mod_messages")
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        store = await deployment.store()
        db = store.database
        try:
            for table in tables:
                await db.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
            await ann.ok("publish", channel=room, text="仍然可以傾偈", client_msg_id="o1")
            assert [p["data"]["text"] for p in await amy.pubs(1)] == ["仍然可以傾偈"]
            page = await amy.ok("history", channel=room)
            assert [p["data"]["text"] for p in page["publications"]] == ["仍然可以傾偈"]
        finally:
            for table in tables:
                await db.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
            await store.close()
        for client in (ann, amy):
            await client.close()
