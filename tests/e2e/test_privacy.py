"""Privacy end to end (issue 21), in both modes on the real server: a resident's export holds
their data and nobody else's (the ZIP opened and parsed, two residents' data present); deleting
an account asks for the password, then the name is gone everywhere it appeared (chat history,
the forum topic's page and API, the request's page data, a named poll's CSV, search results,
the notice's reach list) while what they wrote stays; the account cannot log in again; bad
input is refused with its code and changes nothing."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from typing import Any

import httpx
import msgpack
import orjson

from persistence.privacy import DELETED_NAME
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import PASSWORD, Client, Deployment, login, running, seed

DAY = 86_400_000
QUESTIONS = [
    {"id": "overall", "kind": "scale", "text": "Satisfied?", "required": True},
    {"id": "note", "kind": "long_text", "text": "Anything else?"},
]
ZHANG = "張小明 Zhang"  # who deletes their account
LI = "李美玲 Li"  # a neighbour whose data must never be in Zhang's export


async def _people(deployment: Deployment) -> dict[str, int]:
    from web.passwords import hash_password

    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        pw = await hash_password(PASSWORD)
        ids = {}
        for username, name, role, building, unit in (
            ("zhang", ZHANG, Role.RESIDENT, hood.building_a, "5F-1"),
            ("li", LI, Role.RESIDENT, hood.building_a, "6F-2"),
            ("root", "Root Admin", Role.ADMIN, None, None),
        ):
            user = await store.create_user(
                username=username, display_name=name, password_hash=pw, role=role,
                building_id=building, unit_label=unit, now=now,
            )  # fmt: skip
            ids[username] = user.id
        ids["building"] = hood.building_a
        return ids
    finally:
        await store.close()


async def _rows(deployment: Deployment, query: str, *args: object) -> list[tuple[Any, ...]]:
    store = await deployment.store()
    try:
        rows: list[Any] = await store.database.fetch(query, *args)
        return [tuple(r) for r in rows]
    finally:
        await store.close()


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _zip(data: bytes) -> tuple[dict[str, Any], dict[str, list[list[str]]], str]:
    """data.json, every CSV's rows, and all the text in the archive but the notifications
    (what the resident was sent, which may quote a neighbour: "李美玲 Li replied …")."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        document = orjson.loads(archive.read("data.json"))
        tables = {
            n: list(csv.reader(io.StringIO(archive.read(n).decode("utf-8").lstrip("\ufeff"))))
            for n in names
            if n.endswith(".csv")
        }
        text = "\n".join(
            archive.read(n).decode("utf-8")
            for n in names
            if n.endswith(".csv") and n != "notifications.csv"
        )
        text += orjson.dumps({**document, "notifications": []}).decode()
    return document, tables, text


