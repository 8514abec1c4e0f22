"""A demo neighbourhood: two buildings, a few residents with known passwords, two interest groups
and some history. Idempotent: seeding a database that has the demo already changes nothing.

Logins (all with the password ``linli-demo``): ``chan`` and ``lee`` live in Block A, ``wong`` in
Block B, ``lam`` (Block B) is on the management committee, ``ho`` works in the management office,
``mod`` is a moderator, ``admin`` the administrator. Each feature adds its own part
(``Feature.demo``). ``chan`` has notifications waiting
(an urgent water cut among them, some read already) and a few notification settings saved.
"""

from __future__ import annotations

import secrets
import time
from datetime import tzinfo
from zoneinfo import ZoneInfo

import msgpack

from channels.names import building_channel, group_channel
from linli.feature import Demo
from persistence.notifications import Channel, Digest, Kind, NewNotification, RoomMode
from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role, Store, StoredMessage, User
from web.passwords import hash_password

DEMO_PASSWORD = "linli-demo"

BUILDINGS = ("A座 Block A", "B座 Block B")
# (username, display name, role, building index or None, unit)
PEOPLE = (
    ("chan", "陳太 Mrs Chan", Role.RESIDENT, 0, "12A"),
    ("lee", "李伯 Mr Lee", Role.RESIDENT, 0, "3C"),
    ("wong", "黃小姐 Ms Wong", Role.ORGANISER, 1, "8B"),
    ("lam", "林主委 Ms Lam", Role.COMMITTEE, 1, "5A"),
    ("ho", "何先生 Mr Ho (管理處)", Role.MANAGEMENT, None, None),
    ("mod", "版主 Moderator", Role.MODERATOR, None, None),
    ("admin", "管理員 Admin", Role.ADMIN, None, None),
)
GROUPS = (
    ("gardening", "園藝 Gardening", "天台花園與種植心得 Rooftop garden and growing tips", "chan"),
    ("tai-chi", "太極 Tai Chi", "每朝公園晨運 Morning exercise in the park", "lee"),
)
# (channel key, author username, text)
HISTORY = (
    ("building:0", "chan", "大家好！今個星期六大廈大堂會清潔地毯。"),
    ("building:0", "lee", "多謝提醒，Thanks for the reminder!"),
    ("building:0", "chan", "升降機維修已完成 The lift repair is done."),
    ("group:gardening", "chan", "番茄苗已經出芽了 🌱 The tomato seedlings are up."),
    ("group:tai-chi", "lee", "明早七點公園見 See you at the park at 7 tomorrow."),
    ("building:1", "wong", "B座住客會議下星期三晚上八點 Residents' meeting next Wednesday 8 pm."),
)

MINUTE = 60_000
# chan's inbox, oldest first: (key, kind, urgent, minutes ago, read, link, text_zh, text_en).
# Links name a room as "building:0" or "group:<slug>", filled in with the real channel.
NOTIFICATIONS = (
    (
        "demo:repair-lift-button",
        Kind.REQUEST,
        False,
        6 * 24 * 60,
        True,
        "/",
        "你報修的升降機按鈕已經修好。",
        "The lift button you reported has been fixed.",
    ),
    (
        "demo:tai-chi-reminder",
        Kind.EVENT,
        False,
        3 * 24 * 60,
        True,
        "group:tai-chi",
        "提醒：太極班明早七時在公園開始。",
        "Reminder: Tai Chi starts at 7 tomorrow morning in the park.",
    ),
    (
        "demo:carpet-cleaning",
        Kind.NOTICE,
        False,
        26 * 60,
        True,
        "building:0",
        "通告：星期六上午大堂清潔地毯。",
        "Notice: the lobby carpet is cleaned on Saturday morning.",
    ),
    (
        "demo:mention-tomatoes",
        Kind.MENTION,
        False,
        5 * 60,
        False,
        "group:gardening",
        "李伯在「園藝」提及你：「@陳太 番茄苗要幾耐淋一次水？」",
        "Mr Lee mentioned you in Gardening: “@Mrs Chan how often should I water the seedlings?”",
    ),
    (
        "demo:poll-lobby-lights",
        Kind.POLL,
        False,
        2 * 60,
        False,
        "/polls",
        "新投票：大堂聖誕燈飾要不要加長展示時間？",
        "New poll: should the lobby's Christmas lights stay up longer?",
    ),
    (
        "demo:urgent-water-cut",
        Kind.NOTICE,
        True,
        25,
        False,
        "building:0",
        "緊急：明天上午九時至下午一時停水，請預先儲水。",
        "Urgent: the water is off tomorrow from 9 am to 1 pm. Please store some water.",
    ),
)


