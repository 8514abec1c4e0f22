"""The forum end to end, in both modes: a building's category invisible to another building over
HTTP, the WebSocket and every listing; 50 concurrent repliers give every reply once, numbered
densely, and every open reader ends with the same list; retries change nothing; unread counts
exact across two devices; a mention of someone who cannot read the topic notifies nobody, a
mention of a reader does; edit history; reactions idempotent; hostile Markdown neutralised; a
moderator's hide reaches readers live and blanks the post in their next load and their
recovery; flags reach the moderators' queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from persistence.store import Role
from tests.e2e.harness import Client, Deployment, Server, running, seed
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(180)

REPLIERS = 50


@dataclass
class Hood:
    server: Server
    building_a: int
    building_b: int
    ids: dict[str, int]
    cookies: dict[str, str]

    def http(self, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.http, cookies={"linli_session": self.cookies[who]}, timeout=30
        )

    async def ws(self, who: str) -> Client:
        return await Client.connect(self.server, self.cookies[who])


async def _sessions(
    deployment: Deployment, extra: int
) -> tuple[int, int, dict[str, int], dict[str, str]]:
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        ids = dict(hood.users)
        for i in range(extra):
            user = await store.create_user(
                username=f"r{i:02d}", display_name=f"Resident {i:02d}", password_hash="-",
                role=Role.RESIDENT, building_id=hood.building_a, unit_label=f"U{i}", now=now,
            )  # fmt: skip
            ids[user.username] = user.id
        admin = await store.create_user(
            username="root", display_name="Root", password_hash="-", role=Role.ADMIN,
            building_id=None, unit_label=None, now=now,
        )  # fmt: skip
        ids["root"] = admin.id
        cookies = {}
        for name, user_id in ids.items():
            token = new_token()
            await store.create_session(
                token_hash(token), user_id, expires_at=now + 86_400_000, now=now
            )
            cookies[name] = token
        return hood.building_a, hood.building_b, ids, cookies
    finally:
        await store.close()


@pytest.fixture
async def hood(deployment: Deployment) -> AsyncIterator[Hood]:
    a, b, ids, cookies = await _sessions(deployment, REPLIERS)
    env = {"LINLI_PUBLISH_RATE": "50", "LINLI_PUBLISH_BURST": "100"}
    if deployment.mode == "scaled":
        env["LINLI_RUN_WORKERS"] = "true"
    async with running(deployment, **env) as server:
        yield Hood(server, a, b, ids, cookies)


async def _post(client: httpx.AsyncClient, path: str, expect: int = 200, **body: Any) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == expect, response.text
    return response.json()


async def _get(client: httpx.AsyncClient, path: str, expect: int = 200) -> Any:
    response = await client.get(path)
    assert response.status_code == expect, response.text
    return response.json()


async def _category(hood: Hood, slug: str, scope: str = "all", **extra: Any) -> int:
    async with hood.http("root") as root:
        body = await _post(
            root, "/api/forum/categories", 201, slug=slug, name_zh="交換", name_en="Swap",
            scope=scope, **extra,
        )  # fmt: skip
    return int(body["category"]["id"])


async def _topic(hood: Hood, who: str, category: int, text: str = "first") -> dict[str, Any]:
    async with hood.http(who) as client:
        body = await _post(
            client, f"/api/forum/categories/{category}/topics", 201,
            title="Lift noise", text=text, client_id=f"t-{who}-{category}",
        )  # fmt: skip
    return body  # type: ignore[no-any-return]


async def _until(check: Any, timeout: float = 15.0) -> Any:
    """Polls ``check()`` (bounded in time) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_building_category_invisible_to_other_building(hood: Hood) -> None:
    category = await _category(hood, "block-a", scope=f"building:{hood.building_a}")
    everyone = await _category(hood, "swap")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    async with hood.http("bob") as bob, hood.http("amy") as amy:
        listed = await _get(bob, "/api/forum/categories")
        assert [c["id"] for c in listed["categories"]] == [everyone]
        assert {c["id"] for c in (await _get(amy, "/api/forum/categories"))["categories"]} == {
            category,
            everyone,
        }
        for path in (
            f"/api/forum/categories/{category}/topics",
            f"/api/forum/topics/{topic}",
            f"/api/forum/topics/{topic}/people",
        ):
            assert (await _get(bob, path, 404))["error"]["code"] == "not_found"
        missing = await _get(bob, "/api/forum/topics/999999", 404)
        assert missing["error"]["code"] == "not_found"  # the same answer as a hidden one
        code = (await _post(bob, f"/api/forum/topics/{topic}/replies", 404, text="x",
                            client_id="b1"))["error"]["code"]  # fmt: skip
        assert code == "not_found"
        await _post(bob, f"/api/forum/categories/{category}/topics", 404, title="hi",
                    text="x", client_id="b2")  # fmt: skip
        # A post id of the hidden topic: every post route refuses alike.
        post_id = (await _get(amy, f"/api/forum/topics/{topic}"))["posts"][0]["id"]
        await _post(bob, f"/api/forum/posts/{post_id}/react", 404, emoji="👍")
        await _get(bob, f"/api/forum/posts/{post_id}/history", 404)
        # Residents cannot create categories.
        await _post(bob, "/api/forum/categories", 403, slug="x1", name_zh="x", name_en="x")
    outsider = await hood.ws("bob")
    insider = await hood.ws("amy")
    try:
        assert await outsider.error("subscribe", channel=f"topic:{topic}") == "not_found"
        assert await outsider.error("publish", channel=f"topic:{topic}", text="x",
                                    client_msg_id="m1") in ("not_found", "forbidden")  # fmt: skip
        ok = await insider.ok("subscribe", channel=f"topic:{topic}")
        assert ok["channel"] == f"topic:{topic}"
        # Nobody writes to a topic's channel over the wire, not even a reader.
        assert await insider.error("publish", channel=f"topic:{topic}", text="x",
                                   client_msg_id="m2") == "forbidden"  # fmt: skip
    finally:
        await outsider.close()
        await insider.close()


