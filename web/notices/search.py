"""Notices in the search index (``web/search``): a published notice is found by its audience,
a draft or scheduled one only by the staff who post notices; a retracted one stays findable
(it stays listed, marked retracted). Called after each store write of the notices' actions,
and ``reindex`` puts every notice in afresh (``linli search reindex``, the demo)."""

from __future__ import annotations

from linli.feature import Services
from linli.richtext import plain
from linli.roles import Can
from linli.types import Millis
from persistence.notices import AudienceKind, Notice
from persistence.notices.sql import SqlNoticeStore
from persistence.search import Document, Readers
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from web.search import actions as search

KIND = "notice"


async def notice_document(store: SqlNoticeStore, notice: Notice) -> Document:
    draft = notice.draft
    staff = (str(Can.POST_NOTICES),)
    if not notice.readable:
        readers = Readers(duties=staff)
    elif draft.audience.kind is AudienceKind.ALL:
        readers = Readers(everyone=True)
    elif draft.audience.kind is AudienceKind.BUILDINGS:
        readers = Readers(buildings=draft.audience.buildings, duties=staff)
    else:
        # Floors and units: the residents of the units reached now (someone moving in later
        # finds it on the notices page, which checks the audience itself).
        reach = await store.reach(notice.id, draft.audience)
        residents = await store.residents_of([u.unit_id for u in reach.units])
        readers = Readers(user_ids=tuple(residents), duties=staff)
    categories = {c.id: c for c in await store.list_categories()}
    category = categories.get(draft.category_id)
    return Document(
        kind=KIND,
        ref=str(notice.id),
        title=draft.title,
        text=plain(draft.body, limit=20_000),
        readers=readers,
        link=f"/notices/{notice.id}",
        at=notice.published_at or notice.created_at,
        place=category.slug if category else "",
        place_name=f"{category.name_zh} {category.name_en}" if category else "",
        author_id=notice.created_by,
    )


async def index_notice(services: Services, notice: Notice) -> None:
    """The notice as it is now, in the index (off the request path: the search worker)."""
    await search.index(services, await notice_document(SqlNoticeStore(services.database), notice))


async def reindex(core: Store, now: Millis) -> int:
    """Every notice into the index afresh; how many."""
    notices = SqlNoticeStore(core.database)
    index = SqlSearchStore(core.database)
    await index.clear(KIND)
    documents = [await notice_document(notices, n) for n in await notices.list_notices()]
    if documents:
        await index.upsert(documents, now=now)
    return len(documents)
