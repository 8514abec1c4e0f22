"""The Store contract: every test runs against SQLite and against PostgreSQL (a fresh schema each),
so the two backends cannot drift apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from persistence.db import IntegrityViolation
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import (
    Building,
    Group,
    GroupSlugTaken,
    Invite,
    InviteInvalid,
    NotFound,
    Role,
    Store,
    StoredMessage,
    Unit,
    User,
    UsernameTaken,
)

NOW = 1_700_000_000_000
DAY = 86_400_000


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    await migrate(db_url)
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


async def _building_with_invite(
    store: Store, *, uses: int = 5, code: str = "INV1", expires_at: int = NOW + DAY
) -> Building:
    building = await store.create_building("Harbour View", now=NOW)
    await store.create_invite(building.id, code, uses=uses, expires_at=expires_at, now=NOW)
    return building


async def _register(store: Store, username: str, *, code: str = "INV1", unit: str = "12A") -> User:
    return await store.register_resident(
        invite_code=code,
        username=username,
        display_name=username.title(),
        password_hash=f"hash-{username}",
        unit_label=unit,
        now=NOW,
    )


async def _admin(store: Store, username: str = "root") -> User:
    return await store.create_user(
        username=username,
        display_name="Root",
        password_hash="h",
        role=Role.ADMIN,
        building_id=None,
        unit_label=None,
        now=NOW,
    )


def _msg(offset: int, *, epoch: int = 1, channel: str = "building:1", data: bytes | None = None,
         author_id: int | None = 7) -> StoredMessage:  # fmt: skip
    return StoredMessage(
        channel=channel,
        offset=offset,
        epoch=epoch,
        data=data if data is not None else f"m{offset}e{epoch}".encode(),
        author_id=author_id,
        created_at=NOW + offset,
    )


# -- buildings and units ------------------------------------------------------------------------


async def test_buildings(store: Store) -> None:
    assert await store.list_buildings() == []
    a = await store.create_building("Harbour View", now=NOW)
    b = await store.create_building("Hill Court", now=NOW + 1)
    assert a == Building(id=a.id, name="Harbour View", created_at=NOW)
    assert b.id != a.id
    assert await store.list_buildings() == [a, b]
    assert await store.get_building(b.id) == b
    assert await store.get_building(b.id + 1000) is None
    assert await store.list_units(a.id) == []


async def test_unit_labels_are_normalised(store: Store) -> None:
    building = await _building_with_invite(store)
    other = await store.create_building("Other", now=NOW)
    await store.create_invite(other.id, "OTHER", uses=5, expires_at=NOW + DAY, now=NOW)
    u1 = await _register(store, "alice", unit="  Flat   12a ")
    u2 = await _register(store, "bob", unit="flat 12A")
    u3 = await _register(store, "carol", unit="Flat\t12 A")
    u4 = await _register(store, "dave", code="OTHER", unit="Flat 12A")
    assert u1.unit_id is not None and u3.unit_id is not None and u4.unit_id is not None
    assert u1.unit_id == u2.unit_id
    assert len({u1.unit_id, u3.unit_id, u4.unit_id}) == 3
    assert await store.list_units(building.id) == [
        Unit(id=u1.unit_id, building_id=building.id, label="Flat 12a"),
        Unit(id=u3.unit_id, building_id=building.id, label="Flat 12 A"),
    ]
    assert await store.list_units(other.id) == [
        Unit(id=u4.unit_id, building_id=other.id, label="Flat 12A")
    ]


# -- invites and users --------------------------------------------------------------------------


async def test_invites(store: Store) -> None:
    building = await store.create_building("B", now=NOW)
    invite = await store.create_invite(building.id, "CODE", uses=3, expires_at=NOW + DAY, now=NOW)
    assert invite == Invite(
        code="CODE", building_id=building.id, uses_left=3, expires_at=NOW + DAY, created_at=NOW
    )
    assert await store.get_invite("CODE") == invite
    assert await store.get_invite("code") is None
    with pytest.raises(NotFound):
        await store.create_invite(building.id + 99, "X", uses=1, expires_at=NOW + DAY, now=NOW)
    assert await store.get_invite("X") is None


async def test_register_resident(store: Store) -> None:
    building = await _building_with_invite(store, uses=2)
    user = await _register(store, "Alice")
    assert user == User(
        id=user.id,
        username="Alice",
        display_name="Alice",
        role=Role.RESIDENT,
        building_id=building.id,
        unit_id=user.unit_id,
        created_at=NOW,
    )
    assert await store.get_user(user.id) == user
    assert await store.get_user(user.id + 1000) is None
    assert await store.get_password_hash(user.id) == "hash-Alice"
    assert await store.get_password_hash(user.id + 1000) is None
    invite = await store.get_invite("INV1")
    assert invite is not None and invite.uses_left == 1


async def test_usernames_are_case_insensitive(store: Store) -> None:
    await _building_with_invite(store, uses=5)
    alice = await _register(store, "Alice")
    assert await store.get_user_by_username("alice") == alice
    assert await store.get_user_by_username("ALICE") == alice
    assert await store.get_user_by_username("alic") is None
    with pytest.raises(UsernameTaken):
        await _register(store, "aLiCe", unit="99Z")
    with pytest.raises(UsernameTaken):
        await store.create_user(
            username="ALICE",
            display_name="x",
            password_hash="h",
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=NOW,
        )
    # The failed registration used up nothing and created no unit.
    invite = await store.get_invite("INV1")
    assert invite is not None and invite.uses_left == 4
    assert [u.label for u in await store.list_units(alice.building_id or 0)] == ["12A"]
    # Unicode case folding, the same in both dialects.
    await _register(store, "Straße")
    assert (await store.get_user_by_username("STRASSE")) is not None


async def test_invite_used_up(store: Store) -> None:
    building = await _building_with_invite(store, uses=1)
    await _register(store, "alice", unit="1A")
    with pytest.raises(InviteInvalid):
        await _register(store, "bob", unit="2B")
    assert await store.get_user_by_username("bob") is None
    assert [u.label for u in await store.list_units(building.id)] == ["1A"]
    invite = await store.get_invite("INV1")
    assert invite is not None and invite.uses_left == 0


async def test_invite_expired_or_unknown(store: Store) -> None:
    building = await _building_with_invite(store, uses=5, expires_at=NOW)
    with pytest.raises(InviteInvalid):  # expires_at == now: already expired
        await _register(store, "alice")
    with pytest.raises(InviteInvalid):
        await _register(store, "alice", code="NOPE")
    assert await store.get_user_by_username("alice") is None
    assert await store.list_units(building.id) == []
    invite = await store.get_invite("INV1")
    assert invite is not None and invite.uses_left == 5


async def test_concurrent_registrations_on_last_use(store: Store) -> None:
    building = await _building_with_invite(store, uses=1)
    results = await asyncio.gather(
        _register(store, "alice", unit="1A"),
        _register(store, "bob", unit="2B"),
        return_exceptions=True,
    )
    users = [r for r in results if isinstance(r, User)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(users) == 1
    assert len(errors) == 1 and isinstance(errors[0], InviteInvalid)
    assert [u.label for u in await store.list_units(building.id)] == (
        ["1A"] if users[0].username == "alice" else ["2B"]
    )
    invite = await store.get_invite("INV1")
    assert invite is not None and invite.uses_left == 0


async def test_concurrent_registrations_create_one_unit(store: Store) -> None:
    building = await _building_with_invite(store, uses=10)
    users = await asyncio.gather(*(_register(store, f"user{i}", unit="Flat 3") for i in range(6)))
    assert len({u.unit_id for u in users}) == 1
    assert len(await store.list_units(building.id)) == 1
    invite = await store.get_invite("INV1")
    assert invite is not None and invite.uses_left == 4


async def test_create_user(store: Store) -> None:
    admin = await _admin(store)
    assert admin.role is Role.ADMIN
    assert admin.building_id is None and admin.unit_id is None
    building = await store.create_building("B", now=NOW)
    organiser = await store.create_user(
        username="org",
        display_name="Org",
        password_hash="h2",
        role=Role.ORGANISER,
        building_id=building.id,
        unit_label=" 5 b ",
        now=NOW + 5,
    )
    assert organiser == User(
        id=organiser.id,
        username="org",
        display_name="Org",
        role=Role.ORGANISER,
        building_id=building.id,
        unit_id=organiser.unit_id,
        created_at=NOW + 5,
    )
    assert [u.label for u in await store.list_units(building.id)] == ["5 b"]
    with pytest.raises(NotFound):
        await store.create_user(
            username="ghost",
            display_name="G",
            password_hash="h",
            role=Role.RESIDENT,
            building_id=building.id + 99,
            unit_label="1",
            now=NOW,
        )
    assert await store.get_user_by_username("ghost") is None


async def test_passwords_and_roles(store: Store) -> None:
    user = await _admin(store)
    await store.set_password_hash(user.id, "new")
    assert await store.get_password_hash(user.id) == "new"
    await store.set_role(user.id, Role.MODERATOR)
    fetched = await store.get_user(user.id)
    assert fetched is not None and fetched.role is Role.MODERATOR
    with pytest.raises(NotFound):
        await store.set_role(user.id + 1000, Role.ADMIN)


# -- sessions -----------------------------------------------------------------------------------


async def test_sessions(store: Store) -> None:
    user = await _admin(store)
    other = await _admin(store, "other")
    await store.create_session("t1", user.id, expires_at=NOW + 100, now=NOW)
    await store.create_session("t2", user.id, expires_at=NOW + 100, now=NOW)
    await store.create_session("t3", other.id, expires_at=NOW + 100, now=NOW)
    assert await store.get_session_user("t1", now=NOW + 99) == user
    assert await store.get_session_user("t1", now=NOW + 100) is None  # expired at expires_at
    assert await store.get_session_user("nope", now=NOW) is None
    await store.delete_session("t1")
    assert await store.get_session_user("t1", now=NOW) is None
    assert await store.get_session_user("t2", now=NOW) == user
    await store.delete_user_sessions(user.id)
    assert await store.get_session_user("t2", now=NOW) is None
    assert await store.get_session_user("t3", now=NOW) == other
    with pytest.raises(NotFound):
        await store.create_session("t4", other.id + 1000, expires_at=NOW + 100, now=NOW)


# -- login throttling ---------------------------------------------------------------------------


async def test_login_failures_window(store: Store) -> None:
    w = 1000
    assert await store.login_failures("user:a", now=NOW, window_ms=w) == 0
    assert await store.record_login_failure("user:a", now=NOW, window_ms=w) == 1
    assert await store.record_login_failure("user:a", now=NOW, window_ms=w) == 2  # same ms
    assert await store.record_login_failure("user:a", now=NOW + 500, window_ms=w) == 3
    assert await store.record_login_failure("ip:1.2.3.4", now=NOW + 500, window_ms=w) == 1
    assert await store.login_failures("user:a", now=NOW + 999, window_ms=w) == 3
    # NOW is out of the window (NOW + 1000 - 1000, NOW + 1000]
    assert await store.login_failures("user:a", now=NOW + 1000, window_ms=w) == 1
    assert await store.record_login_failure("user:a", now=NOW + 1200, window_ms=w) == 2
    assert await store.login_failures("user:a", now=NOW + 1600, window_ms=w) == 1
    await store.clear_login_failures("user:a")
    assert await store.login_failures("user:a", now=NOW + 1200, window_ms=w) == 0
    assert await store.login_failures("ip:1.2.3.4", now=NOW + 500, window_ms=w) == 1


async def test_reserving_login_attempts_is_atomic_across_processes(
    store: Store, db_url: str
) -> None:
    """Parallel reservations from two stores (two processes' pools): exactly the free ones pass,
    the rest learn how long to wait; a released reservation is no failure."""
    other = await open_store(db_url)
    try:
        free, w = 5, 900_000

        def wait_ms(key: str, n: int) -> int:
            return 0 if n < free else 1000

        keys = ["user:ann", "ip:10.0.0.1"]
        results = await asyncio.gather(
            *(
                (store if i % 2 else other).reserve_login_attempt(
                    keys, now=NOW, window_ms=w, wait_ms=wait_ms
                )
                for i in range(50)
            )
        )
        assert sorted(results) == [(0, "")] * free + [(1000, "user:ann")] * (50 - free)
        assert await store.login_failures("user:ann", now=NOW, window_ms=w) == free
        assert await store.login_failure_counts(now=NOW, window_ms=w) == {
            "user:ann": free,
            "ip:10.0.0.1": free,
        }
        # The wait runs from the latest failure; after it one more attempt is reserved.
        assert await store.reserve_login_attempt(
            keys, now=NOW + 400, window_ms=w, wait_ms=wait_ms
        ) == (600, "user:ann")
        assert await store.reserve_login_attempt(
            keys, now=NOW + 1000, window_ms=w, wait_ms=wait_ms
        ) == (0, "")
        await store.release_login_attempt(keys, at=NOW + 1000)
        assert await store.login_failures("ip:10.0.0.1", now=NOW + 1000, window_ms=w) == free
        # Failures that left the window count no more.
        assert await store.reserve_login_attempt(
            keys, now=NOW + w + 1, window_ms=w, wait_ms=wait_ms
        ) == (0, "")
        assert await store.login_failures("user:ann", now=NOW + w + 1, window_ms=w) == 1
    finally:
        await other.close()


async def test_a_reservation_counts_failures_recorded_after_its_clock_reading(store: Store) -> None:
    """Two requests read the clock, then queue for the key: the one that read it first may be
    served second, and must still count the other's failure (design 0024's race: 8 of 50
    parallel guesses were checked against a bound of 7)."""
    w = 900_000

    def wait_ms(key: str, n: int) -> int:
        return 0 if n < 1 else 1000

    keys = ["user:bob"]
    assert await store.reserve_login_attempt(keys, now=NOW + 10, window_ms=w, wait_ms=wait_ms) == (
        0,
        "",
    )
    wait, slowest = await store.reserve_login_attempt(keys, now=NOW, window_ms=w, wait_ms=wait_ms)
    assert (wait, slowest) == (1010, "user:bob")


async def test_releasing_one_reservation_keeps_another_of_the_same_millisecond(
    store: Store,
) -> None:
    w = 900_000

    def wait_ms(key: str, n: int) -> int:
        return 0

    keys = ["user:cy"]
    for _ in range(2):
        assert await store.reserve_login_attempt(keys, now=NOW, window_ms=w, wait_ms=wait_ms) == (
            0,
            "",
        )
    await store.release_login_attempt(keys, at=NOW)  # the right password, the other stays wrong
    assert await store.login_failures("user:cy", now=NOW, window_ms=w) == 1


async def test_instance_secret_is_made_once(store: Store) -> None:
    first = await store.instance_secret("device-cookie-key", "one", now=NOW)
    assert first == "one"
    assert await store.instance_secret("device-cookie-key", "two", now=NOW) == "one"


# -- interest groups ----------------------------------------------------------------------------


async def test_groups(store: Store) -> None:
    alice = await _admin(store, "alice")
    bob = await _admin(store, "bob")
    garden = await store.create_group(
        "gardening", "Gardening", "Plants", created_by=alice.id, now=NOW
    )
    assert garden == Group(
        slug="gardening",
        name="Gardening",
        description="Plants",
        created_by=alice.id,
        created_at=NOW,
        member_count=1,
    )
    assert await store.get_group("gardening") == garden
    assert await store.get_group("nope") is None
    assert await store.is_member(alice.id, "gardening")
    assert not await store.is_member(bob.id, "gardening")

    with pytest.raises(GroupSlugTaken):
        await store.create_group("gardening", "Other", "", created_by=bob.id, now=NOW)
    assert await store.user_groups(bob.id) == []  # the failed creation joined nobody

    chess = await store.create_group("chess", "chess club", "", created_by=bob.id, now=NOW + 1)
    books = await store.create_group("books", "Books", "", created_by=bob.id, now=NOW + 2)
    await store.join_group(bob.id, "gardening", now=NOW + 3)
    await store.join_group(bob.id, "gardening", now=NOW + 4)  # idempotent
    g = await store.get_group("gardening")
    assert g is not None and g.member_count == 2
    assert await store.user_groups(bob.id) == ["books", "chess", "gardening"]
    assert await store.user_groups(alice.id) == ["gardening"]
    assert [gr.slug for gr in await store.list_groups()] == ["books", "chess", "gardening"]
    assert [gr.member_count for gr in await store.list_groups()] == [1, 1, 2]
    assert chess.member_count == books.member_count == 1

    await store.leave_group(bob.id, "gardening")
    await store.leave_group(bob.id, "gardening")  # idempotent
    assert not await store.is_member(bob.id, "gardening")
    g = await store.get_group("gardening")
    assert g is not None and g.member_count == 1

    with pytest.raises(NotFound):
        await store.join_group(bob.id, "nope", now=NOW)
    assert await store.user_groups(bob.id) == ["books", "chess"]


async def test_create_group_unknown_creator(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.create_group("g", "G", "", created_by=12345, now=NOW)
    assert await store.get_group("g") is None
    assert await store.list_groups() == []


# -- message history ----------------------------------------------------------------------------


async def test_insert_and_history(store: Store) -> None:
    assert await store.max_offset("building:1") == 0
    assert await store.history("building:1") == []
    batch = [_msg(i) for i in range(1, 11)]
    assert await store.insert_messages(batch) == 10
    assert await store.insert_messages([_msg(1, channel="group:x")]) == 1
    assert await store.insert_messages([]) == 0
    assert await store.count_messages("building:1") == 10
    assert await store.count_messages("group:x") == 1
    assert await store.count_messages("nope") == 0
    assert await store.max_offset("building:1") == 10
    assert await store.max_offset("group:x") == 1

    assert await store.history("building:1") == batch
    assert await store.history("building:1", limit=3) == batch[:3]
    assert await store.history("building:1", after=4, limit=3) == batch[4:7]
    assert await store.history("building:1", after=4, before=7) == batch[4:6]
    assert await store.history("building:1", before=4) == batch[:3]
    assert await store.history("building:1", newest=True, limit=3) == batch[7:]
    assert await store.history("building:1", before=6, newest=True, limit=2) == batch[3:5]
    assert await store.history("building:1", after=2, before=6, newest=True) == batch[2:5]
    assert await store.history("building:1", after=10) == []
    assert await store.history("building:1", limit=0) == []
    assert await store.history("group:x") == [_msg(1, channel="group:x")]


async def test_message_fields_round_trip(store: Store) -> None:
    odd = _msg(1, data=bytes(range(256)) + b"\x00", author_id=None)
    assert await store.insert_messages([odd]) == 1
    assert await store.history("building:1") == [odd]


async def test_insert_is_idempotent(store: Store) -> None:
    batch = [_msg(i) for i in range(1, 6)]
    assert await store.insert_messages(batch) == 5
    assert await store.insert_messages(batch) == 0
    changed = [_msg(i, data=b"changed") for i in range(1, 6)]  # same epoch: no change
    assert await store.insert_messages(changed) == 0
    assert await store.history("building:1") == batch
    # partly new
    assert await store.insert_messages([_msg(5), _msg(6), _msg(7)]) == 2
    assert await store.count_messages("building:1") == 7


async def test_newer_epoch_replaces_older_does_not(store: Store) -> None:
    assert await store.insert_messages([_msg(i, epoch=100) for i in range(1, 4)]) == 3
    assert await store.insert_messages([_msg(2, epoch=50), _msg(3, epoch=100)]) == 0
    assert await store.insert_messages([_msg(2, epoch=200), _msg(4, epoch=200)]) == 2
    assert await store.history("building:1") == [
        _msg(1, epoch=100),
        _msg(2, epoch=200),
        _msg(3, epoch=100),
        _msg(4, epoch=200),
    ]
    assert await store.insert_messages([_msg(2, epoch=100)]) == 0
    assert (await store.history("building:1", after=1, limit=1)) == [_msg(2, epoch=200)]


def _chat(offset: int, cmid: str, *, epoch: int = 1, author_id: int = 7) -> StoredMessage:
    return replace(_msg(offset, epoch=epoch, author_id=author_id), client_msg_id=cmid)


async def test_a_chat_message_is_stored_once_across_epochs(store: Store) -> None:
    """Design 0033: the gateway re-submits a message Redis lost into a new epoch; a late write
    of the lost copy, before or after, must not double it. The newer epoch's copy wins."""
    # The re-submitted copy (epoch 2, offset 4) first, then the late first copy (epoch 1, 6).
    assert await store.insert_messages([_chat(4, "a", epoch=2)]) == 1
    assert await store.insert_messages([_chat(6, "a", epoch=1)]) == 0
    assert await store.history("building:1") == [_chat(4, "a", epoch=2)]
    # The late copy first, then the re-submitted one: the older row goes.
    assert await store.insert_messages([_chat(7, "b", epoch=1)]) == 1
    assert await store.insert_messages([_chat(5, "b", epoch=2)]) == 1
    assert await store.history("building:1") == [_chat(4, "a", epoch=2), _chat(5, "b", epoch=2)]
    # Both copies in one batch; a retried batch changes nothing.
    batch = [_chat(9, "c", epoch=1), _chat(6, "c", epoch=2)]
    assert await store.insert_messages(batch) == 1
    assert await store.insert_messages(batch) == 0
    assert [(m.offset, m.client_msg_id) for m in await store.history("building:1")] == [
        (4, "a"),
        (5, "b"),
        (6, "c"),
    ]
    # The same client_msg_id from another author, or in another channel, is another message;
    # rows without one (edits, events) are never merged.
    assert await store.insert_messages([_chat(7, "a", epoch=2, author_id=8)]) == 1
    assert await store.insert_messages([_msg(8, epoch=2), _msg(10, epoch=2)]) == 2
    assert await store.count_messages("building:1") == 6
    assert await store.stored_ids("building:1", 4, 9) == {
        4: (2, "a"),
        5: (2, "b"),
        6: (2, "c"),
        7: (2, "a"),
        8: (2, None),
    }
    assert await store.stored_ids("building:1", 11, 20) == {}


async def test_duplicates_within_a_batch(store: Store) -> None:
    batch = [_msg(1, epoch=1), _msg(1, epoch=3), _msg(1, epoch=2), _msg(2), _msg(2)]
    assert await store.insert_messages(batch) == 2
    assert await store.history("building:1") == [_msg(1, epoch=3), _msg(2)]


async def test_failed_batch_writes_nothing(store: Store) -> None:
    await store.insert_messages([_msg(1)])
    # Offsets start at 1: a row with offset 0 violates the table's check, so the whole batch,
    # including the replacement of row 1 and the new rows before the bad one, is rolled back.
    bad = [_msg(1, epoch=9), _msg(2), _msg(3), _msg(0)]
    with pytest.raises(IntegrityViolation):
        await store.insert_messages(bad)
    assert await store.history("building:1") == [_msg(1)]
    assert await store.count_messages("building:1") == 1


async def test_large_batch(store: Store) -> None:
    batch = [_msg(i, data=b"x" * 150) for i in range(1, 2001)]
    assert await store.insert_messages(batch) == 2000
    assert await store.max_offset("building:1") == 2000
    assert await store.history("building:1", newest=True, limit=1) == [batch[-1]]