async def test_concurrent_replies_live_to_every_reader(hood: Hood) -> None:
    category = await _category(hood, "ideas")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    readers = [await hood.ws(name) for name in ("amy", "bob", "mo")]
    try:
        for reader in readers:
            await reader.ok("subscribe", channel=f"topic:{topic}")
        names = [f"r{i:02d}" for i in range(REPLIERS)]
        clients = {name: hood.http(name) for name in names}
        try:

            async def reply(name: str) -> dict[str, Any]:
                return await _post(  # type: ignore[no-any-return]
                    clients[name], f"/api/forum/topics/{topic}/replies", 201,
                    text=f"reply from {name}", client_id=f"c-{name}",
                )  # fmt: skip

            started = time.monotonic()
            replies = await asyncio.gather(*(reply(n) for n in names))
            elapsed = time.monotonic() - started
            numbers = sorted(r["post"]["number"] for r in replies)
            assert numbers == list(range(2, REPLIERS + 2))
            # Retries: the stored post again, nothing new.
            again = await asyncio.gather(
                *(
                    _post(
                        clients[n],
                        f"/api/forum/topics/{topic}/replies",
                        200,
                        text=f"reply from {n}",
                        client_id=f"c-{n}",
                    )
                    for n in names[:10]
                )
            )
            assert all(r["duplicate"] for r in again)
        finally:
            for client in clients.values():
                await client.aclose()
        seen = []
        for reader in readers:
            got: dict[int, str] = {}
            deadline = time.monotonic() + 15
            while len(got) < REPLIERS and time.monotonic() < deadline:
                push = await reader.push("pub", timeout=15)
                data = push["data"]
                if data["kind"] == "post":
                    got[data["post"]["number"]] = data["post"]["html"]
            seen.append(got)
        assert sorted(seen[0]) == list(range(2, REPLIERS + 2))
        assert seen[0] == seen[1] == seen[2]
        async with hood.http("amy") as amy:
            pages = [await _get(amy, f"/api/forum/topics/{topic}?page={n}") for n in (1, 2)]
        assert [p["pages"] for p in pages] == [2, 2]
        stored = {p["number"]: p["html"] for page in pages for p in page["posts"]}
        del stored[1]
        assert stored == seen[0]
        assert pages[0]["topic"]["posts"] == REPLIERS + 1
        print(f"\n{REPLIERS} concurrent replies stored in {elapsed:.2f}s")
    finally:
        for reader in readers:
            await reader.close()


