"""The requests' part of the demo neighbourhood: two teams (repairs; the front desk for the
rest), the common areas, reply templates, and a dozen requests across statuses and categories
over the past months, so that the figures page shows something real: a lift repair resolved
and rated, a corridor light left unanswered and overdue, a private complaint, a merged
duplicate, a rejected request, a reopened one.

Written straight into the store with times in the past (the demo is seeded before the server
starts); the open ones get their overdue timers in the timers table.
"""

from __future__ import annotations

from gateway.requests.events import OVERDUE_TIMER
from linli.feature import Demo
from persistence.requests import DAY_MS, Category, NewRequest, Status
from persistence.requests.sql import SqlRequestStore
from persistence.timers.sql import SqlTimerStore
from web.requests.search import reindex

HOUR = 3_600_000
PLACES = ("電梯 Lift", "大廳 Lobby", "停車場 Car park", "走廊 Corridor", "垃圾房 Refuse room")
TEMPLATES = (
    (
        "已派師傅 Technician sent",
        "我們已安排師傅處理，預計兩個工作天內完成。\n"
        "We have sent a technician; it should be done within two working days.",
    ),
    (
        "需要更多資料 Need details",
        "請告訴我們確實位置和發生的時間，方便跟進。\n"
        "Please tell us exactly where and when it happens, so we can follow it up.",
    ),
    (
        "已完成 Done",
        "已經處理好了，如仍有問題請按「重新開啟」。\n"
        'It is fixed. If the problem comes back, press "Reopen".',
    ),
)


