"""Meetings in the search index (``web/search``), two documents each: the meeting (title, place,
agenda items and their explanations) and its minutes. A draft meeting is found only by the staff
who run meetings, a convened one by everyone signed in (as its page is); draft or approved
minutes only by staff, published minutes by everyone. ``reindex`` rebuilds them all."""

from __future__ import annotations

from linli.feature import Services
from linli.richtext import plain
from linli.roles import Can
from linli.types import Millis
from persistence.meetings import Meeting, MeetingState, MinutesState
from persistence.meetings.sql import SqlMeetingStore
from persistence.search import Document, Readers
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from web.search import actions as search

KIND = "meeting"
_STAFF = Readers(duties=(str(Can.RUN_MEETINGS),))


def meeting_documents(meeting: Meeting) -> list[Document]:
    """The meeting's documents as the index holds them (minutes only once written)."""
    agenda = [meeting.place]
    for item in meeting.items:
        agenda += [item.draft.title, plain(item.draft.explanation, limit=5_000)]
    link = f"/meetings/{meeting.id}"
    documents = [
        Document(
            kind=KIND,
            ref=str(meeting.id),
            title=meeting.title,
            text="\n".join(a for a in agenda if a)[:20_000],
            readers=_STAFF if meeting.state is MeetingState.DRAFT else Readers(everyone=True),
            link=link,
            at=meeting.starts_at,
            place=meeting.place,
            place_name=meeting.place,
            author_id=meeting.created_by,
        )
    ]
    if meeting.minutes:
        published = meeting.minutes_state is MinutesState.PUBLISHED
        documents.append(
            Document(
                kind=KIND,
                ref=f"{meeting.id}:minutes",
                title=meeting.title,
                text=plain(meeting.minutes, limit=20_000),
                readers=Readers(everyone=True) if published else _STAFF,
                link=link,
                at=meeting.minutes_at or meeting.starts_at,
                place=meeting.place,
                place_name=meeting.place,
                author_id=meeting.minutes_by,
            )
        )
    return documents


async def index_meeting(services: Services, meeting: Meeting) -> None:
    for document in meeting_documents(meeting):
        await search.index(services, document)


async def reindex(core: Store, now: Millis) -> int:
    """Every meeting (and its minutes) into the index afresh; how many documents."""
    store = SqlMeetingStore(core.database)
    index = SqlSearchStore(core.database)
    await index.clear(KIND)
    documents: list[Document] = []
    for meeting in await store.list_meetings():
        documents += meeting_documents(meeting)
    if documents:
        await index.upsert(documents, now=now)
    return len(documents)