async def test_unread_exact_across_two_devices(hood: Hood) -> None:
    category = await _category(hood, "lost")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    async with hood.http("amy") as amy:
        for i in range(4):
            await _post(amy, f"/api/forum/topics/{topic}/replies", 201, text=f"r{i}",
                        client_id=f"u{i}")  # fmt: skip
    phone, desktop = hood.http("ann"), hood.http("ann")
    try:
        listed = await _get(phone, f"/api/forum/categories/{category}/topics")
        assert listed["topics"][0]["unread"] == 4  # listing marks nothing read
        cats = await _get(desktop, "/api/forum/categories")
        [mine] = [c for c in cats["categories"] if c["id"] == category]
        assert (mine["unread_topics"], mine["unread_posts"]) == (1, 4)
        # Opening the topic is not reading it either: the page tells where reading stopped.
        opened = await _get(phone, f"/api/forum/topics/{topic}")
        assert (opened["last_read"], opened["unread"]) == (1, 4)
        assert (await _post(phone, f"/api/forum/topics/{topic}/read", number=3))["unread"] == 2
        # The desktop reports an older position later: the furthest stays.
        assert (await _post(desktop, f"/api/forum/topics/{topic}/read", number=2)) == {
            "last_read": 3,
            "unread": 2,
        }
        assert (await _get(desktop, f"/api/forum/topics/{topic}"))["unread"] == 2
        await _post(desktop, f"/api/forum/topics/{topic}/read", number=10**6)
        assert (await _get(phone, f"/api/forum/categories/{category}/topics"))["topics"][0][
            "unread"
        ] == 0
    finally:
        await phone.aclose()
        await desktop.aclose()


async def _inbox(hood: Hood, who: str) -> list[dict[str, Any]]:
    async with hood.http(who) as client:
        return (await _get(client, "/api/notifications"))["notifications"]  # type: ignore[no-any-return]


async def test_mentions_only_reach_readers(hood: Hood) -> None:
    category = await _category(hood, "block-a", scope=f"building:{hood.building_a}")
    topic = (await _topic(hood, "ann", category, text="@Bob and @amy, the lift?"))["topic"]
    async with hood.http("r00") as r00:
        reply = await _post(r00, f"/api/forum/topics/{topic['id']}/replies", 201,
                            text="@Bob hello", client_id="m1")  # fmt: skip
    # amy (a reader) hears of the mention, and ann of the reply to her topic.
    amy = await _until(lambda: _inbox(hood, "amy"))
    assert [n["kind"] for n in amy] == ["mention"]
    assert amy[0]["link"].startswith(f"/forum/t/{topic['id']}")
    ann = await _until(lambda: _inbox(hood, "ann"))
    assert [n["kind"] for n in ann] == ["chat"]
    # bob lives in B and cannot read the topic: nothing, however long we wait for the rest.
    await asyncio.sleep(1.0)
    assert await _inbox(hood, "bob") == []
    # An @name added by an edit notifies; an edit that adds none notifies nobody again.
    async with hood.http("r00") as r00:
        edited = await _post(r00, f"/api/forum/posts/{reply['post']['id']}", text="@Bob @amy hi")
        assert edited["post"]["edits"] == 1
        amy = await _until(lambda: _more(hood, "amy", 1))
        assert [n["kind"] for n in amy] == ["mention", "mention"]
        await _post(r00, f"/api/forum/posts/{reply['post']['id']}", text="@Bob @amy hi again")
    await asyncio.sleep(1.0)
    assert len(await _inbox(hood, "amy")) == 2
    assert await _inbox(hood, "bob") == []


