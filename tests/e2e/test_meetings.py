"""Owners' meetings end to end, in both modes (scaled: two server processes, so the figures
cross gateways): the register imported as CSV, the notice period, 300 owners checking in and
voting at once with retries, a proxy and its cap, refusals (a non-owner, a vote after the
close, a second vote), and the figures the projector and a WebSocket watcher end on equal to a
count of the stored rows done here by hand; the minutes carry the same numbers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from persistence.store import Role
from tests.e2e.harness import Client, Deployment, Server, running, seed
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(240)

#: Owners in the burst (the issue asks for 300). LINLI_TEST_MEETING_OWNERS overrides.
OWNERS = int(os.environ.get("LINLI_TEST_MEETING_OWNERS", "300"))
DAY = 86_400_000


@dataclass
class Community:
    building: str
    #: username -> (user id, session cookie)
    cookies: dict[str, tuple[int, str]]
    #: username -> the owner's share
    shares: dict[str, int]


async def make_community(deployment: Deployment, owners: int) -> Community:
    """``owners`` owner-residents (shares 1 to 3, so nobody is near a fifth), a committee
    member, an admin, and a resident who owns nothing; sessions made in the store."""
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        building = await store.get_building(hood.building_a)
        assert building is not None
        cookies: dict[str, tuple[int, str]] = {}

        async def person(name: str, role: Role, unit: str | None) -> None:
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash="-",
                role=role,
                building_id=hood.building_a,
                unit_label=unit,
                now=now,
            )
            token = new_token()
            await store.create_session(token_hash(token), user.id, expires_at=now + DAY, now=now)
            cookies[name] = (user.id, token)

        await person("lam", Role.COMMITTEE, None)
        await person("root", Role.ADMIN, None)
        await person("tenant", Role.RESIDENT, "T1")
        shares = {}
        for i in range(owners):
            await person(f"o{i:04d}", Role.RESIDENT, f"U{i}")
            shares[f"o{i:04d}"] = 1 + i % 3
        return Community(building.name, cookies, shares)
    finally:
        await store.close()


def register_csv(c: Community) -> str:
    lines = ["building,unit,share,owner,username,voice"]
    for i, (name, share) in enumerate(c.shares.items()):
        lines.append(f"{c.building},U{i},{share},{name.title()},{name},1")
    # The first unit is co-owned with someone without an account; the account holds the voice.
    lines.append(f"{c.building},U0,{c.shares['o0000']},Co Owner,,")
    return "\n".join(lines) + "\n"


class Api:
    def __init__(self, server: Server, cookie: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}, timeout=30
        )

    async def post(self, path: str, expect: int = 200, **body: Any) -> dict[str, Any]:
        response = await self.client.post(path, json=body)
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]

    async def send(self, path: str, **body: Any) -> tuple[httpx.Response, bool]:
        """POST with retries, as a phone retries: the response and whether it was retried (a
        connection the server closed as idle, on a loaded machine, fails the first try)."""
        for attempt in range(4):
            try:
                return await self.client.post(path, json=body), attempt > 0
            except httpx.TransportError:
                if attempt == 3:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def error(self, path: str, status: int, **body: Any) -> str:
        response = await self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()["error"]["code"]  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def projector(
    server: Server, token: str
) -> AsyncIterator[list[tuple[float, dict[str, Any]]]]:
    """The projector's event stream, read in the background: (arrival time, figures)."""
    seen: list[tuple[float, dict[str, Any]]] = []
    ready = asyncio.Event()

    async def read() -> None:
        async with (
            httpx.AsyncClient(base_url=server.http, timeout=None) as client,
            client.stream("GET", f"/api/meetings/projector/{token}/events") as response,
        ):
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    seen.append((time.monotonic(), orjson.loads(line[6:])))
                    ready.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def watch(client: Client, seen: list[tuple[float, dict[str, Any]]]) -> None:
    """Collect a WebSocket watcher's meeting figures, answering the server's pings."""
    while True:
        push = await client.pushes.get()
        if push.get("push") == "ping":
            await client.ws.send(client.encode({"op": "pong"}))
        elif push.get("push") == "pub" and push["data"].get("kind") == "meeting":
            seen.append((time.monotonic(), push["data"]))


async def until(
    seen: list[tuple[float, dict[str, Any]]], check: Any, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        best = max((d for _, d in seen), key=lambda d: d["version"], default=None)
        if best is not None and check(best):
            return best
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"no figures matched; newest {max((d['version'] for _, d in seen), default=None)}"
    )


async def stored(deployment: Deployment, meeting_id: int, item_id: int) -> dict[str, Any]:
    """Counted here, by hand, from the rows: heads and shares present and per choice."""
    store = await deployment.store()
    try:
        db = store.database
        members = {
            int(r["unit_id"]): int(r["share"])
            for r in await db.fetch(
                "SELECT unit_id, share FROM meeting_members WHERE meeting_id = $1", meeting_id
            )
        }
        present = [
            int(r["unit_id"])
            for r in await db.fetch(
                "SELECT unit_id FROM meeting_checkins WHERE meeting_id = $1", meeting_id
            )
        ]
        votes = await db.fetch(
            "SELECT unit_id, choice FROM meeting_votes WHERE item_id = $1", item_id
        )
        by_choice: dict[str, list[int]] = {"for": [], "against": [], "abstain": []}
        for r in votes:
            by_choice[r["choice"]].append(int(r["unit_id"]))
        return {
            "total_heads": len(members),
            "total_share": sum(members.values()),
            "present_heads": len(present),
            "present_share": sum(members[u] for u in present),
            "votes": len(votes),
            **{c: (len(units), sum(members[u] for u in units)) for c, units in by_choice.items()},
        }
    finally:
        await store.close()


