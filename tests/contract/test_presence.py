"""The Presence contract (``presence/presence.py``), run against every backend: in-memory with an
injected clock, and Redis with real short sleeps (the Redis backend judges expiry by the
server's clock, which cannot be faked)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from linli.types import ConnId
from presence import presence_redis
from presence.presence import Presence, PresenceMember
from presence.presence_memory import MemoryPresence
from presence.presence_redis import KEY_TTL_FACTOR, RedisPresence
from tests.conftest import wait_until

#: Small enough to keep the Redis runs short, large enough that a loaded machine's scheduling
#: jitter (tens of ms) stays well inside the margins below.
TTL = 0.4
#: How far past an expiry the tests look, so "expired" is never a race against the clock.
MARGIN = 0.15

ALICE = PresenceMember(1, "Alice")
BOB = PresenceMember(2, "Bob")
CAROL = PresenceMember(3, "王小明")
CH = "building:3"
OTHER = "group:gardening"


def c(name: str) -> ConnId:
    return ConnId(name)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Backend:
    kind: str
    presence: Presence
    #: A second gateway on the same store (for memory, the same instance: one process).
    peer: Presence
    #: Let this much time pass, for the backend's notion of time.
    advance: Callable[[float], Awaitable[None]]
    now: Callable[[], float]
    redis: aioredis.Redis | aioredis.RedisCluster | None = None
    prefix: str = ""


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def store(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    # Sync, so that only the Redis runs pull in (and need) the Redis fixtures.
    if request.param == "memory":
        return ("memory", "", "")
    if request.param == "redis-cluster":
        return (
            "redis-cluster",
            request.getfixturevalue("redis_cluster_url"),
            request.getfixturevalue("redis_cluster_prefix"),
        )
    return ("redis", request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


@pytest.fixture
async def backend(store: tuple[str, str, str]) -> AsyncIterator[Backend]:
    kind, url, prefix = store
    if kind == "memory":
        clock = FakeClock()
        memory = MemoryPresence(ttl=TTL, clock=clock)
        yield Backend(kind, memory, memory, clock.advance, clock)
        await memory.close()
        return
    # Two clients, as two gateway processes would have.
    one: aioredis.Redis | aioredis.RedisCluster
    two: aioredis.Redis | aioredis.RedisCluster
    if kind == "redis-cluster":
        one, two = aioredis.RedisCluster.from_url(url), aioredis.RedisCluster.from_url(url)
    else:
        one, two = aioredis.Redis.from_url(url), aioredis.Redis.from_url(url)
    gw1 = RedisPresence(one, prefix=prefix, ttl=TTL)
    gw2 = RedisPresence(two, prefix=prefix, ttl=TTL)
    try:
        yield Backend(kind, gw1, gw2, asyncio.sleep, time.monotonic, one, prefix)
    finally:
        await gw1.close()
        await gw2.close()
        await one.aclose()
        await two.aclose()


# --- join / leave -------------------------------------------------------------------------------


async def test_tabs_of_one_user_count_once(backend: Backend) -> None:
    p = backend.presence
    assert await p.members(CH) == []
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(CH, c("a2"), ALICE) is False
    assert await p.members(CH) == [ALICE]
    assert await p.leave(CH, c("a1"), ALICE.user_id) is False
    assert await p.members(CH) == [ALICE]
    assert await p.leave(CH, c("a2"), ALICE.user_id) is True
    assert await p.members(CH) == []
    assert await p.leave(CH, c("a2"), ALICE.user_id) is False
    assert await p.leave(CH, c("never"), ALICE.user_id) is False


async def test_rejoining_a_live_tab_is_not_a_new_join(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(CH, c("a1"), ALICE) is False
    assert await p.leave(CH, c("a1"), ALICE.user_id) is True
    assert await p.members(CH) == []


async def test_two_users_sorted_by_id(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("b1"), BOB) is True
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(CH, c("c1"), CAROL) is True
    assert await p.members(CH) == [ALICE, BOB, CAROL]
    assert await p.leave(CH, c("b1"), BOB.user_id) is True
    assert await p.members(CH) == [ALICE, CAROL]
    assert await p.members(OTHER) == []


async def test_channels_are_independent(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(OTHER, c("a1"), ALICE) is True
    assert await p.leave(CH, c("a1"), ALICE.user_id) is True
    assert await p.members(CH) == []
    assert await p.members(OTHER) == [ALICE]


async def test_names_round_trip(backend: Backend) -> None:
    odd = PresenceMember(42, "名字\twith tab, émoji 🏠")
    assert await backend.presence.join(CH, c("x"), odd) is True
    assert await backend.presence.members(CH) == [odd]
    assert await backend.presence.expire(CH) == []


async def test_join_leave_results_replay_to_members(backend: Backend) -> None:
    """State equivalence: the old member list, with each join/leave result applied, is the new
    member list, at every step of a random run."""
    p = backend.presence
    people = [ALICE, BOB, CAROL]
    tabs = {m.user_id: [c(f"{m.user_id}-{i}") for i in range(3)] for m in people}
    joined: set[ConnId] = set()
    rng = random.Random(20240611)
    replayed: list[PresenceMember] = []
    for _ in range(120):
        member = rng.choice(people)
        conn = rng.choice(tabs[member.user_id])
        if rng.random() < 0.5:
            was_present = any(t in joined for t in tabs[member.user_id])
            became = await p.join(CH, conn, member)
            assert became is (not was_present)
            joined.add(conn)
            if became:
                replayed = sorted([*replayed, member])
        else:
            had = conn in joined
            joined.discard(conn)
            left = await p.leave(CH, conn, member.user_id)
            assert left is (had and not any(t in joined for t in tabs[member.user_id]))
            if left:
                replayed = [m for m in replayed if m != member]
        assert await p.members(CH) == replayed


# --- expiry ---------------------------------------------------------------------------------------


async def test_unrefreshed_entries_expire_and_are_reported_once(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(CH, c("a2"), ALICE) is False
    assert await p.join(CH, c("b1"), BOB) is True
    await backend.advance(TTL / 2)
    assert await p.expire(CH) == []
    assert await p.members(CH) == [ALICE, BOB]
    await backend.advance(TTL / 2 + MARGIN)
    assert await p.members(CH) == []
    assert await p.expire(CH) == [ALICE, BOB]
    assert await p.expire(CH) == []
    assert await p.members(CH) == []
    # Swept entries are gone: leaving them changes nothing.
    assert await p.leave(CH, c("a1"), ALICE.user_id) is False


async def test_refresh_keeps_entries_alive_past_ttl(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(OTHER, c("a1"), ALICE) is True
    assert await p.join(CH, c("b1"), BOB) is True
    for _ in range(6):  # 1.5 ttl in all
        await backend.advance(TTL / 4)
        await p.refresh([(CH, c("a1"), ALICE), (OTHER, c("a1"), ALICE), (CH, c("b1"), BOB)])
    assert await p.expire(CH) == []
    assert await p.expire(OTHER) == []
    assert await p.members(CH) == [ALICE, BOB]
    assert await p.members(OTHER) == [ALICE]
    await p.refresh([])


async def test_refresh_readds_a_swept_entry(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    await backend.advance(TTL + MARGIN)
    assert await p.expire(CH) == [ALICE]
    # The gateway still holds the connection (it was only slow to refresh): it is alive.
    await p.refresh([(CH, c("a1"), ALICE)])
    assert await p.members(CH) == [ALICE]
    assert await p.join(CH, c("a2"), ALICE) is False
    assert await p.leave(CH, c("a2"), ALICE.user_id) is False
    assert await p.leave(CH, c("a1"), ALICE.user_id) is True


async def test_a_refresh_racing_a_leave_does_not_bring_the_connection_back(
    backend: Backend,
) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.leave(CH, c("a1"), ALICE.user_id) is True
    # The gateway's refresh batch was taken before the socket closed, and lands after the leave.
    await p.refresh([(CH, c("a1"), ALICE)])
    assert await p.members(CH) == []
    # The same connection subscribing again is a join like any other, and is refreshed again.
    assert await p.join(CH, c("a1"), ALICE) is True
    await backend.advance(TTL / 2)
    await p.refresh([(CH, c("a1"), ALICE)])
    await backend.advance(TTL / 2 + MARGIN / 2)
    assert await p.members(CH) == [ALICE]
    assert await p.leave(CH, c("a1"), ALICE.user_id) is True
    await p.refresh([(CH, c("a1"), ALICE)])
    await backend.advance(TTL + MARGIN)
    # Nothing came back, so nothing expires: no second announcement of Alice leaving.
    assert await p.expire(CH) == []
    assert await p.members(CH) == []


async def test_expire_sweeps_in_batches_without_repeating_users(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis sweeps a few entries per script call; a user whose tabs span calls is reported once.
    monkeypatch.setattr(presence_redis, "EXPIRE_BATCH", 2)
    p = backend.presence
    for i in range(3):
        await p.join(CH, c(f"a{i}"), ALICE)
    for i in range(2):
        await p.join(CH, c(f"b{i}"), BOB)
    await p.join(CH, c("c0"), CAROL)
    await backend.advance(TTL + MARGIN)
    assert await p.expire(CH) == [ALICE, BOB, CAROL]
    assert await p.expire(CH) == []


async def test_expired_tab_beside_refreshed_tab_is_not_a_leave(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(CH, c("a2"), ALICE) is False
    for _ in range(6):
        await backend.advance(TTL / 4)
        await p.refresh([(CH, c("a2"), ALICE)])
    assert await p.expire(CH) == []
    assert await p.members(CH) == [ALICE]
    # a1 was swept; a2 is the last tab.
    assert await p.leave(CH, c("a1"), ALICE.user_id) is False
    assert await p.leave(CH, c("a2"), ALICE.user_id) is True
    assert await p.expire(CH) == []


async def test_leaving_an_expired_tab_leaves_the_announcement_to_expire(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    await backend.advance(TTL + MARGIN)
    assert await p.members(CH) == []
    # Not live, so not "the last live one"; the departure is still owed, once.
    assert await p.leave(CH, c("a1"), ALICE.user_id) is False
    assert await p.expire(CH) == [ALICE]
    assert await p.expire(CH) == []


async def test_leaving_the_last_live_tab_settles_expired_ones(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    assert await p.join(CH, c("a2"), ALICE) is False
    for _ in range(6):
        await backend.advance(TTL / 4)
        await p.refresh([(CH, c("a2"), ALICE)])
    # a1 has expired but nobody swept it yet.
    assert await p.leave(CH, c("a2"), ALICE.user_id) is True
    # The leave was announced: the sweep must not announce it again.
    assert await p.expire(CH) == []
    assert await p.members(CH) == []


async def test_joining_again_after_a_lapse(backend: Backend) -> None:
    p = backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    await backend.advance(TTL + MARGIN)
    before = await p.members(CH)
    assert before == []
    # No live connection: this join makes Alice present again.
    assert await p.join(CH, c("a2"), ALICE) is True
    assert await p.members(CH) == sorted([*before, ALICE])
    # Her lapsed tab was settled by the join: she is present, so no leave is owed.
    assert await p.expire(CH) == []
    assert await p.leave(CH, c("a2"), ALICE.user_id) is True
    assert await p.expire(CH) == []


# --- several gateways ---------------------------------------------------------------------------


async def test_two_gateways_see_each_other(backend: Backend) -> None:
    gw1, gw2 = backend.presence, backend.peer
    assert await gw1.join(CH, c("a1"), ALICE) is True
    # Alice's second device, on the other gateway.
    assert await gw2.join(CH, c("a2"), ALICE) is False
    assert await gw2.join(CH, c("b1"), BOB) is True
    assert await gw1.members(CH) == [ALICE, BOB]
    assert await gw2.members(CH) == [ALICE, BOB]
    assert await gw2.leave(CH, c("a2"), ALICE.user_id) is False
    assert await gw1.leave(CH, c("b1"), BOB.user_id) is True  # any gateway may leave any entry
    assert await gw2.members(CH) == [ALICE]
    assert await gw1.leave(CH, c("a1"), ALICE.user_id) is True
    assert await gw2.members(CH) == []


async def test_dead_gateways_users_are_removed_by_a_live_one(backend: Backend) -> None:
    live, dead = backend.presence, backend.peer
    assert await live.join(CH, c("a1"), ALICE) is True
    assert await dead.join(CH, c("a2"), ALICE) is False
    assert await dead.join(CH, c("b1"), BOB) is True
    assert await dead.join(CH, c("c1"), CAROL) is True
    died_at = backend.now()  # the dead gateway's last join/refresh
    sweep = TTL / 3
    announced: list[PresenceMember] = []
    removed_at = None
    # The live gateway's loop: refresh its own connections, sweep the channel.
    for _ in range(12):
        await backend.advance(sweep)
        await live.refresh([(CH, c("a1"), ALICE)])
        announced += await live.expire(CH)
        if announced and removed_at is None:
            removed_at = backend.now()
    assert announced == [BOB, CAROL]  # Alice still has her live tab
    assert removed_at is not None
    assert removed_at - died_at <= TTL + sweep + MARGIN
    assert await live.members(CH) == [ALICE]
    assert await dead.members(CH) == [ALICE]


# --- Redis keys ---------------------------------------------------------------------------------


async def test_redis_keys_stay_under_prefix_and_expire(backend: Backend) -> None:
    if backend.redis is None:
        pytest.skip("Redis key layout")
    r, p = backend.redis, backend.presence
    assert await p.join(CH, c("a1"), ALICE) is True
    keys = sorted([k async for k in r.scan_iter(match=f"{backend.prefix}*")])
    base = f"{backend.prefix}presence:{{{CH}}}:".encode()
    assert keys == [base + b"conn", base + b"exp", base + b"user"]
    for key in keys:
        assert 0 < await r.pttl(key) <= KEY_TTL_FACTOR * TTL * 1000
    assert await p.leave(CH, c("a1"), ALICE.user_id) is True
    # Only the leave's tombstone remains, and it too expires.
    assert [k async for k in r.scan_iter(match=f"{backend.prefix}*")] == [base + b"left"]
    assert 0 < await r.pttl(base + b"left") <= KEY_TTL_FACTOR * TTL * 1000
    # A channel nobody leaves or sweeps any more disappears on its own.
    assert await p.join(OTHER, c("a1"), ALICE) is True

    async def gone() -> bool:
        return [k async for k in r.scan_iter(match=f"{backend.prefix}*")] == []

    await wait_until(gone, timeout=KEY_TTL_FACTOR * TTL + 2)
