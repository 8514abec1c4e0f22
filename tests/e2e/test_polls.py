"""Live polls end to end, in both modes: hundreds of real WebSocket voters with retries and
changed votes end on exactly the expected tally, equal to a fresh count of the stored votes; a
watcher's screen settles on it with a bounded number of updates; every bad vote is refused with
its code and changes nothing; a scheduled close happens with no page open; and (scaled) the votes
worker killed mid-burst and restarted loses and doubles nothing."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import math
import os
import time
from typing import Any

import pytest

from gateway.polls.cache import ACCESS_CACHE_SECONDS, CLOSE_DELAY_MS
from persistence.polls.sql import SqlPollStore
from tests.e2e.harness import Client, Deployment, Server, Worker, running
from tests.e2e.polls_helpers import (
    PollApi,
    Voters,
    close_all,
    connect_many,
    latest_tally,
    make_voters,
)

pytestmark = pytest.mark.timeout(180)

#: Voters in the burst tests (the issue asks for e.g. 500; 300 keeps the 2-core CI machine's
#: run short while still overlapping hundreds of connections). LINLI_TEST_POLL_VOTERS overrides.
VOTERS = int(os.environ.get("LINLI_TEST_POLL_VOTERS", "300"))
TALLY_RATE = 4.0
OPTIONS = ["green", "blue", "leave it"]


def _env(deployment: Deployment, **extra: str) -> dict[str, str]:
    env = {
        "LINLI_POLL_TALLY_RATE": str(TALLY_RATE),
        # Voters here vote and change their vote within a second; the default chat rate allows it.
        **extra,
    }
    if deployment.mode == "scaled":
        env.setdefault("LINLI_RUN_WORKERS", "true")
    return env


async def _stored_tally(deployment: Deployment, poll_id: int) -> tuple[list[int], int, int]:
    """Counted afresh from the stored votes: (counts per option, voters, vote rows)."""
    store = await deployment.store()
    try:
        tally = await SqlPollStore(store.database).poll_tally(poll_id)
        votes = await SqlPollStore(store.database).list_votes(poll_id)
        assert tally is not None
        return list(tally.counts), tally.voters, len(votes)
    finally:
        await store.close()


def _last_ballot(client_vote_id: str) -> tuple[str, int]:
    """The ballot voter ``i`` of ``_burst`` ends on (its client vote id, its choice), from the id
    of any of their ballots."""
    i = int(client_vote_id[1:])
    return (f"b{i}", (i + 1) % 3) if i % 4 == 0 else (f"a{i}", i % 3)


async def _not_settled(deployment: Deployment, poll_id: int) -> list[dict[str, Any]]:
    """The stored votes of a ``_burst`` poll that are not yet their voter's last ballot. Counts
    alone cannot tell: voters still on their first choice can offset each other exactly (a 0→1,
    a 1→2 and a 2→0 change missing leave every count as expected), which once let a test read
    the stored votes while a killed worker's ballots still waited to be reclaimed."""
    store = await deployment.store()
    try:
        rows = await store.database.fetch(
            "SELECT v.voter_key, v.ballot_id, c.choice FROM poll_votes v "
            "LEFT JOIN poll_choices c ON c.poll_id = v.poll_id AND c.voter_key = v.voter_key "
            "WHERE v.poll_id = $1",
            poll_id,
        )
    finally:
        await store.close()
    wrong: list[dict[str, Any]] = []
    for row in rows:
        client_vote_id = str(row["ballot_id"]).split("-", 1)[1]
        if (client_vote_id, row["choice"]) != _last_ballot(client_vote_id):
            wrong.append({key: row[key] for key in ("voter_key", "ballot_id", "choice")})
    return wrong


