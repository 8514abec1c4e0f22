"""What the ``vote`` op reads, kept in the gateway: polls, group memberships and voters' units.

A burst of votes must not queue for the database pool, so each gateway keeps what the checks
read, with a bound on how stale it can be and how that bound keeps the count exact:

* **Polls.** Everything a vote is checked against except the state is fixed once a poll is open
  (only drafts can be edited). A closed poll is final and kept for good; an open one is trusted
  for ``POLL_CACHE_SECONDS`` from the moment its query was *sent* (a copy is never older than
  that bound), then read again — once per poll, however many votes are waiting (one query in
  flight per poll). Drafts and unknown ids are not kept (a draft may open any moment).
  The gateway's clock check on ``closes_at`` is the single authority for "open": an organiser's
  close is a scheduled close ``CLOSE_DELAY_MS`` ahead (``web/polls/actions.py``), longer than the
  staleness bound, so every copy that predates it has expired before the closing time, and a
  vote acked by any gateway is cast before ``closed_at`` and counted. Copies are also dropped at
  once on every gateway (a control message) when a poll is closed; the bound only matters when
  that message is lost.
* **Group memberships** (``store.is_member``): a "yes" is kept ``ACCESS_CACHE_SECONDS``, a "no"
  is not kept (someone who just joined votes at once). Leaving a group drops the "yes" at once
  on every gateway (``forget_member``, a control message); the bound only matters when that
  message is lost.
* **Voters' units** (households counting): kept ``ACCESS_CACHE_SECONDS``. Nothing in Linli
  moves a resident to another unit yet; a change made by hand in the database is seen within
  the bound, and ``forget_user`` drops it at once for a future admin page.

A stale membership or unit can only let a vote be counted under the facts of a moment ago (as
if it had been cast a moment earlier); it never makes the gateway ack a ballot the votes worker
then ignores.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.polls.events import CLOSE_DELAY_MS, POLL_CACHE_SECONDS, WRITE_MARGIN_SECONDS
from linli.types import UserId
from persistence.polls import Poll, PollState, PollStore
from persistence.store import Store

__all__ = ["CLOSE_DELAY_MS", "POLL_CACHE_SECONDS", "WRITE_MARGIN_SECONDS"]
#: How long a group membership ("yes") or a voter's unit is trusted.
ACCESS_CACHE_SECONDS = 2.0
#: A closed poll is final; its copy is kept this long after it was read (then read again).
CLOSED_CACHE_SECONDS = 600.0
#: Expired entries are dropped this often.
SWEEP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class CachedPoll:
    poll: Poll
    #: Loop time until which the copy may be used.
    fresh_until: float


class PollCache:
    def __init__(self, store: Store, polls: PollStore) -> None:
        self.polls = polls
        self.store = store
        self._polls: dict[int, CachedPoll] = {}
        self._loading: dict[int, asyncio.Future[CachedPoll | None]] = {}
        self._members: dict[tuple[UserId, str], float] = {}
        self._units: dict[UserId, tuple[float, int | None]] = {}
        #: Bumped by every ``forget_*``: a read in flight across it is not kept.
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_sweep = 0.0
        self.loads = 0

    # -- polls --------------------------------------------------------------------------------

    async def poll(self, poll_id: int) -> CachedPoll | None:
        """A copy of the poll fresh at this moment (``fresh_until`` is in the future), or None
        for an unknown poll. Use it before the next ``await``, or ask again."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_sweep:
            self.sweep()
        while True:
            entry = self._polls.get(poll_id)
            if entry is not None and entry.fresh_until > loop.time():
                return entry
            future = self._loading.get(poll_id)
            if future is None:
                future = loop.create_future()
                self._loading[poll_id] = future
                task = asyncio.create_task(self._load(poll_id, future))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            entry = await asyncio.shield(future)
            if entry is None or entry.fresh_until > loop.time():
                return entry
            # The read took longer than a copy may live: read again.

    async def _load(self, poll_id: int, future: asyncio.Future[CachedPoll | None]) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        generation = self._generation
        self.loads += 1
        try:
            poll = await self.polls.get_poll(poll_id)
        except BaseException as exc:
            if self._loading.get(poll_id) is future:
                del self._loading[poll_id]
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved here: waiters may all have gone
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if self._loading.get(poll_id) is future:
            del self._loading[poll_id]
        if poll is None:
            future.set_result(None)
            return
        if poll.state is PollState.CLOSED:
            fresh_until = sent + CLOSED_CACHE_SECONDS
        elif poll.state is PollState.OPEN:
            fresh_until = sent + POLL_CACHE_SECONDS
        else:
            # A draft: answered from this read only (it may open any moment).
            fresh_until = sent + POLL_CACHE_SECONDS
            future.set_result(CachedPoll(poll, fresh_until))
            return
        entry = CachedPoll(poll, fresh_until)
        if generation == self._generation:
            self._polls[poll_id] = entry
        future.set_result(entry)

    def forget_poll(self, poll_id: int) -> None:
        """Drop the copy of the poll (its state changed); the next vote reads it again."""
        self._generation += 1
        self._polls.pop(poll_id, None)
        # Votes arriving from now on must not join a read sent before the change.
        self._loading.pop(poll_id, None)

    # -- who may vote -------------------------------------------------------------------------

    async def is_member(self, user_id: UserId, slug: str) -> bool:
        loop = asyncio.get_running_loop()
        key = (user_id, slug)
        until = self._members.get(key)
        if until is not None and until > loop.time():
            return True
        sent, generation = loop.time(), self._generation
        member = await self.store.is_member(user_id, slug)
        if member and generation == self._generation:
            self._members[key] = sent + ACCESS_CACHE_SECONDS
        elif not member:
            self._members.pop(key, None)
        return member

    async def unit_of(self, user_id: UserId) -> int | None:
        loop = asyncio.get_running_loop()
        cached = self._units.get(user_id)
        if cached is not None and cached[0] > loop.time():
            return cached[1]
        sent, generation = loop.time(), self._generation
        user = await self.store.get_user(user_id)
        unit_id = user.unit_id if user is not None else None
        if generation == self._generation:
            self._units[user_id] = (sent + ACCESS_CACHE_SECONDS, unit_id)
        return unit_id

    def forget_member(self, user_id: UserId, slug: str) -> None:
        self._generation += 1
        self._members.pop((user_id, slug), None)

    def forget_user(self, user_id: UserId) -> None:
        self._generation += 1
        self._units.pop(user_id, None)
        for key in [k for k in self._members if k[0] == user_id]:
            del self._members[key]

    def sweep(self) -> None:
        """Drop expired entries (called now and then: memory must not grow with every voter)."""
        now = asyncio.get_running_loop().time()
        self._next_sweep = now + SWEEP_SECONDS
        for poll_id in [p for p, e in self._polls.items() if e.fresh_until <= now]:
            del self._polls[poll_id]
        for key in [k for k, until in self._members.items() if until <= now]:
            del self._members[key]
        for user_id in [u for u, (until, _) in self._units.items() if until <= now]:
            del self._units[user_id]
