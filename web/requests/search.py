"""Residents' requests in the search index (``web/search``), readable exactly by those who may
see them (``persistence/requests/access.py``): the author and the handling team (its members,
or every holder of the duty when the category has no team, and admins); a public request also
by its building's residents. Indexed after every change; ``reindex`` puts them all in afresh."""

from __future__ import annotations

from linli.feature import Services
from linli.roles import Can
from linli.types import Millis, Role
from persistence.requests import Request, RequestStore
from persistence.requests.sql import SqlRequestStore
from persistence.search import Document, Readers
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from web.search import actions as search

KIND = "request"
_WORDS = {
    "repair": "報修 Repair",
    "question": "詢問 Question",
    "suggestion": "建議 Suggestion",
    "complaint": "投訴 Complaint",
    "feedback": "意見回饋 Feedback",
}


async def request_document(store: RequestStore, request: Request) -> Document:
    members = await store.handler_ids(request.category)
    handlers = (
        Readers(duties=(str(Can.HANDLE_REQUESTS),))
        if members is None
        else Readers(user_ids=tuple(members), roles=(Role.ADMIN,))
    )
    readers = Readers(
        user_ids=(request.author_id, *handlers.user_ids),
        duties=handlers.duties,
        roles=handlers.roles,
        buildings=() if request.private else (request.building_id,),
    )
    category = str(request.category)
    return Document(
        kind=KIND,
        ref=str(request.id),
        title=f"{_WORDS.get(category, category)} #{request.id}",
        text=request.text,
        readers=readers,
        link=f"/requests/{request.id}",
        at=request.created_at,
        place=category,
        place_name=_WORDS.get(category, category),
        author_id=request.author_id,
    )


async def index_request(services: Services, request: Request) -> None:
    await search.index(
        services, await request_document(SqlRequestStore(services.database), request)
    )


async def reindex(core: Store, now: Millis) -> int:
    """Every request into the index afresh; how many."""
    requests = SqlRequestStore(core.database)
    index = SqlSearchStore(core.database)
    await index.clear(KIND)
    ids = [int(r["id"]) for r in await core.database.fetch("SELECT id FROM requests ORDER BY id")]
    documents = []
    for request_id in ids:
        request = await requests.get_request(request_id)
        if request is not None:
            documents.append(await request_document(requests, request))
    if documents:
        await index.upsert(documents, now=now)
    return len(documents)