async def test_a_meeting_night(deployment: Deployment) -> None:
    """The whole night with a small community (40 owners)."""
    await night(deployment, 40)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_meeting_night_with_300_owners(deployment: Deployment) -> None:
    await night(deployment, OWNERS)


async def night(deployment: Deployment, owners: int) -> None:
    OWNERS = owners  # the community's size, as the module constant reads
    c = await make_community(deployment, OWNERS)
    async with contextlib.AsyncExitStack() as stack:
        # A longer heartbeat than the 25 s default: on a loaded 2-core machine the burst can keep
        # this process from answering a ping in time (the watcher answers them; design 0022).
        env = {"LINLI_HEARTBEAT_SECONDS": "120"}
        one = await stack.enter_async_context(running(deployment, **env))
        # Scaled: a second gateway process; the owners are split across both.
        two = (
            await stack.enter_async_context(running(deployment, **env))
            if deployment.mode == "scaled"
            else one
        )
        staff = Api(one, c.cookies["lam"][1])
        admin = Api(one, c.cookies["root"][1])
        stack.push_async_callback(staff.aclose)
        stack.push_async_callback(admin.aclose)
        # The register, from CSV; a bad line is refused and changes nothing.
        bad = await admin.client.post(
            "/api/meetings/register",
            json={"csv": "building,unit,share,owner,username,voice\nNowhere,1,1,X,,\n"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["line"] == 2
        assert (await admin.post("/api/meetings/register", csv=register_csv(c)))["units"] == OWNERS
        assert await staff.error("/api/meetings/register", 403, csv="x") == "forbidden"
        register = await staff.get("/api/meetings/register")
        assert register["total_share"] == sum(c.shares.values())
        assert register["units"][0]["owners"][1] == {"name": "Co Owner", "user_id": None}

        now = int(time.time() * 1000)
        draft = {
            "kind": "regular",
            "title": "Annual meeting",
            "place": "Lobby",
            "starts_at": now + 5 * DAY,
            "items": [
                {"title": "Repaint", "explanation": "Three quotes", "threshold": "art31"},
                {"title": "Report", "resolution": False, "threshold": "majority"},
            ],
        }
        meeting = (await staff.post("/api/meetings", 201, **draft))["meeting"]
        mid = meeting["id"]
        # Art. 30: ten days' notice.
        response = await staff.client.post(f"/api/meetings/{mid}/convene", json={})
        assert (
            response.status_code == 409
            and response.json()["error"]["code"] == "meeting_notice_short"
        )
        draft["starts_at"] = now + 11 * DAY
        edited = await staff.client.post(f"/api/meetings/{mid}", json=draft)
        assert edited.status_code == 200, edited.text
        await staff.post(f"/api/meetings/{mid}/convene")
        meeting = (await staff.get(f"/api/meetings/{mid}"))["meeting"]
        item_id = meeting["items"][0]["id"]
        code, token = meeting["checkin_code"], meeting["projector_token"]

        # Owner o0001 gives o0002 a proxy on the phone before the night.
        proxy_giver = Api(one, c.cookies["o0001"][1])
        stack.push_async_callback(proxy_giver.aclose)
        await proxy_giver.post(f"/api/meetings/{mid}/proxies", username="o0002")

        # The resident who owns nothing may watch, not count.
        tenant = Api(two, c.cookies["tenant"][1])
        stack.push_async_callback(tenant.aclose)
        assert (await tenant.get(f"/api/meetings/{mid}"))["me"]["own"] == []
        await staff.post(f"/api/meetings/{mid}/open")
        assert (
            await tenant.error(f"/api/meetings/{mid}/checkin", 403, code=code)
            == "meeting_not_owner"
        )
        assert (
            await tenant.error(f"/api/meetings/{mid}/checkin", 400, code="000000x")
            == "meeting_bad_code"
        )

        # A watcher on the second gateway, the projector on the first.
        # No library keepalive: on a loaded machine its 20 s pong deadline can pass while the
        # burst keeps this process busy; the watcher answers the server's own pings instead.
        watcher = await Client.connect(two, c.cookies["tenant"][1], ping_interval=None)
        stack.push_async_callback(watcher.close)
        await watcher.ok("subscribe", channel=f"meeting:{mid}")
        watched: list[tuple[float, dict[str, Any]]] = []
        reader = asyncio.create_task(watch(watcher, watched))
        stack.callback(reader.cancel)
        screen = await stack.enter_async_context(projector(one, token))

        # Everyone but o0001 (whose proxy comes) and the last ten checks in; half retry.
        names = sorted(c.shares)
        voters = [n for n in names[: OWNERS - 10] if n != "o0001"]
        clients = {n: Api(one if i % 2 else two, c.cookies[n][1]) for i, n in enumerate(voters)}
        for api in clients.values():
            stack.push_async_callback(api.aclose)
        gate = asyncio.Semaphore(60)

        async def arrive(i: int, name: str) -> None:
            async with gate:
                response, retried = await clients[name].send(
                    f"/api/meetings/{mid}/checkin", code=code
                )
                assert response.status_code == 200, response.text
                expected = 2 if name == "o0002" else 1  # o0002 brings o0001's unit
                # A retry after a lost reply finds the units in already.
                got = len(response.json()["checked_in"])
                assert got == expected or (retried and got == 0)
                if i % 2:
                    assert (await clients[name].post(f"/api/meetings/{mid}/checkin", code=code))[
                        "checked_in"
                    ] == []

        started = time.monotonic()
        await asyncio.gather(*(arrive(i, n) for i, n in enumerate(voters)))
        arrived = time.monotonic() - started
        figures = await until(screen, lambda d: d["attendance"]["present_units"] == OWNERS - 10)
        counted = await stored(deployment, mid, item_id)
        att = figures["attendance"]
        assert att["heads"] == [counted["present_heads"], 1] and att["share"] == [
            counted["present_share"],
            1,
        ]
        assert att["total_heads"] == OWNERS and att["total_share"] == counted["total_share"]
        assert att["proxy_units"] == 1 and att["in_person_units"] == OWNERS - 11
        # Art. 31's quorum, counted here: 2/3 of the heads and 2/3 of the shares.
        quorum = (
            3 * counted["present_heads"] >= 2 * OWNERS
            and 3 * counted["present_share"] >= 2 * counted["total_share"]
        )
        assert figures["quorum"]["art31"]["met"] is quorum

        # A vote before the item opens is refused.
        assert (
            await clients["o0003"].error(
                f"/api/meetings/{mid}/items/{item_id}/vote", 409, choice="for"
            )
            == "meeting_item_not_open"
        )
        await staff.post(f"/api/meetings/{mid}/items/{item_id}/open")
        choices = ["for", "for", "for", "against", "abstain"]
        sent: dict[str, float] = {}
        acks: list[tuple[float, float]] = []  # (acked, sent) per vote

        async def vote(i: int, name: str) -> None:
            async with gate:
                path = f"/api/meetings/{mid}/items/{item_id}/vote"
                sent[name] = time.monotonic()
                response, retried = await clients[name].send(path, choice=choices[i % 5])
                acks.append((time.monotonic(), sent[name]))
                if retried and response.status_code == 409:
                    # The lost first try was recorded: the retry is refused, counted once.
                    assert response.json()["error"]["code"] == "meeting_already_voted"
                else:
                    assert response.status_code == 200, response.text
                    assert len(response.json()["recorded"]) == (2 if name == "o0002" else 1)
                if i % 3 == 0:  # a retry (or a change of mind): refused, counted once
                    assert (
                        await clients[name].error(path, 409, choice="against")
                        == "meeting_already_voted"
                    )

        started = time.monotonic()
        await asyncio.gather(*(vote(i, n) for i, n in enumerate(voters)))
        acked = time.monotonic() - started
        expected_votes = OWNERS - 10
        final = await until(
            screen, lambda d: d["item"] and d["item"]["tally"]["votes"] == expected_votes
        )
        counted = await stored(deployment, mid, item_id)
        assert counted["votes"] == expected_votes
        tally = final["item"]["tally"]["counted"]
        for choice in ("for", "against", "abstain"):
            assert tally[choice]["heads"] == [counted[choice][0], 1], choice
            assert tally[choice]["share"] == [counted[choice][1], 1], choice
        # Independently: the owners' choices by index, o0001's unit voting with o0002.
        by_name = {n: choices[i % 5] for i, n in enumerate(voters)}
        by_name["o0001"] = by_name["o0002"]
        assert counted["for"][0] == sum(1 for v in by_name.values() if v == "for")
        assert counted["for"][1] == sum(c.shares[n] for n, v in by_name.items() if v == "for")
        # The watcher on the other gateway saw the same final figures.
        assert not reader.done(), reader  # the watcher's reader is still reading
        assert not watcher.closed.done(), watcher.closed
        newest = await until(watched, lambda d: d["version"] >= final["version"], timeout=60)
        assert newest["version"] >= final["version"]
        assert newest["item"]["tally"]["counted"] == final["item"]["tally"]["counted"]

        # Who passed: for / present, by heads and by share, against 3/4, counted here.
        present_heads, present_share = counted["present_heads"], counted["present_share"]
        passes = quorum and (
            4 * counted["for"][0] >= 3 * present_heads
            and 4 * counted["for"][1] >= 3 * present_share
        )
        assert final["item"]["tally"]["passes"] is passes

        # Close: a vote after it is refused; the result is final and equals the rows.
        await staff.post(f"/api/meetings/{mid}/items/{item_id}/close")
        late = names[-1]
        late_api = Api(one, c.cookies[late][1])
        stack.push_async_callback(late_api.aclose)
        await late_api.post(f"/api/meetings/{mid}/checkin", code=code)
        assert (
            await late_api.error(f"/api/meetings/{mid}/items/{item_id}/vote", 409, choice="for")
            == "meeting_item_not_open"
        )
        closed = await until(
            screen,
            lambda d: (
                d["item"]["state"] == "closed" and d["attendance"]["present_units"] == OWNERS - 9
            ),
        )
        assert closed["item"]["final"] is True
        assert closed["item"]["result"] == ("passed" if passes else "failed")
        # The late arrival is present now but was not when the vote closed.
        assert closed["item"]["tally"]["present_units"] == OWNERS - 10
        assert closed["item"]["tally"]["counted"] == final["item"]["tally"]["counted"]

        # Paper ballots and staff check-ins are for staff only.
        assert (
            await clients["o0003"].error(f"/api/meetings/{mid}/checkin/staff", 403, unit_ids=[1])
            == "forbidden"
        )

        # The minutes carry the same numbers.
        await staff.post(f"/api/meetings/{mid}/items/{meeting['items'][1]['id']}/open")
        await staff.post(f"/api/meetings/{mid}/items/{meeting['items'][1]['id']}/close")
        await staff.post(f"/api/meetings/{mid}/close")
        text = (await staff.get(f"/api/meetings/{mid}/minutes/draft"))["text"]
        f_heads = counted["for"][0]
        assert f"同意：{f_heads} 戶" in text and f"For: {f_heads} (" in text
        assert f"出席：{OWNERS - 9}/{OWNERS} 戶" in text
        assert ("通過" if passes else "未通過") in text
        assert (
            await staff.error(f"/api/meetings/{mid}/minutes", 409, text=text, state="published")
            == "meeting_wrong_state"
        )
        await staff.post(f"/api/meetings/{mid}/minutes", text=text, state="approved")
        await staff.post(f"/api/meetings/{mid}/minutes", text=text, state="published")
        owner_view = await clients["o0003"].get(f"/api/meetings/{mid}")
        assert owner_view["meeting"]["minutes"] == text
        # The printable minutes carry the signature book: every unit, the proxy among them.
        printed = await clients["o0003"].client.get(f"/meetings/{mid}/print")
        assert printed.status_code == 200
        assert f"同意：{f_heads} 戶" in printed.text and printed.text.count("<tr>") == OWNERS + 1
        assert "O0002" in printed.text  # o0001's proxy, by name
        print(
            f"\n{deployment.mode}: {len(voters)} owners checked in in {arrived:.2f} s, "
            f"voted in {acked:.2f} s"
        )
        # Sent -> shown: the k-th vote acked is on the projector once a snapshot counts k votes
        # (o0002's one request records two units, hence the count of units, not requests).
        lat = []
        for k, (_, sent_at) in enumerate(sorted(acks)):
            shown = next(
                t for t, d in screen if (d["item"] or {}).get("tally", {}).get("votes", 0) >= k + 1
            )
            lat.append(shown - sent_at)
        lat.sort()
        print(
            f"{deployment.mode}: vote sent -> projector p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
            f"p99 {lat[max(0, int(len(lat) * 0.99) - 1)] * 1000:.0f} ms"
        )


async def test_staff_correct_a_vote_live_with_reason_and_history(deployment: Deployment) -> None:
    """Ten owners vote on paper, one ballot typed in wrongly; staff correct it with a reason:
    the projector and a watcher on the other gateway show the new tally at once, equal to a
    count made here from the ballots as they were meant; the correction is in the results'
    history (the channel: when and from/to; the roll and the minutes: the unit and the
    reason) and in the audit log. After the close a correction counts the result again."""
    owners = 10  # shares 1,2,3,...: 19 in all, nobody above a fifth (3.8)
    c = await make_community(deployment, owners)
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(running(deployment))
        two = (
            await stack.enter_async_context(running(deployment))
            if deployment.mode == "scaled"
            else one
        )
        staff, admin = Api(one, c.cookies["lam"][1]), Api(one, c.cookies["root"][1])
        owner = Api(two, c.cookies["o0003"][1])
        for api in (staff, admin, owner):
            stack.push_async_callback(api.aclose)
        await admin.post("/api/meetings/register", csv=register_csv(c))
        draft = {
            "kind": "regular", "title": "Night", "place": "Lobby",
            "starts_at": int(time.time() * 1000) + 11 * DAY,
            "items": [{"title": "Repaint", "threshold": "majority"}],
        }  # fmt: skip
        mid = (await staff.post("/api/meetings", 201, **draft))["meeting"]["id"]
        await staff.post(f"/api/meetings/{mid}/convene")
        meeting = (await staff.get(f"/api/meetings/{mid}"))["meeting"]
        item_id, token = meeting["items"][0]["id"], meeting["projector_token"]
        await staff.post(f"/api/meetings/{mid}/open")
        roll = (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]
        # A unit's label ends with its unit ("Block A U7" or the like).
        units = {r["label"].split()[-1].split("-")[-1]: r["unit_id"] for r in roll}
        label = {r["unit_id"]: r["label"] for r in roll}
        share = {r["unit_id"]: r["share"] for r in roll}
        await staff.post(f"/api/meetings/{mid}/checkin/staff", unit_ids=sorted(share))
        watcher = await Client.connect(two, c.cookies["tenant"][1], ping_interval=None)
        stack.push_async_callback(watcher.close)
        await watcher.ok("subscribe", channel=f"meeting:{mid}")
        watched: list[tuple[float, dict[str, Any]]] = []
        reader = asyncio.create_task(watch(watcher, watched))
        stack.callback(reader.cancel)
        screen = await stack.enter_async_context(projector(one, token))

        await staff.post(f"/api/meetings/{mid}/items/{item_id}/open")
        meant = {units[f"U{i}"]: ("for" if i < 5 else "against") for i in range(owners)}
        typed = dict(meant)
        wrong = units["U7"]  # against on paper, typed in as for
        typed[wrong] = "for"
        for unit, choice in typed.items():
            await staff.post(
                f"/api/meetings/{mid}/items/{item_id}/paper", unit_id=unit, choice=choice
            )

        def counted(ballots: dict[int, str]) -> dict[str, tuple[int, int]]:
            return {
                ch: (
                    sum(1 for v in ballots.values() if v == ch),
                    sum(share[u] for u, v in ballots.items() if v == ch),
                )
                for ch in ("for", "against", "abstain")
            }

        def shows(ballots: dict[int, str]) -> Any:
            want = counted(ballots)

            def check(d: dict[str, Any]) -> bool:
                got = (d.get("item") or {}).get("tally", {}).get("counted", {})
                return bool(got) and all(
                    got[ch]["heads"] == [h, 1] and got[ch]["share"] == [s, 1]
                    for ch, (h, s) in want.items()
                )

            return check

        await until(screen, shows(typed))
        path = f"/api/meetings/{mid}/items/{item_id}/correct"
        # Refused: an owner; no reason; the same choice; a unit that has not voted.
        assert await owner.error(path, 403, unit_id=wrong, choice="against", reason="x y") == (
            "forbidden"
        )
        assert await staff.error(path, 400, unit_id=wrong, choice="against", reason="") == (
            "bad_request"
        )
        assert await staff.error(path, 409, unit_id=wrong, choice="for", reason="same") == (
            "meeting_wrong_state"
        )
        assert await staff.error(path, 404, unit_id=999_999, choice="for", reason="none") == (
            "meeting_vote_not_found"
        )
        fixed = await staff.post(path, unit_id=wrong, choice="against", reason="選票誤讀 misread")
        assert fixed["correction"]["from"] == "for" and fixed["correction"]["to"] == "against"
        live = await until(screen, shows(meant))
        assert [(x["from"], x["to"]) for x in live["item"]["corrections"]] == [("for", "against")]
        assert "reason" not in live["item"]["corrections"][0]  # the reason is staff's
        seen = await until(watched, lambda d: d["version"] >= live["version"], timeout=60)
        assert seen["item"]["tally"]["counted"] == live["item"]["tally"]["counted"]
        # The stored rows say the same.
        rows = await stored(deployment, mid, item_id)
        assert {ch: rows[ch] for ch in ("for", "against", "abstain")} == counted(meant)
        # A simple majority of those present, by heads and by share (strictly more than half).
        yes, all_share = counted(meant)["for"], sum(share.values())
        assert live["item"]["tally"]["passes"] is (2 * yes[0] > owners and 2 * yes[1] > all_share)

        # After the close (the meeting still open): the stored result is counted again.
        await staff.post(f"/api/meetings/{mid}/items/{item_id}/close")
        closed = await until(screen, lambda d: d["item"]["state"] == "closed")
        assert closed["item"]["result"] == "failed"  # 5 for, 5 against: not a majority
        meant[units["U6"]] = "for"
        await staff.post(path, unit_id=units["U6"], choice="for", reason="第二張選票 second sheet")
        after = await until(screen, lambda d: d["item"]["final"] and shows(meant)(d))
        assert after["item"]["result"] == "passed"
        assert len(after["item"]["corrections"]) == 2
        history = (await staff.get(f"/api/meetings/{mid}/roll"))["corrections"]
        assert [(h["label"], h["from"], h["to"], h["reason"]) for h in history] == [
            (label[wrong], "for", "against", "選票誤讀 misread"),
            (label[units["U6"]], "against", "for", "第二張選票 second sheet"),
        ]
        draft_text = (await staff.get(f"/api/meetings/{mid}/minutes/draft"))["text"]
        assert "更正投票 2 次" in draft_text and f"{label[wrong]}: for → against" in draft_text
        store = await deployment.store()
        try:
            audited = await store.database.fetch(
                "SELECT reason FROM audit_log WHERE feature = 'meetings' "
                "AND action = 'vote_correct' ORDER BY id"
            )
        finally:
            await store.close()
        assert [r["reason"] for r in audited] == ["選票誤讀 misread", "第二張選票 second sheet"]
        # Once the meeting is closed, no more corrections.
        await staff.post(f"/api/meetings/{mid}/close")
        assert await staff.error(path, 409, unit_id=wrong, choice="for", reason="late") == (
            "meeting_item_not_open"
        )


async def test_a_personal_qr_checks_an_owner_in_at_the_desk(deployment: Deployment) -> None:
    """o0002 holds o0001's proxy: the desk scans o0002's personal QR (its link) and both units
    are present, o0001's by proxy; the attendance equals a count of the rows made here. Ten
    owners: nobody holds more than a fifth, so no Art. 27 cap applies."""
    c = await make_community(deployment, 10)
    async with running(deployment) as server:
        staff, admin = Api(server, c.cookies["lam"][1]), Api(server, c.cookies["root"][1])
        holder, giver = Api(server, c.cookies["o0002"][1]), Api(server, c.cookies["o0001"][1])
        tenant = Api(server, c.cookies["tenant"][1])
        try:
            await admin.post("/api/meetings/register", csv=register_csv(c))
            draft = {
                "kind": "regular", "title": "Night", "place": "Lobby",
                "starts_at": int(time.time() * 1000) + 11 * DAY,
                "items": [{"title": "Repaint", "threshold": "majority"}],
            }  # fmt: skip
            mid = (await staff.post("/api/meetings", 201, **draft))["meeting"]["id"]
            await staff.post(f"/api/meetings/{mid}/convene")
            await giver.post(f"/api/meetings/{mid}/proxies", username="o0002")
            link = (await holder.get(f"/api/meetings/{mid}"))["me"]["checkin_link"]
            assert link.startswith(f"{server.http}/meetings/{mid}/desk?t=")
            token = link.split("?t=", 1)[1]
            # Shown twice, the same QR; the image is an SVG; the tenant holds nothing.
            assert (await holder.get(f"/api/meetings/{mid}"))["me"]["checkin_link"] == link
            image = await holder.client.get(f"/api/meetings/{mid}/my-qr.svg")
            assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
            assert b"<svg" in image.content
            assert (await tenant.get(f"/api/meetings/{mid}"))["me"]["checkin_link"] is None
            refused = await tenant.client.get(f"/api/meetings/{mid}/my-qr.svg")
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "meeting_not_owner"

            await staff.post(f"/api/meetings/{mid}/open")
            preview = await staff.get(f"/api/meetings/{mid}/desk?t={token}")
            roll = (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]
            unit_of = {r["label"].split()[-1].split("-")[-1]: r["unit_id"] for r in roll}
            assert preview["name"] == "O0002"
            assert sorted((u["unit_id"], u["proxy"], u["present"]) for u in preview["units"]) == (
                sorted([(unit_of["U2"], False, False), (unit_of["U1"], True, False)])
            )
            path = f"/api/meetings/{mid}/checkin/qr"
            assert await holder.error(path, 403, token=token) == "forbidden"
            assert await staff.error(path, 400, token="not-a-token") == "meeting_bad_code"
            done = await staff.post(path, token=token)
            assert sorted(done["checked_in"]) == sorted([unit_of["U1"], unit_of["U2"]])
            assert (await staff.post(path, token=token))["checked_in"] == []  # scanned again

            counted = await stored(deployment, mid, 0)
            assert counted["present_heads"] == 2
            assert counted["present_share"] == c.shares["o0001"] + c.shares["o0002"]
            att = (await staff.get(f"/api/meetings/{mid}"))["figures"]["attendance"]
            assert att["heads"] == [2, 1] and att["share"] == [counted["present_share"], 1]
            assert att["proxy_units"] == 1 and att["in_person_units"] == 1
            roll = (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]
            routes = {r["unit_id"]: (r["route"], r["by_proxy"]) for r in roll if r["present"]}
            assert routes == {unit_of["U1"]: ("qr", True), unit_of["U2"]: ("qr", False)}
            # The desk's page, for staff only.
            page = await staff.client.get(f"/meetings/{mid}/desk?t={token}")
            assert page.status_code == 200 and 'data-token="' + token + '"' in page.text
            other = await holder.client.get(f"/meetings/{mid}/desk?t={token}")
            assert other.status_code == 303
        finally:
            for api in (staff, admin, holder, giver, tenant):
                await api.aclose()


async def test_agenda_items_take_checked_files(deployment: Deployment) -> None:
    """Staff attach a quote (PDF) and a plan (PNG) to an item; the content decides (a text file
    named .pdf is refused, nothing stored); a draft's files are staff's, a convened meeting's
    everyone's, byte for byte; ten at most; none after the meeting closed."""
    import io

    from PIL import Image

    c = await make_community(deployment, 3)
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 90, 200)).save(png, "PNG")
    async with running(deployment) as server:
        staff, tenant = Api(server, c.cookies["lam"][1]), Api(server, c.cookies["tenant"][1])
        admin = Api(server, c.cookies["root"][1])
        try:
            await admin.post("/api/meetings/register", csv=register_csv(c))
            draft = {
                "kind": "regular", "title": "Night", "place": "Lobby",
                "starts_at": int(time.time() * 1000) + 11 * DAY,
                "items": [{"title": "Repaint", "threshold": "majority"}],
            }  # fmt: skip
            mid = (await staff.post("/api/meetings", 201, **draft))["meeting"]["id"]
            item = (await staff.get(f"/api/meetings/{mid}"))["meeting"]["items"][0]["id"]
            files = f"/api/meetings/{mid}/items/{item}/files"

            async def upload(api: Api, name: str, data: bytes, expect: int) -> dict[str, Any]:
                response = await api.client.post(
                    files, params={"name": name}, content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )  # fmt: skip
                assert response.status_code == expect, response.text
                return response.json()  # type: ignore[no-any-return]

            quote = (await upload(staff, "報價單 quote.pdf", pdf, 201))["file"]
            assert (quote["filename"], quote["media_type"], quote["size"]) == (
                "報價單 quote.pdf", "application/pdf", len(pdf),
            )  # fmt: skip
            plan = (await upload(staff, "plan.png", png.getvalue(), 201))["file"]
            assert plan["media_type"] == "image/png"
            fake = await upload(staff, "fake.pdf", b"just text, not a PDF", 415)
            assert fake["error"]["code"] == "upload_type_not_allowed"
            assert (await upload(tenant, "x.pdf", pdf, 403))["error"]["code"] == "forbidden"
            # A draft: the tenant sees neither the meeting nor its files.
            assert (await tenant.client.get(quote["url"])).status_code == 404
            await staff.post(f"/api/meetings/{mid}/convene")
            listed = (await tenant.get(f"/api/meetings/{mid}"))["meeting"]["items"][0]["files"]
            assert [(f["id"], f["filename"]) for f in listed] == [
                (quote["id"], "報價單 quote.pdf"), (plan["id"], "plan.png"),
            ]  # fmt: skip
            got = await tenant.client.get(quote["url"])
            assert got.status_code == 200 and got.content == pdf
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["x-content-type-options"] == "nosniff"
            assert (await tenant.client.get(f"{files}/999999")).status_code == 404
            for i in range(8):
                await upload(staff, f"more{i}.pdf", pdf, 201)
            assert (await upload(staff, "eleventh.pdf", pdf, 409))["error"]["code"] == (
                "too_many_files"
            )
            await staff.post(f"/api/meetings/{mid}/open")
            await staff.post(f"/api/meetings/{mid}/close")
            assert (await upload(staff, "late.pdf", pdf, 409))["error"]["code"] == (
                "meeting_wrong_state"
            )
            store = await deployment.store()
            try:
                rows = await store.database.fetch(
                    "SELECT detail FROM audit_log WHERE feature = 'meetings' "
                    "AND action = 'item_file'"
                )
            finally:
                await store.close()
            assert len(rows) == 10
        finally:
            for api in (staff, tenant, admin):
                await api.aclose()


