"""The community's figures end to end, in both modes: a login, a page and a WebSocket connection
reach the activity rollup through the metrics worker (a task when embedded, ``linli worker
metrics`` with the scaled mode's workers), and show on /figures for the committee; residents are
refused the page and the API; bad queries get their codes. New residents registered from
posters, invite codes, the desk and by hand, and posts of every kind, give the sources' rows and
the posts figure that a count made here from the stored rows gives, on the page and in the CSV."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from persistence.activity.sql import SqlActivityStore
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import PASSWORD, Client, Deployment, login, running, seed

pytestmark = pytest.mark.timeout(120)


async def test_activity_reaches_the_figures_and_only_staff_see_them(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        from web.passwords import hash_password

        await store.create_user(
            username="lam", display_name="Lam", password_hash=await hash_password(PASSWORD),
            role=Role.COMMITTEE, building_id=None, unit_label=None,
            now=int(time.time() * 1000),
        )  # fmt: skip
    finally:
        await store.close()
    env = {"LINLI_RUN_WORKERS": "true"} if deployment.mode == "scaled" else {}
    async with running(deployment, **env) as server:
        cookies = {name: await login(server, name) for name in ("ann", "amy", "bob", "lam")}
        client = await Client.connect(server, cookies["bob"])
        await client.close()

        async def rolled_up() -> bool:
            s = await deployment.store()
            try:
                days = await SqlActivityStore(s.database).days("2000-01-01", "2999-12-31")
            finally:
                await s.close()
            return {d.user_id for d in days} >= {hood.users[n] for n in ("ann", "amy", "bob")}

        await wait_until(rolled_up, timeout=30, interval=0.2)

        def as_(name: str | None) -> httpx.AsyncClient:
            jar = {"linli_session": cookies[name]} if name else {}
            return httpx.AsyncClient(base_url=server.http, cookies=jar)

        async with as_("ann") as resident, as_("lam") as http, as_(None) as nobody:
            page = await resident.get("/figures")
            assert page.status_code == 403
            api = await resident.get("/api/figures")
            assert api.status_code == 403 and api.json()["error"]["code"] == "forbidden"
            assert (await nobody.get("/api/figures")).status_code == 401

            got = (await http.get("/api/figures?period=day")).json()
            rows = {r["key"]: r["values"][-1] for r in got["rows"]}
            # Three residents registered and active today: under five, so not shown.
            assert rows["residents"] == "< 5" and rows["active"] == "< 5"
            assert rows["chat_posts"] == 0
            assert "moderation.flags" in rows  # the moderation feature's figures are there

            bad = await http.get("/api/figures?period=year")
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
            missing = await http.get("/api/figures?building=99999")
            assert missing.status_code == 404

            page = await http.get(
                f"/figures?period=week&building={hood.building_a}",
                headers={"Accept-Language": "en"},
            )
            assert page.status_code == 200
            assert "Daily active share" in page.text and "<svg" in page.text

            exported = await http.get("/api/figures.csv?period=month")
            assert exported.headers["content-type"].startswith("text/csv")
            table = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
            assert table[0][0] == "key" and len(table[0]) == 2 + 6
            assert any(r[0] == "dau_share" for r in table)


# -- new registrations by source, and posts ---------------------------------------------------


async def _staff(deployment: Deployment, name: str, role: Role) -> None:
    from web.passwords import hash_password

    store = await deployment.store()
    try:
        await store.create_user(
            username=name, display_name=name.title(),
            password_hash=await hash_password(PASSWORD), role=role, building_id=None,
            unit_label=None, now=int(time.time() * 1000),
        )  # fmt: skip
    finally:
        await store.close()


def _shown(n: int) -> object:
    """A count of people as the figures show it (the "< 5" rule)."""
    return "< 5" if 0 < n < 5 else n


async def _expected(deployment: Deployment, start: int, end: int, building: int | None) -> Any:
    """The figures counted afresh here from the stored rows with plain SELECTs: each resident's
    source (the desk's row; else the code it registered with, a poster's or not; else other),
    and the period's chat messages, forum posts and notices."""
    store = await deployment.store()
    try:
        db = store.database
        users = {
            int(r[0]): (str(r[1]), r[2], int(r[3]))
            for r in await db.fetch("SELECT id, role, building_id, created_at FROM users")
        }
        desk = {int(r[0]) for r in await db.fetch("SELECT user_id FROM onboard_desk")}
        used = {
            int(r[1]): str(r[0])
            for r in await db.fetch("SELECT code, user_id FROM admin_invite_uses")
        }
        posters = {str(r[0]) for r in await db.fetch("SELECT invite_code FROM onboard_posters")}
        messages = await db.fetch("SELECT channel, author_id, created_at FROM messages")
        forum = await db.fetch("SELECT author_id, created_at, deleted FROM forum_posts")
        notices = await db.fetch("SELECT published_at FROM notices")
    finally:
        await store.close()

    def ours(user_id: int) -> bool:
        role, home, _ = users[user_id]
        return role == "resident" and (building is None or home == building)

    sources: Counter[str] = Counter()
    for user_id, (_, _, at) in users.items():
        if not ours(user_id) or not start <= at < end:
            continue
        if user_id in desk:
            sources["onboard.desk"] += 1
        elif user_id in used:
            kind = "poster" if used[user_id] in posters else "invite"
            sources[f"{kind}:{used[user_id]}"] += 1
        else:
            sources["onboard.other"] += 1
    chat = sum(
        1
        for r in messages
        if str(r[0]).split(":")[0] in ("building", "group") and ours(int(r[1]))
        and start <= int(r[2]) < end
    )  # fmt: skip
    forum_posts = sum(
        1
        for r in forum
        if not r[2] and start <= int(r[1]) < end
        and (building is None or users[int(r[0])][1] == building)
    )  # fmt: skip
    published = sum(1 for r in notices if r[0] is not None and start <= int(r[0]) < end)
    return sources, chat, forum_posts + published