async def seed_requests(demo: Demo) -> None:
    store = SqlRequestStore(demo.store.database, zone=demo.zone)
    if await store.teams():
        return
    now, users = demo.now, demo.users
    a = demo.buildings[0]
    ho, admin = users["ho"].id, users["admin"].id
    repairs = await store.create_team("維修組 Repairs", now=now)
    desk = await store.create_team("服務台 Front desk", now=now)
    await store.set_team_members(repairs.id, [ho])
    await store.set_team_members(desk.id, [ho, admin])
    await store.route(Category.REPAIR, team_id=repairs.id)
    for category in (Category.QUESTION, Category.SUGGESTION, Category.COMPLAINT):
        await store.route(category, team_id=desk.id)
    await store.route(Category.FEEDBACK, team_id=desk.id)
    places = {
        name.split()[0]: await store.add_place(name, building_id=None, now=now - 90 * DAY_MS)
        for name in PLACES
    }
    for title, body in TEMPLATES:
        await store.add_template(title, body, now=now - 90 * DAY_MS)

    made: list[int] = []

    async def filed(
        who: str, days_ago: float, category: Category, text: str, **fields: object
    ) -> tuple[int, int]:
        user = users[who]
        at = now - int(days_ago * DAY_MS)
        new = NewRequest(
            category=category,
            text=text,
            author_id=user.id,
            building_id=user.building_id or a,
            **fields,  # type: ignore[arg-type]
        )
        made.append((await store.create_request(new, now=at)).id)
        return made[-1], at

    # A lift repair: answered in two hours, fixed in three days, rated 5, closed.
    lift, at = await filed(
        "chan",
        20,
        Category.REPAIR,
        "A座升降機按鈕失靈，按了沒有反應。\nThe lift button in Block A does not respond.",
        place_id=places["電梯"].id,
    )
    await store.change_status(
        lift, Status.IN_PROGRESS, actor_id=ho, now=at + 2 * HOUR, reply=TEMPLATES[0][1]
    )
    await store.change_status(
        lift,
        Status.RESOLVED,
        actor_id=ho,
        now=at + 3 * DAY_MS,
        reply="已更換按鈕。The button was replaced.",
    )
    await store.rate(
        lift,
        user_id=users["chan"].id,
        score=5,
        comment="好快，多謝！Quick, thanks!",
        now=at + 3 * DAY_MS + HOUR,
    )
    await store.change_status(lift, Status.CLOSED, actor_id=ho, now=at + 18 * DAY_MS)

    # The corridor light on 5F: nobody answered, past its first-response target: overdue.
    light, _ = await filed(
        "lee",
        3,
        Category.REPAIR,
        "五樓走廊燈壞了，晚上很黑。\nThe corridor light on 5F is out; it is dark at night.",
        floor="5",
        place_id=places["走廊"].id,
    )
    await store.mark_overdue(light, now=now)

    # A private complaint about noise: in progress, with an internal note.
    noise, at = await filed(
        "chan",
        2,
        Category.COMPLAINT,
        "樓上單位每晚十二點後仍有很大噪音。\n"
        "The flat above is very noisy after midnight every night.",
        private=True,
    )
    await store.change_status(
        noise,
        Status.IN_PROGRESS,
        actor_id=ho,
        now=at + 5 * HOUR,
        reply="我們會先與該單位溝通。\nWe will talk to them first.",
    )
    await store.add_note(
        noise, actor_id=ho, text="13B — 第二次投訴 second complaint", now=at + 5 * HOUR
    )

    # The lobby door, reported twice: the second merged into the first.
    door, at = await filed(
        "chan",
        1.5,
        Category.REPAIR,
        "大廳大門關不上。\nThe lobby door does not close.",
        place_id=places["大廳"].id,
    )
    await store.change_status(door, Status.IN_PROGRESS, actor_id=ho, now=at + 3 * HOUR)
    again, at2 = await filed(
        "lee", 1, Category.REPAIR, "大門壞了 The main door is broken", place_id=places["大廳"].id
    )
    await store.merge(again, door, actor_id=ho, now=at2 + HOUR)

    # Block B: a question answered and rated; a car-park light fixed weeks ago; a leak.
    fee, at = await filed(
        "wong",
        12,
        Category.QUESTION,
        "停車場月費今年會加嗎？\nWill the monthly car-park fee go up this year?",
    )
    await store.change_status(
        fee,
        Status.RESOLVED,
        actor_id=ho,
        now=at + 6 * HOUR,
        reply="今年不加價。No increase this year.",
    )
    await store.rate(fee, user_id=users["wong"].id, score=4, comment="", now=at + DAY_MS)
    park, at = await filed(
        "wong",
        45,
        Category.REPAIR,
        "停車場B2的燈一閃一閃。\nA light in car park B2 flickers.",
        place_id=places["停車場"].id,
    )
    await store.change_status(park, Status.IN_PROGRESS, actor_id=ho, now=at + 20 * HOUR)
    await store.change_status(park, Status.RESOLVED, actor_id=ho, now=at + 9 * DAY_MS)
    await store.rate(
        park, user_id=users["wong"].id, score=3, comment="慢了一點 A bit slow", now=at + 10 * DAY_MS
    )
    await store.change_status(park, Status.CLOSED, actor_id=ho, now=at + 24 * DAY_MS)
    leak, at = await filed(
        "lam", 70, Category.REPAIR, "五樓天花滲水。\nWater leaks from the 5F ceiling.", floor="5"
    )
    await store.add_reply(leak, actor_id=ho, text=TEMPLATES[0][1], staff=True, now=at + 3 * HOUR)
    await store.change_status(leak, Status.RESOLVED, actor_id=ho, now=at + 5 * DAY_MS)
    await store.rate(leak, user_id=users["lam"].id, score=5, comment="", now=at + 6 * DAY_MS)
    await store.change_status(leak, Status.CLOSED, actor_id=ho, now=at + 20 * DAY_MS)

    # A suggestion waiting for the resident; feedback just received; a rejected request.
    benches, at = await filed(
        "lam",
        6,
        Category.SUGGESTION,
        "大廳可以多放兩張長椅嗎？\nCould the lobby have two more benches?",
        place_id=places["大廳"].id,
    )
    await store.change_status(
        benches,
        Status.WAITING,
        actor_id=ho,
        now=at + DAY_MS,
        reply="您想放在哪一邊？Which side would you like them?",
    )
    await filed(
        "lee",
        0.2,
        Category.FEEDBACK,
        "鄰里的字可以再大一點嗎？\nCould Linli's text be a little larger?",
    )
    tree, at = await filed(
        "wong",
        30,
        Category.REPAIR,
        "門外的大樹擋住路燈。\nThe big tree outside blocks the street light.",
    )
    await store.change_status(
        tree,
        Status.REJECTED,
        actor_id=ho,
        now=at + DAY_MS,
        reason="屬市政府管轄，已轉介 1999。The city handles it; passed to 1999.",
    )

    # The refuse room: fixed, came back, reopened, in progress again.
    smell, at = await filed(
        "lee",
        9,
        Category.REPAIR,
        "垃圾房有很大異味。The refuse room smells.",
        place_id=places["垃圾房"].id,
    )
    await store.change_status(
        smell, Status.RESOLVED, actor_id=ho, now=at + DAY_MS, reply="已清洗。It was washed."
    )
    await store.reopen(
        smell,
        actor_id=users["lee"].id,
        text="又臭了 It smells again",
        window_ms=14 * DAY_MS,
        now=at + 4 * DAY_MS,
    )

    # A question resolved quickly and not rated (yet).
    tank, at = await filed(
        "chan", 4, Category.QUESTION, "水缸幾時清洗？When is the water tank cleaned?"
    )
    await store.change_status(
        tank,
        Status.RESOLVED,
        actor_id=ho,
        now=at + 4 * HOUR,
        reply="下星期二上午。Next Tuesday morning.",
    )

    timers = SqlTimerStore(demo.store.database)
    for request_id in made:
        request = await store.get_request(request_id)
        if request is None or not request.is_open:
            continue
        due = request.respond_by if request.first_response_at is None else request.resolve_by
        await timers.schedule(
            f"{OVERDUE_TIMER}:{request_id}",
            OVERDUE_TIMER,
            due + 1,
            {"request_id": request_id},
            now=now,
        )
    # Searchable from the start (seeded straight into the store, they passed no action).
    await reindex(demo.store, now)
