"""Residents told about moderation, and staff in the rooms, end to end in both modes (the real
server, real WebSocket clients, the real HTTP API): a warning, a mute and a hide each reach the
resident with the reason; an author appeals once (the second time is refused with a code) and
the appeal is an item of the moderators' queue; the official flag comes from the author's role
and cannot be forged; only management and admins pin, and a pin reaches the room live."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from persistence.store import Role
from tests.e2e.harness import PASSWORD, Client, Deployment, Neighbourhood, login
from tests.e2e.test_moderation import Http, moderated, seed_moderation


async def _seed(deployment: Deployment) -> Neighbourhood:
    """The moderation neighbourhood plus manny (management, of no building)."""
    from web.passwords import hash_password

    hood = await seed_moderation(deployment)
    store = await deployment.store()
    try:
        user = await store.create_user(
            username="manny",
            display_name="Manny",
            password_hash=await hash_password(PASSWORD),
            role=Role.MANAGEMENT,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
        hood.users["manny"] = user.id
    finally:
        await store.close()
    return hood


async def _moderation_push(client: Client, kind: str) -> dict[str, Any]:
    while True:
        push = await client.push("moderation", 10.0)
        if push["kind"] == kind:
            return push


async def _pub(client: Client, kind: str) -> dict[str, Any]:
    while True:
        pub = await client.push("pub", 10.0)
        if pub["data"].get("kind") == kind:
            return pub


async def _chat(client: Client, room: str) -> list[dict[str, Any]]:
    """The chat messages of the room's history (not its hide or pin events)."""
    pubs = (await client.ok("history", channel=room, limit=50))["publications"]
    return [p for p in pubs if p["data"].get("kind") == "chat"]


