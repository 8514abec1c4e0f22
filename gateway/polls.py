"""Voting over the WebSocket: the ``vote`` op, who may watch a ``poll:<id>`` channel, and the
organiser's close.

A vote is checked here, completely, before anything is written: the poll exists and is open,
the voter may read the poll's channel (and, when households count, has a unit), the choices are
options of the poll and as many as it allows, a no-change poll has no other ballot of this voter.
Then the ballot goes into the ``votes`` work queue with an idempotency key (a retry of the same
``client_vote_id`` is acked as a duplicate and queues nothing), and the reply acks it. The votes
worker (``workers/votes.py``) records it and publishes the tally; a bad vote changes nothing and
gets one of the codes in ``gateway/codes.py``.

The checks read no database in the common case: polls, memberships and units come from
``gateway/poll_cache.py`` (which explains why that stays exact, with ``PollOps.close``), the
queue batches the appends of concurrent votes, and a no-change poll's "one ballot" is a claim the
queue checks atomically with the append (``channels/workqueue.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from dataclasses import dataclass
from typing import Any

import msgpack

from channels.access import Action, Principal, may
from channels.names import ChannelKind, ChannelRef, InvalidChannel, parse_channel
from channels.poll_events import publish_tally
from channels.workqueue import Claim, Claimed, ClaimsNotSeeded, WorkQueue
from gateway.codes import ErrorCode
from gateway.connection import Connection
from gateway.gateway import Gateway, RequestError
from gateway.poll_cache import CLOSE_DELAY_MS, WRITE_MARGIN_SECONDS, PollCache
from gateway.wire import FrameError, register_op
from linli.runtime import Runtime
from linli.types import ChannelName
from persistence.polls import (
    MAX_OPTIONS,
    Ballot,
    Counting,
    Poll,
    PollState,
    voter_key,
)
from persistence.store import Role, Store

log = logging.getLogger(__name__)

VOTES_QUEUE = "votes"
_CLIENT_VOTE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_POLL_ID = 2**63 - 1
#: Prefix of the username of the principal behind a projector's live feed (a real username
#: cannot contain ':', so it cannot collide).
PROJECTOR_PREFIX = "projector:"


@dataclass(frozen=True, slots=True)
class Vote:
    id: int
    poll_id: int
    choices: tuple[int, ...]
    client_vote_id: str


def parse_vote(obj: dict[str, Any], request_id: int) -> Vote:
    poll_id = obj.get("poll_id")
    if type(poll_id) is not int or not 0 < poll_id <= _MAX_POLL_ID:
        raise FrameError(
            ErrorCode.BAD_REQUEST, "field 'poll_id' must be a positive integer", request_id
        )
    choices = obj.get("choices")
    if (
        not isinstance(choices, list)
        or not 1 <= len(choices) <= MAX_OPTIONS
        or any(type(c) is not int or not 0 <= c < MAX_OPTIONS for c in choices)
        or len(set(choices)) != len(choices)
    ):
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            f"field 'choices' must be a list of 1 to {MAX_OPTIONS} different option indexes "
            f"from 0 to {MAX_OPTIONS - 1}",
            request_id,
        )
    client_vote_id = obj.get("client_vote_id")
    if not isinstance(client_vote_id, str) or not _CLIENT_VOTE_ID_RE.match(client_vote_id):
        raise FrameError(
            ErrorCode.BAD_REQUEST,
            "field 'client_vote_id' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
            request_id,
        )
    return Vote(request_id, poll_id, tuple(choices), client_vote_id)


register_op("vote", parse_vote)


def encode_ballot(ballot: Ballot) -> bytes:
    # The fields by hand: ``dataclasses.asdict`` copies recursively and showed in the profile.
    return msgpack.packb(  # type: ignore[no-any-return]
        {
            "poll_id": ballot.poll_id,
            "voter_key": ballot.voter_key,
            "user_id": ballot.user_id,
            "choices": ballot.choices,
            "ballot_id": ballot.ballot_id,
            "seq": ballot.seq,
            "cast_at": ballot.cast_at,
        }
    )


def decode_ballot(data: bytes) -> Ballot:
    fields = msgpack.unpackb(data, raw=False)
    fields["choices"] = tuple(fields["choices"])
    return Ballot(**fields)


def projector_principal(poll: Poll) -> Principal:
    """Who a projector's live feed is: nobody, allowed to read exactly this poll's channel."""
    return Principal(
        user_id=0,
        username=f"{PROJECTOR_PREFIX}{poll.id}",
        display_name="",
        role=Role.RESIDENT,
        building_id=None,
    )


async def may_vote_in(store: Store, principal: Principal, poll: Poll) -> bool:
    """Whoever may read the poll's channel may vote (and watch its tally)."""
    return await may(principal, parse_channel(poll.draft.channel), Action.READ, store.is_member)


def now_ms() -> int:
    return int(time.time() * 1000)


