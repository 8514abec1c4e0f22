"""The web app's and the gateway's side of the activity figures: queue an ``ActivityEvent`` for
a login, an authenticated request or a WebSocket connection, never on the request's critical
path and never failing it (``persistence/activity`` says what the figures make of them).

A user's requests are queued at most once per ``EVERY_MS`` per process: the visit rule (a gap of
30 minutes starts a new visit) needs no finer grain, and a page that polls must not flood the
queue. Logins are always queued.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Final

from channels.workqueue import WorkQueue
from linli.clock import Clock
from linli.types import UserId
from persistence.activity import ACTIVITY_QUEUE, ActivityEvent, ActivityKind, encode_event

log = logging.getLogger(__name__)

EVERY_MS: Final = 5 * 60_000
#: Users remembered per process before the oldest half is forgotten (memory stays bounded).
MAX_REMEMBERED: Final = 100_000


class ActivityRecorder:
    def __init__(self, work_queue: WorkQueue, clock: Clock) -> None:
        self.work_queue = work_queue
        self.clock = clock
        self._last: dict[UserId, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, user_id: UserId, kind: ActivityKind = ActivityKind.VISIT) -> None:
        """Note that the user was active now; queues an event in the background if due."""
        now = self.clock.now_ms()
        if kind is not ActivityKind.LOGIN:
            last = self._last.get(user_id)
            if last is not None and now - last < EVERY_MS:
                return
        if len(self._last) >= MAX_REMEMBERED:
            for old in list(self._last)[: MAX_REMEMBERED // 2]:
                del self._last[old]
        self._last[user_id] = now
        event = ActivityEvent(uuid.uuid4().hex, user_id, kind, now)
        task = asyncio.get_running_loop().create_task(self._submit(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, event: ActivityEvent) -> None:
        try:
            await self.work_queue.submit(ACTIVITY_QUEUE, encode_event(event))
        except Exception:  # a figure is not worth a failed request: log and go on
            log.warning("activity event not queued", exc_info=True)

    async def drain(self) -> None:
        """Wait for the queued submissions (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