async def _settle(deployment: Deployment, poll_id: int, voters: int, timeout: float) -> None:
    """Wait until every voter's stored vote is their last ballot (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        wrong = await _not_settled(deployment, poll_id)
        stored = await _stored_tally(deployment, poll_id)
        if not wrong and stored[1] == voters:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"stored votes {stored}; not the last ballot: {wrong[:10]}")
        await asyncio.sleep(0.2)


async def _burst(
    server: Server, voters: Voters, poll_id: int, names: list[str], during: Any = None
) -> list[int]:
    """Every voter votes option i % 3; every fifth sends the same ballot again (a retry); every
    fourth then changes to option (i + 1) % 3. Returns the expected counts. ``during`` is
    awaited once a third of the voters have their first vote acked."""
    clients = await connect_many(server, [voters.cookies[n][1] for n in names])
    expected = [0, 0, 0]
    acked = 0
    third = asyncio.Event()

    async def vote(i: int, client: Client) -> None:
        nonlocal acked
        first = await client.ok("vote", poll_id=poll_id, choices=[i % 3], client_vote_id=f"a{i}")
        assert first["duplicate"] is False
        acked += 1
        if acked >= len(names) // 3:
            third.set()
        final = i % 3
        if i % 5 == 0:
            again = await client.ok(
                "vote", poll_id=poll_id, choices=[i % 3], client_vote_id=f"a{i}"
            )
            assert again["duplicate"] is True
        if i % 4 == 0:
            final = (i + 1) % 3
            await client.ok("vote", poll_id=poll_id, choices=[final], client_vote_id=f"b{i}")
        expected[final] += 1

    try:
        tasks = [asyncio.create_task(vote(i, c)) for i, c in enumerate(clients)]
        if during is not None:
            await third.wait()
            await during()
        await asyncio.gather(*tasks)
    finally:
        await close_all(clients)
    return expected


@pytest.mark.slow
async def test_many_voters_exact_tally_and_bounded_updates(deployment: Deployment) -> None:
    voters = await make_voters(deployment, VOTERS)
    names = sorted(n for n in voters.cookies if n.startswith("v"))
    async with running(deployment, **_env(deployment)) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        watcher = await Client.connect(server, voters.cookies[names[0]][1])
        try:
            poll = await api.create(
                channel=f"building:{voters.building_id}",
                question="Paint the lobby?",
                options=OPTIONS,
            )
            await api.open(poll["id"])
            await watcher.ok("subscribe", channel=f"poll:{poll['id']}")
            started = time.monotonic()
            expected = await _burst(server, voters, poll["id"], names)
            last, seen = await latest_tally(watcher, lambda t: t["counts"] == expected)
            elapsed = time.monotonic() - started

            # The screen settled on exactly the expected numbers, which are a fresh count of the
            # stored votes: one per voter, retries counted once, changed votes replaced.
            assert last["voters"] == VOTERS and sum(expected) == VOTERS
            await _settle(deployment, poll["id"], VOTERS, timeout=10)
            assert await _stored_tally(deployment, poll["id"]) == (expected, VOTERS, VOTERS)
            # Versions only grow on the screen (state equivalence: the last snapshot is the state).
            versions = [t["version"] for t in seen]
            assert versions == sorted(versions)
            # Coalescing: at most TALLY_RATE updates a second (+1 for the first one at once, +1
            # for the open announcement racing the subscription), however many votes came.
            assert len(seen) <= math.ceil(elapsed * TALLY_RATE) + 2, (len(seen), elapsed)
            assert len(seen) < VOTERS / 4

            closed = await api.close(poll["id"])
            assert closed["state"] == "closed"
            final, _ = await latest_tally(watcher, lambda t: t["state"] == "closed")
            assert final["counts"] == expected and final["voters"] == VOTERS
            response = await api.get(f"/api/polls/{poll['id']}/export.csv?lang=en")
            rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
            assert [int(r[2]) for r in rows[1:4]] == expected
            assert rows[4][:3] == ["Voters", "", str(VOTERS)]
        finally:
            await watcher.close()
            await api.aclose()


@pytest.mark.slow
async def test_votes_worker_killed_mid_burst_loses_and_doubles_nothing(scaled: Deployment) -> None:
    voters = await make_voters(scaled, VOTERS)
    names = sorted(n for n in voters.cookies if n.startswith("v"))
    worker = Worker(scaled, "votes").start()
    async with running(scaled, **_env(scaled, LINLI_RUN_WORKERS="false")) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        watcher = await Client.connect(server, voters.cookies[names[0]][1])
        replacement: list[Worker] = []

        pending_at_kill: list[int] = []

        async def kill_and_restart() -> None:
            # Kill it with ballots in hand: read from the queue and not yet acked (so written or
            # half written, never confirmed), which the next worker must take over.
            import redis.asyncio as aioredis

            assert scaled.redis_url is not None
            redis = aioredis.Redis.from_url(scaled.redis_url)
            try:
                deadline = time.monotonic() + 5
                pending = 0
                while time.monotonic() < deadline:
                    summary = await redis.xpending(f"{scaled.key_prefix}work:votes", "votes")
                    pending = int(summary["pending"])
                    if pending:
                        break
                    await asyncio.sleep(0.001)
                worker.kill()
                pending_at_kill.append(pending)
            finally:
                await redis.aclose()
            await asyncio.sleep(0.3)  # ballots keep arriving with no worker at all
            replacement.append(Worker(scaled, "votes").start())

        try:
            poll = await api.create(
                channel=f"building:{voters.building_id}", question="Q", options=OPTIONS
            )
            await api.open(poll["id"])
            await watcher.ok("subscribe", channel=f"poll:{poll['id']}")
            expected = await _burst(server, voters, poll["id"], names, during=kill_and_restart)
            # The killed worker's unacked ballots are reclaimed after VotesWorker.reclaim_idle_ms.
            await _settle(scaled, poll["id"], VOTERS, timeout=40)
            last, _ = await latest_tally(watcher, lambda t: t["counts"] == expected, timeout=10)
            assert last["voters"] == VOTERS
            assert await _stored_tally(scaled, poll["id"]) == (expected, VOTERS, VOTERS)
            assert pending_at_kill[0] > 0, "the worker was killed with no ballot in hand"
        finally:
            await watcher.close()
            await api.aclose()
            worker.kill()
            for w in replacement:
                w.stop()


async def test_bad_votes_are_refused_and_change_nothing(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 4)
    async with running(deployment, **_env(deployment)) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        clients = await connect_many(
            server, [voters.cookies[n][1] for n in ("v0000", "v0001", "v0002", voters.outsider)]
        )
        ann, amy, ada, outsider = clients
        try:
            channel = f"building:{voters.building_id}"
            poll = await api.create(channel=channel, question="Q", options=OPTIONS)
            pid = poll["id"]
            # A draft takes no votes.
            assert await ann.error("vote", poll_id=pid, choices=[0], client_vote_id="x") == (
                "poll_not_open"
            )
            # A draft can be edited; an opened poll cannot.
            await api.post(f"/api/polls/{pid}", channel=channel, question="Q2", options=OPTIONS)
            await api.open(pid)
            await api.post(
                f"/api/polls/{pid}", 409, channel=channel, question="Q", options=["a", "b"]
            )

            await ann.ok("subscribe", channel=f"poll:{pid}")
            assert await ann.ok("vote", poll_id=pid, choices=[1], client_vote_id="good")
            await latest_tally(ann, lambda t: t["voters"] == 1)

            bad: list[tuple[Client, dict[str, Any], str]] = [
                (amy, {"poll_id": pid, "choices": [3]}, "bad_choice"),
                (amy, {"poll_id": pid, "choices": [0, 1]}, "bad_choice"),
                (amy, {"poll_id": pid, "choices": []}, "bad_request"),
                (amy, {"poll_id": pid, "choices": [0, 0]}, "bad_request"),
                (amy, {"poll_id": pid, "choices": "0"}, "bad_request"),
                (amy, {"poll_id": str(pid), "choices": [0]}, "bad_request"),
                (amy, {"poll_id": pid, "choices": [-1]}, "bad_request"),
                (amy, {"poll_id": 999_999, "choices": [0]}, "poll_not_found"),
                (outsider, {"poll_id": pid, "choices": [0]}, "not_eligible"),
            ]
            for client, fields, code in bad:
                assert await client.error("vote", client_vote_id="bad", **fields) == code, fields
            assert await amy.error("vote", poll_id=pid, choices=[0]) == "bad_request"
            assert await amy.error("vote", poll_id=pid, choices=[0], client_vote_id="a b") == (
                "bad_request"
            )
            # Nobody outside the building may watch or write the poll's channel.
            assert await outsider.error("subscribe", channel=f"poll:{pid}") == "forbidden"
            assert await ann.error(
                "publish", channel=f"poll:{pid}", text="x", client_msg_id="m"
            ) == ("forbidden")
            assert await ann.error("subscribe", channel="poll:999999") == "poll_not_found"
            # Residents cannot run polls.
            resident = PollApi(server, voters.cookies["v0001"][1])
            response = await resident.client.post(
                "/api/polls", json={"channel": channel, "question": "Q", "options": OPTIONS}
            )
            assert response.status_code == 403
            await resident.aclose()

            # One vote per resident without changes: the second ballot is refused, a retry of
            # the first is acked as a duplicate.
            once = await api.create(
                channel=channel, question="Once", options=OPTIONS, allow_change=False
            )
            await api.open(once["id"])
            # Subscribed before voting: a tally published before the subscription is not sent.
            await ada.ok("subscribe", channel=f"poll:{once['id']}")
            await ada.ok("vote", poll_id=once["id"], choices=[2], client_vote_id="first")
            await latest_tally(ada, lambda t: t["voters"] == 1)
            assert (await ada.ok("vote", poll_id=once["id"], choices=[2], client_vote_id="first"))[
                "duplicate"
            ]
            assert await ada.error(
                "vote", poll_id=once["id"], choices=[0], client_vote_id="second"
            ) == ("already_voted")

            await api.close(pid)
            assert await amy.error("vote", poll_id=pid, choices=[0], client_vote_id="late") == (
                "poll_closed"
            )
            await asyncio.sleep(0.5)  # give a wrongly accepted ballot time to be counted
            assert await _stored_tally(deployment, pid) == ([0, 1, 0], 1, 1)
            assert await _stored_tally(deployment, once["id"]) == ([0, 0, 1], 1, 1)
            # Anonymous polls have no voter list; the named list is the organiser's, after close.
            await api.get(f"/api/polls/{pid}/votes", expect=403)
        finally:
            await close_all(clients)
            await api.aclose()


async def test_scheduled_close_named_list_and_households(deployment: Deployment) -> None:
    voters = await make_voters(deployment, 4)  # v0000 and v0001 share unit U0
    async with running(deployment, **_env(deployment)) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        clients = await connect_many(
            server, [voters.cookies[n][1] for n in ("v0000", "v0001", "v0002")]
        )
        first, housemate, other = clients
        try:
            closes_at = int(time.time() * 1000) + 4000
            poll = await api.create(
                channel=f"building:{voters.building_id}",
                question="Households",
                options=OPTIONS,
                counting="unit",
                anonymous=False,
                results="after_close",
                closes_at=closes_at,
            )
            pid = poll["id"]
            await api.open(pid)
            await housemate.ok("subscribe", channel=f"poll:{pid}")
            await first.ok("vote", poll_id=pid, choices=[0], client_vote_id="h1")
            await other.ok("vote", poll_id=pid, choices=[2], client_vote_id="h3")
            await asyncio.sleep(0.3)
            # The housemate changes the household's one vote.
            await housemate.ok("vote", poll_id=pid, choices=[1], client_vote_id="h2")
            # Results after close only: tallies while open carry no counts.
            hidden, _ = await latest_tally(housemate, lambda t: t["voters"] == 2)
            assert hidden["counts"] is None and hidden["state"] == "open"
            mine = (await api.client.get(f"/api/polls/{pid}")).json()
            assert mine["tally"]["counts"] is None
            # No page asks for it: the close happens on time anyway, and the screens learn it.
            final, _ = await latest_tally(housemate, lambda t: t["state"] == "closed", timeout=10)
            assert final["counts"] == [0, 1, 1] and final["voters"] == 2
            assert time.time() * 1000 >= closes_at
            assert await other.error("vote", poll_id=pid, choices=[0], client_vote_id="late") == (
                "poll_closed"
            )
            seen = (await api.client.get(f"/api/polls/{pid}")).json()
            assert seen["poll"]["state"] == "closed" and seen["poll"]["closed_at"] == closes_at
            named = (await api.get(f"/api/polls/{pid}/votes")).json()["votes"]
            assert sorted((v["name"], v["unit"], v["choices"]) for v in named) == [
                ("V0001", "U0", [1]),
                ("V0002", "U1", [2]),
            ]
        finally:
            await close_all(clients)
            await api.aclose()


async def test_votes_during_a_close_are_refused_or_counted_never_acked_and_ignored(
    deployment: Deployment,
) -> None:
    """Voters keep changing their vote while the organiser closes the poll: every ballot the
    gateway acked is counted (each voter's stored vote is their last acked one), every later one
    is refused with ``poll_closed``. A gateway answering from a stale copy of the poll would ack
    ballots cast after ``closed_at`` that the worker then ignores. Scaled: two servers, the
    organiser on one, half the voters on the other (whose copy only a control message or its
    expiry can update), and each server's votes worker recording."""
    voters = await make_voters(deployment, 12)
    names = sorted(n for n in voters.cookies if n.startswith("v"))
    env = _env(deployment, LINLI_PUBLISH_RATE="50")
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(running(deployment, **env))
        other = server
        if deployment.mode == "scaled":
            other = await stack.enter_async_context(running(deployment, **env))
        api = PollApi(server, voters.cookies[voters.organiser][1])
        half = len(names) // 2
        clients = await connect_many(server, [voters.cookies[n][1] for n in names[:half]])
        clients += await connect_many(other, [voters.cookies[n][1] for n in names[half:]])
        try:
            poll = await api.create(
                channel=f"building:{voters.building_id}", question="Q", options=OPTIONS
            )
            pid = poll["id"]
            await api.open(pid)
            last_acked: dict[int, int] = {}
            closed_codes: list[str] = []
            stop = asyncio.Event()

            async def keep_voting(i: int, client: Client) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    choice = (i + n) % 3
                    reply = await client.request(
                        "vote", poll_id=pid, choices=[choice], client_vote_id=f"c{n}"
                    )
                    if "error" in reply:
                        code = reply["error"]["code"]
                        assert code in ("poll_closed", "rate_limited"), reply
                        if code == "poll_closed":
                            closed_codes.append(code)
                            return
                    else:
                        last_acked[i] = choice
                    await asyncio.sleep(0.02)

            tasks = [asyncio.create_task(keep_voting(i, c)) for i, c in enumerate(clients)]
            await asyncio.sleep(0.3)
            started = time.monotonic()
            closed = await api.close(pid)
            closed_after = time.monotonic() - started
            assert closed["state"] == "closed"
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            stop.set()
            # Every voter was refused in the end, and votes went on being taken until closed_at.
            assert len(closed_codes) == len(clients)
            # Refused from now on, on a fresh connection too.
            assert await clients[0].error("vote", poll_id=pid, choices=[0], client_vote_id="z") == (
                "poll_closed"
            )
            expected = [0, 0, 0]
            for choice in last_acked.values():
                expected[choice] += 1
            deadline = time.monotonic() + 5
            while True:
                stored = await _stored_tally(deployment, pid)
                if stored == (expected, len(last_acked), len(last_acked)):
                    break
                assert time.monotonic() < deadline, ("acked ballots not counted", stored, expected)
                await asyncio.sleep(0.2)
            store = await deployment.store()
            try:
                votes = {
                    v.user_id: v.choices for v in await SqlPollStore(store.database).list_votes(pid)
                }
            finally:
                await store.close()
            ids = [voters.cookies[n][0] for n in names]
            assert votes == {ids[i]: (choice,) for i, choice in last_acked.items()}
            # The organiser's close took effect a moment ahead (votes were taken until then).
            assert closed_after >= CLOSE_DELAY_MS / 1000 - 0.1
        finally:
            await close_all(clients)
            await api.aclose()


async def test_leaving_a_group_and_moving_unit_reach_the_vote_check(deployment: Deployment) -> None:
    """What the gateway caches about voters goes stale only within its bounds: leaving a group
    refuses the next vote at once, and a resident moved to another unit votes for the new
    household once the cached unit has expired."""
    voters = await make_voters(deployment, 4)  # v0000, v0001 in unit U0; v0002, v0003 in U1
    async with running(deployment, **_env(deployment)) as server:
        api = PollApi(server, voters.cookies[voters.organiser][1])
        member = PollApi(server, voters.cookies["v0002"][1])
        clients = await connect_many(
            server, [voters.cookies[n][1] for n in ("v0000", "v0001", "v0002")]
        )
        mover, housemate, gardener = clients
        try:
            await api.post("/api/groups/gardening/join")
            await member.post("/api/groups/gardening/join")
            group_poll = await api.create(channel="group:gardening", question="G", options=OPTIONS)
            await api.open(group_poll["id"])
            gid = group_poll["id"]
            await gardener.ok("vote", poll_id=gid, choices=[0], client_vote_id="g1")
            await member.post("/api/groups/gardening/leave")
            assert await gardener.error("vote", poll_id=gid, choices=[1], client_vote_id="g2") == (
                "not_eligible"
            )
            await member.post("/api/groups/gardening/join")
            await gardener.ok("vote", poll_id=gid, choices=[2], client_vote_id="g3")

            households = await api.create(
                channel=f"building:{voters.building_id}",
                question="H",
                options=OPTIONS,
                counting="unit",
            )
            hid = households["id"]
            await api.open(hid)
            await mover.ok("vote", poll_id=hid, choices=[0], client_vote_id="h1")
            # Moved from U0 to U1 (by hand: Linli has no page for it yet).
            store = await deployment.store()
            try:
                await store._db.execute(  # type: ignore[attr-defined]
                    "UPDATE users SET unit_id = (SELECT unit_id FROM users WHERE id = $2) "
                    "WHERE id = $1",
                    voters.cookies["v0000"][0],
                    voters.cookies["v0002"][0],
                )
            finally:
                await store.close()
            await asyncio.sleep(ACCESS_CACHE_SECONDS + 0.2)
            await mover.ok("vote", poll_id=hid, choices=[1], client_vote_id="h2")
            await housemate.ok("vote", poll_id=hid, choices=[2], client_vote_id="h3")
            deadline = time.monotonic() + 15
            while True:
                group_tally = await _stored_tally(deployment, gid)
                household_tally = await _stored_tally(deployment, hid)
                # U0: the mover's first vote, replaced by the housemate's; U1: the mover's second.
                if group_tally == ([0, 0, 1], 1, 1) and household_tally == ([0, 1, 1], 2, 2):
                    break
                assert time.monotonic() < deadline, (group_tally, household_tally)
                await asyncio.sleep(0.2)
        finally:
            await close_all(clients)
            await member.aclose()
            await api.aclose()
