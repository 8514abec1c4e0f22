"""The search workers: the index is written off the request path.

* ``SearchWorker`` (``linli worker search``) applies the ``search`` queue's entries — documents
  the features' actions submit (``web.search.actions.index`` / ``remove``) — in order, one
  transaction per batch (the last entry for a (kind, ref) wins).
* ``ChatSearchWorker`` (``linli worker search-chat``) reads the ``persist`` stream in a consumer
  group of its own (``search``), beside the persist worker's and chat-notify's: the broker
  already appends every chat message there atomically with publishing, so the publish path does
  nothing more for search (``docs/design/0023-search.md``).

Both are idempotent (an upsert of the same document changes nothing), as the at-least-once
queue needs. A moderator's hide needs no entry here: the query reads moderation's state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import ClassVar

import msgspec

from channels.names import ChannelKind, parse_channel
from channels.workqueue import PERSIST_QUEUE, WorkItem, WorkQueue
from gateway.search.events import (
    CHAT_GROUP,
    SEARCH_QUEUE,
    chat_change,
    chat_document,
    chat_ref,
    decode_request,
)
from linli.clock import Clock, system_clock
from linli.types import ChannelName, Millis, Offset
from persistence.search import Document, SearchStore
from persistence.store import Store
from workers.base import Worker

log = logging.getLogger(__name__)

#: How long a room's name is remembered (a renamed group shows its new name in new hits
#: within this time; older hits keep the name they were indexed with until a rebuild).
ROOM_NAME_TTL_S = 60.0


class SearchWorker(Worker):
    queue: ClassVar[str] = SEARCH_QUEUE
    group: ClassVar[str] = "search"

    def __init__(
        self,
        work_queue: WorkQueue,
        store: SearchStore,
        *,
        clock: Clock = system_clock,
        consumer: str | None = None,
    ) -> None:
        super().__init__(work_queue, consumer=consumer)
        self.store = store
        self.clock = clock

    async def healthy(self) -> bool:
        await self.store.stats()  # raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        final: dict[tuple[str, str], Document | None] = {}
        for item in items:
            try:
                request = decode_request(item.data)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                log.error("search worker: entry %s is not an index request: %s", item.id, exc)
                continue
            key = (request.kind, request.ref)
            final.pop(key, None)  # keep the order of the last entry per key
            final[key] = request if isinstance(request, Document) else None
        documents = [d for d in final.values() if d is not None]
        removals = [key for key, d in final.items() if d is None]
        if documents:
            await self.store.upsert(documents, now=self.clock.now_ms())
        if removals:
            await self.store.remove(removals)


class ChatSearchWorker(Worker):
    queue: ClassVar[str] = PERSIST_QUEUE
    group: ClassVar[str] = CHAT_GROUP
    batch_size: ClassVar[int] = 1000

    def __init__(
        self,
        work_queue: WorkQueue,
        core: Store,
        store: SearchStore,
        *,
        clock: Clock = system_clock,
        consumer: str | None = None,
    ) -> None:
        super().__init__(work_queue, consumer=consumer)
        self.core = core
        self.store = store
        self.clock = clock
        self._names: dict[ChannelName, tuple[str, float]] = {}

    async def healthy(self) -> bool:
        await self.store.stats()
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        await index_chat(
            self.store,
            ((item.channel, item.offset, item.data) for item in items),
            self.room_name,
            now=self.clock.now_ms(),
        )

    async def room_name(self, channel: ChannelName) -> str:
        now = self.clock.monotonic()
        cached = self._names.get(channel)
        if cached is not None and cached[1] > now:
            return cached[0]
        name = await room_name(self.core, channel)
        if len(self._names) > 10_000:  # a bound, in case of very many rooms
            self._names.clear()
        self._names[channel] = (name, now + ROOM_NAME_TTL_S)
        return name


async def index_chat(
    store: SearchStore,
    publications: Iterable[tuple[ChannelName, Offset, bytes]],
    name_of: Callable[[ChannelName], Awaitable[str]],
    *,
    now: Millis,
) -> int:
    """Apply chat rooms' publications to the index — the persist stream's (the indexer) or the
    stored history's (the rebuild), so both give the same index: a message is a document, its
    author's ``edit`` event replaces its text (its new words are found, its old ones not), a
    ``retract`` takes it out. The store remembers each message's newest change, so the order
    does not matter: a message whose batch is redelivered after its edit or delete was applied
    keeps the edit, or stays out (``SearchStore.apply_chat``). Returns how many messages were
    indexed."""
    documents: dict[str, Document] = {}
    changes: dict[str, tuple[int, str | None]] = {}
    for channel, offset, data in publications:
        change = chat_change(channel, data)
        if change is not None:
            ref = chat_ref(channel, change.target)
            if ref not in changes or changes[ref][0] < offset:
                changes[ref] = (offset, change.text)
            continue
        document = chat_document(channel, offset, data, await name_of(channel))
        if document is not None:
            documents[document.ref] = document
    return await store.apply_chat(list(documents.values()), changes, now=now)


async def room_name(core: Store, channel: ChannelName) -> str:
    """A chat room's name as people know it (its building's, its group's), else the channel."""
    try:
        ref = parse_channel(channel)
    except ValueError:
        return channel
    if ref.kind is ChannelKind.BUILDING:
        building = await core.get_building(ref.building_id)
        return building.name if building is not None else channel
    if ref.kind is ChannelKind.GROUP:
        group = await core.get_group(ref.key)
        return group.name if group is not None else channel
    return channel
