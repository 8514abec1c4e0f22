"""The persist worker: writes channel publications into the store's message history.

One INSERT per batch; a row is unique per (channel, offset), so a batch handed out twice (a crash
before the ack) writes nothing new the second time.
"""

from __future__ import annotations

from typing import ClassVar

import msgpack

from channels.workqueue import PERSIST_QUEUE, WorkItem, WorkQueue
from persistence.store import Store, StoredMessage
from workers.base import Worker


def stored_message(item: WorkItem) -> StoredMessage:
    body = msgpack.unpackb(item.data, raw=False)
    author = body.get("author") if isinstance(body, dict) else None
    author_id = author.get("id") if isinstance(author, dict) else None
    created_at = body.get("ts", 0) if isinstance(body, dict) else 0
    # A chat message's identity across epochs (design 0033); other kinds have none.
    cmid = body.get("cmid") if isinstance(body, dict) and body.get("kind") == "chat" else None
    return StoredMessage(
        channel=item.channel,
        offset=item.offset,
        epoch=item.epoch,
        data=item.data,
        author_id=author_id if isinstance(author_id, int) else None,
        created_at=created_at if isinstance(created_at, int) else 0,
        client_msg_id=cmid if isinstance(cmid, str) and author_id is not None else None,
    )


class PersistWorker(Worker):
    queue: ClassVar[str] = PERSIST_QUEUE
    group: ClassVar[str] = "persist"
    # Larger than the base's 500: a row is small and one multi-row INSERT of 2,000 costs little
    # more than one of 500, while each read and ack is a Redis round trip (docs/performance.md).
    batch_size: ClassVar[int] = 2000

    def __init__(self, work_queue: WorkQueue, store: Store, *, consumer: str | None = None) -> None:
        super().__init__(work_queue, consumer=consumer)
        self.store = store

    async def healthy(self) -> bool:
        await self.store.max_offset("")  # any cheap query: raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        await self.store.insert_messages([stored_message(item) for item in items])
