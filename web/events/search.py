"""Events in the search index (``web/search``): found by their audience (everyone, their
buildings, their group's members) and the staff who run events; a cancelled event stays
findable (its page says it was cancelled). ``reindex`` puts every event in afresh."""

from __future__ import annotations

from linli.feature import Services
from linli.richtext import plain
from linli.roles import Can
from linli.types import Millis
from persistence.events import Event
from persistence.events.sql import SqlEventStore
from persistence.search import Document, Readers
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from web.search import actions as search

KIND = "event"


def event_document(event: Event) -> Document:
    draft, audience = event.draft, event.draft.audience
    return Document(
        kind=KIND,
        ref=str(event.id),
        title=draft.title,
        text=f"{draft.place}\n{plain(draft.body, limit=20_000)}",
        readers=Readers(
            everyone=audience.everyone,
            buildings=audience.buildings,
            groups=(audience.group,) if audience.group else (),
            duties=(str(Can.RUN_EVENTS),),
        ),
        link=f"/events/{event.id}",
        at=event.created_at,
        place=draft.place,
        place_name=draft.place,
        author_id=event.created_by,
    )


async def index_event(services: Services, event: Event) -> None:
    await search.index(services, event_document(event))


async def reindex(core: Store, now: Millis) -> int:
    events = await SqlEventStore(core.database).list_events()
    index = SqlSearchStore(core.database)
    await index.clear(KIND)
    if events:
        await index.upsert([event_document(e) for e in events], now=now)
    return len(events)
