"""Forum posts in search, in both modes: a post is found by the readers of its category and by
nobody else (a building's category stays its building's); an edit, a delete, a moderator's hide
and a move to another category reach the index; the rebuild (``linli search reindex``) gives
exactly what the actions indexed as they went."""

from __future__ import annotations

import pytest

from linli.config import load_settings
from linli.runtime import Runtime, open_runtime
from persistence.forum import CategoryDraft
from persistence.moderation import MessageAction
from persistence.search import SearchFilters
from persistence.search.sql import SqlSearchStore
from tests.e2e.harness import Deployment, seed
from web.forum import actions as forum
from web.forum import search as forum_search
from web.search import actions as search
from workers.search import SearchWorker

pytestmark = pytest.mark.timeout(120)

FORUM = SearchFilters(kinds=("forum",))


async def test_forum_posts_are_found_by_their_readers_only(deployment: Deployment) -> None:
    hood = await seed(deployment)
    async with open_runtime(load_settings(deployment.env()), migrate_first=True) as runtime:
        worker = SearchWorker(runtime.work_queue, SqlSearchStore(runtime.database))
        names = ("ann", "amy", "bob", "mo")
        users = {n: await runtime.store.get_user_by_username(n) for n in names}
        ann, amy, bob, mo = (users[n] for n in names)
        assert ann and amy and bob and mo

        async def found(who: object, query: str) -> list[str]:
            page = await search.search(runtime, who, query, filters=FORUM)  # type: ignore[arg-type]
            return [h.ref for h in page.hits]

        everyone = await forum.create_category(
            runtime, CategoryDraft(slug="talk", name_zh="閒聊", name_en="Talk", scope="all"),
            actor=mo,
        )  # fmt: skip
        block_a = await forum.create_category(
            runtime,
            CategoryDraft(
                slug="block-a", name_zh="A棟", name_en="Block A",
                scope=f"building:{hood.building_a}",
            ),
            actor=mo,
        )  # fmt: skip
        topic, first = await forum.start_topic(
            runtime, block_a, author=ann, title="B棟電梯有異聲", source="電梯一直有**漏水**的聲音",
            client_id="t1",
        )  # fmt: skip
        second = await forum.reply(
            runtime, block_a, topic, author=amy, source="我也聽到漏水，已報修。", client_id="r1"
        )
        other, third = await forum.start_topic(
            runtime, everyone, author=bob, title="失物招領", source="在大堂拾到一把雨傘",
            client_id="t2",
        )  # fmt: skip
        await worker.run_until_idle()

        # Block A's posts: A's residents and the staff; never Block B's resident.
        assert sorted(await found(ann, "漏水")) == sorted([str(first.post.id), str(second.post.id)])
        assert sorted(await found(mo, "漏水")) == sorted([str(first.post.id), str(second.post.id)])
        assert await found(bob, "漏水") == []
        assert (await search.search(runtime, bob, "漏水")).total == 0  # nor under any kind
        assert await found(bob, "雨傘") == [str(third.post.id)]
        assert await found(ann, "雨傘") == [str(third.post.id)]
        page = await search.search(runtime, ann, "漏水", filters=FORUM)
        hit = next(h for h in page.hits if h.ref == str(first.post.id))
        assert hit.title == "B棟電梯有異聲"
        assert hit.link == f"/forum/t/{topic.id}?n=1#p1"
        assert "漏水" in hit.text and "**" not in hit.text  # plain text, not the Markdown

        # An edit replaces the text; a delete removes the post.
        await forum.edit_post(runtime, second.post, editor=amy, source="修好了，謝謝。")
        await worker.run_until_idle()
        assert await found(ann, "漏水") == [str(first.post.id)]
        assert await found(ann, "修好") == [str(second.post.id)]
        await forum.delete_post(runtime, second.post, actor=amy)
        await worker.run_until_idle()
        assert await found(ann, "修好") == []

        # A moderator's hide takes the post out of everyone's results; a restore brings it back.
        await forum.moderate_post(runtime, third.post, MessageAction.HIDE, actor=mo, reason="test")
        assert await found(bob, "雨傘") == [] and await found(mo, "雨傘") == []
        await forum.moderate_post(
            runtime, third.post, MessageAction.RESTORE, actor=mo, reason="test"
        )
        assert await found(bob, "雨傘") == [str(third.post.id)]

        # Moved to the neighbourhood's category, Block A's topic is found by Block B too.
        await forum.change_topic(
            runtime, topic, forum.TopicChange(category_id=everyone.id), actor=mo
        )
        await worker.run_until_idle()
        assert await found(bob, "漏水") == [str(first.post.id)]

        # The rebuild gives exactly what the actions gave (the documents and their postings).
        before = await _documents(runtime)
        assert len(before[0]) == 2 and before[1] > 0
        assert await forum_search.reindex(runtime.store, runtime.clock.now_ms()) == 2
        assert await _documents(runtime) == before
        assert other.title == "失物招領"


async def _documents(runtime: Runtime) -> tuple[list[tuple[object, ...]], int]:
    db = runtime.database
    rows = await db.fetch(
        "SELECT ref, title, folded, scopes, link, place, author_name FROM search_docs "
        "WHERE kind = 'forum' ORDER BY ref"
    )
    postings = await db.fetchval(
        "SELECT count(*) FROM search_terms t JOIN search_docs d ON d.id = t.doc_id "
        "WHERE d.kind = 'forum'"
    )
    columns = ("ref", "title", "folded", "scopes", "link", "place", "author_name")
    return [tuple(r[c] for c in columns) for r in rows], int(postings)
