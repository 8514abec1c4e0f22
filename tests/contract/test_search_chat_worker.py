"""The chat indexer (``workers/search.py`` ``ChatSearchWorker``) on SQLite and PostgreSQL, fed
the persist stream's entries out of order as a reclaim delivers them: a crashed indexer's batch
holding a message comes back after the batches holding its edit and its delete were applied."""

from __future__ import annotations

import msgpack

from channels.workqueue import WorkItem
from channels.workqueue_memory import MemoryWorkQueue
from linli.types import BuildingId, ChannelName, Offset, Role, UserId
from persistence.search import Viewer
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from workers.search import ChatSearchWorker

ROOM = ChannelName("building:1")
NOW = 1_700_000_000_000
READER = Viewer(user_id=UserId(9), role=Role.RESIDENT, building_id=BuildingId(1))


def entry(offset: int, body: dict[str, object], deliveries: int = 1) -> WorkItem:
    return WorkItem(
        id=f"{offset}-0",
        channel=ROOM,
        offset=Offset(offset),
        epoch=1,
        data=msgpack.packb(body),
        deliveries=deliveries,
    )


def message(offset: int, text: str, deliveries: int = 1) -> WorkItem:
    author = {"id": 7, "name": "ann"}
    return entry(offset, {"kind": "chat", "author": author, "text": text, "ts": NOW}, deliveries)


async def found(store: SqlSearchStore, query: str) -> list[str]:
    return [hit.text for hit in (await store.search(query, READER)).hits]


async def test_a_reclaimed_message_keeps_its_edit_and_its_delete(core: Store) -> None:
    store = SqlSearchStore(core.database)
    worker = ChatSearchWorker(MemoryWorkQueue(), core, store)
    # The first indexer read messages 1 and 2 and died; the next one applied the later
    # entries: message 1 edited, message 2 deleted, then message 3 with its own edit.
    await worker.handle(
        [entry(3, {"kind": "edit", "target": 1, "text": "改為後日停電", "ts": NOW})]
    )
    await worker.handle([entry(4, {"kind": "retract", "target": 2, "ts": NOW})])
    await worker.handle(
        [
            message(5, "管理費下月加價"),
            entry(6, {"kind": "edit", "target": 5, "text": "管理費不變", "ts": NOW}),
        ]
    )
    # The dead indexer's batch, reclaimed.
    await worker.handle([message(1, "明天停水", 2), message(2, "電梯壞了", 2)])
    assert await found(store, "停電") == ["改為後日停電"]
    assert await found(store, "停水") == []
    assert await found(store, "電梯") == []
    assert await found(store, "管理費") == ["管理費不變"]
    # And once more, everything from the start (a second crash): nothing changes.
    await worker.handle(
        [message(1, "明天停水", 3), message(2, "電梯壞了", 3), message(5, "管理費下月加價", 2)]
    )
    assert await found(store, "停水") == [] and await found(store, "電梯") == []
    assert await found(store, "停電") == ["改為後日停電"]
    assert await found(store, "管理費") == ["管理費不變"]
    assert (await store.stats()).documents == 2
