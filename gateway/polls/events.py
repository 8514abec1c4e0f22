"""What of the polls feature crosses processes: the ballots on the ``votes`` work queue, the
control commands that keep the gateways' caches exact, and the tallies on ``poll:<id>``.

A ``poll:<id>`` channel carries the poll's whole tally, never a delta.

Each event is a snapshot counted from the stored votes (``Store.poll_tally``) with the poll's
``version``, so a client keeps whichever snapshot has the highest version, however it got it (a
live ``pub``, the reply to a recovery, the HTTP API), and missing any number of events loses
nothing but intermediate frames. Events are published with ``persist=False``: the store keeps
votes, not tallies.

``data`` of a tally publication (msgpack, like every publication's data)::

    {"kind": "tally", "poll_id": 7, "version": 42, "state": "open", "voters": 120,
     "counts": [70, 50] | null, "ts": 1700000000000}

``counts`` is null while a poll whose results are shown only after the close is still open.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from channels.broker import Broker
from channels.names import poll_channel
from gateway.control import ControlCommand
from persistence.polls import Ballot, Poll, PollState, PollStore, ResultsShown, Tally

#: How long a copy of an open poll is trusted, from the moment its query was sent.
POLL_CACHE_SECONDS = 0.5
#: An organiser's close takes effect this far ahead: the staleness bound, plus the time the
#: write may take (``WRITE_MARGIN_SECONDS``), plus half a second for clocks a little apart
#: between processes.
CLOSE_DELAY_MS = 1500
#: A close whose write took longer than this moves its closing time later again.
WRITE_MARGIN_SECONDS = 0.5
#: The timer job kind that closes a poll at its ``closes_at`` (``workers/timers.py``).
CLOSE_TIMER = "polls.close"
#: The work queue the gateways submit ballots to and ``workers/votes.py`` consumes.
VOTES_QUEUE = "votes"


class PollChanged(ControlCommand, frozen=True, tag="poll_changed"):
    """A poll's state or closing time changed: every gateway drops its copy."""

    poll_id: int


class PollMemberLeft(ControlCommand, frozen=True, tag="poll_member_left"):
    """A user left a group: every gateway drops the cached membership."""

    user_id: int
    slug: str


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


def claims_name(poll_id: int) -> str:
    """The work queue's claims set of a poll that takes one ballot per voter key."""
    return f"poll:{poll_id}"


def results_visible(poll: Poll, state: PollState | None = None) -> bool:
    state = state or poll.state
    return poll.draft.results is ResultsShown.LIVE or state is PollState.CLOSED


def tally_body(poll: Poll, tally: Tally) -> dict[str, Any]:
    return {
        "kind": "tally",
        "poll_id": poll.id,
        "version": tally.version,
        "state": str(tally.state),
        "voters": tally.voters,
        "counts": list(tally.counts) if results_visible(poll, tally.state) else None,
        "ts": int(time.time() * 1000),
    }


async def publish_tally(broker: Broker, store: PollStore, poll_id: int) -> Tally | None:
    """Count the poll's stored votes now and publish the snapshot; None for an unknown poll."""
    poll = await store.get_poll(poll_id)
    tally = await store.poll_tally(poll_id)
    if poll is None or tally is None:
        return None
    await broker.publish(
        poll_channel(poll_id), msgpack.packb(tally_body(poll, tally)), persist=False
    )
    return tally
