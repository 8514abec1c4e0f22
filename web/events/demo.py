"""The events' part of the demo neighbourhood (``linli demo``): a 中秋烤肉 that is full with a
waitlist, a tai-chi class with free places, a training session (教學說明會, listed on the
welcome page and the handbook with its sign-up), and a past event with its attendance taken."""

from __future__ import annotations

import msgpack

from linli.feature import Demo
from linli.richtext import render
from persistence.events import Audience, Counting, EventDraft, Question, SessionDraft
from persistence.events.sql import HOUR_MS, SqlEventStore
from persistence.store import StoredMessage
from web.events.actions import new_code
from web.events.search import reindex

DAY_MS = 24 * HOUR_MS

BBQ_BODY = """中秋節平台花園烤肉，歡迎全家參加！**名額有限**，以戶為單位報名。

Mid-Autumn barbecue in the podium garden — bring the family! Places are **per household**.

- 食物及飲品由管委會提供 Food and drinks provided
- 請自備餐具 Bring your own plates and cutlery
"""

TAI_CHI_BODY = """每星期六早上的太極班，適合初學者。

A Saturday-morning tai chi class for beginners.
"""

TRAINING_BODY = """管理處職員一步一步教您用「鄰里」：登入、聊天室、公告、報修。請帶手機來。

Management-office staff show you Linli step by step (logging in, chat, notices, repair
requests). Bring your phone.
"""

PAST_BODY = """大廈防火安全講座及示範。 A fire-safety talk and demonstration."""


async def seed_events(demo: Demo) -> None:
    store = SqlEventStore(demo.store.database)
    users, now = demo.users, demo.now
    organiser = users["wong"].id
    block_a, block_b = demo.buildings[0], demo.buildings[1]

    bbq_start = now + 10 * DAY_MS
    bbq = await store.create_event(
        EventDraft(
            title="中秋烤肉 Mid-Autumn BBQ",
            body=BBQ_BODY,
            body_html=render(BBQ_BODY),
            place="平台花園 Podium garden",
            audience=Audience(buildings=(block_a, block_b)),
            counting=Counting.HOUSEHOLD,
            max_seats=4,
            signup_opens=now - 2 * DAY_MS,
            signup_closes=bbq_start - DAY_MS,
            sessions=(SessionDraft("", bbq_start, bbq_start + 3 * HOUR_MS, 6),),
            questions=(Question("素食？ Vegetarian?", ("否 No", "是 Yes")),),
            cost_note="每位 $50 Each $50",
            confirm_hours=24,
            remind_hours=24,
            room=f"building:{block_a}",
        ),
        created_by=organiser,
        now=now - 2 * DAY_MS,
    )
    await _card(demo, bbq.id, bbq.draft.title, bbq.draft.place, f"building:{block_a}", organiser)
    session = bbq.sessions[0].id
    for i, (who, seats, veg) in enumerate(
        (("chan", 3, "否 No"), ("wong", 3, "是 Yes"), ("lee", 2, "否 No"), ("lam", 1, "否 No"))
    ):
        user = users[who]
        await store.sign_up(
            session,
            user_id=user.id,
            holder=f"unit:{user.unit_id}",
            seats=seats,
            answers=[veg],
            request_key=f"demo-bbq-{i}",
            code=new_code(),
            now=now - DAY_MS + i * 60_000,
        )

    class_start = now + 3 * DAY_MS
    tai_chi = await store.create_event(
        EventDraft(
            title="太極班 Tai chi class",
            body=TAI_CHI_BODY,
            body_html=render(TAI_CHI_BODY),
            place="公園涼亭 Park pavilion",
            audience=Audience(everyone=True),
            counting=Counting.PERSON,
            max_seats=1,
            signup_opens=now - DAY_MS,
            signup_closes=class_start + 7 * DAY_MS,
            sessions=(
                SessionDraft("第一堂 Week 1", class_start, class_start + HOUR_MS, 15),
                SessionDraft(
                    "第二堂 Week 2",
                    class_start + 7 * DAY_MS,
                    class_start + 7 * DAY_MS + HOUR_MS,
                    15,
                ),
            ),
            remind_hours=12,
            room="group:tai-chi",
        ),
        created_by=organiser,
        now=now - DAY_MS,
    )

    await _card(
        demo, tai_chi.id, tai_chi.draft.title, tai_chi.draft.place, "group:tai-chi", organiser
    )

    training_start = now + 5 * DAY_MS
    await store.create_event(
        EventDraft(
            title="「鄰里」教學說明會 Linli training session",
            body=TRAINING_BODY,
            body_html=render(TRAINING_BODY),
            place="管理處會議室 Management office meeting room",
            audience=Audience(everyone=True),
            counting=Counting.PERSON,
            max_seats=1,
            signup_opens=now - DAY_MS,
            signup_closes=training_start,
            sessions=(SessionDraft("", training_start, training_start + HOUR_MS, 12),),
            remind_hours=24,
            training=True,
        ),
        created_by=organiser,
        now=now - DAY_MS,
    )

    past_start = now - 7 * DAY_MS
    past = await store.create_event(
        EventDraft(
            title="防火講座 Fire-safety talk",
            body=PAST_BODY,
            body_html=render(PAST_BODY),
            place="會所 Clubhouse",
            audience=Audience(everyone=True),
            counting=Counting.PERSON,
            max_seats=2,
            signup_opens=past_start - 14 * DAY_MS,
            signup_closes=past_start - DAY_MS,
            sessions=(SessionDraft("", past_start, past_start + 2 * HOUR_MS, 30),),
            remind_hours=None,
        ),
        created_by=users["ho"].id,
        now=past_start - 14 * DAY_MS,
    )
    codes = {}
    for i, who in enumerate(("chan", "lee", "lam")):
        result = await store.sign_up(
            past.sessions[0].id,
            user_id=users[who].id,
            holder=f"user:{users[who].id}",
            seats=1,
            answers=[],
            request_key=f"demo-past-{i}",
            code=new_code(),
            now=past_start - 5 * DAY_MS,
        )
        codes[who] = result.signup.code
    for who in ("chan", "lam"):
        await store.check_in(past.id, codes[who], by=users["ho"].id, now=past_start + 600_000)
    await store.mark_no_shows(past.id)
    # Searchable from the start (seeded straight into the store, they passed no action).
    await reindex(demo.store, demo.now)


async def _card(demo: Demo, event_id: int, title: str, place: str, room: str, author: int) -> None:
    """The event's card in its room, as ``web.events.actions`` posts it, after the room's
    history."""
    user = next(u for u in demo.users.values() if u.id == author)
    offset = await demo.store.max_offset(room) + 1
    data = msgpack.packb(
        {
            "kind": "chat",
            "text": f"📅 {title}（{place}）/events/{event_id}",
            "author": {"id": author, "name": user.display_name},
            "ts": demo.now - 60_000,
            "cmid": f"event-{event_id}",
            "card": {"kind": "event", "id": event_id},
        }
    )
    await demo.store.insert_messages(
        [StoredMessage(room, offset, 1, data, author, demo.now - 60_000)]
    )