async def attendance_push(client: Client, meeting_id: int, timeout: float = 30) -> list[int]:
    """The next ``meeting_attendance`` push of that meeting (answering pings meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        push = await asyncio.wait_for(client.pushes.get(), max(0.1, deadline - time.monotonic()))
        if push.get("push") == "ping":
            await client.ws.send(client.encode({"op": "pong"}))
        elif push.get("push") == "meeting_attendance" and push["meeting_id"] == meeting_id:
            return sorted(push["present"])


async def test_owners_check_out_and_the_figures_drop(deployment: Deployment) -> None:
    """Ten owners; o0002 holds o0001's proxy. The desk scans o0002's QR and o0002's own
    connection (on the other gateway when scaled) is told at once; six more check in, one
    votes. Then o0002 leaves (both units), staff check o0003 out for them after their vote:
    the attendance and the Art. 31 quorum drop to what a count made here from the shares says,
    o0003's vote stays cast and counted for the item, each check-out is in the audit log (who,
    when, by whom), o0002 checks in again; bad input gets its code and a message in both
    languages."""
    c = await make_community(deployment, 10)
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(running(deployment))
        two = (
            await stack.enter_async_context(running(deployment))
            if deployment.mode == "scaled"
            else one
        )
        names = ("lam", "root", "tenant", *(f"o{i:04d}" for i in range(10)))
        api = {n: Api(one, c.cookies[n][1]) for n in names}
        for a in api.values():
            stack.push_async_callback(a.aclose)
        staff = api["lam"]
        await api["root"].post("/api/meetings/register", csv=register_csv(c))
        draft = {
            "kind": "regular", "title": "Night", "place": "Lobby",
            "starts_at": int(time.time() * 1000) + 11 * DAY,
            "items": [{"title": "Repaint", "threshold": "art31"}],
        }  # fmt: skip
        mid = (await staff.post("/api/meetings", 201, **draft))["meeting"]["id"]
        await staff.post(f"/api/meetings/{mid}/convene")
        meeting = (await staff.get(f"/api/meetings/{mid}"))["meeting"]
        item_id, code = meeting["items"][0]["id"], meeting["checkin_code"]
        await api["o0001"].post(f"/api/meetings/{mid}/proxies", username="o0002")
        link = (await api["o0002"].get(f"/api/meetings/{mid}"))["me"]["checkin_link"]
        path = f"/api/meetings/{mid}/checkout"
        # Not under way yet: nobody checks out.
        refused = await api["o0002"].client.post(path, json={})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "meeting_not_in_session"
        await staff.post(f"/api/meetings/{mid}/open")
        roll = (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]
        unit = {r["label"].split()[-1].split("-")[-1]: r["unit_id"] for r in roll}
        share = {unit[f"U{i}"]: c.shares[f"o{i:04d}"] for i in range(10)}
        total = sum(share.values())

        # o0002's own page's connection, on the other gateway when scaled.
        mine = await Client.connect(two, c.cookies["o0002"][1], ping_interval=None)
        stack.push_async_callback(mine.close)
        await mine.ok("subscribe", channel=f"meeting:{mid}")
        await staff.post(f"/api/meetings/{mid}/checkin/qr", token=link.split("?t=", 1)[1])
        assert await attendance_push(mine, mid) == sorted([unit["U1"], unit["U2"]])
        for i in range(3, 9):
            await api[f"o{i:04d}"].post(f"/api/meetings/{mid}/checkin", code=code)
        await staff.post(f"/api/meetings/{mid}/items/{item_id}/open")
        await api["o0003"].post(f"/api/meetings/{mid}/items/{item_id}/vote", choice="for")

        # Bad input: the code, and a message in 繁體中文 and English; nothing changes.
        async def refusal(who: str, url: str, status: int, **body: Any) -> dict[str, Any]:
            response = await api[who].client.post(url, json=body)
            assert response.status_code == status, response.text
            return response.json()["error"]  # type: ignore[no-any-return]

        absent = await refusal("o0009", path, 409)
        assert absent["code"] == "meeting_checkout_absent"
        assert "尚未報到" in absent["message"] and "Not checked in" in absent["message"]
        assert (await refusal("tenant", path, 403))["code"] == "meeting_not_owner"
        staff_path = f"{path}/staff"
        assert (await refusal("o0003", staff_path, 403, unit_ids=[unit["U3"]]))["code"] == (
            "forbidden"
        )
        gone = await refusal("lam", staff_path, 409, unit_ids=[unit["U4"], unit["U9"]])
        assert gone["code"] == "meeting_checkout_absent" and gone["unit_ids"] == [unit["U9"]]
        assert (await refusal("lam", staff_path, 400, unit_ids=[999_999]))["code"] == (
            "meeting_not_on_roll"
        )
        counted = await stored(deployment, mid, item_id)
        assert counted["present_heads"] == 8

        # o0002 leaves with o0001's unit; staff check o0003 out after their vote.
        left = await api["o0002"].post(path)
        assert sorted(left["checked_out"]) == sorted([unit["U1"], unit["U2"]])
        assert await attendance_push(mine, mid) == []
        assert (await staff.post(staff_path, unit_ids=[unit["U3"]]))["checked_out"] == [unit["U3"]]
        here = [unit[f"U{i}"] for i in range(4, 9)]  # o0004..o0008, counted here
        counted = await stored(deployment, mid, item_id)
        assert counted["present_heads"] == len(here)
        assert counted["present_share"] == sum(share[u] for u in here)
        figures = (await staff.get(f"/api/meetings/{mid}"))["figures"]
        att = figures["attendance"]
        assert att["present_units"] == 5 and att["heads"] == [5, 1]
        assert att["share"] == [sum(share[u] for u in here), 1]
        assert att["proxy_units"] == 0 and att["in_person_units"] == 5
        quorum = 3 * len(here) >= 2 * 10 and 3 * sum(share[u] for u in here) >= 2 * total
        assert figures["quorum"]["art31"]["met"] is quorum is False  # 5 of 10 < 2/3
        # The vote cast stays cast and counted: for the item, o0003 counts as present.
        tally = figures["item"]["tally"]
        assert counted["votes"] == 1 and tally["votes"] == 1
        assert tally["present_units"] == 6
        assert tally["counted"]["for"]["share"] == [share[unit["U3"]], 1]
        owner_view = (await api["o0002"].get(f"/api/meetings/{mid}"))["me"]
        assert owner_view["present"] == [] and owner_view["voted"] == {str(item_id): []}
        # Gone, o0003 cannot vote again; o0002 cannot vote until back.
        assert (
            await api["o0002"].error(f"/api/meetings/{mid}/items/{item_id}/vote", 409, choice="for")
            == "meeting_not_checked_in"
        )

        # Every check-out in the audit log: who (units, owner), when, by whom.
        store = await deployment.store()
        try:
            audited = await store.database.fetch(
                "SELECT action, actor_id, at, detail FROM audit_log WHERE feature = 'meetings' "
                "AND action LIKE 'checkout%' ORDER BY id"
            )
            stays = await store.database.fetch(
                "SELECT unit_id, out_by FROM meeting_checkouts WHERE meeting_id = $1 ORDER BY id",
                mid,
            )
        finally:
            await store.close()
        assert [(r["action"], r["actor_id"]) for r in audited] == [
            ("checkout", c.cookies["o0002"][0]),
            ("checkout_staff", c.cookies["lam"][0]),
        ]
        details = [r["detail"] if isinstance(r["detail"], dict) else orjson.loads(r["detail"])
                   for r in audited]  # fmt: skip
        assert sorted(details[0]["units"]) == sorted([unit["U1"], unit["U2"]])
        assert details[0]["owner"] == c.cookies["o0002"][0]
        assert details[1]["units"] == [unit["U3"]]
        assert all(r["at"] > 0 for r in audited)
        assert sorted((int(r["unit_id"]), int(r["out_by"])) for r in stays) == sorted(
            [
                (unit["U1"], c.cookies["o0002"][0]),
                (unit["U2"], c.cookies["o0002"][0]),
                (unit["U3"], c.cookies["lam"][0]),
            ]
        )

        # o0002 comes back: checked in again (both units), told again, and votes.
        back = await api["o0002"].post(f"/api/meetings/{mid}/checkin", code=code)
        assert sorted(back["checked_in"]) == sorted([unit["U1"], unit["U2"]])
        assert await attendance_push(mine, mid) == sorted([unit["U1"], unit["U2"]])
        await api["o0002"].post(f"/api/meetings/{mid}/items/{item_id}/vote", choice="for")
        counted = await stored(deployment, mid, item_id)
        assert counted["present_heads"] == 7 and counted["votes"] == 3
        await staff.post(f"/api/meetings/{mid}/items/{item_id}/close")
        await staff.post(f"/api/meetings/{mid}/close")
        closed = await refusal("o0004", path, 409)
        assert closed["code"] == "meeting_not_in_session" and "不在進行中" in closed["message"]
        # The signature book keeps every stay; the minutes say who left before the end (o0003:
        # o0001 and o0002 came back), and the A4 print shows when they came and left.
        rows = {r["unit_id"]: r for r in (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]}
        assert rows[unit["U3"]]["present"] is False
        assert [(s["out_by"], s["by_proxy"]) for s in rows[unit["U3"]]["stays"]] == [
            (c.cookies["lam"][0], False)
        ]
        assert rows[unit["U1"]]["present"] is True
        assert [s["by_proxy"] for s in rows[unit["U1"]]["stays"]] == [True]
        text = (await staff.get(f"/api/meetings/{mid}/minutes/draft"))["text"]
        assert "提前離席 1 戶" in text and "Left before the end: 1 units" in text
        printed = await staff.client.get(f"/meetings/{mid}/print")
        assert printed.status_code == 200 and printed.text.count(" 離席<br>") == 3
