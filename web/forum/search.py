"""Forum posts in the search index (``web/search``): one document per post, read by whoever may
read its category (``all``: everyone; a building's or group's scope: the readers of that chat
room, staff included), titled with its topic. The post's moderation record is the topic
channel's (channel, post id), so a hidden post drops out of every result with no indexing
step, as a hidden chat message does. A deleted post leaves the index; a topic that moves
category, or a category whose scope changes, has its posts put in again under the new readers.
``reindex`` rebuilds every post (``linli search reindex``, the demo)."""

from __future__ import annotations

from channels.names import topic_channel
from linli.feature import Services
from linli.richtext import plain
from linli.types import Millis
from persistence.forum import Category, Post, Topic
from persistence.forum.sql import SqlForumStore
from persistence.search import Document, Readers
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from web.search import actions as search

KIND = "forum"
#: Posts read per query while reindexing a topic (one page of a long topic).
_BATCH = 500


def readers_of(category: Category) -> Readers:
    scope = category.draft.scope
    if scope == "all":
        return Readers(everyone=True)
    return Readers(rooms=(scope,))


def post_document(category: Category, topic: Topic, post: Post) -> Document | None:
    """The post as the index holds it, or None for a deleted post (it leaves the index)."""
    if post.deleted:
        return None
    draft = category.draft
    return Document(
        kind=KIND,
        ref=str(post.id),
        title=topic.title,
        text=plain(post.source, limit=20_000),
        readers=readers_of(category),
        link=f"/forum/t/{topic.id}?n={post.number}#p{post.number}",
        at=post.created_at,
        place=f"forum:{category.id}",
        place_name=f"{draft.name_zh} {draft.name_en}",
        author_id=post.author_id,
        author_name=post.author_name,
        channel=topic_channel(topic.id),
        offset=post.id,
    )


async def index_post(services: Services, category: Category, topic: Topic, post: Post) -> None:
    document = post_document(category, topic, post)
    if document is None:
        await search.remove(services, KIND, str(post.id))
    else:
        await search.index(services, document)


async def _topic_documents(
    store: SqlForumStore, topic: Topic, category: Category
) -> tuple[list[Document], list[str]]:
    documents: list[Document] = []
    removed: list[str] = []
    for first in range(1, topic.last_number + 1, _BATCH):
        for post in await store.posts(topic.id, first=first, last=first + _BATCH - 1):
            document = post_document(category, topic, post)
            if document is None:
                removed.append(str(post.id))
            else:
                documents.append(document)
    return documents, removed


async def index_topic(services: Services, topic_id: int) -> None:
    """Every post of the topic again: its title, category or readers changed."""
    store = SqlForumStore(services.database)
    topic = await store.get_topic(topic_id)
    category = await store.get_category(topic.category_id) if topic else None
    if topic is None or category is None:
        return
    documents, removed = await _topic_documents(store, topic, category)
    for document in documents:
        await search.index(services, document)
    for ref in removed:
        await search.remove(services, KIND, ref)


async def reindex(core: Store, now: Millis) -> int:
    """Every forum post into the index afresh; how many."""
    store = SqlForumStore(core.database)
    index = SqlSearchStore(core.database)
    await index.clear(KIND)
    count = 0
    for category in await store.list_categories():
        offset = 0
        while topics := await store.list_topics(category.id, limit=200, offset=offset):
            offset += len(topics)
            for topic in topics:
                documents, _ = await _topic_documents(store, topic, category)
                if documents:
                    await index.upsert(documents, now=now)
                count += len(documents)
    return count