async def test_export_and_deletion_everywhere(deployment: Deployment) -> None:
    ids = await _people(deployment)
    room = f"building:{ids['building']}"
    env = {"LINLI_RUN_WORKERS": "true"} if deployment.mode == "scaled" else {}
    async with running(deployment, **env) as server:
        cookies = {who: await login(server, who) for who in ("zhang", "li", "root")}

        def http(who: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=server.http, cookies={"linli_session": cookies[who]}, timeout=30
            )

        zhang_ws, li_ws = (
            await Client.connect(server, cookies["zhang"]),
            await Client.connect(server, cookies["li"]),
        )
        async with http("zhang") as zhang, http("li") as li, http("root") as root:
            # -- both residents leave data in every feature --------------------------------
            await zhang_ws.ok(
                "publish", channel=room, text="張的水管漏水 zhang-chat", client_msg_id="z1"
            )
            await li_ws.ok("publish", channel=room, text="李的回覆 li-chat", client_msg_id="l1")
            category = await _ok(
                await root.post(
                    "/api/forum/categories",
                    json={"slug": "swap", "name_zh": "交換", "name_en": "Swap", "scope": "all"},
                ),
                201,
            )
            cid = category["category"]["id"]
            topic = await _ok(
                await zhang.post(
                    f"/api/forum/categories/{cid}/topics",
                    json={"title": "Lift noise", "text": "zhang-post", "client_id": "zt"},
                ),
                201,
            )
            tid = topic["topic"]["id"]
            await _ok(
                await li.post(
                    f"/api/forum/topics/{tid}/replies", json={"text": "li-post", "client_id": "lr"}
                ),
                201,
            )
            filed = await _ok(
                await zhang.post(
                    "/api/requests", json={"category": "repair", "text": "zhang-leak"}
                ),
                201,
            )
            rid = filed["request"]["id"]
            await _ok(
                await li.post("/api/requests", json={"category": "repair", "text": "li-leak"}), 201
            )
            poll = await _ok(
                await root.post(
                    "/api/polls",
                    json={
                        "channel": room, "question": "Paint the lobby?",
                        "options": ["yes", "no"], "anonymous": False,
                    },
                ),
                201,
            )  # fmt: skip
            pid = poll["poll"]["id"]
            await _ok(await root.post(f"/api/polls/{pid}/open", json={}))
            await zhang_ws.ok("vote", poll_id=pid, choices=[0], client_vote_id="zv")
            await li_ws.ok("vote", poll_id=pid, choices=[1], client_vote_id="lv")

            # An event both sign up for; a named and an anonymous survey; a notice to confirm.
            now = int(time.time() * 1000)
            event = await _ok(
                await root.post(
                    "/api/events",
                    json={
                        "title": "中秋烤肉", "body": "烤肉", "place": "平台花園",
                        "audience": {"buildings": [ids["building"]]}, "max_seats": 3,
                        "signup_opens": now - DAY, "signup_closes": now + DAY,
                        "remind_hours": None,
                        "sessions": [{
                            "label": "晚上", "starts_at": now + 3 * DAY,
                            "ends_at": now + 3 * DAY + 3_600_000, "capacity": 10,
                        }],
                    },
                ),
                201,
            )  # fmt: skip
            eid, sid = event["event"]["id"], event["event"]["sessions"][0]["id"]
            for who, client in (("zhang", zhang), ("li", li)):
                await _ok(
                    await client.post(
                        f"/api/events/{eid}/sessions/{sid}/signups", json={"request_key": who}
                    ),
                    201,
                )
            surveys = {}
            for kind, anonymous in (("named", False), ("anonymous", True)):
                made = await _ok(
                    await root.post(
                        "/api/surveys",
                        json={"title": f"{kind} survey", "questions": QUESTIONS,
                              "anonymous": anonymous},
                    ),
                    201,
                )  # fmt: skip
                surveys[kind] = made["survey"]["id"]
                await _ok(await root.post(f"/api/surveys/{surveys[kind]}/publish", json={}))
                for who, client in (("zhang", zhang), ("li", li)):
                    await _ok(
                        await client.post(
                            f"/api/surveys/{surveys[kind]}/answers",
                            json={"answers": {"overall": 4, "note": f"{who}-{kind}-note"},
                                  "submit": True},
                        )
                    )  # fmt: skip
            notice = await _ok(
                await root.post(
                    "/api/notices",
                    json={"title": "停水通知", "body": "明天停水", "category_id": 1,
                          "requires_ack": True},
                ),
                201,
            )  # fmt: skip
            nid = notice["notice"]["id"]
            await _ok(await zhang.post(f"/api/notices/{nid}/open", json={}))
            await _ok(await zhang.post(f"/api/notices/{nid}/ack", json={}))
            anonymous_before = await _rows(
                deployment,
                "SELECT r.token, a.question, a.value, a.text FROM survey_responses r "
                "JOIN survey_answers a ON a.survey_id = r.survey_id AND a.token = r.token "
                "WHERE r.survey_id = $1 ORDER BY r.token, a.question",
                surveys["anonymous"],
            )
            assert len(anonymous_before) == 4

            async def indexed() -> bool:
                found = await _ok(await li.get("/api/search", params={"q": "zhang-chat"}))
                return bool(found["total"] == 1)

            await wait_until(indexed, timeout=30)

            async def persisted() -> bool:
                store = await deployment.store()
                try:
                    return await store.count_messages(room) >= 2
                finally:
                    await store.close()

            await wait_until(persisted, timeout=30)

            async def voted() -> bool:
                await root.post(f"/api/polls/{pid}/close", json={})
                response = await root.get(f"/api/polls/{pid}/export.csv")
                return response.status_code == 200 and ZHANG in response.text

            await wait_until(voted, timeout=30)

            # -- the export: the ZIP, parsed, holds Zhang's data and nobody else's -------------
            response = await zhang.get("/api/privacy/export")
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/zip"
            assert "attachment" in response.headers["content-disposition"]
            document, tables, text = _zip(response.content)
            assert document["user_id"] == ids["zhang"]
            assert document["profile"][0]["display_name"] == ZHANG
            assert document["profile"][0]["unit"] == "5F-1"
            assert [m["text"] for m in document["messages"]] == ["張的水管漏水 zhang-chat"]
            assert [t["title"] for t in document["forum_topics"]] == ["Lift noise"]
            assert [p["source"] for p in document["forum_posts"]] == ["zhang-post"]
            assert [r["text"] for r in document["requests"]] == ["zhang-leak"]
            assert [(v["poll_id"], v["choices"]) for v in document["votes"]] == [(pid, ["yes"])]
            assert [(e["event_id"], e["seats"]) for e in document["event_signups"]] == [(eid, 1)]
            assert sorted(a["text"] or "" for a in document["survey_answers"]) == [
                "",
                "zhang-named-note",
            ]  # the named survey's two answers; never the anonymous one's
            assert "zhang-anonymous-note" not in text
            for forbidden in (
                "li-named-note",
                "li-anonymous-note",
                LI,
                "li-chat",
                "li-post",
                "li-leak",
                "6F-2",
                "li",
            ):
                if forbidden == "li":
                    assert all(row.get("username") != "li" for row in document["profile"])
                    continue
                assert forbidden not in text, forbidden
            # The notifications are the ones sent to Zhang, and only those.
            store = await deployment.store()
            try:
                mine = await store.database.fetch(
                    "SELECT id FROM notifications WHERE user_id = $1 ORDER BY id", ids["zhang"]
                )
            finally:
                await store.close()
            assert [n["id"] for n in document["notifications"]] == [r["id"] for r in mine]
            assert mine, "the reply and the poll notified Zhang"
            # Every CSV has a header and one row per JSON entry of its section.
            for section in (
                "messages",
                "forum_posts",
                "requests",
                "votes",
                "profile",
                "notifications",
            ):
                rows = tables[f"{section}.csv"]
                assert len(rows) - 1 == len(document[section]), section
            assert tables["messages.csv"][1][tables["messages.csv"][0].index("text")] == (
                "張的水管漏水 zhang-chat"
            )
            # Li's own export is Li's.
            li_document, _, li_text = _zip((await li.get("/api/privacy/export")).content)
            assert [m["text"] for m in li_document["messages"]] == ["李的回覆 li-chat"]
            assert "zhang" not in li_text and ZHANG not in li_text
            async with httpx.AsyncClient(base_url=server.http) as nobody:
                assert (await nobody.get("/api/privacy/export")).status_code == 401

            # -- deletion: the wrong password changes nothing ----------------------------------
            wrong = await zhang.post("/api/privacy/delete", json={"password": "not it at all"})
            assert wrong.status_code == 403
            assert wrong.json()["error"] == {
                "code": "wrong_password", "message": wrong.json()["error"]["message"],
                "field": "password",
            }  # fmt: skip
            assert (await zhang.get("/api/me")).status_code == 200
            bad = await zhang.post("/api/privacy/delete", json={})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"

            deleted = await zhang.post("/api/privacy/delete", json={"password": PASSWORD})
            assert deleted.status_code == 200, deleted.text
            assert 'linli_session=""' in deleted.headers.get("set-cookie", "")
            assert (await zhang.get("/api/me")).status_code == 401
            await zhang_ws.close()

            # -- and the name is gone everywhere --------------------------------------------
            history = await _ok(await li.get(f"/api/channels/{room}/history"))
            authors = {
                p["data"]["text"]: p["data"]["author"]["name"]
                for p in history["publications"]
                if p["data"].get("kind") == "chat"
            }
            assert authors == {"張的水管漏水 zhang-chat": DELETED_NAME, "李的回覆 li-chat": LI}

            page = await li.get(f"/forum/t/{tid}")
            assert page.status_code == 200
            at = page.text.find(ZHANG)
            assert at < 0, page.text[max(0, at - 300) : at + 100]
            topic_json = await _ok(await li.get(f"/api/forum/topics/{tid}"))
            names = {p["author"]["name"] for p in topic_json["posts"]}
            assert names == {DELETED_NAME, LI}, names
            assert ZHANG not in orjson.dumps(topic_json).decode()

            request_json = await _ok(await root.get(f"/api/requests/{rid}"))
            assert "zhang-leak" in orjson.dumps(request_json).decode()
            assert ZHANG not in orjson.dumps(request_json).decode()
            request_page = await root.get(f"/requests/{rid}")
            assert request_page.status_code == 200 and ZHANG not in request_page.text

            poll_csv = (await root.get(f"/api/polls/{pid}/export.csv")).text
            assert ZHANG not in poll_csv and DELETED_NAME in poll_csv and LI in poll_csv

            events_csv = (await root.get(f"/api/events/{eid}/export.csv")).text
            assert ZHANG not in events_csv and DELETED_NAME in events_csv and LI in events_csv
            reach = await _ok(await root.get(f"/api/notices/{nid}/reach"))
            reach_csv = (await root.get(f"/api/notices/{nid}/reach.csv")).text
            assert ZHANG not in orjson.dumps(reach).decode() and ZHANG not in reach_csv
            assert reach["reach"]["acknowledged"] == 1  # the household's confirmation stays
            survey_csv = await root.get(f"/api/surveys/{surveys['named']}/export.csv")
            assert ZHANG not in survey_csv.text
            assert (
                await _rows(
                    deployment,
                    "SELECT r.token, a.question, a.value, a.text FROM survey_responses r "
                    "JOIN survey_answers a ON a.survey_id = r.survey_id AND a.token = r.token "
                    "WHERE r.survey_id = $1 ORDER BY r.token, a.question",
                    surveys["anonymous"],
                )
                == anonymous_before
            )  # untouched

            found = await _ok(await li.get("/api/search", params={"q": "zhang-chat"}))
            assert [h["author_name"] for h in found["hits"]] == [DELETED_NAME]
            assert (await _ok(await li.get("/api/search", params={"q": "zhang"})))["total"] >= 1
            search_page = await li.get("/search", params={"q": "zhang-chat"})
            assert ZHANG not in search_page.text

        # -- the username cannot log in again; the tombstone cannot either -----------------
        async with httpx.AsyncClient(base_url=server.http) as nobody:
            for username in ("zhang", f"deleted-{ids['zhang']}"):
                response = await nobody.post(
                    "/api/login", json={"username": username, "password": PASSWORD}
                )
                assert response.status_code == 401, response.text
                assert response.json()["error"]["code"] == "wrong_credentials"
        await li_ws.close()

    # -- what is stored: personal fields erased, the words kept -----------------------------
    store = await deployment.store()
    try:
        db = store.database
        row = await db.fetchrow(
            "SELECT username, display_name, unit_id, password_hash FROM users WHERE id = $1",
            ids["zhang"],
        )
        assert row is not None
        assert (row["username"], row["display_name"], row["unit_id"]) == (
            f"deleted-{ids['zhang']}", DELETED_NAME, None,
        )  # fmt: skip
        assert not str(row["password_hash"]).startswith("$")
        for table in ("sessions", "push_subscriptions", "notifications", "group_members"):
            count = await db.fetchval(
                f"SELECT count(*) FROM {table} WHERE user_id = $1", ids["zhang"]
            )
            assert count == 0, table
        assert (
            await db.fetchval(
                "SELECT count(*) FROM privacy_deletions WHERE user_id = $1", ids["zhang"]
            )
            == 1
        )
        stored = [
            msgpack.unpackb(bytes(r["data"]), raw=False)
            for r in await db.fetch("SELECT data FROM messages WHERE author_id = $1", ids["zhang"])
        ]
        assert [(m["text"], m["author"]["name"]) for m in stored] == [
            ("張的水管漏水 zhang-chat", DELETED_NAME)
        ]
        assert (
            await db.fetchval("SELECT count(*) FROM search_docs WHERE author_name = $1", ZHANG) == 0
        )
    finally:
        await store.close()
