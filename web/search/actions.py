"""Search's actions: what the features call to put their documents in the index (off the
request path), the query itself, and the rebuild.

A feature indexes with one call from its own actions, after its store write::

    from persistence.search import Document, Readers
    from web.search import actions as search

    await search.index(services, Document(
        kind="notice", ref=str(notice.id), title=notice.title,
        text=richtext.plain(notice.body), readers=Readers(buildings=(notice.building_id,)),
        link=f"/notices/{notice.id}", at=notice.published_at,
        place=notice.category, place_name=category_label, author_id=actor.id,
        author_name=actor.display_name))
    await search.remove(services, "notice", str(notice.id))   # withdrawn, deleted

``index`` again with the same kind and ref replaces the document (an edit). Both only append to
the ``search`` work queue (one Redis command in the scaled mode); the search worker writes the
index (``workers/search.py``). Chat messages need no call: the chat indexer reads the persist
stream. ``docs/design/0023-search.md`` lists the readers each feature should give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.search.events import SEARCH_QUEUE, encode_request
from linli.feature import Demo, Services
from linli.types import Millis
from persistence.polls import Poll, PollState
from persistence.polls.sql import SqlPollStore
from persistence.search import (
    CHAT_KIND,
    PAGE_SIZE,
    POLL_KIND,
    Document,
    Readers,
    Removal,
    SearchFilters,
    SearchPage,
    Viewer,
)
from persistence.search.sql import SqlSearchStore
from persistence.store import Store, User
from workers.search import index_chat, room_name

#: Documents written per transaction by the rebuild.
REINDEX_BATCH = 1000


def search_store(services: Services) -> SqlSearchStore:
    return SqlSearchStore(services.database)


async def index(services: Services, document: Document) -> None:
    """Put ``document`` in the index (or replace the one of the same kind and ref), soon."""
    await services.work_queue.submit(SEARCH_QUEUE, encode_request(document))


async def remove(services: Services, kind: str, ref: str) -> None:
    """Take the document of ``kind`` and ``ref`` out of the index, soon."""
    await services.work_queue.submit(SEARCH_QUEUE, encode_request(Removal(kind=kind, ref=ref)))


async def viewer_of(services: Services, user: User) -> Viewer:
    """The user as the query's authorisation needs them: their groups read now."""
    groups = await services.store.user_groups(user.id)
    return Viewer(
        user_id=user.id, role=user.role, building_id=user.building_id, groups=tuple(groups)
    )


async def search(
    services: Services,
    user: User,
    query: str,
    *,
    filters: SearchFilters | None = None,
    page: int = 1,
) -> SearchPage:
    """The user's hits of ``query``, page ``page`` (from 1) of ``PAGE_SIZE``."""
    viewer = await viewer_of(services, user)
    return await search_store(services).search(
        query,
        viewer,
        filters=filters,
        limit=PAGE_SIZE,
        offset=(max(page, 1) - 1) * PAGE_SIZE,
    )


async def index_poll(services: Services, poll: Poll) -> None:
    """Index an opened poll (the polls' ``open_poll`` calls it; a draft is not indexed)."""
    document = await poll_document(services.store, poll)
    if document is not None:
        await index(services, document)


async def poll_document(core: Store, poll: Poll | None) -> Document | None:
    """A poll's document (its question and options), readable by its room; None for a draft
    (only its organisers see it) or a poll that is gone."""
    if poll is None or poll.state is PollState.DRAFT:
        return None
    draft = poll.draft
    return Document(
        kind=POLL_KIND,
        ref=str(poll.id),
        title=draft.question,
        text="\n".join(draft.options),
        readers=Readers(rooms=(draft.channel,)),
        link=f"/polls/{poll.id}",
        at=poll.opened_at or poll.created_at,
        place=draft.channel,
        place_name=await room_name(core, draft.channel),
        author_id=poll.created_by,
    )


@dataclass(frozen=True, slots=True)
class Reindexed:
    #: Chat messages indexed (the history's other entries, moderation's events, are not).
    chat: int
    polls: int


Progress = Callable[[str, int, int], None]


async def reindex(services: Services, *, progress: Progress | None = None) -> Reindexed:
    """Rebuild the chat and poll documents from the stored history and polls (the other
    features' documents are theirs to resubmit). ``progress(kind, done, total)`` after each
    batch. Run it with the workers stopped or running: a message indexed twice is one
    document."""
    return await rebuild(services.store, now=services.clock.now_ms(), progress=progress)


async def rebuild(core: Store, *, now: Millis, progress: Progress | None = None) -> Reindexed:
    store = SqlSearchStore(core.database)
    db = core.database
    await store.clear(CHAT_KIND)
    channels = [
        (str(r["channel"]), int(r["n"]))
        for r in await db.fetch(
            "SELECT channel, count(*) AS n FROM messages GROUP BY channel ORDER BY channel"
        )
    ]
    total = sum(n for _, n in channels)
    done = indexed = 0
    for channel, _ in channels:
        name = await room_name(core, channel)

        async def name_of(_channel: str, name: str = name) -> str:
            return name

        after = 0
        while True:
            rows = await core.history(channel, after=after, limit=REINDEX_BATCH)
            if not rows:
                break
            after = rows[-1].offset
            # The same as the indexer: messages, then their authors' edits and retractions.
            indexed += await index_chat(
                store, ((r.channel, r.offset, r.data) for r in rows), name_of, now=now
            )
            done += len(rows)
            if progress is not None:
                progress(CHAT_KIND, done, total)
    await store.clear(POLL_KIND)
    poll_ids = [int(r["id"]) for r in await db.fetch("SELECT id FROM polls ORDER BY id")]
    polls = 0
    polls_store = SqlPollStore(db)
    for position, poll_id in enumerate(poll_ids, 1):
        document = await poll_document(core, await polls_store.get_poll(poll_id))
        if document is not None:
            await store.upsert([document], now=now)
            polls += 1
        if progress is not None:
            progress(POLL_KIND, position, len(poll_ids))
    return Reindexed(chat=indexed, polls=polls)


async def seed_demo(demo: Demo) -> None:
    """The demo's history and polls, searchable from the start (seeded straight into the
    stores, they never passed the persist stream the chat indexer reads)."""
    await rebuild(demo.store, now=demo.now)
