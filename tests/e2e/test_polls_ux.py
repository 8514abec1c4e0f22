"""Polls where residents are (issue 23), end to end in both modes: the poll card published once
on the poll's room when it opens; rooms by name for every role that runs polls (an admin too);
the overview's lists; field errors; drafts edited and deleted; the named voters list (anonymous
polls refuse it); the CSV's headers in the chosen language and its times in local time; and
groups with a Chinese name, their pages, and their made-up web addresses."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from persistence.polls.sql import SqlPollStore
from persistence.store import Role
from tests.e2e.harness import Client, Deployment, running
from tests.e2e.polls_helpers import PollApi, Voters, close_all, make_voters
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(180)

OPTIONS = ["Green", "Blue", "Leave it"]
#: Asia/Taipei has kept UTC+8 without summer time since 1979: the expected local times are
#: computed with this fixed offset, not with the zone database the server uses.
TAIPEI = timezone(timedelta(hours=8))


async def _staff(deployment: Deployment, username: str, role: Role) -> str:
    """A user of ``role`` with no building and a session cookie (made in the store)."""
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        user = await store.create_user(
            username=username,
            display_name=username.title(),
            password_hash="-",
            role=role,
            building_id=None,
            unit_label=None,
            now=now,
        )
        token = new_token()
        await store.create_session(token_hash(token), user.id, expires_at=now + 86_400_000, now=now)
        return token
    finally:
        await store.close()


def _http(server: Any, cookie: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http, cookies={"linli_session": cookie}, timeout=20)


async def _room_pubs(client: Client, kind: str, timeout: float) -> list[dict[str, Any]]:
    """Every ``pub`` of ``kind`` that arrives within ``timeout`` seconds."""
    found = []
    deadline = asyncio.get_running_loop().time() + timeout
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            push = await client.push("pub", timeout=remaining)
        except TimeoutError:
            break
        if push["data"].get("kind") == kind:
            found.append(push)
    return found


async def test_poll_card_is_published_once_on_its_room(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 2)
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        room = f"building:{voters.building_id}"
        resident = await Client.connect(server, voters.cookies["v0000"][1])
        outsider = await Client.connect(server, voters.cookies[voters.outsider][1])
        try:
            await resident.ok("subscribe", channel=room)
            poll = await api.create(channel=room, question="Paint the lobby?", options=OPTIONS)
            # A draft puts nothing in the room.
            assert await _room_pubs(resident, "poll", 0.5) == []
            await api.open(poll["id"])
            card = (await _room_pubs(resident, "poll", 5.0))[0]
            assert card["channel"] == room
            data = card["data"]
            assert data["poll_id"] == poll["id"] and data["question"] == "Paint the lobby?"
            assert data["options"] == OPTIONS and data["anonymous"] is True
            assert data["results"] == "live" and data["author"]["name"] == "Org"
            # Opening again is refused and publishes no second card; the room's history holds
            # exactly one card of this poll, after which a vote from it counts.
            await api.post(f"/api/polls/{poll['id']}/open", expect=409)
            history = await resident.ok("history", channel=room, limit=50)
            cards = [p for p in history["publications"] if p["data"].get("kind") == "poll"]
            assert [c["data"]["poll_id"] for c in cards] == [poll["id"]]
            await resident.ok("vote", poll_id=data["poll_id"], choices=[1], client_vote_id="c1")
            # Another building's room is not told, and its resident cannot read the card's poll.
            assert await outsider.error("subscribe", channel=room) == "forbidden"
            assert (await api.client.get(f"/api/polls/{poll['id']}")).status_code == 200
        finally:
            await close_all([resident, outsider])
            await api.aclose()


async def test_rooms_by_name_admin_runs_a_building_poll_and_the_overview(
    deployment: Deployment,
) -> None:
    voters = await make_voters(deployment, 2)
    admin_cookie = await _staff(deployment, "boss", Role.ADMIN)
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        org = PollApi(server, voters.cookies[voters.organiser][1])
        admin = _http(server, admin_cookie)
        resident = _http(server, voters.cookies["v0000"][1])
        room = f"building:{voters.building_id}"
        try:
            org_rooms = (await org.get("/api/polls/rooms")).json()["rooms"]
            assert org_rooms == [{"channel": room, "name": "Block A", "kind": "building"}]
            admin_rooms = (await admin.get("/api/polls/rooms")).json()["rooms"]
            assert [(r["name"], r["kind"]) for r in admin_rooms] == [
                ("Block A", "building"),
                ("Block B", "building"),
                ("Gardening", "group"),
            ]
            assert admin_rooms[2]["channel"] == "group:gardening"
            made = await admin.post(
                "/api/polls", json={"channel": room, "question": "Admin asks", "options": OPTIONS}
            )
            assert made.status_code == 201, made.text
            admin_poll = made.json()["poll"]
            assert (await admin.post(f"/api/polls/{admin_poll['id']}/open", json={})).is_success
            first = await org.create(channel=room, question="First", options=OPTIONS)
            await org.open(first["id"])
            later = await org.create(channel=room, question="Later", options=OPTIONS)
            await org.open(later["id"])
            done = await org.create(channel=room, question="Done", options=OPTIONS)
            await org.open(done["id"])
            draft = await org.create(channel=room, question="Draft only", options=OPTIONS)
            voter = await Client.connect(server, voters.cookies["v0000"][1])
            try:
                await voter.ok("vote", poll_id=later["id"], choices=[0], client_vote_id="x")
            finally:
                await voter.close()
            await org.close(done["id"])

            async def overview_until_voted() -> dict[str, Any]:
                for _ in range(100):
                    body: dict[str, Any] = (await resident.get("/api/polls/overview")).json()
                    if any(p["voted"] for p in body["open"]):
                        return body
                    await asyncio.sleep(0.1)
                raise AssertionError("the vote was never recorded")

            seen = await overview_until_voted()
            # Not yet voted first (newest first among them), then the voted one.
            assert [p["question"] for p in seen["open"]] == ["First", "Admin asks", "Later"]
            assert [p["voted"] for p in seen["open"]] == [False, False, True]
            assert {p["room_name"] for p in seen["open"]} == {"Block A"}
            assert [p["question"] for p in seen["recent"]] == ["Done"]
            assert seen["drafts"] == []  # a resident sees no drafts
            assert all("projector_token" not in p for p in seen["open"])
            org_view = (await org.get("/api/polls/overview")).json()
            assert [p["id"] for p in org_view["drafts"]] == [draft["id"]]
        finally:
            await admin.aclose()
            await resident.aclose()
            await org.aclose()


async def test_form_errors_name_the_field_and_drafts_are_edited_and_deleted(
    deployment: Deployment,
) -> None:
    voters = await make_voters(deployment, 1)
    async with running(deployment) as server:
        org = PollApi(server, voters.cookies[voters.organiser][1])
        resident = _http(server, voters.cookies["v0000"][1])
        room = f"building:{voters.building_id}"
        try:

            async def refused(body: dict[str, Any], path: str = "/api/polls") -> dict[str, Any]:
                response = await org.client.post(path, json=body)
                assert response.status_code == 400, response.text
                return response.json()["error"]  # type: ignore[no-any-return]

            one = await refused({"channel": room, "question": "Q", "options": ["Only"]})
            assert (one["code"], one["field"]) == ("bad_request", "options")
            long = await refused({"channel": room, "question": "Q", "options": ["x" * 101, "y"]})
            assert long["field"] == "options"
            empty = await refused({"channel": room, "question": "  ", "options": OPTIONS})
            assert empty["field"] == "question"
            past = int(time.time() * 1000) - 60_000
            late = await refused(
                {"channel": room, "question": "Q", "options": OPTIONS, "closes_at": past}
            )
            assert late["field"] == "closes_at"
            nowhere = await refused({"channel": "poll:1", "question": "Q", "options": OPTIONS})
            assert nowhere["field"] == "channel"
            # Nothing was made by any of them.
            assert (await org.get(f"/api/polls?channel={room}")).json()["polls"] == []

            draft = await org.create(channel=room, question="Typo", options=["A", "B"])
            edited = await org.post(
                f"/api/polls/{draft['id']}",
                channel=room,
                question="Fixed",
                options=["A", "B", "C"],
                anonymous=False,
            )
            assert edited["poll"]["question"] == "Fixed" and edited["poll"]["anonymous"] is False
            bad_edit = await refused(
                {"channel": room, "question": "Fixed", "options": ["A"]},
                path=f"/api/polls/{draft['id']}",
            )
            assert bad_edit["field"] == "options"
            kept = (await org.get(f"/api/polls/{draft['id']}")).json()["poll"]
            assert kept["options"] == ["A", "B", "C"]
            # A resident may not delete; the organiser deletes the draft, and it is gone.
            no = await resident.post(f"/api/polls/{draft['id']}/delete", json={})
            assert no.status_code == 403
            await org.post(f"/api/polls/{draft['id']}/delete")
            await org.get(f"/api/polls/{draft['id']}", expect=404)
            await org.post(f"/api/polls/{draft['id']}/delete", expect=404)
            # An opened poll is a record: it cannot be deleted.
            opened = await org.create(channel=room, question="Real", options=["A", "B"])
            await org.open(opened["id"])
            refusal = await org.post(f"/api/polls/{opened['id']}/delete", expect=409)
            assert refusal["error"]["code"] == "poll_not_draft"
            still = (await org.get(f"/api/polls/{opened['id']}")).json()["poll"]
            assert still["state"] == "open"
        finally:
            await resident.aclose()
            await org.aclose()


async def _named_poll_with_votes(
    server: Any, voters: Voters, org: PollApi, **fields: Any
) -> tuple[int, dict[str, list[int]]]:
    room = f"building:{voters.building_id}"
    poll = await org.create(
        channel=room, question="Named", options=OPTIONS, anonymous=False, **fields
    )
    await org.open(poll["id"])
    chosen = {"v0000": [1], "v0002": [2]}
    clients = [await Client.connect(server, voters.cookies[name][1]) for name in chosen]
    try:
        for client, (name, choices) in zip(clients, chosen.items(), strict=True):
            await client.ok("vote", poll_id=poll["id"], choices=choices, client_vote_id=name)
    finally:
        await close_all(clients)
    return poll["id"], chosen


async def _votes_recorded(org: PollApi, poll_id: int, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        votes: list[dict[str, Any]] = (await org.get(f"/api/polls/{poll_id}/votes")).json()["votes"]
        if len(votes) == count:
            return votes
        await asyncio.sleep(0.1)
    raise AssertionError(f"poll {poll_id}: {count} votes never recorded")


async def test_voters_list_named_polls_only(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 4)
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        org = PollApi(server, voters.cookies[voters.organiser][1])
        resident = _http(server, voters.cookies["v0001"][1])
        room = f"building:{voters.building_id}"
        try:
            anonymous = await org.create(channel=room, question="Secret", options=OPTIONS)
            await org.open(anonymous["id"])
            refusal = await org.get(f"/api/polls/{anonymous['id']}/votes", expect=403)
            assert refusal.json()["error"]["code"] == "poll_anonymous"
            draft = await org.create(channel=room, question="D", options=OPTIONS, anonymous=False)
            await org.get(f"/api/polls/{draft['id']}/votes", expect=409)

            live_id, chosen = await _named_poll_with_votes(server, voters, org)
            listed = await _votes_recorded(org, live_id, 2)
            assert sorted((v["name"], v["choices"]) for v in listed) == [
                ("V0000", chosen["v0000"]),
                ("V0002", chosen["v0002"]),
            ]
            # A resident never gets the list.
            assert (await resident.get(f"/api/polls/{live_id}/votes")).status_code == 403

            hidden_id, _ = await _named_poll_with_votes(server, voters, org, results="after_close")
            while_open = await _votes_recorded(org, hidden_id, 2)
            assert sorted(v["name"] for v in while_open) == ["V0000", "V0002"]
            assert [v["choices"] for v in while_open] == [None, None]
            await org.close(hidden_id)
            after = (await org.get(f"/api/polls/{hidden_id}/votes")).json()["votes"]
            assert sorted((v["name"], v["choices"]) for v in after) == [
                ("V0000", [1]),
                ("V0002", [2]),
            ]
        finally:
            await resident.aclose()
            await org.aclose()


ZH_HEAD = ["選項編號", "選項", "票數", "佔投票人數百分比"]
EN_HEAD = ["Option number", "Option", "Votes", "Percent of voters"]
ZH_VOTE_HEAD = ["姓名", "戶號", "選擇", "投票時間（ISO 8601）", "投票時間"]
EN_VOTE_HEAD = ["Name", "Flat", "Choices", "Voted at (ISO 8601)", "Voted at"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _readable(at: datetime, lang: str) -> str:
    clock = f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}"
    if lang == "zh-Hant":
        return f"{at.year}年{at.month:02d}月{at.day:02d}日 {clock}"
    return f"{at.day:02d} {MONTHS[at.month - 1]} {at.year} {clock}"


async def test_csv_headers_in_the_chosen_language_and_local_times(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 4)
    async with running(
        deployment, LINLI_RUN_WORKERS="true", LINLI_TIME_ZONE="Asia/Taipei"
    ) as server:
        org = PollApi(server, voters.cookies[voters.organiser][1])
        try:
            poll_id, chosen = await _named_poll_with_votes(server, voters, org)
            await _votes_recorded(org, poll_id, 2)
            await org.close(poll_id)
            store = await deployment.store()
            try:
                polls = SqlPollStore(store.database)
                stored = {v.display_name: v for v in await polls.list_votes(poll_id)}
                closed = await polls.get_poll(poll_id)
            finally:
                await store.close()
            assert closed is not None and closed.closed_at is not None
            for lang, head, vote_head in (
                ("zh-Hant", ZH_HEAD, ZH_VOTE_HEAD),
                ("en", EN_HEAD, EN_VOTE_HEAD),
            ):
                response = await org.get(f"/api/polls/{poll_id}/export.csv?lang={lang}")
                assert response.headers["content-type"].startswith("text/csv")
                text = response.content.decode("utf-8")
                assert text.startswith("\ufeff")
                rows = list(csv.reader(io.StringIO(text[1:])))
                assert rows[0] == head
                counts = [0, 0, 0]
                for choices in chosen.values():
                    for c in choices:
                        counts[c] += 1
                assert [r[2] for r in rows[1:4]] == [str(n) for n in counts]
                assert rows[4][2] == "2"
                closed_local = datetime.fromtimestamp(closed.closed_at / 1000, UTC).astimezone(
                    TAIPEI
                )
                assert rows[5][1] == closed_local.isoformat(timespec="seconds")
                assert rows[6] == []
                assert rows[7] == vote_head
                votes = rows[8:]
                assert sorted(r[0] for r in votes) == ["V0000", "V0002"]
                for row in votes:
                    cast_at = stored[row[0]].cast_at
                    expected = datetime.fromtimestamp(cast_at // 1000, UTC).astimezone(TAIPEI)
                    # ISO 8601 with the +08:00 offset, to the second, parsed back to the moment.
                    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", row[3]), row
                    parsed = datetime.fromisoformat(row[3])
                    assert parsed == expected and parsed.utcoffset() == timedelta(hours=8)
                    assert row[4] == _readable(expected, lang)
                    assert row[2] == ";".join(OPTIONS[c] for c in chosen[row[0].lower()])
            # Without ?lang the reader's language decides.
            english = await org.client.get(
                f"/api/polls/{poll_id}/export.csv", headers={"Accept-Language": "en-GB"}
            )
            assert next(csv.reader(io.StringIO(english.text.lstrip("\ufeff")))) == EN_HEAD
        finally:
            await org.aclose()


async def test_groups_with_chinese_names_get_an_address_and_a_page(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 1)
    async with running(deployment) as server:
        http = _http(server, voters.cookies["v0000"][1])
        try:
            made = await http.post("/api/groups", json={"name": "行山", "description": "週末"})
            assert made.status_code == 201, made.text
            slug = made.json()["group"]["slug"]
            assert re.fullmatch(r"g-[a-z2-9]{6}", slug), slug
            again = await http.post("/api/groups", json={"name": "行山"})
            assert again.status_code == 201 and again.json()["group"]["slug"] != slug
            latin = await http.post("/api/groups", json={"name": "Hiking Club 行山會"})
            assert latin.json()["group"]["slug"] == "hiking-club"
            clash = await http.post("/api/groups", json={"name": "Hiking club"})
            assert re.fullmatch(r"g-[a-z2-9]{6}", clash.json()["group"]["slug"])
            # A slug given is still checked, and a taken one still refused.
            bad = await http.post("/api/groups", json={"name": "x", "slug": "Bad Slug!"})
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "slug"
            taken = await http.post("/api/groups", json={"name": "y", "slug": "hiking-club"})
            assert taken.status_code == 409

            one = (await http.get(f"/api/groups/{slug}")).json()["group"]
            assert one == {
                "slug": slug,
                "name": "行山",
                "description": "週末",
                "member_count": 1,
                "joined": True,
                "channel": f"group:{slug}",
            }
            assert (await http.get("/api/groups/no-such")).status_code == 404
            page = await http.get(f"/groups/{slug}", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "行山" in page.text and "週末" in page.text
            missing = await http.get("/groups/no-such", headers={"Accept": "text/html"})
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("text/html")
        finally:
            await http.aclose()