class PollOps:
    """The ``vote`` op and the ``poll:<id>`` access rule, answered from ``PollCache`` (see
    ``gateway/poll_cache.py`` for what is cached and why it stays exact), and the organiser's
    close (``close``), which keeps the caches exact."""

    def __init__(self, gateway: Gateway, store: Store, work_queue: WorkQueue) -> None:
        self.gateway = gateway
        self.store = store
        self.work_queue = work_queue
        self.cache = PollCache(store)
        self._closing: dict[int, asyncio.Task[tuple[Poll, bool]]] = {}

    async def _may_vote_in(self, principal: Principal, poll: Poll) -> bool:
        return await may(
            principal, parse_channel(poll.draft.channel), Action.READ, self.cache.is_member
        )

    async def may_watch(self, principal: Principal, channel: ChannelRef, action: Action) -> bool:
        """The access rule of ``poll:<id>`` channels: read-only, for whoever may vote, and for
        the poll's projector feed."""
        if action is not Action.READ:
            return False
        cached = await self.cache.poll(int(channel.key))
        if cached is None:
            raise RequestError(ErrorCode.POLL_NOT_FOUND)
        poll = cached.poll
        if principal.username == f"{PROJECTOR_PREFIX}{poll.id}":
            return True
        return await self._may_vote_in(principal, poll)

    async def vote(self, conn: Connection, request: Vote) -> dict[str, Any]:
        principal = conn.principal
        cached = await self.cache.poll(request.poll_id)
        if cached is None:
            raise RequestError(ErrorCode.POLL_NOT_FOUND)
        poll = cached.poll
        # Who votes, and under which key: the poll's channel and counting never change once it
        # is open, so any copy of the poll will do here.
        if principal.username.startswith(PROJECTOR_PREFIX) or not await self._may_vote_in(
            principal, poll
        ):
            raise RequestError(ErrorCode.NOT_ELIGIBLE, "you may not read this poll's channel")
        unit_id = None
        if poll.draft.counting is Counting.UNIT:
            unit_id = await self.cache.unit_of(principal.user_id)
        # Open or not: decided on a copy fresh at this moment, and the ballot's cast_at taken
        # in the same step (no await in between), so an acked ballot is always cast before
        # the poll's closed_at (gateway/poll_cache.py).
        loop = asyncio.get_running_loop()
        if cached.fresh_until <= loop.time():
            cached = await self.cache.poll(request.poll_id)
            if cached is None:
                raise RequestError(ErrorCode.POLL_NOT_FOUND)
            poll = cached.poll
        now = now_ms()
        if poll.state is PollState.DRAFT:
            raise RequestError(ErrorCode.POLL_NOT_OPEN)
        closes_at = poll.draft.closes_at
        if poll.state is PollState.CLOSED or (closes_at is not None and now >= closes_at):
            raise RequestError(ErrorCode.POLL_CLOSED)
        options = len(poll.draft.options)
        if any(choice >= options for choice in request.choices):
            raise RequestError(ErrorCode.BAD_CHOICE, f"this poll has options 0 to {options - 1}")
        if not poll.draft.multiple and len(request.choices) != 1:
            raise RequestError(ErrorCode.BAD_CHOICE, "this poll takes exactly one choice")
        key = voter_key(poll.draft.counting, principal.user_id, unit_id)
        if key is None:
            raise RequestError(ErrorCode.NOT_ELIGIBLE, "households vote here, and you have no unit")
        if not self.gateway.rate_limiter.allow(principal.user_id, loop.time()):
            raise RequestError(ErrorCode.RATE_LIMITED)
        ballot_id = f"{principal.user_id}-{request.client_vote_id}"
        ballot = Ballot(
            poll_id=poll.id,
            voter_key=key,
            user_id=principal.user_id,
            choices=tuple(sorted(request.choices)),
            ballot_id=ballot_id,
            seq=time.time_ns() // 1000,
            cast_at=now,
        )
        accepted = await self._submit(poll, ballot, request.client_vote_id)
        return {
            "poll_id": poll.id,
            "choices": list(ballot.choices),
            "client_vote_id": request.client_vote_id,
            "duplicate": not accepted,
        }

    async def _submit(self, poll: Poll, ballot: Ballot, client_vote_id: str) -> bool:
        data = encode_ballot(ballot)
        idempotency_key = f"{poll.id}:{ballot.user_id}:{client_vote_id}"
        if poll.draft.allow_change:
            return await self.work_queue.submit(VOTES_QUEUE, data, idempotency_key=idempotency_key)
        # One ballot per voter key: the queue keeps the first one claimed (atomically with the
        # append), so a second ballot is refused here rather than acked and then ignored.
        claim = Claim(claims_name(poll.id), ballot.voter_key, ballot.ballot_id)
        for _ in range(2):
            try:
                return await self.work_queue.submit(
                    VOTES_QUEUE, data, idempotency_key=idempotency_key, claim=claim
                )
            except Claimed:
                raise RequestError(ErrorCode.ALREADY_VOTED) from None
            except ClaimsNotSeeded:
                # First use of this poll's claims on this queue (or they were lost with it):
                # start from the votes already stored.
                stored = await self.store.list_votes(poll.id)
                await self.work_queue.seed_claims(
                    VOTES_QUEUE, claims_name(poll.id), {v.voter_key: v.ballot_id for v in stored}
                )
        raise RequestError(ErrorCode.UNAVAILABLE, "the poll's ballots could not be checked")

    # -- state changes ------------------------------------------------------------------------

    async def _poll_changed(self, poll_id: int) -> None:
        """Drop every gateway's copy of the poll: here at once, elsewhere by a control message
        (at most once; the copies' lifetime bounds the rest)."""
        self.cache.forget_poll(poll_id)
        await self.gateway.send_control({"op": CONTROL_POLL_CHANGED, "poll_id": poll_id})

    async def close(self, poll_id: int) -> tuple[Poll, bool]:
        """An organiser's close: made a scheduled close ``CLOSE_DELAY_MS`` ahead, then carried
        out at that time (here, or by the votes worker, whichever comes first; ``closed_at`` is
        the scheduled time either way). Returns the closed poll and whether this call closed
        it. Runs to the end even if the caller goes away. Raises ``PollNotFound`` or
        ``PollStateError`` (a draft)."""
        task = self._closing.get(poll_id)
        if task is None:
            task = asyncio.create_task(self._close(poll_id))
            self._closing[poll_id] = task
            task.add_done_callback(lambda _t: self._closing.pop(poll_id, None))
        return await asyncio.shield(task)

    async def _close(self, poll_id: int) -> tuple[Poll, bool]:
        loop = asyncio.get_running_loop()
        replacing: int | None = None
        for _ in range(5):
            sent = loop.time()
            at = now_ms() + CLOSE_DELAY_MS
            poll = await self.store.schedule_close(poll_id, at=at, replacing=replacing)
            if poll.state is PollState.CLOSED or poll.draft.closes_at != at:
                break  # closed already, or closing sooner anyway
            # A copy of the poll read before this write is trusted until at most
            # POLL_CACHE_SECONDS after the write; the closing time must come later than that
            # (with half a second to spare for clocks). A write that took so long that this is
            # not certain moves the time again.
            if loop.time() - sent <= WRITE_MARGIN_SECONDS:
                break
            replacing = at
        await self._poll_changed(poll_id)
        if poll.state is PollState.CLOSED:
            return poll, False
        closes_at = poll.draft.closes_at
        assert closes_at is not None
        try:
            # Screens learn of the change (a higher version) at once.
            await publish_tally(self.gateway.broker, self.store, poll_id)
        except Exception:
            log.warning("tally of poll %d not announced before its close", poll_id, exc_info=True)
        await asyncio.sleep(max(0, closes_at - now_ms()) / 1000)
        closed, changed = await self.store.close_poll(poll_id, now=closes_at)
        await self._poll_changed(poll_id)
        return closed, changed