async def _more(hood: Hood, who: str, than: int) -> list[dict[str, Any]]:
    found = await _inbox(hood, who)
    return found if len(found) > than else []


async def test_edit_history_reactions_markdown_and_moderation(hood: Hood) -> None:
    category = await _category(hood, "ideas2")
    hostile = (
        "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**"
    )
    made = await _topic(hood, "ann", category, text=hostile)
    topic, first = made["topic"]["id"], made["post"]
    html = first["html"]
    # Raw HTML arrives as text, the javascript: link is no link: nothing runs.
    assert "<script" not in html and "href" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "<strong>bold</strong>" in html
    reader = await hood.ws("amy")
    try:
        await reader.ok("subscribe", channel=f"topic:{topic}")
        async with hood.http("ann") as ann, hood.http("amy") as amy, hood.http("mo") as mo:
            edited = await _post(ann, f"/api/forum/posts/{first['id']}", text="calm **v2**")
            assert edited["post"]["edits"] == 1
            await _post(amy, f"/api/forum/posts/{first['id']}", 403, text="not mine")
            history = await _get(ann, f"/api/forum/posts/{first['id']}/history")
            assert [r["text"] for r in history["revisions"]] == [hostile]
            await _get(amy, f"/api/forum/posts/{first['id']}/history", 403)
            push = await reader.push("pub")
            assert push["data"]["kind"] == "edit"
            assert push["data"]["post"]["html"] == "<p>calm <strong>v2</strong></p>\n"
            # Reactions under retries: one each.
            results = await asyncio.gather(
                *(_post(amy, f"/api/forum/posts/{first['id']}/react", emoji="👍") for _ in range(5))
            )
            assert {r["version"] for r in results} == {1}
            final = await _post(mo, f"/api/forum/posts/{first['id']}/react", emoji="👍")
            assert final["reactions"] == [
                {
                    "emoji": "👍",
                    "count": 2,
                    "names": ["Amy", "Mo"],
                    "user_ids": [hood.ids["amy"], hood.ids["mo"]],
                }
            ]
            await _post(amy, f"/api/forum/posts/{first['id']}/react", 400, emoji="💩")
            reply = await _post(amy, f"/api/forum/topics/{topic}/replies", 201,
                                text="rude words", client_id="rude")  # fmt: skip
            reply_id = reply["post"]["id"]
            # The flag reaches the moderators' queue, on the topic's channel.
            await _post(ann, f"/api/forum/posts/{reply_id}/flag", reason="harassment")
            dup = await _post(ann, f"/api/forum/posts/{reply_id}/flag", reason="harassment")
            assert dup["duplicate"] is True

            async def queued() -> list[dict[str, Any]]:
                items = (await _get(mo, "/api/mod/queue"))["messages"]
                return [m for m in items if m["channel"] == f"topic:{topic}"]

            [item] = await _until(queued)
            assert (item["offset"], item["flag_count"], item["text"]) == (reply_id, 1, "rude words")
            await _post(amy, f"/api/forum/posts/{reply_id}/moderate", 403, reason="x")
            hidden = await _post(mo, f"/api/forum/posts/{reply_id}/moderate", reason="rude",
                                 action="hide")  # fmt: skip
            assert hidden["visibility"] == "hidden"
            # Live: the reader hears the hide.
            kinds = []
            deadline = time.monotonic() + 10
            while "hide" not in kinds and time.monotonic() < deadline:
                data = (await reader.push("pub"))["data"]
                kinds.append(data["kind"])
                if data["kind"] == "hide":
                    assert data["target"] == reply_id
            assert "hide" in kinds
            # And the topic's history for residents: the place kept, the text gone.
            page = await _get(amy, f"/api/forum/topics/{topic}")
            [blank] = [p for p in page["posts"] if p["id"] == reply_id]
            assert (blank["html"], blank["moderation"]) == ("", "hidden")
            staff_page = await _get(mo, f"/api/forum/topics/{topic}")
            [seen] = [p for p in staff_page["posts"] if p["id"] == reply_id]
            assert seen["html"] == "<p>rude words</p>\n"
            # The moderation page's own action works on a forum post too.
            restored = await _post(mo, f"/api/mod/messages/topic:{topic}/{reply_id}/restore",
                                   reason="fine after all")  # fmt: skip
            assert restored["message"]["visibility"] == "visible"
            page = await _get(amy, f"/api/forum/topics/{topic}")
            [back] = [p for p in page["posts"] if p["id"] == reply_id]
            assert (back["html"], back["moderation"]) == ("<p>rude words</p>\n", None)
            await _post(mo, f"/api/forum/posts/{reply_id}/moderate", reason="rude", action="hide")
            # A reader who reconnects and recovers does not get the text back either.
            late = await hood.ws("bob")
            try:
                ok = await late.ok("subscribe", channel=f"topic:{topic}",
                                   since={"epoch": push["epoch"], "offset": 0})  # fmt: skip
                replayed = [p["data"] for p in ok["publications"]]
                posts = [d["post"] for d in replayed if d.get("kind") == "post"]
                assert [p["html"] for p in posts if p["id"] == reply_id] == [""]
            finally:
                await late.close()
    finally:
        await reader.close()


