"""Voting over the WebSocket: the ``vote`` op and who may watch a ``poll:<id>`` channel (the
organiser's close is ``web/polls/actions.py``).

A vote is checked here, completely, before anything is written: the poll exists and is open,
the voter may read the poll's channel (and, when households count, has a unit), the choices are
options of the poll and as many as it allows, a no-change poll has no other ballot of this voter.
Then the ballot goes into the ``votes`` work queue with an idempotency key (a retry of the same
``client_vote_id`` is acked as a duplicate and queues nothing), and the reply acks it. The votes
worker (``workers/votes.py``) records it and publishes the tally; a bad vote changes nothing and
gets one of the codes in ``gateway/codes.py``.

The checks read no database in the common case: polls, memberships and units come from
``gateway/polls/cache.py`` (which explains why that stays exact, with the organiser's close), the
queue batches the appends of concurrent votes, and a no-change poll's "one ballot" is a claim the
queue checks atomically with the append (``channels/workqueue.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from channels.access import Action, Principal, may
from channels.names import ChannelKind, ChannelRef, InvalidChannel, parse_channel
from channels.workqueue import Claim, Claimed, ClaimsNotSeeded, WorkQueue
from gateway.codes import ErrorCode
from gateway.connection import Connection
from gateway.gateway import Gateway, RequestError
from gateway.polls.cache import PollCache
from gateway.polls.events import VOTES_QUEUE, PollChanged, claims_name, encode_ballot
from gateway.wire import FrameError, register_op
from linli.feature import Services
from linli.types import ChannelName
from persistence.polls import (
    MAX_OPTIONS,
    Ballot,
    Counting,
    Poll,
    PollState,
    PollStore,
    voter_key,
)
from persistence.polls.sql import SqlPollStore
from persistence.store import Role, Store

#: Who sees drafts: the roles the polls HTTP API lets write them (``web/polls/api._MANAGERS``).
POLL_MANAGERS = (Role.ORGANISER, Role.ADMIN)

log = logging.getLogger(__name__)

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


class PollOps:
    """The ``vote`` op and the ``poll:<id>`` access rule, answered from ``PollCache`` (see
    ``gateway/polls/cache.py`` for what is cached and why it stays exact), and the organiser's
    close (``close``), which keeps the caches exact."""

    def __init__(
        self, gateway: Gateway, store: Store, polls: PollStore, work_queue: WorkQueue
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.polls = polls
        self.work_queue = work_queue
        self.cache = PollCache(store, polls)

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
        if poll.state is PollState.DRAFT and principal.role not in POLL_MANAGERS:
            # A draft is not there for residents yet (the HTTP API hides it the same way).
            raise RequestError(ErrorCode.POLL_NOT_FOUND)
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
        # the poll's closed_at (gateway/polls/cache.py).
        loop = asyncio.get_running_loop()
        if cached.fresh_until <= loop.time():
            cached = await self.cache.poll(request.poll_id)
            if cached is None:
                raise RequestError(ErrorCode.POLL_NOT_FOUND)
            poll = cached.poll
        now = self.gateway.clock.now_ms()
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
            # An ordering key (later ballot wins), not a time: microseconds, so that two
            # ballots of one voter in the same millisecond still order.
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
                stored = await self.polls.list_votes(poll.id)
                await self.work_queue.seed_claims(
                    VOTES_QUEUE, claims_name(poll.id), {v.voter_key: v.ballot_id for v in stored}
                )
        raise RequestError(ErrorCode.UNAVAILABLE, "the poll's ballots could not be checked")


def install(gateway: Gateway, services: Services) -> PollOps:
    """The polls feature of a gateway: the ``vote`` op, the ``poll:<id>`` access rule, and the
    caches kept exact by the feature's control commands and by revoked group access."""
    ops = PollOps(gateway, services.store, SqlPollStore(services.database), services.work_queue)
    gateway.register_op(Vote, ops.vote)
    gateway.access_rules[ChannelKind.POLL] = ops.may_watch

    def on_poll_changed(command: PollChanged) -> None:
        ops.cache.forget_poll(command.poll_id)

    gateway.control_handlers[PollChanged] = on_poll_changed

    # Leaving a group ends the user's access (``gateway.control.AccessRevoked``, sent to every
    # gateway); the cached membership goes with it.
    def forget_membership(user_id: int, channel: ChannelName) -> None:
        try:
            ref = parse_channel(channel)
        except InvalidChannel:
            return
        if ref.kind is ChannelKind.GROUP:
            ops.cache.forget_member(user_id, ref.key)

    gateway.revoke_listeners.append(forget_membership)
    return ops
