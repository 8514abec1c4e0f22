"""A demo neighbourhood: two buildings, a few residents with known passwords, two interest groups
and some history. Idempotent: seeding a database that has the demo already changes nothing.

Logins (all with the password ``linli-demo``): ``chan`` and ``lee`` live in Block A, ``wong`` in
Block B, ``mod`` is a moderator, ``admin`` the administrator.
"""

from __future__ import annotations

import time

import msgpack

from channels.names import building_channel, group_channel
from persistence.store import Role, Store, StoredMessage, User
from web.passwords import hash_password

DEMO_PASSWORD = "linli-demo"

BUILDINGS = ("A座 Block A", "B座 Block B")
# (username, display name, role, building index or None, unit)
PEOPLE = (
    ("chan", "陳太 Mrs Chan", Role.RESIDENT, 0, "12A"),
    ("lee", "李伯 Mr Lee", Role.RESIDENT, 0, "3C"),
    ("wong", "黃小姐 Ms Wong", Role.ORGANISER, 1, "8B"),
    ("mod", "管理處 Moderator", Role.MODERATOR, None, None),
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


async def seed_demo(store: Store) -> bool:
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
    return True
