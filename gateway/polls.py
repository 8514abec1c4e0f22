"""Voting over the WebSocket: the ``vote`` op, and who may watch a ``poll:<id>`` channel.

A vote is checked here, completely, before anything is written: the poll exists and is open,
the voter may read the poll's channel (and, when households count, has a unit), the choices are
options of the poll and as many as it allows. Then the ballot goes into the ``votes`` work queue
with an idempotency key (a retry of the same ``client_vote_id`` is acked as a duplicate and
queues nothing), and the reply acks it. The votes worker (``workers/votes.py``) records it and
publishes the tally; a bad vote changes nothing and gets one of the codes in ``gateway/codes.py``.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

import msgpack

from channels.access import Action, Principal, may
from channels.names import ChannelKind, ChannelRef, parse_channel
from channels.workqueue import WorkQueue
from gateway.codes import ErrorCode
from gateway.connection import Connection
from gateway.gateway import Gateway, RequestError
from gateway.wire import FrameError, register_op
from linli.runtime import Runtime
from persistence.polls import (
    MAX_OPTIONS,
    Ballot,
    Counting,
    Poll,
    PollState,
    voter_key,
)
from persistence.store import Role, Store

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
    return msgpack.packb(asdict(ballot))  # type: ignore[no-any-return]


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


class PollOps:
    def __init__(self, gateway: Gateway, store: Store, work_queue: WorkQueue) -> None:
        self.gateway = gateway
        self.store = store
        self.work_queue = work_queue

    async def may_watch(self, principal: Principal, channel: ChannelRef, action: Action) -> bool:
        """The access rule of ``poll:<id>`` channels: read-only, for whoever may vote, and for
        the poll's projector feed."""
        if action is not Action.READ:
            return False
        poll = await self.store.get_poll(int(channel.key))
        if poll is None:
            raise RequestError(ErrorCode.POLL_NOT_FOUND)
        if principal.username == f"{PROJECTOR_PREFIX}{poll.id}":
            return True
        return await may_vote_in(self.store, principal, poll)

    async def vote(self, conn: Connection, request: Vote) -> dict[str, Any]:
        principal = conn.principal
        poll = await self.store.get_poll(request.poll_id)
        if poll is None:
            raise RequestError(ErrorCode.POLL_NOT_FOUND)
        if principal.username.startswith(PROJECTOR_PREFIX) or not await may_vote_in(
            self.store, principal, poll
        ):
            raise RequestError(ErrorCode.NOT_ELIGIBLE, "you may not read this poll's channel")
        now_ms = int(time.time() * 1000)
        if poll.state is PollState.DRAFT:
            raise RequestError(ErrorCode.POLL_NOT_OPEN)
        closes_at = poll.draft.closes_at
        if poll.state is PollState.CLOSED or (closes_at is not None and now_ms >= closes_at):
            raise RequestError(ErrorCode.POLL_CLOSED)
        options = len(poll.draft.options)
        if any(choice >= options for choice in request.choices):
            raise RequestError(ErrorCode.BAD_CHOICE, f"this poll has options 0 to {options - 1}")
        if not poll.draft.multiple and len(request.choices) != 1:
            raise RequestError(ErrorCode.BAD_CHOICE, "this poll takes exactly one choice")
        unit_id = None
        if poll.draft.counting is Counting.UNIT:
            user = await self.store.get_user(principal.user_id)
            unit_id = user.unit_id if user is not None else None
        key = voter_key(poll.draft.counting, principal.user_id, unit_id)
        if key is None:
            raise RequestError(ErrorCode.NOT_ELIGIBLE, "households vote here, and you have no unit")
        ballot_id = f"{principal.user_id}-{request.client_vote_id}"
        if not poll.draft.allow_change:
            # The worker keeps the first ballot anyway; refusing here tells the voter why.
            stored = await self.store.get_vote(poll.id, key)
            if stored is not None and stored.ballot_id != ballot_id:
                raise RequestError(ErrorCode.ALREADY_VOTED)
        if not self.gateway.rate_limiter.allow(
            principal.user_id, asyncio.get_running_loop().time()
        ):
            raise RequestError(ErrorCode.RATE_LIMITED)
        ballot = Ballot(
            poll_id=poll.id,
            voter_key=key,
            user_id=principal.user_id,
            choices=tuple(sorted(request.choices)),
            ballot_id=ballot_id,
            seq=time.time_ns() // 1000,
            cast_at=now_ms,
        )
        accepted = await self.work_queue.submit(
            VOTES_QUEUE,
            encode_ballot(ballot),
            idempotency_key=f"{poll.id}:{principal.user_id}:{request.client_vote_id}",
        )
        return {
            "poll_id": poll.id,
            "choices": list(ballot.choices),
            "client_vote_id": request.client_vote_id,
            "duplicate": not accepted,
        }


def install_polls(gateway: Gateway, runtime: Runtime) -> None:
    ops = PollOps(gateway, runtime.store, runtime.work_queue)
    gateway.register_op(Vote, ops.vote)
    gateway.access_rules[ChannelKind.POLL] = ops.may_watch