async def test_staff_close_pin_move_and_answer(hood: Hood) -> None:
    category = await _category(hood, "questions")
    notices = await _category(hood, "notices", start_by="staff")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    async with hood.http("ann") as ann, hood.http("amy") as amy, hood.http("mo") as mo:
        await _post(amy, f"/api/forum/categories/{notices}/topics", 403, title="hello",
                    text="x", client_id="n1")  # fmt: skip
        answer = (await _post(amy, f"/api/forum/topics/{topic}/replies", 201, text="try this",
                              client_id="a1"))["post"]  # fmt: skip
        await _post(amy, f"/api/forum/topics/{topic}/solve", 403, post_id=answer["id"])
        solved = await _post(ann, f"/api/forum/topics/{topic}/solve", post_id=answer["id"])
        assert solved["topic"]["solved_post_id"] == answer["id"]
        page = await _get(amy, f"/api/forum/topics/{topic}")
        assert page["solved"]["id"] == answer["id"]
        assert (await _get(amy, "/api/forum/categories"))["questions_answered"] == 1
        await _post(amy, f"/api/forum/topics/{topic}/staff", 403, closed=True)
        closed = await _post(mo, f"/api/forum/topics/{topic}/staff", closed=True, pinned=True)
        assert closed["topic"]["closed"] and closed["topic"]["pinned"]
        refused = await _post(amy, f"/api/forum/topics/{topic}/replies", 409, text="late",
                              client_id="a2")  # fmt: skip
        assert refused["error"]["code"] == "topic_closed"
        page = await _get(amy, f"/api/forum/topics/{topic}")
        assert page["topic"]["posts"] == 2 and page["may_reply"] is False
        # The word list and mutes apply to posts as to chat.
        async with hood.http("root") as root:
            await _post(
                root, "/api/mod/words", 201, pattern="Badword", action="block", reason="list"
            )
        await _post(mo, f"/api/forum/topics/{topic}/staff", closed=False)
        # Staff split a reply off into a topic of its own; its old place links there.
        aside = (await _post(amy, f"/api/forum/topics/{topic}/replies", 201,
                             text="Unrelated: the bins?", client_id="a3", ))["post"]  # fmt: skip
        await _post(amy, f"/api/forum/posts/{aside['id']}/split", 403, title="Bins")
        await _post(mo, f"/api/forum/posts/{answer['id'] - 1}/split", 400, title="First post")
        split = await _post(mo, f"/api/forum/posts/{aside['id']}/split", title="The bins")
        new_topic = split["topic"]
        assert (new_topic["title"], new_topic["author"]["id"], new_topic["posts"]) == (
            "The bins", hood.ids["amy"], 1,
        )  # fmt: skip
        moved = await _get(amy, f"/api/forum/topics/{new_topic['id']}")
        assert moved["posts"][0]["html"] == "<p>Unrelated: the bins?</p>\n"
        old_page = await _get(amy, f"/api/forum/topics/{topic}")
        stub = old_page["posts"][-1]
        assert stub["number"] == 3 and f'href="/forum/t/{new_topic["id"]}"' in stub["html"]
        blocked = await _post(amy, f"/api/forum/topics/{topic}/replies", 400,
                              text="a ＢＡＤＷＯＲＤ here", client_id="w1")  # fmt: skip
        assert blocked["error"]["code"] == "blocked_word"
        await _post(mo, f"/api/mod/users/{hood.ids['amy']}/mute", reason="cool off", seconds=60)
        muted = await _post(amy, f"/api/forum/topics/{topic}/replies", 403, text="hello",
                            client_id="w2")  # fmt: skip
        assert muted["error"]["code"] == "muted"
        page = await _get(amy, f"/api/forum/topics/{topic}")
        assert page["topic"]["posts"] == 3  # nothing refused was stored
        # Moving into a building-B category shuts A's live readers out.
        block_b = await _category(hood, "block-b", scope=f"building:{hood.building_b}")
        reader = await hood.ws("amy")
        try:
            await reader.ok("subscribe", channel=f"topic:{topic}")
            await _post(mo, f"/api/forum/topics/{topic}/staff", category_id=block_b)
            push = await reader.push("unsubscribed", timeout=10)
            assert push["channel"] == f"topic:{topic}"
        finally:
            await reader.close()
        await _get(amy, f"/api/forum/topics/{topic}", 404)
    # The community figures count the forum from its rows: this period's newest column.
    async with hood.http("root") as root:
        figures = await _get(root, "/api/figures?period=month")
    rows = {row["key"]: row["values"][-1] for row in figures["rows"]}
    # Topics started this month: the question and the one split off from it; one answered.
    assert (rows["forum.topics"], rows["forum.answered"]) == (2, 1)
    assert rows["forum.answered_share"] == 0.5


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 120, 60)).save(out, "PNG")
    return out.getvalue()