async def test_the_resident_is_told_and_appeals_once(deployment: Deployment) -> None:
    hood = await _seed(deployment)
    room = f"building:{hood.building_a}"
    ann_id = hood.users["ann"]
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        await ann.ok("subscribe", channel=room)
        await ann.ok("publish", channel=room, text="平價手袋，私訊我", client_msg_id="a1")
        mo = await Http.login(server, "mo")
        ann_http = await Http.login(server, "ann")
        amy_http = await Http.login(server, "amy")

        # A warning: pushed live with its reason and id, and listed for the page.
        made = await mo.post(f"/api/mod/users/{ann_id}/warn", reason="請勿賣廣告")
        warning = await _moderation_push(ann, "warning")
        assert (warning["reason"], warning["ref"]) == ("請勿賣廣告", made["audit_id"])
        mine = await ann_http.get("/api/moderation/mine")
        assert [(w["id"], w["reason"]) for w in mine["warnings"]] == [
            (made["audit_id"], "請勿賣廣告")
        ]

        # A mute: pushed with its room, end and reason; listed on page load.
        sanction = (await mo.post(f"/api/mod/users/{ann_id}/mute", seconds=600, reason="洗版"))[
            "sanction"
        ]
        muted = await _moderation_push(ann, "muted")
        assert (muted["ref"], muted["until"], muted["reason"]) == (
            sanction["id"],
            sanction["expires_at"],
            "洗版",
        )
        [mute] = (await ann_http.get("/api/moderation/mine"))["mutes"]
        assert (mute["id"], mute["channel"], mute["until"], mute["reason"]) == (
            sanction["id"],
            None,
            sanction["expires_at"],
            "洗版",
        )

        # A hide: the author alone is told the reason, live and in history.
        await mo.post(f"/api/mod/messages/{room}/1/hide", reason="商業廣告")
        hidden = await _moderation_push(ann, "hidden")
        assert (hidden["channel"], hidden["offset"], hidden["reason"]) == (room, 1, "商業廣告")
        [own] = await _chat(ann, room)
        assert (own["data"]["moderation"], own["data"]["moderation_reason"]) == (
            "hidden",
            "商業廣告",
        )
        amy = await Client.connect(server, await login(server, "amy"))
        [theirs] = await _chat(amy, room)
        assert theirs["data"]["moderation"] == "hidden"
        assert "moderation_reason" not in theirs["data"] and theirs["data"]["text"] == ""

        # Appeals: once per decision; the second is refused with a code; others' are not found.
        for body in (
            {"kind": "warning", "id": made["audit_id"]},
            {"kind": "mute", "id": sanction["id"]},
            {"kind": "message", "channel": room, "offset": 1},
        ):
            await amy_http.post("/api/moderation/appeals", 404, note="唔係我", **body)
            first = await ann_http.post(
                "/api/moderation/appeals", 201, note="我唔知有呢條規則", **body
            )
            again = await ann_http.post("/api/moderation/appeals", 409, note="再試", **body)
            assert again["error"]["code"] == "already_appealed"
            assert first["appeal"]["state"] == "open"
        await ann_http.post("/api/moderation/appeals", 400, kind="ban", note="x")
        await ann_http.post("/api/moderation/appeals", 400, kind="warning", id=1, note="")
        queue = await mo.get("/api/mod/queue")
        subjects = sorted(a["subject"] for a in queue["appeals"])
        assert subjects == sorted(
            [f"warning:{made['audit_id']}", f"sanction:{sanction['id']}", f"message:{room}:1"]
        )
        summaries = {a["subject"]: a["summary"] for a in queue["appeals"]}
        assert summaries[f"message:{room}:1"] == "商業廣告"
        # Each in words for the moderators: what, where (by name), whom, why and until when.
        decisions = {a["subject"]: a["decision"] for a in queue["appeals"]}
        concerns = {"id": ann_id, "name": "Ann", "building": "Block A"}
        assert decisions[f"sanction:{sanction['id']}"] == {
            "kind": "mute",
            "channel": None,
            "room": None,
            "user": concerns,
            "reason": "洗版",
            "at": decisions[f"sanction:{sanction['id']}"]["at"],
            "until": sanction["expires_at"],
        }
        warned = decisions[f"warning:{made['audit_id']}"]
        assert (warned["kind"], warned["user"], warned["reason"]) == (
            "warning",
            concerns,
            "請勿賣廣告",
        )
        hid = decisions[f"message:{room}:1"]
        assert (hid["kind"], hid["channel"], hid["room"], hid["user"]) == (
            "hidden",
            room,
            "Block A",
            concerns,
        )
        assert (hid["text"], hid["reason"]) == ("平價手袋，私訊我", "商業廣告")
        assert all(a["note"] == "我唔知有呢條規則" for a in queue["appeals"])
        # Residents cannot close appeals; a moderator can, once; the author's list shows it.
        appeal_id = queue["appeals"][0]["id"]
        await ann_http.post(f"/api/mod/appeals/{appeal_id}/close", 403, reason="ok")
        closed = await mo.post(f"/api/mod/appeals/{appeal_id}/close", reason="已取消")
        assert closed["appeal"]["state"] == "closed"
        assert len((await mo.get("/api/mod/queue"))["appeals"]) == 2
        states = {
            a["id"]: a["state"] for a in (await ann_http.get("/api/moderation/mine"))["appeals"]
        }
        assert states[appeal_id] == "closed" and len(states) == 3

        # A mute in one room: its appeal names the room.
        here = (
            await mo.post(
                f"/api/mod/users/{ann_id}/mute",
                seconds=60,
                reason="喺呢度洗版",
                channel=room,
                offset=1,
                channel_only=True,
            )
        )["sanction"]
        await ann_http.post("/api/moderation/appeals", 201, kind="mute", id=here["id"], note="一次")
        [in_room] = [
            a["decision"]
            for a in (await mo.get("/api/mod/queue"))["appeals"]
            if a["subject"] == f"sanction:{here['id']}"
        ]
        assert (in_room["kind"], in_room["channel"], in_room["room"], in_room["until"]) == (
            "mute",
            room,
            "Block A",
            here["expires_at"],
        )

        # A ban: the socket is told why before it closes; the login says so too.
        await mo.post(f"/api/mod/users/{ann_id}/ban", reason="屢勸不改")
        banned = await _moderation_push(ann, "banned")
        assert banned["reason"] == "屢勸不改"
        async with httpx.AsyncClient(base_url=server.http) as anon:
            refused = await anon.post("/api/login", json={"username": "ann", "password": PASSWORD})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "banned"
        assert refused.json()["error"]["reason"] == "屢勸不改"
        # A banned resident has no session: the refusal (after the right password only) carries
        # a token for one appeal against the ban.
        token = refused.json()["error"]["appeal"]
        async with httpx.AsyncClient(base_url=server.http) as anon:
            wrong = await anon.post("/api/login", json={"username": "ann", "password": "nope"})
            assert wrong.status_code == 401 and "appeal" not in wrong.json()["error"]

            async def ban_appeal(status: int, **body: Any) -> Any:
                response = await anon.post("/api/moderation/ban-appeal", json=body)
                assert response.status_code == status, response.text
                return response.json()

            forged = token.rsplit(".", 1)[0] + "." + "0" * 32
            other = ".".join([str(hood.users["amy"]), *token.split(".")[1:]])  # not re-signed
            for bad in (forged, "1.2.3", "x.y.z.w", other):
                error = (await ban_appeal(400, token=bad, note="唔該"))["error"]
                assert (error["code"], error["field"]) == ("bad_request", "token")
            assert (await ban_appeal(400, token=token, note=" "))["error"]["field"] == "note"
            made = await ban_appeal(201, token=token, note="我會守規矩")
            assert made["appeal"]["summary"] == "屢勸不改"
            again = await ban_appeal(409, token=token, note="再試")
            assert again["error"]["code"] == "already_appealed"
        appeals = {a["subject"]: a for a in (await mo.get("/api/mod/queue"))["appeals"]}
        ban_subject = made["appeal"]["subject"]
        assert ban_subject.startswith("sanction:") and ban_subject != f"sanction:{sanction['id']}"
        assert appeals[ban_subject]["note"] == "我會守規矩"
        assert appeals[ban_subject]["user"]["id"] == ann_id
        ban = appeals[ban_subject]["decision"]
        assert (ban["kind"], ban["room"], ban["user"], ban["reason"], ban["until"]) == (
            "ban",
            None,
            concerns,
            "屢勸不改",
            None,
        )

        # The banned appellant reads the appeal's state, then the answer, where the ban leaves
        # them: the login refusal after the right password (no session, no inbox).
        async def refusal(username: str, password: str = PASSWORD) -> Any:
            async with httpx.AsyncClient(base_url=server.http) as anon:
                response = await anon.post(
                    "/api/login", json={"username": username, "password": password}
                )
                assert "linli_session" not in response.cookies
                return response.status_code, response.json()["error"]

        status, error = await refusal("ann")
        assert (status, error["appealed"]["state"], error["appealed"]["answer"]) == (
            403,
            "open",
            "",
        )
        assert error["appealed"]["note"] == "我會守規矩"
        await mo.post(
            f"/api/mod/appeals/{appeals[ban_subject]['id']}/close", reason="停用維持至下月"
        )
        status, error = await refusal("ann")
        assert (status, error["code"], error["reason"]) == (403, "banned", "屢勸不改")
        assert (error["appealed"]["state"], error["appealed"]["answer"]) == (
            "closed",
            "停用維持至下月",
        )
        assert "handled_by" not in error["appealed"]  # the appellant is not told who
        # Only the appellant: not without the password, nor to another banned resident.
        status, error = await refusal("ann", "nope")
        assert status == 401 and "appealed" not in error and "reason" not in error
        await mo.post(f"/api/mod/users/{hood.users['bob']}/ban", reason="另一個原因")
        status, error = await refusal("bob")
        assert (status, error["reason"], error["appealed"]) == (403, "另一個原因", None)
        # The ban holds otherwise: ann's old session stays ended.
        await ann_http.get("/api/moderation/mine", 401)
        for c in (ann, amy):
            await c.close()
        for h in (mo, ann_http, amy_http):
            await h.close()


