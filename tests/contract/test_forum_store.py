"""The forum store's contract on SQLite and PostgreSQL: dense post numbers under concurrent
replies, idempotent posts and reactions, edit history, closed topics, unread counts computed
independently from the rows, and who may be mentioned."""

from __future__ import annotations

import asyncio

import pytest

from persistence.forum import (
    CategoryDraft,
    CategoryExists,
    TopicClosed,
    WatchLevel,
    Who,
)
from persistence.forum.sql import SqlForumStore
from persistence.store import Role, Store
from tests.contract.test_store import NOW, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(60)


async def _people(store: Store) -> tuple[int, int, dict[str, int]]:  # noqa: F811
    a = await store.create_building("Block A", now=NOW)
    b = await store.create_building("Block B", now=NOW)
    ids = {}
    for name, building, role in (
        ("ann", a.id, Role.RESIDENT),
        ("amy", a.id, Role.RESIDENT),
        ("bob", b.id, Role.RESIDENT),
        ("mo", None, Role.MODERATOR),
    ):
        user = await store.create_user(
            username=name,
            display_name=name.title(),
            password_hash="h",
            role=role,
            building_id=building,
            unit_label="1A" if building else None,
            now=NOW,
        )
        ids[name] = user.id
    return a.id, b.id, ids


async def _topic(forum: SqlForumStore, author: int, scope: str = "all") -> tuple[int, int]:
    category = await forum.create_category(
        CategoryDraft(slug=f"c-{scope.replace(':', '-')}", name_zh="交換", name_en="Swap",
                      scope=scope),
        now=NOW,
    )  # fmt: skip
    topic, written = await forum.create_topic(
        category.id,
        title="Lift noise",
        author_id=author,
        source="**loud**",
        html="<p><strong>loud</strong></p>",
        client_id="t1",
        now=NOW,
    )
    assert written.created and written.post.number == 1
    return category.id, topic.id


async def test_categories(store: Store) -> None:  # noqa: F811
    forum = SqlForumStore(store.database)
    first = await forum.create_category(
        CategoryDraft(slug="swap", name_zh="二手交換", name_en="Swap", scope="all", position=2),
        now=NOW,
    )
    await forum.create_category(
        CategoryDraft(
            slug="news", name_zh="公告討論", name_en="Notices", scope="all", position=1,
            start_by=Who.STAFF,
        ),
        now=NOW,
    )  # fmt: skip
    with pytest.raises(CategoryExists):
        await forum.create_category(
            CategoryDraft(slug="swap", name_zh="x", name_en="x", scope="all"), now=NOW
        )
    assert [c.draft.slug for c in await forum.list_categories()] == ["news", "swap"]
    changed = await forum.update_category(
        first.id, CategoryDraft(slug="swap", name_zh="交換", name_en="Swap", scope="building:1")
    )
    assert changed.draft.scope == "building:1"
    assert (await forum.get_category(first.id)) == changed