async def test_registrations_by_source_and_posts(deployment: Deployment) -> None:
    """Residents registered with two buildings' posters, an admin console invite for one flat,
    a plain invite, at the management desk and by hand (the seed); chat messages, forum topics
    and replies, notices: the figures' new registrations by source and posts for the day and the
    month, everywhere and per building, equal the counts made above from the rows; the page
    shows them in tables (both languages), the CSV has them, a non-poster code only in part."""
    hood = await seed(deployment)  # ann, amy (A) and bob (B): made by hand, "other"
    a, b = hood.building_a, hood.building_b
    for name, role in (("root", Role.ADMIN), ("desk", Role.MANAGEMENT), ("lam", Role.COMMITTEE)):
        await _staff(deployment, name, role)
    store = await deployment.store()
    try:
        from web.passwords import hash_password

        pw = await hash_password(PASSWORD)
        for name, home in (("cli1", b), ("cli2", a)):  # as `linli user create` makes them
            await store.create_user(
                username=name, display_name=name, password_hash=pw, role=Role.RESIDENT,
                building_id=home, unit_label="2B", now=int(time.time() * 1000),
            )  # fmt: skip
    finally:
        await store.close()
    env = {"LINLI_RUN_WORKERS": "true"} if deployment.mode == "scaled" else {}
    async with running(deployment, **env) as server:
        cookies = {n: await login(server, n) for n in ("root", "desk", "lam", "ann", "bob")}

        def as_(name: str | None, **headers: str) -> httpx.AsyncClient:
            jar = {"linli_session": cookies[name]} if name else {}
            return httpx.AsyncClient(base_url=server.http, cookies=jar, timeout=30, headers=headers)

        async def made(client: httpx.AsyncClient, path: str, **body: Any) -> Any:
            answer = await client.post(path, json=body)
            assert answer.status_code == 201, answer.text
            return answer.json()

        async with as_("root") as root, as_("desk") as desk:
            poster_a = (await made(desk, f"/api/onboard/posters/{a}"))["code"]
            poster_b = (await made(desk, f"/api/onboard/posters/{b}"))["code"]
            flat = await made(root, "/api/admin/invite-codes", building_id=a, unit="7F", uses=5)
            flat_code = flat["invite"]["code"]
            plain = (await made(root, "/api/admin/invites", building_id=b, uses=1))["invite"][
                "code"
            ]
            for i in range(5):
                await made(
                    desk, "/api/onboard/residents", building_id=a if i < 3 else b, unit="1A",
                    display_name=f"櫃台{i}", username=f"desk{i}", mode="code",
                    consent_how="paper_form", consent=True,
                )  # fmt: skip
        plan = [(poster_a, 6), (poster_b, 2), (flat_code, 5), (plain, 1)]
        for code, times in plan:
            for i in range(times):
                async with as_(None) as phone:
                    await made(
                        phone, "/api/register", invite_code=code, username=f"n{code}{i}".lower(),
                        display_name=f"新住戶{i}", password="a long password", unit=f"{i + 3}C",
                        consent=True,
                    )  # fmt: skip

        # Posts of each kind: chat (residents' only count), forum topic and replies, notices.
        ann = await Client.connect(server, cookies["ann"])
        bob = await Client.connect(server, cookies["bob"])
        try:
            await ann.ok("subscribe", channel=f"building:{a}")
            await ann.ok("subscribe", channel="group:gardening")
            await bob.ok("subscribe", channel=f"building:{b}")
            for n in range(3):
                await ann.ok(
                    "publish", channel=f"building:{a}", text=f"早安 {n}", client_msg_id=f"a{n}"
                )
            await ann.ok("publish", channel="group:gardening", text="種番茄", client_msg_id="g1")
            for n in range(2):
                await bob.ok(
                    "publish", channel=f"building:{b}", text=f"hi {n}", client_msg_id=f"b{n}"
                )
        finally:
            await ann.close()
            await bob.close()
        async with as_("root") as root, as_("ann") as ann_http, as_("bob") as bob_http:
            category = (
                await made(root, "/api/forum/categories", slug="swap", name_zh="交換",
                           name_en="Swap", scope="all")
            )["category"]["id"]  # fmt: skip
            topic = (
                await made(ann_http, f"/api/forum/categories/{category}/topics", title="Lift",
                           text="noise", client_id="t1")
            )["topic"]["id"]  # fmt: skip
            for n in range(2):
                await made(bob_http, f"/api/forum/topics/{topic}/replies", text=f"r{n}",
                           client_id=f"r{n}")  # fmt: skip
        async with as_("desk") as desk:
            for title in ("停水通知", "電梯保養"):
                await made(desk, "/api/notices", title=title, body="明天", category_id=1)

        async def stored() -> bool:
            s = await deployment.store()
            try:
                return int(await s.database.fetchval("SELECT count(*) FROM messages")) >= 6
            finally:
                await s.close()

        await wait_until(stored, timeout=30, interval=0.2)

        # Everywhere, today: what the test made, and what the rows say.
        async with as_("lam") as lam:
            for kind in ("day", "month"):
                for building in (None, a, b):
                    query = f"/api/figures?period={kind}" + (
                        f"&building={building}" if building else ""
                    )
                    got = (await lam.get(query)).json()
                    period = got["periods"][-1]
                    sources, chat, other_posts = await _expected(
                        deployment, period["start"], period["end"], building
                    )
                    rows = {r["key"]: r for r in got["rows"]}
                    now = {k: r["values"][-1] for k, r in rows.items()}
                    source_rows = [
                        r for r in got["rows"] if r["section"] == "figures.section.sources"
                    ]
                    for code in (poster_a, poster_b):
                        key = f"onboard.poster.{code}"
                        if building in (None, a if code == poster_a else b):
                            assert now[key] == _shown(sources[f"poster:{code}"]), (kind, building)
                            assert rows[key]["args"]["code"] == code
                        else:
                            assert key not in now
                    for code, home in ((flat_code, a), (plain, b)):
                        key = f"onboard.invite.{code[:4]}"
                        if building in (None, home):
                            assert now[key] == _shown(sources[f"invite:{code}"]), (kind, building)
                            assert rows[key]["args"]["code"] == code[:4] + "…"
                        else:
                            assert key not in now
                    assert now["onboard.desk"] == _shown(sources["onboard.desk"])
                    assert now["onboard.other"] == _shown(sources["onboard.other"])
                    assert [r["key"] for r in source_rows][-2:] == ["onboard.desk", "onboard.other"]
                    assert now["registrations"] == _shown(sum(sources.values()))
                    assert now["chat_posts"] == chat
                    assert now["posts"] == chat + other_posts
                    assert now["posts"] == sum(
                        now[k] for k in ("chat_posts", "forum.topics", "forum.replies",
                                         "notices.published")
                    )  # fmt: skip
            # What the test made, as the rows said it.
            everywhere = await _expected(deployment, 0, 2**62, None)
            assert dict(everywhere[0]) == {
                f"poster:{poster_a}": 6, f"poster:{poster_b}": 2, f"invite:{flat_code}": 5,
                f"invite:{plain}": 1, "onboard.desk": 5, "onboard.other": 5,
            }  # fmt: skip
            assert everywhere[1:] == (6, 3 + 2)
            in_a = await _expected(deployment, 0, 2**62, a)
            assert dict(in_a[0]) == {
                f"poster:{poster_a}": 6, f"invite:{flat_code}": 5, "onboard.desk": 3,
                "onboard.other": 3,
            }  # fmt: skip

            # The page: a table with headers, in both languages; the CSV.
            for language, heading, poster_name, desk_name, posts in (
                ("zh-Hant", "新登記住戶從哪裡來", f"海報 {poster_a}（Block A）",
                 "管理處櫃台代為登記", "發文總數"),
                ("en", "Where new residents registered from", f"Poster {poster_a} (Block A)",
                 "Registered at the management desk", "Posts"),
            ):  # fmt: skip
                page = await lam.get("/figures?period=day", headers={"Accept-Language": language})
                assert page.status_code == 200
                html = page.text
                assert heading in html and posts in html
                row = html.split(f'id="figure-onboard-poster-{poster_a}"')[1].split("</tr>")[0]
                assert f'<th scope="row">{poster_name}</th>' in row
                assert row.count("<td>") == 14 + 1 and "<td>6</td>" in row
                assert f'<th scope="row">{desk_name}</th>' in html
                flat_row = html.split(f'id="figure-onboard-invite-{flat_code[:4]}"')[1]
                assert "7F" in flat_row.split("</tr>")[0]
                # The flat's code still registers: the committee sees only its start.
                assert flat_code not in html and plain not in html
                # The sources' table comes right after the reach table.
                assert html.index(heading) < html.index('id="figure-active"')
            exported = await lam.get(
                f"/api/figures.csv?period=month&building={a}", headers={"Accept-Language": "en"}
            )
            table = {r[0]: r for r in csv.reader(io.StringIO(exported.text.lstrip("\ufeff")))}
            assert table[f"onboard.poster.{poster_a}"][1] == f"Poster {poster_a} (Block A)"
            assert table[f"onboard.poster.{poster_a}"][-1] == "6"
            assert table[f"onboard.invite.{flat_code[:4]}"][1] == (
                f"Invite code {flat_code[:4]}… (Block A, flat 7F)"
            )
            assert table["onboard.desk"][-1] == "< 5" and table["onboard.other"][-1] == "< 5"
            assert table["posts"][-1] == str(4 + 1 + 2)
            assert flat_code not in exported.text
