"""The notifications' timer jobs (run by ``workers/timers.py``): the e-mail digests and the
retention sweep. Both are recurring jobs (``Feature.recurring``), one each, that reschedule
themselves.

**Digests** (``notifications.digest``, daily at 08:00 local time: the settings page's time zone,
else ``LINLI_TIME_ZONE``, asked at each run): every
run makes the daily digests, and on Mondays the weekly ones too. For each user with an address
and that digest setting, the unread notifications made since their last digest (for a first
digest: in the past day or week), of the kinds they get by e-mail, become one pending e-mail
delivery (``digest:<since>-<until>:<address>``, sent by ``workers/deliver_email.py`` with the
delivery worker's retries); nothing at all when there are none. The user's ``last_digest_at``
then moves to the run's time.

Idempotent per period: a user whose last digest is at or after the run's 08:00 is skipped, so a
run repeated (the timers deliver at least once) or continued sends nobody a second digest. The
timers worker cancels a handler after 10 s, so a run stops taking new users after
``RUN_BUDGET_S`` and continues in a job due at once; the users done are skipped there. A
run's own 08:00 travels in the job's payload (``at``), so a run that is late (the worker was
down) still makes Monday's weekly digests on a Tuesday.

**Retention** (``notifications.prune``, daily at 03:30 local time): notifications older than
``LINLI_NOTIFICATION_DAYS``, and their deliveries, are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from linli.clock import Clock, system_clock
from linli.types import Millis, UserId
from persistence.notifications import (
    Channel,
    Digest,
    Kind,
    NewDelivery,
    NotificationStore,
    Settings,
)
from persistence.timers import TimerJob, TimerStore
from workers.deliver_email import EmailTarget, in_digest

log = logging.getLogger(__name__)

DIGEST_KIND: Final = "notifications.digest"
PRUNE_KIND: Final = "notifications.prune"
#: Local times of the runs: the digest with the morning's first look at the phone; the sweep
#: when nobody is about.
DIGEST_AT: Final = (8, 0)
PRUNE_AT: Final = (3, 30)
DAY_MS: Final = 86_400_000
PERIOD_MS: Final = {Digest.DAILY: DAY_MS, Digest.WEEKLY: 7 * DAY_MS}
#: A run takes no new user after this many seconds: half the timers worker's handler timeout
#: (``DEFAULT_HANDLER_TIMEOUT``, 10 s), leaving the rest for the user in hand.
RUN_BUDGET_S: Final = 5.0
#: Users whose settings and preferences are read in one query each.
USERS_PER_QUERY: Final = 200


def next_local_time(now: Millis, zone: ZoneInfo, hour: int, minute: int) -> Millis:
    """The first instant after ``now`` at which the clocks in ``zone`` show ``hour:minute``.
    On a day the time does not exist (a daylight-saving jump over it) it is the instant the
    clocks jump to; on a day it happens twice, the first."""
    local = datetime.fromtimestamp(now / 1000, zone)
    day = local.date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        due = int(at.timestamp() * 1000)
        if due > now:
            return due
        day += timedelta(days=1)


class NotificationTimers:
    def __init__(
        self,
        store: NotificationStore,
        timers: TimerStore,
        *,
        zone: ZoneInfo | Callable[[], ZoneInfo],
        email: bool,
        retention_days: int,
        clock: Clock = system_clock,
        budget_s: float = RUN_BUDGET_S,
    ) -> None:
        self.store = store
        self.timers = timers
        #: The zone, or how to ask for it at each use (``linli.live.zone_of``): an admin's
        #: change moves the next run's 08:00 without a restart.
        self._zone = zone
        #: Whether e-mail is configured (``LINLI_SMTP_HOST``); without it a run does nothing
        #: but schedule the next.
        self.email = email
        self.retention_days = retention_days
        self.clock = clock
        self.budget_s = budget_s

    @property
    def zone(self) -> ZoneInfo:
        return self._zone() if callable(self._zone) else self._zone

    def next_digest(self, now: Millis) -> Millis:
        return next_local_time(now, self.zone, *DIGEST_AT)

    def next_prune(self, now: Millis) -> Millis:
        return next_local_time(now, self.zone, *PRUNE_AT)

    # -- digests ------------------------------------------------------------------------------
    async def digest(self, job: TimerJob) -> None:
        now = self.clock.now_ms()
        at = int(job.payload.get("at", job.due_at))
        if self.email:
            finished = await self._digests(at, now)
            if not finished:
                await self.timers.schedule(job.key, DIGEST_KIND, now, {"at": at}, now=now)
                return
        await self.timers.schedule(job.key, DIGEST_KIND, self.next_digest(now), {}, now=now)

    def digests_due(self, at: Millis) -> list[Digest]:
        """The digests a run at ``at`` makes: daily ones, and weekly ones on Mondays."""
        monday = datetime.fromtimestamp(at / 1000, self.zone).weekday() == 0
        return [Digest.DAILY, Digest.WEEKLY] if monday else [Digest.DAILY]

    async def _digests(self, at: Millis, now: Millis) -> bool:
        """Make the digests of the run at ``at``; False when the budget ran out first."""
        started = self.clock.monotonic()
        made = 0
        for digest in self.digests_due(at):
            users = await self.store.digest_users(digest)
            for start in range(0, len(users), USERS_PER_QUERY):
                chunk = users[start : start + USERS_PER_QUERY]
                settings = await self.store.settings(chunk)
                prefs = await self.store.prefs(chunk)
                for user_id in chunk:
                    mine = settings[user_id]
                    if mine.last_digest_at is not None and mine.last_digest_at >= at:
                        continue  # done in this period already
                    if made and self.clock.monotonic() - started > self.budget_s:
                        return False
                    await self._digest_of(user_id, mine, prefs[user_id], digest, at, now)
                    made += 1
        if made:
            log.info("notifications: %d digests made for the run of %d", made, at)
        return True

    async def _digest_of(
        self,
        user_id: UserId,
        settings: Settings,
        prefs: dict[tuple[Kind, Channel], bool],
        digest: Digest,
        at: Millis,
        now: Millis,
    ) -> None:
        if settings.email is None:  # removed since the list was read
            return
        since = settings.last_digest_at
        if since is None:
            since = at - PERIOD_MS[digest]
        items = [
            n
            for n in await self.store.unread_since(user_id, since)
            if n.created_at < now and in_digest(n, prefs)
        ]
        if items:
            target = EmailTarget(settings.email, (since, now))
            # On the newest: the sender lists the window's notifications still unread then.
            await self.store.add_deliveries(
                [NewDelivery(items[-1].id, Channel.EMAIL, str(target), now)], now=now
            )
        await self.store.set_last_digest(user_id, now)

    # -- retention ----------------------------------------------------------------------------
    async def prune(self, job: TimerJob) -> None:
        now = self.clock.now_ms()
        removed = await self.store.prune(before=now - self.retention_days * DAY_MS)
        if removed:
            log.info("notifications: %d older than %d days removed", removed, self.retention_days)
        await self.timers.schedule(job.key, PRUNE_KIND, self.next_prune(now), {}, now=now)