async def seed_demo(store: Store, *, zone: tzinfo | None = None) -> bool:
    """Create the demo neighbourhood unless it is there; True when it was created."""
    if await store.get_user_by_username("admin") is not None:
        return False
    now = int(time.time() * 1000)
    buildings = [await store.create_building(name, now=now) for name in BUILDINGS]
    password_hash = await hash_password(DEMO_PASSWORD)
    users: dict[str, User] = {}
    for username, name, role, building, unit in PEOPLE:
        users[username] = await store.create_user(
            username=username,
            display_name=name,
            password_hash=password_hash,
            role=role,
            building_id=buildings[building].id if building is not None else None,
            unit_label=unit,
            now=now,
        )
    for slug, name, description, creator in GROUPS:
        await store.create_group(slug, name, description, created_by=users[creator].id, now=now)
    await store.join_group(users["lee"].id, "gardening", now=now)
    await store.join_group(users["wong"].id, "gardening", now=now)
    rows: list[StoredMessage] = []
    offsets: dict[str, int] = {}
    for i, (key, author, text) in enumerate(HISTORY):
        kind, _, ref = key.partition(":")
        channel = (
            building_channel(buildings[int(ref)].id) if kind == "building" else group_channel(ref)
        )
        offsets[channel] = offsets.get(channel, 0) + 1
        ts = now - (len(HISTORY) - i) * 600_000
        user = users[author]
        data = msgpack.packb(
            {
                "kind": "chat",
                "text": text,
                "author": {"id": user.id, "name": user.display_name},
                "ts": ts,
                "cmid": f"demo-{i}",
            }
        )
        rows.append(StoredMessage(channel, offsets[channel], 1, data, user.id, ts))
    await store.insert_messages(rows)
    await _seed_notifications(store, users, [b.id for b in buildings], now)
    from linli.features import FEATURES  # the features' modules import this one's callers

    demo = Demo(
        store=store,
        users=users,
        buildings=[b.id for b in buildings],
        now=now,
        zone=zone or ZoneInfo("Asia/Taipei"),
    )
    for feature in FEATURES:
        if feature.demo is not None:
            await feature.demo(demo)
    return True


async def _seed_notifications(
    store: Store, users: dict[str, User], buildings: list[int], now: int
) -> None:
    """chan's inbox and settings, written to the notifications store as the notify worker
    would have: the demo is seeded before the server starts, and the embedded mode's work queue
    lives in the server's memory, so a ``notify`` request queued now would be lost."""
    notifications = SqlNotificationStore(store.database)
    chan = users["chan"].id

    def link(where: str) -> str:
        kind, _, ref = where.partition(":")
        if kind == "building":
            return f"/#{building_channel(buildings[int(ref)])}"
        return f"/#{group_channel(ref)}" if kind == "group" else where

    inserted = await notifications.insert(
        [
            NewNotification(
                user_id=chan,
                source_key=key,
                kind=kind,
                urgent=urgent,
                text_zh=text_zh,
                text_en=text_en,
                link=link(where),
                created_at=now - ago * MINUTE,
            )
            for key, kind, urgent, ago, _, where, text_zh, text_en in NOTIFICATIONS
        ],
        now=now,
    )
    read = {key for key, _kind, _urgent, _ago, was_read, *_ in NOTIFICATIONS if was_read}
    await notifications.mark_read(chan, [n.id for n in inserted if n.source_key in read], now=now)
    # Quiet hours a little later than the usual 22:00-07:00, a weekly digest (no address: the
    # demo sends no mail), surveys pushed too, and the gardening room followed.
    await notifications.save_settings(
        chan,
        quiet_start=22 * 60 + 30,
        quiet_end=7 * 60 + 30,
        email=None,
        digest=Digest.WEEKLY,
        unsubscribe_token=secrets.token_urlsafe(24),
    )
    await notifications.set_pref(chan, Kind.SURVEY, Channel.PUSH, True)
    await notifications.set_room(chan, group_channel("gardening"), RoomMode.FOLLOW)