#: Control-channel op: a poll's state or closing time changed; every gateway drops its copy.
CONTROL_POLL_CHANGED = "poll_changed"
#: Control-channel op: a user left a group; every gateway drops the cached membership.
CONTROL_MEMBER_LEFT = "poll_member_left"
_OPS: weakref.WeakKeyDictionary[Gateway, PollOps] = weakref.WeakKeyDictionary()


def claims_name(poll_id: int) -> str:
    """The work queue's claims set of a poll that takes one ballot per voter key."""
    return f"poll:{poll_id}"


def poll_ops(gateway: Gateway) -> PollOps:
    """The polls feature of a gateway (the HTTP API closes polls through it)."""
    return _OPS[gateway]


def install_polls(gateway: Gateway, runtime: Runtime) -> None:
    ops = PollOps(gateway, runtime.store, runtime.work_queue)
    _OPS[gateway] = ops
    gateway.register_op(Vote, ops.vote)
    gateway.access_rules[ChannelKind.POLL] = ops.may_watch

    def on_poll_changed(obj: dict[str, Any]) -> None:
        if type(obj.get("poll_id")) is int:
            ops.cache.forget_poll(obj["poll_id"])

    def on_member_left(obj: dict[str, Any]) -> None:
        if type(obj.get("user_id")) is int and isinstance(obj.get("slug"), str):
            ops.cache.forget_member(obj["user_id"], obj["slug"])

    gateway.control_handlers[CONTROL_POLL_CHANGED] = on_poll_changed
    gateway.control_handlers[CONTROL_MEMBER_LEFT] = on_member_left

    # Leaving a group ends the user's access through ``Gateway.revoke`` (web/api.py); the
    # polls feature follows it to drop the cached membership on every gateway.
    async def forget_membership(user_id: int, channel: ChannelName) -> None:
        try:
            ref = parse_channel(channel)
        except InvalidChannel:
            ref = None
        if ref is not None and ref.kind is ChannelKind.GROUP:
            ops.cache.forget_member(user_id, ref.key)
            await gateway.send_control(
                {"op": CONTROL_MEMBER_LEFT, "user_id": user_id, "slug": ref.key}
            )

    gateway.revoke_listeners.append(forget_membership)
