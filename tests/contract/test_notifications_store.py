"""The NotificationStore contract (``persistence/notifications/__init__.py``), against SQLite and
PostgreSQL (a fresh file or schema each). Expected figures are worked out in the test from the
data it wrote, never read back from the store under test."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import pytest

from linli.types import Role
from persistence.db import Database, IntegrityViolation, UniqueViolation
from persistence.factory import open_database
from persistence.notifications import (
    DEFAULTS,
    Audience,
    Channel,
    DeliveryState,
    Digest,
    Kind,
    NewDelivery,
    NewNotification,
    PlannedDelivery,
    RoomMode,
    Settings,
)
from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Store

NOW = 1_700_000_000_000
LEASE = 30_000


@pytest.fixture
def db(core: Store) -> Database:
    return core.database


@pytest.fixture
def store(db: Database) -> SqlNotificationStore:
    return SqlNotificationStore(db)


@dataclass
class Hood:
    a: int
    b: int
    users: dict[str, int]
    units: dict[str, int | None]


async def _hood(core: Store) -> Hood:
    """Block A: ann and amy share unit 1A, ben 2A, cat 3A, dan 4A, eve 5A; Block B: bob 1B;
    mo a moderator and root an admin, of no building. Gardening: ann, bob, mo."""
    a = await core.create_building("Block A", now=NOW)
    b = await core.create_building("Block B", now=NOW)
    people = [
        ("ann", a.id, "1A", Role.RESIDENT),
        ("amy", a.id, "1A", Role.RESIDENT),
        ("ben", a.id, "2A", Role.RESIDENT),
        ("cat", a.id, "3A", Role.ORGANISER),
        ("dan", a.id, "4A", Role.RESIDENT),
        ("eve", a.id, "5A", Role.RESIDENT),
        ("bob", b.id, "1B", Role.RESIDENT),
        ("mo", None, None, Role.MODERATOR),
        ("root", None, None, Role.ADMIN),
    ]
    users: dict[str, int] = {}
    units: dict[str, int | None] = {}
    for name, building, unit, role in people:
        user = await core.create_user(
            username=name,
            display_name=name.title(),
            password_hash="h",
            role=role,
            building_id=building,
            unit_label=unit,
            now=NOW,
        )
        users[name], units[name] = user.id, user.unit_id
    await core.create_group("gardening", "Gardening", "", created_by=users["ann"], now=NOW)
    await core.join_group(users["bob"], "gardening", now=NOW)
    await core.join_group(users["mo"], "gardening", now=NOW)
    return Hood(a.id, b.id, users, units)


def _row(user_id: int, key: str, *, at: int = NOW, urgent: bool = False) -> NewNotification:
    return NewNotification(
        user_id=user_id,
        source_key=key,
        kind=Kind.URGENT if urgent else Kind.NOTICE,
        urgent=urgent,
        text_zh=f"停水通知 {key}",
        text_en=f"Water cut {key}",
        link="/notices/1",
        created_at=at,
    )


async def _count(db: Database, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))


# -- audience ---------------------------------------------------------------------------------


async def test_audience_is_the_union_once_each(core: Store, store: SqlNotificationStore) -> None:
    hood = await _hood(core)
    u = hood.users
    block_a = {u[n] for n in ("ann", "amy", "ben", "cat", "dan", "eve")}
    gardening = {u["ann"], u["bob"], u["mo"]}

    async def ids(audience: Audience) -> list[int]:
        found = [r.user_id for r in await store.audience(audience)]
        assert found == sorted(set(found)), "ascending, each once"
        return found

    assert await ids(Audience()) == []
    assert await ids(Audience(user_ids=(u["bob"], u["bob"], 999_999))) == [u["bob"]]
    assert set(await ids(Audience(buildings=(hood.a,)))) == block_a
    assert set(await ids(Audience(groups=("gardening", "no-such-group")))) == gardening
    assert set(await ids(Audience(roles=(Role.MODERATOR, Role.ADMIN)))) == {u["mo"], u["root"]}
    # Every way at once, overlapping: each user once.
    union = Audience(
        user_ids=(u["ann"], u["root"]),
        buildings=(hood.a, hood.a),
        groups=("gardening",),
        roles=(Role.ORGANISER,),
    )
    assert set(await ids(union)) == block_a | gardening | {u["root"]}
    assert set(await ids(Audience(everyone=True, buildings=(hood.b,)))) == set(u.values())
    # The records carry what figures and rules need.
    [ann] = await store.audience(Audience(user_ids=(u["ann"],)))
    assert (ann.role, ann.building_id, ann.unit_id) == (Role.RESIDENT, hood.a, hood.units["ann"])
    assert ann.display_name == "Ann"
    [mo] = await store.audience(Audience(user_ids=(u["mo"],)))
    assert (mo.role, mo.building_id, mo.unit_id) == (Role.MODERATOR, None, None)


async def test_audience_of_more_ids_than_one_chunk(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    """More than ``_CHUNK`` (500) ids: every one found, once."""
    building = await core.create_building("Tower", now=NOW)
    await db.executemany(
        "INSERT INTO users (username, username_lower, display_name, role, building_id, "
        "password_hash, created_at) VALUES ($1, $1, $1, 'resident', $2, 'h', $3)",
        [(f"u{i:04d}", building.id, NOW) for i in range(1_234)],
    )
    everyone = [r.user_id for r in await store.audience(Audience(buildings=(building.id,)))]
    assert len(everyone) == 1_234
    again = [r.user_id for r in await store.audience(Audience(user_ids=tuple(everyone * 2)))]
    assert again == everyone


# -- inbox ------------------------------------------------------------------------------------


async def test_insert_is_idempotent_and_returns_only_new_rows(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    first = await store.insert([_row(u["ann"], "notice:1"), _row(u["amy"], "notice:1")], now=NOW)
    assert [(n.user_id, n.source_key) for n in first] == [
        (u["ann"], "notice:1"),
        (u["amy"], "notice:1"),
    ]
    assert first[0].id != first[1].id
    assert first[0].text_zh == "停水通知 notice:1" and first[0].read_at is None
    # The batch again, with one new recipient and one new key for an old one: only those two.
    again = await store.insert(
        [
            _row(u["ann"], "notice:1"),
            _row(u["amy"], "notice:1"),
            _row(u["ben"], "notice:1"),
            _row(u["ann"], "notice:2", urgent=True),
        ],
        now=NOW,
    )
    assert [(n.user_id, n.source_key) for n in again] == [
        (u["ben"], "notice:1"),
        (u["ann"], "notice:2"),
    ]
    assert again[1].urgent is True and again[1].kind is Kind.URGENT
    assert await store.insert([_row(u["ann"], "notice:1")], now=NOW) == []
    assert await store.insert([], now=NOW) == []
    assert await _count(db, "notifications") == 4
    assert await store.recipients("notice:1") == sorted([u["ann"], u["amy"], u["ben"]])
    assert await store.recipients("notice:404") == []
    assert await store.get(first[0].id) == first[0]
    assert await store.get(999_999) is None


async def test_insert_writes_the_deliveries_of_new_rows_only(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    push = PlannedDelivery(Channel.PUSH, "push:1", NOW + 60_000)
    mail = PlannedDelivery(Channel.EMAIL, "email:ann@example.org", NOW)
    [ann] = await store.insert(
        [dataclasses.replace(_row(u["ann"], "k"), deliveries=(push, mail))], now=NOW
    )
    rows = await db.fetch(
        "SELECT notification_id, channel, target, state, due_at, attempts, updated_at "
        "FROM notify_deliveries ORDER BY id"
    )
    columns = ("notification_id", "channel", "target", "state", "due_at", "attempts", "updated_at")
    assert [tuple(r[c] for c in columns) for r in rows] == [
        (ann.id, "push", "push:1", "pending", NOW + 60_000, 0, NOW),
        (ann.id, "email", "email:ann@example.org", "pending", NOW, 0, NOW),
    ]
    # Again, with Amy new and Ann's row existing: Amy's deliveries only, none added for Ann.
    again = await store.insert(
        [
            dataclasses.replace(_row(u["ann"], "k"), deliveries=(push, mail)),
            dataclasses.replace(_row(u["amy"], "k"), deliveries=(push,)),
            _row(u["ben"], "k"),
        ],
        now=NOW + 5,
    )
    amy = next(n for n in again if n.user_id == u["amy"])
    assert sorted(n.user_id for n in again) == sorted([u["amy"], u["ben"]])
    assert await _count(db, "notify_deliveries") == 3
    assert (
        await db.fetchval(
            "SELECT updated_at FROM notify_deliveries WHERE notification_id = $1", amy.id
        )
        == NOW + 5
    )
    # A row that must not ring is inserted read, and does not count as unread.
    [quiet] = await store.insert([dataclasses.replace(_row(u["bob"], "k"), read_at=NOW)], now=NOW)
    assert quiet.read_at == NOW
    assert await store.unread_counts([u["bob"]]) == {u["bob"]: 0}


async def test_insert_and_its_deliveries_are_one_transaction(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    """A delivery that cannot be written (here: its text breaks NOT NULL) takes the rows of
    the whole call with it, so a retry finds them new and writes both."""
    u = (await _hood(core)).users
    broken = PlannedDelivery(Channel.PUSH, None, NOW)  # type: ignore[arg-type]
    with pytest.raises(IntegrityViolation):
        await store.insert(
            [_row(u["ann"], "k"), dataclasses.replace(_row(u["amy"], "k"), deliveries=(broken,))],
            now=NOW,
        )
    assert await _count(db, "notifications") == 0
    assert await _count(db, "notify_deliveries") == 0


async def test_insert_of_a_big_batch_returns_every_new_row_once(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    building = await core.create_building("Tower", now=NOW)
    await db.executemany(
        "INSERT INTO users (username, username_lower, display_name, role, building_id, "
        "password_hash, created_at) VALUES ($1, $1, $1, 'resident', $2, 'h', $3)",
        [(f"u{i:04d}", building.id, NOW) for i in range(1_100)],
    )
    ids = [r.user_id for r in await store.audience(Audience(buildings=(building.id,)))]
    half = await store.insert([_row(user_id, "urgent:1") for user_id in ids[::2]], now=NOW)
    assert sorted(n.user_id for n in half) == ids[::2]
    rest = await store.insert([_row(user_id, "urgent:1") for user_id in ids], now=NOW)
    assert sorted(n.user_id for n in rest) == ids[1::2]
    assert len({n.id for n in half + rest}) == len(ids)
    assert await _count(db, "notifications") == len(ids)


async def test_inbox_is_newest_first_and_pages(core: Store, store: SqlNotificationStore) -> None:
    u = (await _hood(core)).users
    made = await store.insert([_row(u["ann"], f"n:{i}", at=NOW + i) for i in range(5)], now=NOW)
    await store.insert([_row(u["amy"], "n:0")], now=NOW)
    ids = [n.id for n in made]
    assert [n.id for n in await store.inbox(u["ann"])] == ids[::-1]
    assert [n.id for n in await store.inbox(u["ann"], limit=2)] == ids[:-3:-1]
    assert [n.id for n in await store.inbox(u["ann"], before_id=ids[3], limit=2)] == [
        ids[2],
        ids[1],
    ]
    assert await store.inbox(u["ann"], before_id=ids[0]) == []
    assert await store.inbox(u["bob"]) == []


async def test_unread_counts_are_exact_and_mark_read_some_or_all(
    core: Store, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    ann = await store.insert([_row(u["ann"], f"n:{i}", at=NOW + i) for i in range(4)], now=NOW)
    await store.insert([_row(u["amy"], "n:0")], now=NOW)
    everyone = [u["ann"], u["amy"], u["bob"]]
    assert await store.unread_counts(everyone) == {u["ann"]: 4, u["amy"]: 1, u["bob"]: 0}
    assert await store.unread_counts([]) == {}
    # Some: only the user's own, unread ones count as changed; another's id changes nothing.
    amy_id = (await store.inbox(u["amy"]))[0].id
    assert await store.mark_read(u["ann"], [ann[0].id, ann[1].id, amy_id], now=NOW + 10) == 2
    assert await store.mark_read(u["ann"], [ann[0].id], now=NOW + 11) == 0
    assert await store.mark_read(u["ann"], [], now=NOW + 11) == 0
    assert await store.unread_counts(everyone) == {u["ann"]: 2, u["amy"]: 1, u["bob"]: 0}
    read = await store.get(ann[0].id)
    assert read is not None and read.read_at == NOW + 10
    # Unread since a time, oldest first (the digest): the read ones are not in it.
    assert [n.id for n in await store.unread_since(u["ann"], NOW + 2)] == [ann[2].id, ann[3].id]
    assert [n.id for n in await store.unread_since(u["ann"], NOW + 3)] == [ann[3].id]
    # All: the rest of the user's, nobody else's; reading twice changes nothing.
    assert await store.mark_read(u["ann"], None, now=NOW + 20) == 2
    assert await store.mark_read(u["ann"], None, now=NOW + 21) == 0
    assert await store.unread_counts(everyone) == {u["ann"]: 0, u["amy"]: 1, u["bob"]: 0}
    assert all(n.read_at is not None for n in await store.inbox(u["ann"]))
    first = await store.get(ann[0].id)
    assert first is not None and first.read_at == NOW + 10  # kept its first read time


async def test_prune_deletes_old_notifications_and_their_deliveries(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    old, new = await store.insert(
        [_row(u["ann"], "old", at=NOW - 100), _row(u["ann"], "new", at=NOW)], now=NOW
    )
    await store.add_deliveries(
        [
            NewDelivery(old.id, Channel.PUSH, "push:1", NOW),
            NewDelivery(new.id, Channel.PUSH, "push:1", NOW),
        ],
        now=NOW,
    )
    assert await store.prune(before=NOW) == 1
    assert await store.get(old.id) is None and await store.get(new.id) is not None
    assert await db.fetchval("SELECT notification_id FROM notify_deliveries") == new.id
    assert await _count(db, "notify_deliveries") == 1
    assert await store.prune(before=NOW) == 0


# -- preferences and settings -----------------------------------------------------------------


async def test_prefs_are_sparse_with_defaults_filled_in(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    ann, amy = u["ann"], u["amy"]
    assert DEFAULTS[(Kind.NOTICE, Channel.PUSH)] is True
    assert DEFAULTS[(Kind.CHAT, Channel.EMAIL)] is False
    assert await store.prefs([ann, amy]) == {ann: dict(DEFAULTS), amy: dict(DEFAULTS)}
    await store.set_pref(ann, Kind.NOTICE, Channel.PUSH, False)
    await store.set_pref(ann, Kind.CHAT, Channel.EMAIL, True)
    await store.set_pref(ann, Kind.CHAT, Channel.EMAIL, True)  # again: still one row
    assert await _count(db, "notify_prefs") == 2
    prefs = await store.prefs([ann, amy])
    assert prefs[amy] == dict(DEFAULTS)
    assert prefs[ann] == {
        **DEFAULTS,
        (Kind.NOTICE, Channel.PUSH): False,
        (Kind.CHAT, Channel.EMAIL): True,
    }
    # Choosing the default again forgets the choice: the row goes.
    await store.set_pref(ann, Kind.NOTICE, Channel.PUSH, True)
    assert await _count(db, "notify_prefs") == 1
    await store.set_pref(ann, Kind.CHAT, Channel.EMAIL, False)
    assert await _count(db, "notify_prefs") == 0
    assert (await store.prefs([ann]))[ann] == dict(DEFAULTS)
    # A stored choice of a kind this version no longer has is ignored, not an error.
    await db.execute(
        "INSERT INTO notify_prefs (user_id, kind, channel, enabled) VALUES ($1, 'fax', 'push', 1)",
        ann,
    )
    assert (await store.prefs([ann]))[ann] == dict(DEFAULTS)


async def test_settings_upsert_keeps_the_unsubscribe_token(
    core: Store, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    ann, amy = u["ann"], u["amy"]
    assert await store.settings([ann, amy]) == {ann: Settings(), amy: Settings()}
    saved = await store.save_settings(
        ann,
        quiet_start=23 * 60,
        quiet_end=6 * 60,
        email="ann@example.org",
        digest=Digest.WEEKLY,
        unsubscribe_token="tok-1",
    )
    assert saved == Settings(23 * 60, 6 * 60, "ann@example.org", Digest.WEEKLY, "tok-1", None)
    again = await store.save_settings(
        ann,
        quiet_start=0,
        quiet_end=0,
        email=None,
        digest=Digest.OFF,
        unsubscribe_token="tok-2",
    )
    assert again == Settings(0, 0, None, Digest.OFF, "tok-1", None)
    assert (await store.settings([ann, amy])) == {ann: again, amy: Settings()}
    assert await store.by_unsubscribe_token("tok-1") == ann
    assert await store.by_unsubscribe_token("tok-2") is None
    await store.set_last_digest(ann, NOW)
    assert (await store.settings([ann]))[ann].last_digest_at == NOW
    # Another user's token must differ (links identify one user).
    with pytest.raises(UniqueViolation):
        await store.save_settings(
            amy,
            quiet_start=0,
            quiet_end=0,
            email=None,
            digest=Digest.OFF,
            unsubscribe_token="tok-1",
        )


async def test_digest_users_have_an_address_and_that_digest(
    core: Store, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    for name, email, digest in [
        ("ann", "ann@example.org", Digest.DAILY),
        ("amy", None, Digest.DAILY),
        ("ben", "ben@example.org", Digest.WEEKLY),
        ("bob", "bob@example.org", Digest.DAILY),
    ]:
        await store.save_settings(
            u[name],
            quiet_start=0,
            quiet_end=0,
            email=email,
            digest=digest,
            unsubscribe_token=f"t-{name}",
        )
    assert await store.digest_users(Digest.DAILY) == sorted([u["ann"], u["bob"]])
    assert await store.digest_users(Digest.WEEKLY) == [u["ben"]]
    assert await store.digest_users(Digest.OFF) == []


async def test_rooms_follow_mute_and_back_to_default(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    room, garden = "building:1", "group:gardening"
    await store.set_room(u["ann"], room, RoomMode.FOLLOW)
    await store.set_room(u["ann"], garden, RoomMode.MUTE)
    await store.set_room(u["amy"], room, RoomMode.MUTE)
    assert await store.rooms(u["ann"]) == {room: RoomMode.FOLLOW, garden: RoomMode.MUTE}
    assert await store.room_modes(room) == {u["ann"]: RoomMode.FOLLOW, u["amy"]: RoomMode.MUTE}
    await store.set_room(u["ann"], room, RoomMode.MUTE)  # a change, not a second row
    assert await store.room_modes(room) == {u["ann"]: RoomMode.MUTE, u["amy"]: RoomMode.MUTE}
    await store.set_room(u["ann"], room, None)
    await store.set_room(u["ann"], room, None)  # forgetting twice is fine
    assert await store.rooms(u["ann"]) == {garden: RoomMode.MUTE}
    assert await store.room_modes(room) == {u["amy"]: RoomMode.MUTE}
    assert await store.rooms(u["bob"]) == {} and await store.room_modes("group:none") == {}
    assert await _count(db, "notify_rooms") == 2
    await store.set_room(u["bob"], garden, RoomMode.FOLLOW)
    assert await store.room_modes_of([room, garden, "group:none", room]) == {
        room: {u["amy"]: RoomMode.MUTE},
        garden: {u["ann"]: RoomMode.MUTE, u["bob"]: RoomMode.FOLLOW},
        "group:none": {},
    }
    assert await store.room_modes_of([]) == {}
    assert await store.rooms_with_modes() == {room, garden}


# -- push subscriptions -----------------------------------------------------------------------


async def test_subscriptions_upsert_by_endpoint_and_move_to_the_new_user(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    ann, amy = u["ann"], u["amy"]
    phone = await store.add_subscription(ann, "https://push/1", "k1", "a1", "Phone", now=NOW)
    laptop = await store.add_subscription(ann, "https://push/2", "k2", "a2", "Laptop", now=NOW)
    assert (phone.user_id, phone.p256dh, phone.label, phone.last_ok_at) == (
        ann,
        "k1",
        "Phone",
        None,
    )
    # The same browser subscribing again (new keys): the same row, updated.
    renewed = await store.add_subscription(
        ann, "https://push/1", "k1b", "a1b", "Phone", now=NOW + 1
    )
    assert (renewed.id, renewed.p256dh, renewed.auth) == (phone.id, "k1b", "a1b")
    assert await store.subscriptions([ann, amy, u["bob"]]) == {ann: [renewed, laptop]}
    # Ann logs out, Amy logs in on that phone and subscribes: the device is Amy's now, a new
    # row, so what was queued for Ann's device (quiet hours) never reaches Amy's screen.
    [queued] = await store.insert([_row(ann, "notice:1")], now=NOW)
    await store.add_deliveries(
        [NewDelivery(queued.id, Channel.PUSH, f"push:{phone.id}", NOW + 60_000)], now=NOW
    )
    moved = await store.add_subscription(amy, "https://push/1", "k3", "a3", "Amy's", now=NOW + 2)
    assert moved.user_id == amy and moved.id != phone.id and moved.created_at == NOW + 2
    assert await store.subscriptions([ann, amy]) == {ann: [laptop], amy: [moved]}
    assert await store.get_subscription(phone.id) is None
    assert (
        await store.claim_deliveries(
            Channel.PUSH, now=NOW + 60_000, owner="w1", lease_ms=LEASE, limit=10
        )
        == []
    )
    state = await db.fetchval("SELECT state FROM notify_deliveries")
    assert state == DeliveryState.GONE
    assert await _count(db, "push_subscriptions") == 2
    # Removal: only the owner's when a user is given; anyone's (the sender's 410) when not.
    assert await store.remove_subscription(moved.id, user_id=ann) is False
    assert await store.remove_subscription(moved.id, user_id=amy) is True
    assert await store.remove_subscription(moved.id, user_id=amy) is False
    assert await store.remove_subscription(laptop.id, user_id=None) is True
    assert await store.subscriptions([ann, amy]) == {}


async def test_subscription_ok_records_the_last_success(
    core: Store, store: SqlNotificationStore
) -> None:
    ann = (await _hood(core)).users["ann"]
    sub = await store.add_subscription(ann, "https://push/1", "k", "a", "Phone", now=NOW)
    await store.subscription_ok(sub.id, now=NOW + 5)
    got = await store.get_subscription(sub.id)
    assert got is not None and got.last_ok_at == NOW + 5


# -- deliveries -------------------------------------------------------------------------------


async def test_deliveries_are_unique_per_notification_channel_and_target(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    n1, n2 = await store.insert([_row(u["ann"], "k"), _row(u["amy"], "k")], now=NOW)
    rows = [
        NewDelivery(n1.id, Channel.PUSH, "push:1", NOW),
        NewDelivery(n1.id, Channel.PUSH, "push:2", NOW),
        NewDelivery(n1.id, Channel.EMAIL, "email:ann@example.org", NOW),
        NewDelivery(n2.id, Channel.PUSH, "push:1", NOW),
    ]
    assert await store.add_deliveries(rows, now=NOW) == 4
    assert await store.add_deliveries(rows, now=NOW) == 0
    assert (
        await store.add_deliveries(
            [*rows, NewDelivery(n2.id, Channel.PUSH, "push:3", NOW)], now=NOW
        )
        == 1
    )
    assert await store.add_deliveries([], now=NOW) == 0
    assert await _count(db, "notify_deliveries") == 5


async def test_claim_takes_due_pending_of_the_channel_oldest_first(
    core: Store, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    [n] = await store.insert([_row(u["ann"], "k")], now=NOW)
    await store.add_deliveries(
        [
            NewDelivery(n.id, Channel.PUSH, "push:late", NOW + 500),
            NewDelivery(n.id, Channel.PUSH, "push:b", NOW + 10),
            NewDelivery(n.id, Channel.PUSH, "push:a", NOW + 10),
            NewDelivery(n.id, Channel.PUSH, "push:first", NOW),
            NewDelivery(n.id, Channel.EMAIL, "email:x@example.org", NOW),
        ],
        now=NOW,
    )
    assert await store.next_delivery_due() == NOW
    assert (
        await store.claim_deliveries(
            Channel.PUSH, now=NOW - 1, owner="w1", lease_ms=LEASE, limit=10
        )
        == []
    )
    claimed = await store.claim_deliveries(
        Channel.PUSH, now=NOW + 10, owner="w1", lease_ms=LEASE, limit=2
    )
    assert [d.target for d in claimed] == ["push:first", "push:b"]  # due, then id
    assert all(d.attempts == 1 and d.state is DeliveryState.PENDING for d in claimed)
    rest = await store.claim_deliveries(
        Channel.PUSH, now=NOW + 10, owner="w2", lease_ms=LEASE, limit=10
    )
    assert [d.target for d in rest] == ["push:a"]
    [mail] = await store.claim_deliveries(
        Channel.EMAIL, now=NOW + 10, owner="w2", lease_ms=LEASE, limit=10
    )
    assert mail.target == "email:x@example.org" and mail.channel is Channel.EMAIL
    # Everything due is claimed: the next a worker could take is the late one, not the leased.
    assert await store.next_delivery_due() == NOW + 500


async def test_finish_only_by_the_claim_owner_and_retries_at_their_time(
    core: Store, db: Database, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    [n] = await store.insert([_row(u["ann"], "k")], now=NOW)
    await store.add_deliveries([NewDelivery(n.id, Channel.PUSH, "push:1", NOW)], now=NOW)
    [d] = await store.claim_deliveries(Channel.PUSH, now=NOW, owner="w1", lease_ms=LEASE, limit=5)
    # Another worker can neither claim it during the lease nor finish it.
    assert (
        await store.claim_deliveries(
            Channel.PUSH, now=NOW + LEASE - 1, owner="w2", lease_ms=LEASE, limit=5
        )
        == []
    )
    assert not await store.finish_delivery(d.id, owner="w2", state=DeliveryState.SENT, now=NOW)
    # The owner asks for a retry in 5 s: pending, due then, its error recorded, lease free.
    assert await store.finish_delivery(
        d.id,
        owner="w1",
        state=DeliveryState.PENDING,
        now=NOW + 100,
        error="503 from the push service",
        retry_at=NOW + 5_000,
    )
    assert await store.next_delivery_due() == NOW + 5_000
    assert (
        await store.claim_deliveries(
            Channel.PUSH, now=NOW + 4_999, owner="w2", lease_ms=LEASE, limit=5
        )
        == []
    )
    [again] = await store.claim_deliveries(
        Channel.PUSH, now=NOW + 5_000, owner="w2", lease_ms=LEASE, limit=5
    )
    assert (again.id, again.attempts, again.due_at, again.last_error) == (
        d.id,
        2,
        NOW + 5_000,
        "503 from the push service",
    )
    # w1 is no longer the owner: its late outcome is refused.
    assert not await store.finish_delivery(d.id, owner="w1", state=DeliveryState.FAILED, now=NOW)
    # A lease that ran out is taken over by another worker, and only it may finish.
    [taken] = await store.claim_deliveries(
        Channel.PUSH, now=NOW + 5_000 + LEASE, owner="w3", lease_ms=LEASE, limit=5
    )
    assert taken.attempts == 3
    assert not await store.finish_delivery(d.id, owner="w2", state=DeliveryState.SENT, now=NOW)
    assert await store.finish_delivery(
        d.id, owner="w3", state=DeliveryState.SENT, now=NOW + 5_000 + LEASE
    )
    assert await store.next_delivery_due() is None
    row = await db.fetchrow(
        "SELECT state, claimed_by, claimed_until, attempts, due_at FROM notify_deliveries"
    )
    assert row is not None
    assert (row["state"], row["claimed_by"], row["claimed_until"]) == ("sent", None, None)
    assert (row["attempts"], row["due_at"]) == (3, NOW + 5_000)
    # Finished is final: nothing to claim, nothing to finish.
    assert not await store.finish_delivery(d.id, owner="w3", state=DeliveryState.FAILED, now=NOW)
    assert (
        await store.claim_deliveries(
            Channel.PUSH, now=NOW + 10**9, owner="w1", lease_ms=LEASE, limit=5
        )
        == []
    )


async def test_two_concurrent_claimers_never_get_the_same_delivery(
    core: Store, db: Database, db_url: str, store: SqlNotificationStore
) -> None:
    """Two connections (two processes' worth) claim small batches as fast as they can; every
    delivery goes to exactly one of them, and together they get all."""
    u = (await _hood(core)).users
    people = [u[name] for name in ("ann", "amy", "ben", "cat", "dan", "eve")]
    inserted = await store.insert([_row(p, f"k:{i}") for i in range(50) for p in people], now=NOW)
    rows = [
        # Few distinct due times, so that many rows tie and both claimers want the same ones.
        NewDelivery(n.id, Channel.PUSH, f"push:{n.id}", NOW + n.id % 5)
        for n in inserted
    ]
    assert await store.add_deliveries(rows, now=NOW) == 300
    second = await open_database(db_url)
    try:
        stores = [store, SqlNotificationStore(second)]

        async def claimer(owner: str, mine: SqlNotificationStore) -> list[int]:
            claimed: list[int] = []
            for _ in range(len(rows)):  # bounded: each round claims something or ends
                batch = await mine.claim_deliveries(
                    Channel.PUSH, now=NOW + 10, owner=owner, lease_ms=LEASE, limit=7
                )
                if not batch:
                    break
                claimed.extend(d.id for d in batch)
                # Let the other in: SQLite's busy handler must find the lock free now and then.
                await asyncio.sleep(0.005)
            return claimed

        first_ids, second_ids = await asyncio.wait_for(
            asyncio.gather(claimer("w1", stores[0]), claimer("w2", stores[1])), timeout=60
        )
    finally:
        await second.close()
    assert not set(first_ids) & set(second_ids)
    assert len(first_ids) == len(set(first_ids)) and len(second_ids) == len(set(second_ids))
    all_ids = [int(r["id"]) for r in await db.fetch("SELECT id FROM notify_deliveries")]
    assert sorted(first_ids + second_ids) == sorted(all_ids)
    assert first_ids and second_ids
    # Each is finished only by its claimer.
    assert await store.finish_delivery(second_ids[0], owner="w2", state=DeliveryState.SENT, now=NOW)
    assert not await store.finish_delivery(
        first_ids[0], owner="w2", state=DeliveryState.SENT, now=NOW
    )


# -- reach ------------------------------------------------------------------------------------


async def test_reach_counts_households_once(core: Store, store: SqlNotificationStore) -> None:
    hood = await _hood(core)
    u, units = hood.users, hood.units
    # Who got the notice and what became of each delivery: ann and amy share a unit (one by
    # push, the other by e-mail); ben's push failed and his e-mail waits; cat has two devices,
    # one gone, one reached; dan has no device; mo (staff, no unit) was pushed; eve is not a
    # recipient of this notice but of another one, which must not count.
    plan: dict[str, list[tuple[Channel, str, DeliveryState]]] = {
        "ann": [(Channel.PUSH, "push:1", DeliveryState.SENT)],
        "amy": [(Channel.EMAIL, "email:amy@example.org", DeliveryState.SENT)],
        "ben": [
            (Channel.PUSH, "push:2", DeliveryState.FAILED),
            (Channel.EMAIL, "email:ben@example.org", DeliveryState.PENDING),
        ],
        "cat": [
            (Channel.PUSH, "push:3", DeliveryState.GONE),
            (Channel.PUSH, "push:4", DeliveryState.SENT),
        ],
        "dan": [],
        "mo": [(Channel.PUSH, "push:5", DeliveryState.SENT)],
    }
    inserted = await store.insert([_row(u[name], "notice:1") for name in plan], now=NOW)
    [other] = await store.insert([_row(u["eve"], "notice:2")], now=NOW)
    by_user = {n.user_id: n.id for n in inserted}
    await store.add_deliveries(
        [
            NewDelivery(by_user[u[name]], channel, target, NOW)
            for name, deliveries in plan.items()
            for channel, target, _ in deliveries
        ]
        + [NewDelivery(other.id, Channel.PUSH, "push:6", NOW)],
        now=NOW,
    )
    wanted = {
        (by_user[u[name]], target): state
        for name, deliveries in plan.items()
        for _, target, state in deliveries
    }
    wanted[(other.id, "push:6")] = DeliveryState.SENT
    for channel in Channel:
        for d in await store.claim_deliveries(
            channel, now=NOW, owner="w", lease_ms=LEASE, limit=100
        ):
            state = wanted[(d.notification_id, d.target)]
            if state is not DeliveryState.PENDING:
                assert await store.finish_delivery(d.id, owner="w", state=state, now=NOW)

    # The expected figures, from the plan alone.
    unit_of = {name: units[name] for name in plan}
    households = {unit for unit in unit_of.values() if unit is not None}
    pushed = {
        unit_of[name]
        for name, deliveries in plan.items()
        for channel, _, state in deliveries
        if channel is Channel.PUSH and state is DeliveryState.SENT and unit_of[name] is not None
    }
    mailed = {
        unit_of[name]
        for name, deliveries in plan.items()
        for channel, _, state in deliveries
        if channel is Channel.EMAIL and state is DeliveryState.SENT and unit_of[name] is not None
    }
    tally: dict[str, int] = {}
    for deliveries in plan.values():
        for channel, _, state in deliveries:
            tally[f"{channel}:{state}"] = tally.get(f"{channel}:{state}", 0) + 1

    reach = await store.reach("notice:1")
    assert (reach.units, reach.by_push, reach.by_email, reach.neither) == (
        len(households),
        len(pushed),
        len(mailed),
        len(households - pushed - mailed),
    )
    assert reach.recipients == len(plan)
    assert reach.deliveries == tally
    # Worked by hand, so that the comprehension above cannot agree with a wrong store by
    # sharing its mistake: units 1A 2A 3A 4A; push 1A 3A; e-mail 1A; neither 2A 4A.
    assert (reach.units, reach.by_push, reach.by_email, reach.neither) == (4, 2, 1, 2)
    assert reach.recipients == 6
    assert reach.deliveries == {
        "push:sent": 3,
        "email:sent": 1,
        "push:failed": 1,
        "email:pending": 1,
        "push:gone": 1,
    }
    nobody = await store.reach("notice:404")
    assert (nobody.units, nobody.recipients, nobody.deliveries) == (0, 0, {})


async def test_reach_of_staff_only_counts_no_household(
    core: Store, store: SqlNotificationStore
) -> None:
    u = (await _hood(core)).users
    [n] = await store.insert([_row(u["mo"], "mod:1")], now=NOW)
    await store.add_deliveries([NewDelivery(n.id, Channel.PUSH, "push:9", NOW)], now=NOW)
    [d] = await store.claim_deliveries(Channel.PUSH, now=NOW, owner="w", lease_ms=LEASE, limit=1)
    await store.finish_delivery(d.id, owner="w", state=DeliveryState.SENT, now=NOW)
    reach = await store.reach("mod:1")
    assert (reach.units, reach.by_push, reach.by_email, reach.neither) == (0, 0, 0, 0)
    assert (reach.recipients, reach.deliveries) == (1, {"push:sent": 1})


# -- secrets ----------------------------------------------------------------------------------


async def test_secret_first_writer_wins(
    core: Store, db_url: str, store: SqlNotificationStore
) -> None:
    second = await open_database(db_url)
    try:
        values = await asyncio.gather(
            store.secret("vapid", "made-by-one", now=NOW),
            SqlNotificationStore(second).secret("vapid", "made-by-two", now=NOW),
        )
    finally:
        await second.close()
    assert values[0] == values[1] and values[0] in {"made-by-one", "made-by-two"}
    assert await store.secret("vapid", "made-later", now=NOW + 1) == values[0]
    assert await store.secret("other", "x", now=NOW) == "x"
