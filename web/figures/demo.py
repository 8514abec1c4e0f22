"""The figures' part of the demo: three dozen more residents in the two blocks, registered over
the last five months, and their activity day by day, so that /figures shows real tables, the
chart and the cohorts rather than "< 5" everywhere. Written straight into the stores (the demo is
seeded before the server starts)."""

from __future__ import annotations

import random
import secrets

from linli.feature import Demo
from linli.periods import day_period, local_date
from linli.types import Role
from persistence.activity import ActivityEvent, ActivityKind
from persistence.activity.sql import SqlActivityStore
from web.passwords import hash_password

SURNAMES = "張王劉吳周徐孫馬朱胡郭高羅鄭梁謝宋唐許韓馮鄧曹彭曾蕭田董袁潘蔣蔡余杜葉程"
DAY_MS = 86_400_000
DAYS = 150


async def seed(demo: Demo) -> None:
    rng = random.Random(2026)
    store = demo.store
    # Nobody logs in as these neighbours: their password is a secret nobody keeps.
    password_hash = await hash_password(secrets.token_urlsafe(18))
    joined: dict[int, int] = {
        user.id: demo.now - DAYS * DAY_MS
        for user in demo.users.values()
        if user.role is Role.RESIDENT
    }
    for i, surname in enumerate(SURNAMES):
        at = demo.now - rng.randrange(1, DAYS) * DAY_MS
        user = await store.create_user(
            username=f"neighbour{i + 1:02d}",
            display_name=f"{surname}{'太' if i % 2 else '生'}",
            password_hash=password_hash,
            role=Role.RESIDENT,
            building_id=demo.buildings[i % len(demo.buildings)],
            unit_label=f"{rng.randint(2, 20)}{'ABCD'[rng.randrange(4)]}",
            now=at,
        )
        joined[user.id] = at
    zone = demo.zone
    events: list[ActivityEvent] = []
    for user_id, since in joined.items():
        keen = rng.random()  # some use it every day, some once in a while, some drift away
        fading = rng.random() < 0.3
        day = since
        while day < demo.now:
            age = (day - since) / DAY_MS
            chance = keen * (0.5 if fading and age > 45 else 1.0)
            if rng.random() < chance:
                at = day + rng.randrange(7 * 3_600_000, 22 * 3_600_000)
                for _ in range(rng.randint(1, 3)):
                    kind = ActivityKind.LOGIN if rng.random() < 0.1 else ActivityKind.VISIT
                    when = min(at, demo.now)
                    events.append(ActivityEvent(secrets.token_hex(8), user_id, kind, when))
                    at += rng.randrange(10 * 60_000, 90 * 60_000)
            day += DAY_MS
    activity = SqlActivityStore(store.database)
    await activity.record(events)
    days = {(e.user_id, local_date(e.at, zone)) for e in events}
    pairs = sorted(days)
    for start in range(0, len(pairs), 2000):
        await activity.roll_up_many(
            [(u, day_period(d, zone)) for u, d in pairs[start : start + 2000]]
        )