async def test_official_posts_and_pins(deployment: Deployment) -> None:
    hood = await _seed(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment) as server:
        manny = await Client.connect(server, await login(server, "manny"))
        amy = await Client.connect(server, await login(server, "amy"))
        mo = await Client.connect(server, await login(server, "mo"))
        await amy.ok("subscribe", channel=room)
        # Management posts in any building room; the server marks it official.
        await manny.ok("publish", channel=room, text="明日停水", client_msg_id="m1")
        official = await _pub(amy, "chat")
        assert official["data"]["official"] is True
        # A resident cannot forge it: extra fields of the op are not the message's.
        await amy.ok(
            "publish", channel=room, text="我都係管理處", client_msg_id="f1", official=True
        )
        forged = await _pub(amy, "chat")
        assert forged["data"]["text"] == "我都係管理處" and "official" not in forged["data"]
        # Management reads group rooms but does not post there; moderators read only.
        await manny.ok("subscribe", channel="group:gardening")
        assert (
            await manny.error("publish", channel="group:gardening", text="x", client_msg_id="g")
            == "forbidden"
        )
        assert await mo.error("publish", channel=room, text="x", client_msg_id="x") == "forbidden"
        # History keeps the flag.
        [first, second] = await _chat(amy, room)
        assert first["data"].get("official") is True and "official" not in second["data"]

        # Rooms by name for staff, with whether they may post.
        manny_http = await Http.login(server, "manny")
        mo_http = await Http.login(server, "mo")
        amy_http = await Http.login(server, "amy")
        rooms = {r["channel"]: r for r in (await mo_http.get("/api/rooms"))["rooms"]}
        assert rooms[room]["name"] == "Block A" and rooms["group:gardening"]["name"] == "Gardening"
        assert f"building:{hood.building_b}" in rooms
        assert not any(r["may_post"] for r in rooms.values())
        assert rooms[room]["why"] == "read_only"
        managed = {r["channel"]: r for r in (await manny_http.get("/api/rooms"))["rooms"]}
        assert managed[room]["may_post"] and not managed["group:gardening"]["may_post"]
        resident = [r["channel"] for r in (await amy_http.get("/api/rooms"))["rooms"]]
        assert resident == [room]

        # Pins: residents and moderators may not; management pins, live and on load.
        await amy_http.post(f"/api/rooms/{room}/pin", 403, offset=1)
        await mo_http.post(f"/api/rooms/{room}/pin", 403, offset=1)
        await manny_http.post(f"/api/rooms/{room}/pin", 404, offset=99)
        await manny_http.post("/api/rooms/group:gardening/pin", 400, offset=1)
        await manny_http.post(f"/api/rooms/{room}/pin", offset=1)
        pinned = await _pub(amy, "pin")
        assert pinned["data"]["pin"]["text"] == "明日停水"
        assert pinned["data"]["pin"]["official"] is True
        loaded = {r["channel"]: r for r in (await amy_http.get("/api/rooms"))["rooms"]}
        assert loaded[room]["pin"]["offset"] == 1
        await amy_http.post(f"/api/rooms/{room}/unpin", 403)
        assert (await manny_http.post(f"/api/rooms/{room}/unpin"))["removed"] is True
        assert (await _pub(amy, "unpin"))["data"]["target"] == 1
        loaded = {r["channel"]: r for r in (await amy_http.get("/api/rooms"))["rooms"]}
        assert loaded[room]["pin"] is None
        # A hidden message cannot be pinned, and a pinned one that is hidden loses its pin.
        await manny_http.post(f"/api/rooms/{room}/pin", offset=2)
        assert (await _pub(amy, "pin"))["data"]["target"] == 2
        root = await Http.login(server, "root")
        await root.post(f"/api/mod/messages/{room}/2/hide", reason="冒充管理處")
        assert (await _pub(amy, "unpin"))["data"]["target"] == 2
        loaded = {r["channel"]: r for r in (await amy_http.get("/api/rooms"))["rooms"]}
        assert loaded[room]["pin"] is None
        await manny_http.post(f"/api/rooms/{room}/pin", 400, offset=2)
        # The pin follows its message: the author's edit, then the author's delete.
        await manny_http.post(f"/api/rooms/{room}/pin", offset=1)
        await manny.ok("edit", channel=room, offset=1, text="明日停水，九時至十二時")
        loaded = {r["channel"]: r for r in (await amy_http.get("/api/rooms"))["rooms"]}
        assert loaded[room]["pin"]["text"] == "明日停水，九時至十二時"
        await manny.ok("delete", channel=room, offset=1)
        loaded = {r["channel"]: r for r in (await amy_http.get("/api/rooms"))["rooms"]}
        assert loaded[room]["pin"] is None
        # Pinning copies the message as its author left it: the edited text, never a deleted one.
        await manny_http.post(f"/api/rooms/{room}/pin", 400, offset=1)
        await manny.ok("publish", channel=room, text="今晚清洗水缸", client_msg_id="m2")
        sent = (await _pub(amy, "chat"))["offset"]
        await manny.ok("edit", channel=room, offset=sent, text="今晚八時清洗水缸")
        await manny_http.post(f"/api/rooms/{room}/pin", offset=sent)
        assert (await _pub(amy, "pin"))["data"]["pin"]["text"] == "今晚八時清洗水缸"
        await root.close()
        for c in (manny, amy, mo):
            await c.close()
        for h in (manny_http, mo_http, amy_http):
            await h.close()


