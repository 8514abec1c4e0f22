"""The forum's part of the demo neighbourhood: three categories (二手交換 swap, 社區建議 ideas,
失物認領 lost & found, plus a Block A one and a staff-only notices one), topics with replies,
a mention, reactions, an accepted answer, and chan part-way through reading one topic so the
unread markers show. Written straight into the store (the demo is seeded before the server
starts)."""

from __future__ import annotations

from linli import richtext
from linli.feature import Demo
from persistence.forum import CategoryDraft, WatchLevel, Who
from persistence.forum.sql import SqlForumStore
from web.forum.search import reindex

# (slug, 中文, English, scope ("all" or "building:0" = the first building), colour, start_by)
CATEGORIES = (
    ("swap", "二手交換", "Swap and give away", "all", "#2e7d32", Who.ANYONE),
    ("ideas", "社區建議", "Ideas for the neighbourhood", "all", "#0b5394", Who.ANYONE),
    ("lost-found", "失物認領", "Lost and found", "all", "#b45309", Who.ANYONE),
    ("block-a", "A座住戶", "Block A residents", "building:0", "#6a1b9a", Who.ANYONE),
    ("notices-talk", "公告討論", "Notices: questions", "all", "#37474f", Who.STAFF),
)
# (category slug, title, [(author, text), ...]) — the first post first.
TOPICS = (
    (
        "swap",
        "送出嬰兒車一架 Free pram",
        [
            ("chan", "九成新嬰兒車，有需要請留言。A pram in good condition, free to collect."),
            ("lee", "我孫女下個月出世，可以留給我嗎？ My granddaughter is due next month — may I?"),
            ("chan", "當然可以 @李伯 Mr Lee，星期六大堂交收。Of course, Saturday in the lobby."),
        ],
    ),
    (
        "ideas",
        "B座升降機好嘈 The lift in B is noisy",
        [
            ("wong", "B座升降機一個星期都好嘈，有冇人同感？ Noisy for a week — anyone else?"),
            ("lam", "我已通知管理處。I have told the management office."),
            ("ho", "維修公司星期四會來檢查。The lift company will inspect it on Thursday."),
            ("wong", "多謝！Thank you!"),
        ],
    ),
    (
        "lost-found",
        "拾到鎖匙一串 Found a bunch of keys",
        [
            ("lee", "今朝喺平台花園拾到鎖匙，已交管理處。Found keys in the podium garden."),
            ("chan", "係咪有個紅色匙扣？ Is there a red key ring?"),
        ],
    ),
    (
        "block-a",
        "A座天台花園開放時間 Rooftop garden hours",
        [("chan", "請問天台花園幾點開放？ What time does the rooftop garden open?")],
    ),
)


async def seed(demo: Demo) -> None:
    forum = SqlForumStore(demo.store.database)
    now = demo.now - 3 * 86_400_000
    categories = {}
    for position, (slug, zh, en, scope, colour, start_by) in enumerate(CATEGORIES):
        if scope.startswith("building:"):
            scope = f"building:{demo.buildings[int(scope.partition(':')[2])]}"
        categories[slug] = await forum.create_category(
            CategoryDraft(
                slug=slug,
                name_zh=zh,
                name_en=en,
                scope=scope,
                colour=colour,
                position=position,
                start_by=start_by,
            ),
            now=now,
        )
    topics = {}
    for t_index, (slug, title, posts) in enumerate(TOPICS):
        author, text = posts[0]
        now += 3_600_000
        topic, first = await forum.create_topic(
            categories[slug].id,
            title=title,
            author_id=demo.users[author].id,
            source=text,
            html=richtext.render(text),
            client_id=f"demo-{t_index}-0",
            now=now,
        )
        await forum.set_watch(demo.users[author].id, topic.id, WatchLevel.FOLLOW)
        post_ids = [first.post.id]
        for p_index, (who, reply) in enumerate(posts[1:], start=1):
            now += 600_000
            written = await forum.add_reply(
                topic.id,
                author_id=demo.users[who].id,
                source=reply,
                html=richtext.render(reply),
                client_id=f"demo-{t_index}-{p_index}",
                now=now,
            )
            post_ids.append(written.post.id)
        topics[slug] = (topic, post_ids)
    # Reactions, an accepted answer, and a pinned topic.
    swap_posts = topics["swap"][1]
    for who, emoji in (("lee", "🙏"), ("wong", "❤️"), ("lam", "👍")):
        await forum.react(swap_posts[0], demo.users[who].id, emoji, on=True, now=now)
    await forum.react(swap_posts[2], demo.users["lee"].id, "🙏", on=True, now=now)
    lift_topic, lift_posts = topics["ideas"]
    for who in ("chan", "lee", "lam"):
        await forum.react(lift_posts[0], demo.users[who].id, "👍", on=True, now=now)
    await forum.update_topic(lift_topic.id, solved_post_id=lift_posts[2], pinned=True)
    # chan read the lift topic up to the second post: two unread replies wait for her.
    await forum.mark_read(demo.users["chan"].id, lift_topic.id, 2, now=now)
    # Searchable from the start, as the other features' demo content is.
    await reindex(demo.store, demo.now)