async def test_pictures_go_with_their_post_and_its_readers(hood: Hood) -> None:
    category = await _category(hood, "block-a", scope=f"building:{hood.building_a}")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    async with hood.http("amy") as amy, hood.http("ann") as ann, hood.http("bob") as bob:
        upload = await amy.post("/api/forum/images?name=garden.png", content=_png())
        assert upload.status_code == 201, upload.text
        image = upload.json()["image"]
        assert (image["width"], image["height"], image["filename"]) == (800, 600, "garden.png")
        # Before it is posted, only its uploader sees it; nobody else may attach it.
        assert (await amy.get(f"/api/forum/images/{image['id']}")).status_code == 200
        assert (await ann.get(f"/api/forum/images/{image['id']}")).status_code == 404
        stolen = await _post(ann, f"/api/forum/topics/{topic}/replies", 400, text="mine now",
                             client_id="s1", images=[image["id"]])  # fmt: skip
        assert stolen["error"]["field"] == "images"
        text = await amy.post("/api/forum/images?name=notes.png", content=b"just some text")
        assert text.json()["error"]["code"] == "upload_type_not_allowed"
        reply = await _post(amy, f"/api/forum/topics/{topic}/replies", 201, text="our garden",
                            client_id="p1", images=[image["id"]])  # fmt: skip
        assert [i["id"] for i in reply["post"]["images"]] == [image["id"]]
        # Now every reader of the topic sees it (and its thumbnail); another building does not.
        full = await ann.get(f"/api/forum/images/{image['id']}")
        assert (full.status_code, full.headers["content-type"]) == (200, "image/png")
        assert full.content == _png()
        thumb = await ann.get(f"/api/forum/images/{image['id']}/thumb")
        assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/jpeg")
        assert (await bob.get(f"/api/forum/images/{image['id']}")).status_code == 404
        page = await _get(ann, f"/api/forum/topics/{topic}")
        assert [i["id"] for p in page["posts"] for i in p["images"]] == [image["id"]]
        # Attached once: a second post cannot take it.
        again = await _post(amy, f"/api/forum/topics/{topic}/replies", 400, text="again",
                            client_id="p2", images=[image["id"]])  # fmt: skip
        assert again["error"]["code"] == "bad_request"


