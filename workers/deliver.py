"""The delivery worker: sends the pending deliveries the notify worker wrote — a push to a
device, an e-mail — each through its channel's ``Sender``, with retries and back-off, and
records every outcome (sent, failed and why, gone), so a poster can see how many households a
notice reached and how.

Deliveries are claimed with a lease (``NotificationStore.claim_deliveries``), so any number of
these workers may run; one whose process dies leaves its claims to expire and be taken again.
A delivery is therefore sent at least once; a push repeated after a crash shows as one
notification on the phone (the service worker tags it with the notification's id, so a second
copy replaces the first).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from linli.clock import Clock, system_clock
from persistence.notifications import (
    Channel,
    Delivery,
    DeliveryState,
    Notification,
    NotificationStore,
)

log = logging.getLogger(__name__)

#: First retry after a temporary failure, doubling up to ``MAX_RETRY_MS``; after
#: ``MAX_ATTEMPTS`` the delivery is failed for good (about a day of trying).
FIRST_RETRY_MS = 5_000
MAX_RETRY_MS = 3_600_000
MAX_ATTEMPTS = 30
#: How long a claim holds: longer than any send's timeout (``SEND_TIMEOUT`` plus margin).
LEASE_MS = 60_000
SEND_TIMEOUT = 30.0
#: Deliveries claimed per round and sent at once, per channel.
BATCH = 100


class Outcome(enum.Enum):
    SENT = "sent"
    #: The target no longer exists (404/410 from a push service): not retried.
    GONE = "gone"
    #: Worth trying again later (a timeout, a 5xx, a 429, a mail server that is down).
    RETRY = "retry"
    #: Will never work (a 4xx other than the above, an address the server refuses).
    FAILED = "failed"


#: A service's ``Retry-After`` is honoured between these bounds: at least a second (an answer
#: of 0 must not make a busy loop), at most a day (then the next attempt is ours again).
MIN_RETRY_AFTER_MS = 1_000
MAX_RETRY_AFTER_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    error: str | None = None
    #: With ``RETRY``: when the other side asked to be tried again (``Retry-After``), instead
    #: of the back-off.
    retry_after_ms: int | None = None


class Sender(Protocol):
    """Sends one channel's deliveries."""

    channel: Channel

    async def send(self, delivery: Delivery, notification: Notification) -> Result: ...

    async def close(self) -> None: ...


def retry_delay_ms(attempts: int) -> int:
    return min(FIRST_RETRY_MS << min(max(attempts - 1, 0), 20), MAX_RETRY_MS)


class DeliveryWorker:
    """Not a work-queue consumer: it reads the deliveries table (like ``workers/timers.py``)."""

    queue: ClassVar[str] = "deliver"

    def __init__(
        self,
        store: NotificationStore,
        senders: Mapping[Channel, Sender],
        *,
        clock: Clock = system_clock,
        poll_interval: float = 1.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.clock = clock
        self.poll_interval = poll_interval
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    busy = await self.run_once()
                except Exception:
                    log.warning("delivery round failed; retrying", exc_info=True)
                    busy = 0
                if busy:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        finally:
            for sender in self.senders.values():
                await sender.close()

    async def run_until_idle(self) -> int:
        """Send every delivery due now (tests, a graceful drain); how many were handled."""
        total = 0
        while handled := await self.run_once():
            total += handled
        return total

    async def run_once(self) -> int:
        """One round over every channel: claim what is due and send it; how many were handled."""
        handled = 0
        for channel, sender in self.senders.items():
            claimed = await self.store.claim_deliveries(
                channel,
                now=self.clock.now_ms(),
                owner=self.owner,
                lease_ms=LEASE_MS,
                limit=BATCH,
            )
            if claimed:
                await asyncio.gather(*(self._send(sender, d) for d in claimed))
                handled += len(claimed)
        return handled

    async def _send(self, sender: Sender, delivery: Delivery) -> None:
        notification = await self.store.get(delivery.notification_id)
        if notification is None:  # pruned meanwhile
            result = Result(Outcome.FAILED, "the notification no longer exists")
        else:
            try:
                result = await asyncio.wait_for(sender.send(delivery, notification), SEND_TIMEOUT)
            except TimeoutError:
                result = Result(Outcome.RETRY, f"no answer within {SEND_TIMEOUT:.0f} s")
            except Exception as exc:
                log.warning("sending delivery %d failed", delivery.id, exc_info=True)
                result = Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        now = self.clock.now_ms()
        state = {
            Outcome.SENT: DeliveryState.SENT,
            Outcome.GONE: DeliveryState.GONE,
            Outcome.FAILED: DeliveryState.FAILED,
            Outcome.RETRY: DeliveryState.PENDING,
        }[result.outcome]
        retry_at = None
        if state is DeliveryState.PENDING:
            if delivery.attempts >= MAX_ATTEMPTS:
                state = DeliveryState.FAILED
            elif result.retry_after_ms is not None:
                wait = min(max(result.retry_after_ms, MIN_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS)
                retry_at = now + wait
            else:
                retry_at = now + retry_delay_ms(delivery.attempts)
        if state is DeliveryState.SENT:
            self.sent += 1
        await self.store.finish_delivery(
            delivery.id,
            owner=self.owner,
            state=state,
            now=now,
            error=result.error,
            retry_at=retry_at,
        )