async def test_an_automatic_hide_tells_its_author_and_a_warning_is_in_the_inbox(
    deployment: Deployment,
) -> None:
    hood = await _seed(deployment)
    room = f"building:{hood.building_a}"
    async with moderated(deployment, LINLI_RUN_WORKERS="true") as server:
        root = await Http.login(server, "root")
        await root.post("/api/mod/settings", auto_hide_threshold=1, reason="測試")
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await ann.ok("publish", channel=room, text="買一送一", client_msg_id="a1")
        await amy.ok("flag", channel=room, offset=1, reason="spam")
        hidden = await _moderation_push(ann, "hidden")
        assert (hidden["channel"], hidden["offset"], hidden["reason"]) == (room, 1, "auto")
        [own] = await _chat(ann, room)
        assert own["data"]["moderation_reason"] == "auto"
        # A warning also reaches the inbox (the notify worker), in both languages' words.
        ann_http = await Http.login(server, "ann")
        await root.post(f"/api/mod/users/{hood.users['ann']}/warn", reason="請勿賣廣告")
        deadline = time.monotonic() + 20
        texts: list[str] = []
        while time.monotonic() < deadline:
            inbox = await ann_http.get("/api/notifications")
            texts = [
                n["text"]["zh-Hant"] for n in inbox["notifications"] if n["kind"] == "moderation"
            ]
            if texts:
                break
            await asyncio.sleep(0.3)
        assert texts == ["管理員向你發出警告：請勿賣廣告"]
        await ann_http.close()
        for c in (ann, amy):
            await c.close()
        await root.close()