async def test_reader_who_reconnects_gets_what_it_missed(hood: Hood) -> None:
    category = await _category(hood, "recover")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    channel = f"topic:{topic}"
    reader = await hood.ws("amy")
    try:
        ok = await reader.ok("subscribe", channel=channel)
        epoch, offset = ok["epoch"], ok["offset"]
    finally:
        await reader.close()
    async with hood.http("bob") as bob:
        for i in range(5):
            await _post(bob, f"/api/forum/topics/{topic}/replies", 201, text=f"while away {i}",
                        client_id=f"away{i}")  # fmt: skip
        # A bad id in a body is refused by its field, and changes nothing.
        bad = await _post(bob, f"/api/forum/topics/{topic}/solve", 400, post_id=2**60)
        assert bad["error"]["field"] == "post_id"
    back = await hood.ws("amy")
    try:
        ok = await back.ok("subscribe", channel=channel, since={"epoch": epoch, "offset": offset})
        assert ok["recovered"] is True
        missed = [p["data"]["post"]["number"] for p in ok["publications"]]
        assert missed == [2, 3, 4, 5, 6]
        assert [p["offset"] for p in ok["publications"]] == list(range(offset + 1, offset + 6))
    finally:
        await back.close()


async def test_a_category_list_is_live_for_its_readers_only(hood: Hood) -> None:
    """``category:<id>``: a new topic, a reply and a move reach the list's readers; a resident
    of another building cannot follow the list; a narrowed scope ends the subscription."""
    category = await _category(hood, "live-a", scope=f"building:{hood.building_a}")
    other = await _category(hood, "live-all")
    reader, outsider = await hood.ws("amy"), await hood.ws("bob")
    try:
        assert await outsider.error("subscribe", channel=f"category:{category}") == "not_found"
        assert await outsider.error("subscribe", channel="category:999999") == "not_found"
        await reader.ok("subscribe", channel=f"category:{category}")
        assert await reader.error("publish", channel=f"category:{category}", text="x",
                                  client_msg_id="c1") == "forbidden"  # fmt: skip
        made = (await _topic(hood, "ann", category))["topic"]
        [pub] = await reader.pubs(1)
        assert pub["channel"] == f"category:{category}"
        assert pub["data"]["kind"] == "topic"
        assert (pub["data"]["topic"]["id"], pub["data"]["topic"]["posts"]) == (made["id"], 1)
        async with hood.http("r00") as r00:
            await _post(r00, f"/api/forum/topics/{made['id']}/replies", 201, text="me too",
                        client_id="live1")  # fmt: skip
        [pub] = await reader.pubs(1)
        assert pub["data"]["topic"]["posts"] == 2
        # Moved out: the list it left hears of it (with its new category).
        async with hood.http("mo") as mo:
            await _post(mo, f"/api/forum/topics/{made['id']}/staff", category_id=other)
        [pub] = await reader.pubs(1)
        assert pub["data"]["topic"]["category_id"] == other
        # The category narrowed to Block B: amy's subscription ends.
        async with hood.http("root") as root:
            await _post(root, f"/api/forum/categories/{category}", slug="live-a", name_zh="交換",
                        name_en="Swap", scope=f"building:{hood.building_b}")  # fmt: skip
        push = await reader.push("unsubscribed", timeout=10)
        assert push["channel"] == f"category:{category}"
    finally:
        await reader.close()
        await outsider.close()


