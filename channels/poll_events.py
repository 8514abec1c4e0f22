"""What goes out on a ``poll:<id>`` channel: the poll's whole tally, never a delta.

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
from persistence.polls import Poll, PollState, ResultsShown, Tally
from persistence.store import Store


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


async def publish_tally(broker: Broker, store: Store, poll_id: int) -> Tally | None:
    """Count the poll's stored votes now and publish the snapshot; None for an unknown poll."""
    poll = await store.get_poll(poll_id)
    tally = await store.poll_tally(poll_id)
    if poll is None or tally is None:
        return None
    await broker.publish(
        poll_channel(poll_id), msgpack.packb(tally_body(poll, tally)), persist=False
    )
    return tally
