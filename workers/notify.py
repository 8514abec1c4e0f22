"""The notify worker: expands each notify request's audience, applies every recipient's
preferences and quiet hours, writes the inbox rows and the deliveries due (push to each device,
an immediate e-mail for urgent notices), and tells the gateways the new unread counts. The
deliveries themselves are sent by ``workers/deliver.py``, with retries; nothing here waits for a
push service or a mail server, and nothing on the message hot path waits for this worker.

Idempotent (the work queue delivers at least once): inbox rows are unique per (user, request
key), written with their deliveries in one transaction per chunk of recipients, and only the
rows a run inserted get deliveries: a redelivered batch notifies nobody twice, and a run killed
half way is finished by the next one (every recipient once, every device once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import msgspec

from channels.broker import Broker
from channels.workqueue import WorkItem, WorkQueue
from gateway.control import send_control
from gateway.notifications.events import InboxChanged, NotifyRequest, decode_request
from linli.clock import Clock, system_clock
from linli.types import Millis, UserId
from persistence.notifications import (
    Channel,
    Kind,
    NewNotification,
    Notification,
    NotificationStore,
    PlannedDelivery,
    Settings,
)
from workers.base import Worker

log = logging.getLogger(__name__)

#: Recipients written per transaction (their rows and deliveries together): a big audience is
#: written and announced chunk by chunk, and no transaction holds SQLite's one write lock for
#: long. A run killed between chunks is finished by the next one: the written chunks' rows
#: exist with all their deliveries, and the rest is new.
RECIPIENTS_PER_WRITE = 500
#: Users per ``InboxChanged`` command: a command is one broker message to every gateway, and
#: each gateway walks its connections once per command.
COUNTS_PER_COMMAND = 1000


def quiet_until(now: Millis, zone: ZoneInfo, start: int, end: int) -> Millis | None:
    """When the quiet hours ``start``–``end`` (minutes after local midnight; the window may
    cross midnight; equal means none) that ``now`` falls in end, or None outside them."""
    if start == end:
        return None
    local = datetime.fromtimestamp(now / 1000, zone)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else minute >= start or minute < end
    if not inside:
        return None
    day = local.date() if minute < end else local.date() + timedelta(days=1)
    until = datetime(day.year, day.month, day.day, end // 60, end % 60, tzinfo=zone)
    return int(until.timestamp() * 1000)


def push_due(urgent: bool, settings: Settings, zone: ZoneInfo, now: Millis) -> Millis:
    """When a push may go: now, or at the end of the recipient's quiet hours (urgent notices
    are never held)."""
    if urgent:
        return now
    held = quiet_until(now, zone, settings.quiet_start, settings.quiet_end)
    return now if held is None else held


class NotifyWorker(Worker):
    queue: ClassVar[str] = "notify"
    group: ClassVar[str] = "notify"
    #: Requests are few and each may have thousands of recipients: small batches.
    batch_size: ClassVar[int] = 20

    def __init__(
        self,
        work_queue: WorkQueue,
        store: NotificationStore,
        broker: Broker,
        *,
        zone: ZoneInfo,
        clock: Clock = system_clock,
        consumer: str | None = None,
        email: bool = True,
        current_zone: Callable[[], ZoneInfo] | None = None,
    ) -> None:
        """``current_zone``: the neighbourhood's zone as this process now knows it (the admin's
        setting, ``linli.live.zone_of``), asked at each use; else ``zone`` always."""
        super().__init__(work_queue, consumer=consumer)
        self.store = store
        self.broker = broker
        self._zone = zone
        self._current_zone = current_zone
        self.clock = clock
        #: Whether e-mail is configured (``LINLI_SMTP_HOST``). Without it no e-mail delivery is
        #: written: none would be sent, and they would all go out, stale, the day it is.
        self.email = email

    @property
    def zone(self) -> ZoneInfo:
        return self._current_zone() if self._current_zone is not None else self._zone

    async def healthy(self) -> bool:
        await self.store.next_delivery_due()  # raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        for item in items:
            try:
                request = decode_request(item.data)
            except msgspec.DecodeError:
                log.error("notify request dropped: not a NotifyRequest (%d bytes)", len(item.data))
                continue
            await self.notify(request)

    async def notify(self, request: NotifyRequest) -> list[Notification]:
        """Carry out one request; the inbox rows this call wrote."""
        now = self.clock.now_ms()
        ids = [
            r.user_id
            for r in await self.store.audience(request.audience.audience())
            if r.user_id != request.actor_id
        ]
        inserted: list[Notification] = []
        for start in range(0, len(ids), RECIPIENTS_PER_WRITE):
            chunk = ids[start : start + RECIPIENTS_PER_WRITE]
            written = await self.store.insert(await self._rows(request, chunk, now), now=now)
            await self._announce(written)
            inserted.extend(written)
        return inserted

    async def _rows(
        self, request: NotifyRequest, users: list[UserId], now: Millis
    ) -> list[NewNotification]:
        """The users' rows, each with its deliveries: push to each device (at the end of the
        quiet hours unless urgent), e-mail at once for urgent notices (the rest waits for the
        digest)."""
        kind = Kind.URGENT if request.urgent else request.kind
        prefs = await self.store.prefs(users)
        settings = await self.store.settings(users)
        devices = await self.store.subscriptions(
            [u for u in users if prefs[u][(kind, Channel.PUSH)]]
        )
        rows = []
        for user_id in users:
            mine, settings_of = prefs[user_id], settings[user_id]
            planned: list[PlannedDelivery] = []
            if mine[(kind, Channel.PUSH)]:
                due = push_due(request.urgent, settings_of, self.zone, now)
                planned.extend(
                    PlannedDelivery(Channel.PUSH, f"push:{device.id}", due)
                    for device in devices.get(user_id, ())
                )
            # E-mail at once for urgent notices; the rest waits for the recipient's digest.
            if self.email and request.urgent and settings_of.email and mine[(kind, Channel.EMAIL)]:
                planned.append(PlannedDelivery(Channel.EMAIL, f"email:{settings_of.email}", now))
            rows.append(
                NewNotification(
                    user_id=user_id,
                    source_key=request.key,
                    kind=request.kind,
                    urgent=request.urgent,
                    text_zh=request.text_zh,
                    text_en=request.text_en,
                    link=request.link,
                    created_at=now,
                    # A kind whose inbox channel is off still gets its row (the record of who
                    # was reached, and what a digest or a push links to), read at once so it
                    # does not ring the bell.
                    read_at=None if mine[(kind, Channel.INBOX)] else now,
                    deliveries=tuple(planned),
                )
            )
        return rows

    async def _announce(self, inserted: list[Notification]) -> None:
        ringing = [n for n in inserted if n.read_at is None]
        users = sorted({n.user_id for n in ringing})
        latest = {
            n.user_id: {
                "id": n.id,
                "kind": str(n.kind),
                "text_zh": n.text_zh,
                "text_en": n.text_en,
                "link": n.link,
                "urgent": n.urgent,
            }
            for n in ringing
        }
        for start in range(0, len(users), COUNTS_PER_COMMAND):
            chunk = users[start : start + COUNTS_PER_COMMAND]
            counts = await self.store.unread_counts(chunk)
            await send_control(
                self.broker,
                InboxChanged(counts=counts, latest={u: latest[u] for u in chunk}),
            )