async def test_a_post_with_a_phrase_to_hold_waits_for_a_moderator(hood: Hood) -> None:
    """Issue 14: the word list's 'hold' applies to the forum as to chat. A held reply or topic
    is answered 202 and not written; it reaches the moderators' queue; approving writes it once
    (live for readers), under its author's name; rejecting writes nothing."""
    category = await _category(hood, "held")
    topic = (await _topic(hood, "ann", category))["topic"]["id"]
    async with hood.http("root") as root:
        await _post(root, "/api/mod/words", 201, pattern="網上賭場", action="hold", reason="list")
    reader = await hood.ws("ann")
    try:
        await reader.ok("subscribe", channel=f"topic:{topic}")
        async with hood.http("amy") as amy, hood.http("mo") as mo:
            held = await _post(amy, f"/api/forum/topics/{topic}/replies", 202,
                               text="有人試過網上賭場嗎？", client_id="h1")  # fmt: skip
            again = await _post(amy, f"/api/forum/topics/{topic}/replies", 202,
                                text="有人試過網上賭場嗎？", client_id="h1")  # fmt: skip
            assert again["held"]["id"] == held["held"]["id"]  # a retry is the same held post
            assert (await _get(amy, f"/api/forum/topics/{topic}"))["topic"]["posts"] == 1
            waiting = {h["id"]: h for h in (await _get(mo, "/api/mod/queue"))["held"]}
            assert waiting[held["held"]["id"]]["text"] == "有人試過網上賭場嗎？"
            assert waiting[held["held"]["id"]]["channel"] == f"topic:{topic}"
            # Named by the forum itself (Feature.place_namers), in the reader's language.
            assert waiting[held["held"]["id"]]["room"] == "交換 › Lift noise"
            english = await mo.get("/api/mod/queue", headers={"Accept-Language": "en"})
            assert {h["room"] for h in english.json()["held"]} == {"Swap › Lift noise"}
            # A held topic waits too; the list shows nothing new.
            new_topic = f"/api/forum/categories/{category}/topics"
            held_topic = await _post(amy, new_topic, 202, title="網上賭場廣告", text="信箱收到的",
                                     client_id="h2")  # fmt: skip
            listed = await _get(amy, f"/api/forum/categories/{category}/topics")
            assert [t["id"] for t in listed["topics"]] == [topic]
            waiting = {h["id"]: h for h in (await _get(mo, "/api/mod/queue"))["held"]}
            assert waiting[held_topic["held"]["id"]]["room"] == "交換"  # its category

            approved = await _post(mo, f"/api/mod/held/{held['held']['id']}/approve",
                                   reason="a question")  # fmt: skip
            assert approved["changed"] is True and approved["state"] == "approved"
            [pub] = await reader.pubs(1)
            assert pub["data"]["kind"] == "post"
            post = pub["data"]["post"]
            assert (post["number"], post["author"]["id"]) == (2, hood.ids["amy"])
            assert approved["offset"] == post["id"]
            twice = await _post(mo, f"/api/mod/held/{held['held']['id']}/approve", reason="x")
            assert twice["changed"] is False
            page = await _get(amy, f"/api/forum/topics/{topic}")
            assert page["topic"]["posts"] == 2 and "網上賭場" in page["posts"][1]["html"]

            rejected = await _post(mo, f"/api/mod/held/{held_topic['held']['id']}/reject",
                                   reason="an advert")  # fmt: skip
            assert rejected["state"] == "rejected"
            listed = await _get(amy, f"/api/forum/categories/{category}/topics")
            assert [t["id"] for t in listed["topics"]] == [topic]
            # Held again and approved: the topic is written with its title, under amy's name.
            third = await _post(amy, new_topic, 202, title="網上賭場是騙局", text="大家小心",
                                client_id="h3")  # fmt: skip
            await _post(mo, f"/api/mod/held/{third['held']['id']}/approve", reason="a warning")
            listed = await _get(amy, f"/api/forum/categories/{category}/topics")
            made = [t for t in listed["topics"] if t["id"] != topic]
            assert [(t["title"], t["author"]["id"]) for t in made] == [
                ("網上賭場是騙局", hood.ids["amy"])
            ]
            # An edit with the phrase is refused, not held (the post is public already).
            refused = await _post(amy, f"/api/forum/posts/{post['id']}", 400, text="網上賭場")
            assert refused["error"]["code"] == "blocked_word"
    finally:
        await reader.close()
