"""The polls feature's store: polls, their votes, and tallies counted from the stored votes.

Guarantees (``tests/contract/test_store_polls.py`` runs them against SQLite and PostgreSQL):

* **One vote per voter key.** A vote is stored under ``(poll, voter_key)``: ``user:<id>`` when
  each resident counts, ``unit:<id>`` when each household does. ``record_ballots`` is idempotent:
  a ballot recorded again (a redelivery after a crash) changes nothing.
* **Later ballot wins.** Ballots carry a ``seq``; a ballot replaces the stored vote of its voter
  key only when the poll allows changes and its ``seq`` is higher than the stored one's, so the
  order in which a worker happens to see them (a reclaimed old entry after a newer one) does not
  matter. Without changes allowed, the first recorded ballot stays.
* **Ballots cast before the close count.** A ballot whose ``cast_at`` is after the poll's
  ``closed_at`` (or for a draft, or an unknown poll) is ignored.
* **Exact tallies.** ``poll_tally`` counts the stored choices in one statement (one consistent
  snapshot) together with the poll's ``version``, which grows with every recorded change of a
  vote and every change of state; a tally with a higher version is newer.
* **State moves forward only**: draft → open → closed. Only drafts can be edited or deleted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from linli.types import ChannelName, Millis, UserId
from persistence.errors import StoreError

MIN_OPTIONS = 2
MAX_OPTIONS = 10


class PollState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Counting(enum.StrEnum):
    """Who has a vote: each resident, or each unit (household), any of whose residents may cast
    or change the unit's one vote."""

    RESIDENT = "resident"
    UNIT = "unit"


class ResultsShown(enum.StrEnum):
    LIVE = "live"
    AFTER_CLOSE = "after_close"


@dataclass(frozen=True, slots=True)
class PollDraft:
    """What an organiser writes (and may edit until the poll opens)."""

    channel: ChannelName
    question: str
    options: tuple[str, ...]
    multiple: bool = False
    anonymous: bool = True
    allow_change: bool = True
    counting: Counting = Counting.RESIDENT
    results: ResultsShown = ResultsShown.LIVE
    closes_at: Millis | None = None

    def __post_init__(self) -> None:
        if not MIN_OPTIONS <= len(self.options) <= MAX_OPTIONS:
            raise ValueError(
                f"a poll needs {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(self.options)}"
            )


@dataclass(frozen=True, slots=True)
class Poll:
    id: int
    draft: PollDraft
    state: PollState
    join_code: str
    projector_token: str
    version: int
    created_by: UserId
    created_at: Millis
    opened_at: Millis | None
    closed_at: Millis | None


@dataclass(frozen=True, slots=True)
class Ballot:
    """One vote as the gateway accepted it and the votes worker records it."""

    poll_id: int
    voter_key: str
    user_id: UserId
    choices: tuple[int, ...]
    #: The client's id for this ballot (``client_vote_id``): tells a retry from a new ballot.
    ballot_id: str
    #: Orders the ballots of one voter key (microseconds at the gateway that accepted it).
    seq: int
    cast_at: Millis


@dataclass(frozen=True, slots=True)
class StoredVote:
    voter_key: str
    user_id: UserId
    #: The voter's display name and unit label (for named polls' voter lists).
    display_name: str
    unit_label: str | None
    choices: tuple[int, ...]
    ballot_id: str
    cast_at: Millis


@dataclass(frozen=True, slots=True)
class Tally:
    poll_id: int
    version: int
    state: PollState
    #: Votes per option, by option index.
    counts: tuple[int, ...]
    #: How many voter keys (residents or units) voted.
    voters: int


def voter_key(counting: Counting, user_id: UserId, unit_id: int | None) -> str | None:
    """The key a voter's ballot is stored under; None when the poll counts units and the user
    has none (staff accounts)."""
    if counting is Counting.UNIT:
        return None if unit_id is None else f"unit:{unit_id}"
    return f"user:{user_id}"


class PollStore(Protocol):
    async def create_poll(
        self,
        draft: PollDraft,
        *,
        created_by: UserId,
        join_code: str,
        projector_token: str,
        now: Millis,
    ) -> Poll:
        """A new draft. Raises ``persistence.db.UniqueViolation`` when the join code or token is
        taken (the caller draws another)."""

    async def get_poll(self, poll_id: int) -> Poll | None: ...

    async def get_poll_by_join_code(self, join_code: str) -> Poll | None: ...

    async def get_poll_by_projector_token(self, token: str) -> Poll | None: ...

    async def list_polls(self, channel: ChannelName) -> list[Poll]:
        """The channel's polls, newest first."""

    async def update_poll(self, poll_id: int, draft: PollDraft) -> Poll:
        """Replace a draft's content. Raises PollNotFound, or PollStateError once opened."""

    async def delete_poll(self, poll_id: int) -> None:
        """Delete a draft (nothing refers to one yet). Raises PollNotFound, or PollStateError
        once opened."""

    async def open_poll(self, poll_id: int, *, now: Millis) -> Poll:
        """Draft → open. Raises PollNotFound, or PollStateError when not a draft."""

    async def close_poll(self, poll_id: int, *, now: Millis) -> tuple[Poll, bool]:
        """Open → closed; the bool says whether this call closed it (False: it was closed
        already). Raises PollNotFound, or PollStateError for a draft."""

    async def schedule_close(
        self, poll_id: int, *, at: Millis, replacing: Millis | None = None
    ) -> Poll:
        """Set an open poll's ``closes_at`` to ``at`` unless it closes earlier already (a
        ``closes_at`` equal to ``replacing`` is replaced even when earlier: a caller moving its
        own schedule). A closed poll is returned unchanged. Raises PollNotFound, or
        PollStateError for a draft. (How an organiser's close stays exact with gateways that
        cache polls: ``gateway/polls/cache.py``.)"""

    async def open_poll_ids(self) -> list[int]:
        """Ids of every open poll, ascending."""

    async def close_due_polls(self, *, now: Millis) -> list[int]:
        """Close every open poll whose ``closes_at`` is at or before ``now`` (``closed_at`` is the
        scheduled time); return their ids. Safe to run in several processes at once: each poll
        is closed by exactly one call."""

    async def record_ballots(self, ballots: list[Ballot]) -> set[int]:
        """Record a batch in one transaction (see the module docstring); return the ids of the
        polls whose votes changed."""

    async def get_vote(self, poll_id: int, voter_key: str) -> StoredVote | None: ...

    async def list_votes(self, poll_id: int) -> list[StoredVote]:
        """Every stored vote with the name of who cast it, by display name."""

    async def poll_tally(self, poll_id: int) -> Tally | None:
        """Counted from the stored votes (see the module docstring); None for an unknown poll."""


class PollNotFound(StoreError):
    """No poll has that id."""


class PollStateError(StoreError):
    """The poll is not in the state the operation needs (editing an opened poll, opening a
    closed one)."""

    def __init__(self, poll_id: int, expected: PollState, got: PollState) -> None:
        super().__init__(f"poll {poll_id}: expected state {expected}, but it is {got}")
        self.expected, self.got = expected, got