async def test_concurrent_replies_get_dense_numbers_once(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    _, topic_id = await _topic(forum, ids["ann"])

    async def reply(i: int) -> int:
        written = await forum.add_reply(
            topic_id,
            author_id=ids["amy"] if i % 2 else ids["bob"],
            source=f"r{i}",
            html=f"<p>r{i}</p>",
            client_id=f"c{i}",
            now=NOW + i,
        )
        return written.post.number

    numbers = await asyncio.gather(*(reply(i) for i in range(30)))
    assert sorted(numbers) == list(range(2, 32))
    # A retry of each returns the same post, and makes no new one.
    again = await asyncio.gather(*(reply(i) for i in range(30)))
    assert again == numbers
    posts = await forum.posts(topic_id, first=1, last=100)
    assert [p.number for p in posts] == list(range(1, 32))
    topic = await forum.get_topic(topic_id)
    assert topic is not None and topic.last_number == 31


async def test_closed_topic_refuses_replies_but_staff(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    _, topic_id = await _topic(forum, ids["ann"])
    closed = await forum.update_topic(topic_id, closed=True)
    assert closed.closed and closed.version == 1
    with pytest.raises(TopicClosed):
        await forum.add_reply(
            topic_id, author_id=ids["amy"], source="x", html="x", client_id="x", now=NOW
        )
    topic = await forum.get_topic(topic_id)
    assert topic is not None and topic.last_number == 1  # nothing half done
    staff = await forum.add_reply(
        topic_id, author_id=ids["mo"], source="y", html="y", client_id="y", now=NOW, staff=True
    )
    assert staff.post.number == 2


async def test_edit_history_and_delete(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    _, topic_id = await _topic(forum, ids["ann"])
    [first] = await forum.posts(topic_id, first=1, last=1)
    one = await forum.edit_post(first.id, source="v2", html="<p>v2</p>", now=NOW + 5)
    two = await forum.edit_post(first.id, source="v3", html="<p>v3</p>", now=NOW + 9)
    assert (one.edits, two.edits, two.source, two.edited_at) == (1, 2, "v3", NOW + 9)
    history = await forum.post_history(first.id)
    assert [(r.revision, r.source, r.written_at) for r in history] == [
        (1, "**loud**", NOW),
        (2, "v2", NOW + 5),
    ]
    gone = await forum.delete_post(first.id, now=NOW + 20)
    assert gone.deleted and gone.source == "" and gone.html == ""
    again = await forum.delete_post(first.id, now=NOW + 30)
    assert again.edits == gone.edits  # deleting twice changes nothing
    assert [r.source for r in await forum.post_history(first.id)] == ["**loud**", "v2", "v3"]


async def test_reactions_idempotent(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    _, topic_id = await _topic(forum, ids["ann"])
    [post] = await forum.posts(topic_id, first=1, last=1)
    results = await asyncio.gather(
        *(forum.react(post.id, ids["amy"], "👍", on=True, now=NOW) for _ in range(5))
    )
    assert sum(changed for _, changed in results) == 1
    summary, changed = await forum.react(post.id, ids["bob"], "❤️", on=True, now=NOW + 1)
    assert changed and summary.version == 2
    assert [(r.emoji, r.name) for r in summary.items] == [("👍", "Amy"), ("❤️", "Bob")]
    summary, changed = await forum.react(post.id, ids["bob"], "❤️", on=False, now=NOW + 2)
    summary2, changed2 = await forum.react(post.id, ids["bob"], "❤️", on=False, now=NOW + 3)
    assert changed and not changed2 and summary2.version == summary.version == 3
    with pytest.raises(ValueError):
        await forum.react(post.id, ids["bob"], "💩", on=True, now=NOW)
    assert (await forum.reactions([post.id]))[post.id].items == summary.items


async def test_unread_counts_exact(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    category_id, topic_id = await _topic(forum, ids["ann"])
    for i in range(5):
        await forum.add_reply(
            topic_id, author_id=ids["amy"], source=f"{i}", html="x", client_id=f"u{i}", now=NOW
        )

    async def independent(user: int) -> int:
        # Counted here from the rows, without the store's query.
        read = await store.database.fetchval(
            "SELECT last_read FROM forum_reads WHERE user_id = $1 AND topic_id = $2",
            user,
            topic_id,
        )
        rows = await store.database.fetch(
            "SELECT number, author_id, deleted FROM forum_posts WHERE topic_id = $1", topic_id
        )
        return sum(1 for r in rows if r[0] > (read or 0) and r[1] != user and not r[2])

    # ann wrote post 1 (read up to it): amy's 5 replies are unread for her.
    assert await forum.unread_in_topic(ids["ann"], topic_id) == 5 == await independent(ids["ann"])
    # bob never opened it: all 6 posts of others.
    assert await forum.unread_in_topic(ids["bob"], topic_id) == 6 == await independent(ids["bob"])
    # Two devices report out of order: the furthest wins, never past the newest post.
    assert await forum.mark_read(ids["bob"], topic_id, 4, now=NOW) == 4
    assert await forum.mark_read(ids["bob"], topic_id, 2, now=NOW) == 4
    assert await forum.unread_in_topic(ids["bob"], topic_id) == 2 == await independent(ids["bob"])
    assert await forum.mark_read(ids["bob"], topic_id, 99, now=NOW) == 6
    assert await forum.unread_in_topic(ids["bob"], topic_id) == 0
    assert await forum.unread_in_category(ids["ann"], category_id) == {topic_id: 5}
    by_category = await forum.unread_by_category(ids["ann"])
    assert by_category[category_id].topics == 1 and by_category[category_id].posts == 5
    assert await forum.unread_by_category(ids["bob"]) == {}


async def test_watches_people_and_solved(store: Store) -> None:  # noqa: F811
    a, _b, ids = await _people(store)
    forum = SqlForumStore(store.database)
    _, topic_id = await _topic(forum, ids["ann"])
    await forum.set_watch(ids["bob"], topic_id, WatchLevel.FOLLOW)
    await forum.set_watch(ids["ann"], topic_id, WatchLevel.MUTE)
    await forum.set_watch(ids["ann"], topic_id, WatchLevel.FOLLOW)
    await forum.set_watch(ids["bob"], topic_id, None)
    assert await forum.watches(topic_id) == {ids["ann"]: WatchLevel.FOLLOW}
    in_a = {p.username for p in await forum.people(f"building:{a}")}
    assert in_a == {"ann", "amy", "mo"}
    assert {p.username for p in await forum.people("all")} == {"ann", "amy", "bob", "mo"}
    reply = await forum.add_reply(
        topic_id, author_id=ids["amy"], source="a", html="a", client_id="s", now=NOW
    )
    assert await forum.repliers(topic_id) == {ids["ann"], ids["amy"]}
    assert await forum.count_solved() == 0
    solved = await forum.update_topic(topic_id, solved_post_id=reply.post.id)
    assert solved.solved_post_id == reply.post.id and await forum.count_solved() == 1
    assert (await forum.update_topic(topic_id, unsolve=True)).solved_post_id is None


async def test_images_attach_once_to_the_uploaders_post(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    _, topic_id = await _topic(forum, ids["ann"])
    [post] = await forum.posts(topic_id, first=1, last=1)

    async def image(who: int, n: int) -> int:
        made = await forum.add_image(
            blob_id=f"{n:032x}", thumb_id=f"{n + 100:032x}", uploader_id=who,
            filename=f"p{n}.jpg", media_type="image/jpeg", width=640, height=480, now=NOW,
        )  # fmt: skip
        assert made.post_id is None
        return made.id

    mine = [await image(ids["ann"], 1), await image(ids["ann"], 2)]
    theirs = await image(ids["amy"], 3)
    assert await forum.attach_images(post.id, ids["ann"], [*mine, theirs]) == 2
    assert await forum.attach_images(post.id, ids["ann"], mine) == 0  # once only
    found = await forum.images_of([post.id])
    assert [i.filename for i in found[post.id]] == ["p1.jpg", "p2.jpg"]
    other = await forum.get_image(theirs)
    assert other is not None and other.post_id is None


async def test_split_a_reply_into_a_new_topic(store: Store) -> None:  # noqa: F811
    _, _, ids = await _people(store)
    forum = SqlForumStore(store.database)
    category_id, topic_id = await _topic(forum, ids["ann"])
    reply = await forum.add_reply(
        topic_id, author_id=ids["amy"], source="off topic", html="<p>off topic</p>",
        client_id="o1", now=NOW + 5,
    )  # fmt: skip
    await forum.add_reply(
        topic_id, author_id=ids["bob"], source="next", html="n", client_id="o2", now=NOW + 6
    )
    new, old = await forum.split_post(
        reply.post.id, category_id=category_id, title="Another matter", now=NOW + 9,
        stub=lambda t: f"<p>→ /forum/t/{t}</p>",
    )  # fmt: skip
    assert (new.title, new.author_id, new.last_number, new.created_at) == (
        "Another matter", ids["amy"], 1, NOW + 5,
    )  # fmt: skip
    [first] = await forum.posts(new.id, first=1, last=1)
    assert (first.source, first.author_id) == ("off topic", ids["amy"])
    assert (old.source, old.html, old.number) == ("", f"<p>→ /forum/t/{new.id}</p>", 2)
    left = await forum.posts(topic_id, first=1, last=10)
    assert [p.number for p in left] == [1, 2, 3]  # still dense
    again, _ = await forum.split_post(
        reply.post.id, category_id=category_id, title="Another matter", now=NOW + 20
    )
    assert again.id == new.id
    assert [r.source for r in await forum.post_history(reply.post.id)] == ["off topic"]


async def test_counts_for_the_figures(store: Store) -> None:  # noqa: F811
    a, b, ids = await _people(store)
    forum = SqlForumStore(store.database)
    category_id, topic_id = await _topic(forum, ids["ann"])  # at NOW, by ann (Block A)
    answer = await forum.add_reply(
        topic_id, author_id=ids["bob"], source="a", html="a", client_id="f1", now=NOW + 1
    )
    await forum.add_reply(
        topic_id, author_id=ids["amy"], source="b", html="b", client_id="f2", now=NOW + 2
    )
    gone = await forum.add_reply(
        topic_id, author_id=ids["amy"], source="c", html="c", client_id="f3", now=NOW + 3
    )
    await forum.delete_post(gone.post.id, now=NOW + 4)
    await forum.create_topic(
        category_id, title="Later", author_id=ids["bob"], source="x", html="x",
        client_id="f4", now=NOW + 100,
    )  # fmt: skip
    await forum.update_topic(topic_id, solved_post_id=answer.post.id)
    every = await forum.counts(start=NOW, end=NOW + 101)
    assert (every.topics, every.solved, every.replies) == (2, 1, 2)
    in_a = await forum.counts(start=NOW, end=NOW + 101, building=a)
    assert (in_a.topics, in_a.solved, in_a.replies) == (1, 1, 1)
    early = await forum.counts(start=NOW, end=NOW + 2, building=b)
    assert (early.topics, early.solved, early.replies) == (0, 0, 1)
