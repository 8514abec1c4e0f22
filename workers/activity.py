"""The metrics worker (``linli worker metrics``; a task in the embedded mode): writes the
activity the web app and the gateway queued (``persistence/activity``) and rolls up each day a
batch touched, from the raw rows, so a replayed batch changes nothing and any past day can be
recomputed to the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta, tzinfo
from typing import ClassVar

from channels.workqueue import WorkItem, WorkQueue
from linli.periods import day_period, local_date
from persistence.activity import ACTIVITY_QUEUE, ActivityStore, decode_event
from workers.base import Worker

log = logging.getLogger(__name__)


class ActivityWorker(Worker):
    queue: ClassVar[str] = ACTIVITY_QUEUE
    group: ClassVar[str] = "metrics"

    def __init__(
        self,
        work_queue: WorkQueue,
        store: ActivityStore,
        *,
        zone: tzinfo,
        current_zone: Callable[[], tzinfo] | None = None,
        consumer: str | None = None,
    ) -> None:
        """``current_zone``: the neighbourhood's zone as this process now knows it (the admin's
        setting, ``linli.live.zone_of``), asked at each batch; else ``zone`` always."""
        super().__init__(work_queue, consumer=consumer)
        self.store = store
        self._zone = zone
        self._current_zone = current_zone

    @property
    def zone(self) -> tzinfo:
        return self._current_zone() if self._current_zone is not None else self._zone

    async def healthy(self) -> bool:
        await self.store.days("0000-00-00", "0000-00-00")  # raises while the database is down
        return True

    async def handle(self, items: list[WorkItem]) -> None:
        events = []
        for item in items:
            try:
                events.append(decode_event(item.data))
            except ValueError as exc:
                log.error("activity entry dropped: %s", exc)
        await self.store.record(events)
        # The day of each event, and the day after: a late event just before midnight can end
        # a visit that the next day's first event would otherwise have started.
        touched = set()
        zone = self.zone
        for event in events:
            day = local_date(event.at, zone)
            touched.update({(event.user_id, day), (event.user_id, day + timedelta(days=1))})
        await self.store.roll_up_many(
            [(user_id, day_period(day, zone)) for user_id, day in sorted(touched)]
        )