async def _inbox_line(http: Http, key_text: str) -> dict[str, Any]:
    """The moderation notification whose English text contains ``key_text`` (the notify
    worker delivers it in a moment)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for n in (await http.get("/api/notifications"))["notifications"]:
            if n["kind"] == "moderation" and key_text in n["text"]["en"]:
                return dict(n)
        await asyncio.sleep(0.3)
    raise AssertionError(f"no notification with {key_text!r}")


async def test_an_answered_appeal_is_in_the_inbox_with_its_outcome_and_place(
    deployment: Deployment,
) -> None:
    hood = await _seed(deployment)
    room = f"building:{hood.building_a}"
    ann_id = hood.users["ann"]
    async with moderated(deployment, LINLI_RUN_WORKERS="true") as server:
        ann = await Client.connect(server, await login(server, "ann"))
        await ann.ok("publish", channel=room, text="平價手袋", client_msg_id="a1")
        mo = await Http.login(server, "mo")
        ann_http = await Http.login(server, "ann")
        warned = await mo.post(f"/api/mod/users/{ann_id}/warn", reason="請勿賣廣告")
        muted = (await mo.post(f"/api/mod/users/{ann_id}/mute", seconds=600, reason="洗版"))[
            "sanction"
        ]
        await mo.post(f"/api/mod/messages/{room}/1/hide", reason="商業廣告")
        ids = {}
        for kind, body in (
            ("warning", {"id": warned["audit_id"]}),
            ("mute", {"id": muted["id"]}),
            ("message", {"channel": room, "offset": 1}),
        ):
            made = await ann_http.post(
                "/api/moderation/appeals", 201, kind=kind, note="唔知有呢條規則", **body
            )
            ids[kind] = made["appeal"]["id"]
        # The warning stands; the mute is lifted before the answer; the message is shown again.
        await mo.post(f"/api/mod/appeals/{ids['warning']}/close", reason="警告保留 <b>x</b>")
        await mo.post(f"/api/mod/users/{ann_id}/unmute", reason="覆核")
        await mo.post(f"/api/mod/appeals/{ids['mute']}/close", reason="已解除")
        await mo.post(f"/api/mod/messages/{room}/1/restore", reason="覆核")
        await mo.post(f"/api/mod/appeals/{ids['message']}/close", reason="已恢復")

        warning = await _inbox_line(ann_http, "against the warning")
        assert warning["link"] == f"/appeals#appeal-{ids['warning']}"
        assert warning["text"] == {
            "zh-Hant": "管理員已回覆你對警告的申訴：決定維持。回覆：警告保留 <b>x</b>",
            "en": "A moderator answered your appeal against the warning: the decision stands."
            " 警告保留 <b>x</b>",
        }
        mute = await _inbox_line(ann_http, "against the mute")
        assert mute["link"] == f"/appeals#appeal-{ids['mute']}"
        assert "禁言已解除" in mute["text"]["zh-Hant"]
        assert "the mute was lifted" in mute["text"]["en"]
        message = await _inbox_line(ann_http, "against the hidden message")
        assert message["link"] == f"/appeals#appeal-{ids['message']}"
        assert "訊息已恢復顯示" in message["text"]["zh-Hant"]
        assert "your message is shown again" in message["text"]["en"]
        assert all("/rules" != n["link"] for n in (warning, mute, message))

        # The page the link leads to shows the appeal and its answer, escaped.
        page = await ann_http.client.get("/appeals")
        assert page.status_code == 200
        assert f'id="appeal-{ids["warning"]}"' in page.text
        assert "警告保留 &lt;b&gt;x&lt;/b&gt;" in page.text and "<b>x</b>" not in page.text
        async with httpx.AsyncClient(base_url=server.http) as anon:
            assert (await anon.get("/appeals")).status_code in (302, 303, 307)

        # A ban stands: its line leads to the login page (no session, no inbox to read it in;
        # the refusal after the password shows the answer), and it is in the inbox once the
        # ban is lifted.
        await mo.post(f"/api/mod/users/{ann_id}/ban", reason="屢勸不改")
        async with httpx.AsyncClient(base_url=server.http) as anon:
            refused = await anon.post("/api/login", json={"username": "ann", "password": PASSWORD})
            token = refused.json()["error"]["appeal"]
            made = await anon.post(
                "/api/moderation/ban-appeal", json={"token": token, "note": "我會守規矩"}
            )
            assert made.status_code == 201
        await mo.post(f"/api/mod/appeals/{made.json()['appeal']['id']}/close", reason="維持")
        await mo.post(f"/api/mod/users/{ann_id}/unban", reason="下月解除")
        await ann_http.close()  # its session ended with the ban
        ann_http = await Http.login(server, "ann")
        ban = await _inbox_line(ann_http, "against the ban")
        assert ban["link"] == "/login"
        assert ban["text"]["zh-Hant"] == "管理員已回覆你對停用帳號的申訴：決定維持。回覆：維持"
        await ann.close()
        for h in (mo, ann_http):
            await h.close()


async def test_a_sanction_names_its_room_and_the_message_that_prompted_it(
    deployment: Deployment,
) -> None:
    hood = await _seed(deployment)
    room = f"building:{hood.building_a}"
    ann_id = hood.users["ann"]
    async with moderated(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        text = "平價手袋 <b>私訊</b> " + "好" * 100
        await ann.ok("publish", channel=room, text=text, client_msg_id="a1")
        await amy.ok("flag", channel=room, offset=1, reason="spam")
        mo = await Http.login(server, "mo")
        ann_http = await Http.login(server, "ann")
        # A mute in every room, given from the flagged message in Block A; a ban later from the
        # same message; a mute given without a message.
        everywhere = (
            await mo.post(
                f"/api/mod/users/{ann_id}/mute", seconds=600, reason="洗版", channel=room, offset=1
            )
        )["sanction"]
        plain = (await mo.post(f"/api/mod/users/{ann_id}/mute", seconds=60, reason="再洗版"))[
            "sanction"
        ]
        for made in (everywhere, plain):
            await ann_http.post(
                "/api/moderation/appeals", 201, kind="mute", id=made["id"], note="唔啱"
            )
        queue = await mo.get("/api/mod/queue")
        decisions = {a["subject"]: a["decision"] for a in queue["appeals"]}
        prompted = decisions[f"sanction:{everywhere['id']}"]
        # It applies to every room (not to the room of the message) ...
        assert (prompted["channel"], prompted["room"]) == (None, None)
        # ... and was prompted by the message in Block A, whose excerpt moderators read.
        excerpt = prompted["because"]["excerpt"]
        assert prompted["because"] == {
            "channel": room,
            "offset": 1,
            "room": "Block A",
            "excerpt": excerpt,
        }
        assert excerpt.startswith("平價手袋 <b>私訊</b> 好") and excerpt.endswith("…")
        assert len(excerpt) == 80
        assert "because" not in decisions[f"sanction:{plain['id']}"]
        # The residents' own view never carries the excerpt.
        mine = await ann_http.get("/api/moderation/mine")
        assert "because" not in str(mine) and "Block A" not in str(mine)

        # The item's history: the mute says where it applies and which message prompted it.
        await mo.post(f"/api/mod/users/{ann_id}/ban", reason="屢勸不改", channel=room, offset=1)
        [item] = [m for m in (await mo.get("/api/mod/queue"))["messages"] if m["channel"] == room]
        entries = {e["action"]: e for e in item["history"]}
        assert entries["mute"]["applies_to"] is None
        assert entries["mute"]["because"] == {
            "channel": room,
            "offset": 1,
            "room": "Block A",
            "excerpt": excerpt,
        }
        assert entries["ban"]["applies_to"] is None
        assert entries["ban"]["because"]["room"] == "Block A"
        for c in (ann, amy):
            await c.close()
        for h in (mo, ann_http):
            await h.close()
