"""The moderation worker: records flags and held messages from the ``moderation`` work queue,
applies the auto-hide rule, and pushes events to the moderators' feed (``mod:flags``) and, for an
automatic hide, to the message's own channel.

Idempotent under redelivery: a flag is unique per flagger and message in the store; the events
carry idempotency keys, and an entry handed out again (a crash before the ack) re-publishes the
events its first delivery may not have got to.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgpack

from channels.broker import Broker
from channels.workqueue import WorkItem, WorkQueue
from gateway.control import send_control
from gateway.moderation.events import MODERATION_QUEUE, NotifyUser, publish_feed, publish_state
from linli.clock import Clock, system_clock
from persistence.moderation import FlagReason, ModerationStore, NewFlag, Visibility
from workers.base import Worker

log = logging.getLogger(__name__)

#: Distinct residents whose flags hide a message pending review, unless an admin set
#: ``auto_hide_threshold`` (0 turns the rule off). Three: one resident alone, or a pair in a
#: dispute, cannot silence a neighbour; a message that bothers three households probably should
#: wait for a moderator.
DEFAULT_AUTO_HIDE_THRESHOLD = 3


async def auto_hide_threshold(store: ModerationStore) -> int:
    raw = await store.get_setting("auto_hide_threshold")
    return DEFAULT_AUTO_HIDE_THRESHOLD if raw is None else int(raw)


class ModerationWorker(Worker):
    queue: ClassVar[str] = MODERATION_QUEUE
    group: ClassVar[str] = "moderation"
    batch_size: ClassVar[int] = 100

    def __init__(
        self,
        work_queue: WorkQueue,
        store: ModerationStore,
        broker: Broker,
        *,
        clock: Clock = system_clock,
        consumer: str | None = None,
    ) -> None:
        super().__init__(work_queue, consumer=consumer)
        self.store = store
        self.clock = clock
        self.broker = broker

    async def healthy(self) -> bool:
        await self.store.get_setting("auto_hide_threshold")  # raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        for item in items:
            entry = msgpack.unpackb(item.data, raw=False)
            kind = entry.get("type")
            if kind == "flag":
                await self._flag(entry, redelivered=item.deliveries > 1)
            elif kind == "held":
                await self._held(entry)
            else:
                raise ValueError(f"unknown moderation entry type {kind!r}")

    async def _flag(self, entry: dict[str, Any], *, redelivered: bool) -> None:
        channel, offset = str(entry["channel"]), int(entry["offset"])
        now = int(entry["at"])
        result = await self.store.record_flag(
            NewFlag(
                channel=channel,
                offset=offset,
                flagger_id=int(entry["flagger_id"]),
                reason=FlagReason(entry["reason"]),
                note=str(entry["note"]),
                author_id=entry.get("author_id"),
                author_name=str(entry["author_name"]),
                body=str(entry["text"]),
                posted_at=int(entry["ts"]),
            ),
            now=now,
        )
        if not result.inserted and not redelivered:
            return  # a flag recorded before, and its events went out then
        threshold = await auto_hide_threshold(self.store)
        hid = threshold > 0 and await self.store.auto_hide(
            channel, offset, threshold=threshold, now=self.clock.now_ms()
        )
        message = await self.store.get_message(channel, offset)
        assert message is not None
        if hid or (redelivered and message.auto_hidden):
            await publish_state(
                self.broker,
                channel,
                offset,
                Visibility.HIDDEN,
                by="auto",
                now=self.clock.now_ms(),
                idempotency_key=f"auto-hide:{offset}",
            )
            if hid and message.author_id is not None:
                # The author alone is told why (the chat page: "several neighbours reported it").
                push = {
                    "push": "moderation",
                    "kind": "hidden",
                    "channel": channel,
                    "offset": offset,
                    "visibility": str(Visibility.HIDDEN),
                    "reason": "auto",
                }
                await send_control(self.broker, NotifyUser(user_id=message.author_id, push=push))
        await publish_feed(
            self.broker,
            {
                "kind": "flag",
                "channel": channel,
                "offset": offset,
                "flagger": {"id": entry["flagger_id"], "name": entry["flagger_name"]},
                "reason": entry["reason"],
                "note": entry["note"],
                "author": {"id": message.author_id, "name": message.author_name},
                "flag_count": message.flag_count,
                "visibility": str(message.visibility),
                "review": str(message.review),
                "auto_hidden": hid,
                "ts": now,
            },
            idempotency_key=f"flag:{entry['flagger_id']}:{channel}:{offset}",
        )

    async def _held(self, entry: dict[str, Any]) -> None:
        held, _new = await self.store.hold_message(
            channel=str(entry["channel"]),
            author_id=int(entry["author_id"]),
            author_name=str(entry["author_name"]),
            body=str(entry["text"]),
            cmid=str(entry["cmid"]),
            matched=str(entry["matched"]),
            now=int(entry["at"]),
        )
        await publish_feed(
            self.broker,
            {
                "kind": "held",
                "id": held.id,
                "channel": held.channel,
                "author": {"id": held.author_id, "name": held.author_name},
                "matched": held.matched,
                "ts": held.created_at,
            },
            idempotency_key=f"held:{held.id}",
        )
