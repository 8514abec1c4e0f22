"""``PollStore`` in SQL for SQLite and PostgreSQL alike; mixed into ``SqlStore``.

Every statement is in the dialects' common subset. Idempotency comes from the primary key of
``poll_votes`` (one row per poll and voter key) and the ``seq`` guard on its conflict action.
"""

from __future__ import annotations

from typing import Final

import orjson

from linli.types import ChannelName, Millis, UserId
from persistence.db import Database, Executor, Row
from persistence.polls import (
    Ballot,
    Counting,
    Poll,
    PollDraft,
    PollNotFound,
    PollState,
    PollStateError,
    ResultsShown,
    StoredVote,
    Tally,
)

_POLL_COLUMNS: Final = (
    "id, channel, question, options, multiple, anonymous, allow_change, counting, results, "
    "state, closes_at, join_code, projector_token, version, created_by, created_at, opened_at, "
    "closed_at"
)

# A changed vote replaces the stored one only if it is newer: a redelivered older ballot is a
# no-op, and RETURNING yields no row for it.
_UPSERT_CHANGEABLE: Final = """
    INSERT INTO poll_votes (poll_id, voter_key, user_id, ballot_id, seq, cast_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (poll_id, voter_key) DO UPDATE
    SET user_id = excluded.user_id, ballot_id = excluded.ballot_id, seq = excluded.seq,
        cast_at = excluded.cast_at
    WHERE poll_votes.seq < excluded.seq
    RETURNING seq
"""
_INSERT_FIRST_ONLY: Final = """
    INSERT INTO poll_votes (poll_id, voter_key, user_id, ballot_id, seq, cast_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (poll_id, voter_key) DO NOTHING
    RETURNING seq
"""
# PostgreSQL only: a batch of votes as six arrays, one statement (see ``_write_votes``).
_UNNEST_VOTES: Final = (
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], "
    "$6::bigint[])"
)
# One statement, so PostgreSQL evaluates it on one snapshot: the version always matches the
# counts beside it. Rows: (-1, version, state), (-2, voters, NULL), then (choice, count, NULL).
_TALLY: Final = """
    SELECT -1 AS choice, version AS n, state FROM polls WHERE id = $1
    UNION ALL
    SELECT -2, count(*), NULL FROM poll_votes WHERE poll_id = $1
    UNION ALL
    SELECT choice, count(*), NULL FROM poll_choices WHERE poll_id = $1 GROUP BY choice
"""


def _poll(row: Row) -> Poll:
    return Poll(
        id=row["id"],
        draft=PollDraft(
            channel=row["channel"],
            question=row["question"],
            options=tuple(orjson.loads(row["options"])),
            multiple=bool(row["multiple"]),
            anonymous=bool(row["anonymous"]),
            allow_change=bool(row["allow_change"]),
            counting=Counting(row["counting"]),
            results=ResultsShown(row["results"]),
            closes_at=row["closes_at"],
        ),
        state=PollState(row["state"]),
        join_code=row["join_code"],
        projector_token=row["projector_token"],
        version=row["version"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


def _draft_args(draft: PollDraft) -> tuple[object, ...]:
    return (
        draft.channel,
        draft.question,
        orjson.dumps(list(draft.options)).decode(),
        int(draft.multiple),
        int(draft.anonymous),
        int(draft.allow_change),
        str(draft.counting),
        str(draft.results),
        draft.closes_at,
    )


class SqlPollStore:
    """Implements ``persistence.polls.PollStore`` over the shared database (see there for the
    guarantees)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_poll(
        self,
        draft: PollDraft,
        *,
        created_by: UserId,
        join_code: str,
        projector_token: str,
        now: Millis,
    ) -> Poll:
        row = await self._db.fetchrow(
            "INSERT INTO polls (channel, question, options, multiple, anonymous, allow_change, "
            "counting, results, closes_at, state, join_code, projector_token, created_by, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
            f"RETURNING {_POLL_COLUMNS}",
            *_draft_args(draft),
            str(PollState.DRAFT),
            join_code,
            projector_token,
            created_by,
            now,
        )
        assert row is not None
        return _poll(row)

    async def _poll_where(self, column: str, value: object) -> Poll | None:
        row = await self._db.fetchrow(
            f"SELECT {_POLL_COLUMNS} FROM polls WHERE {column} = $1", value
        )
        return None if row is None else _poll(row)

    async def get_poll(self, poll_id: int) -> Poll | None:
        return await self._poll_where("id", poll_id)

    async def get_poll_by_join_code(self, join_code: str) -> Poll | None:
        return await self._poll_where("join_code", join_code)

    async def get_poll_by_projector_token(self, token: str) -> Poll | None:
        return await self._poll_where("projector_token", token)

    async def list_polls(self, channel: ChannelName) -> list[Poll]:
        rows = await self._db.fetch(
            f"SELECT {_POLL_COLUMNS} FROM polls WHERE channel = $1 ORDER BY id DESC", channel
        )
        return [_poll(row) for row in rows]

    async def _require_state(self, tx: Executor, poll_id: int, *allowed: PollState) -> PollState:
        state = await tx.fetchval("SELECT state FROM polls WHERE id = $1", poll_id)
        if state is None:
            raise PollNotFound(f"poll {poll_id}")
        current = PollState(state)
        if current not in allowed:
            raise PollStateError(poll_id, allowed[0], current)
        return current

    async def _fetch_poll(self, tx: Executor, poll_id: int) -> Poll:
        row = await tx.fetchrow(f"SELECT {_POLL_COLUMNS} FROM polls WHERE id = $1", poll_id)
        assert row is not None
        return _poll(row)

    async def update_poll(self, poll_id: int, draft: PollDraft) -> Poll:
        async with self._db.transaction() as tx:
            await self._require_state(tx, poll_id, PollState.DRAFT)
            await tx.execute(
                "UPDATE polls SET channel = $2, question = $3, options = $4, multiple = $5, "
                "anonymous = $6, allow_change = $7, counting = $8, results = $9, "
                "closes_at = $10, version = version + 1 WHERE id = $1",
                poll_id,
                *_draft_args(draft),
            )
            return await self._fetch_poll(tx, poll_id)

    async def delete_poll(self, poll_id: int) -> None:
        async with self._db.transaction() as tx:
            await self._require_state(tx, poll_id, PollState.DRAFT)
            await tx.execute("DELETE FROM polls WHERE id = $1", poll_id)

    async def open_poll(self, poll_id: int, *, now: Millis) -> Poll:
        async with self._db.transaction() as tx:
            await self._require_state(tx, poll_id, PollState.DRAFT)
            await tx.execute(
                "UPDATE polls SET state = $2, opened_at = $3, version = version + 1 WHERE id = $1",
                poll_id,
                str(PollState.OPEN),
                now,
            )
            return await self._fetch_poll(tx, poll_id)

    async def close_poll(self, poll_id: int, *, now: Millis) -> tuple[Poll, bool]:
        async with self._db.transaction() as tx:
            state = await self._require_state(tx, poll_id, PollState.OPEN, PollState.CLOSED)
            changed = False
            if state is PollState.OPEN:
                # Conditional: a scheduled close racing this one closes it exactly once.
                changed = (
                    await tx.execute(
                        "UPDATE polls SET state = $2, closed_at = $3, version = version + 1 "
                        "WHERE id = $1 AND state = $4",
                        poll_id,
                        str(PollState.CLOSED),
                        now,
                        str(PollState.OPEN),
                    )
                    == 1
                )
            return await self._fetch_poll(tx, poll_id), changed

    async def schedule_close(
        self, poll_id: int, *, at: Millis, replacing: Millis | None = None
    ) -> Poll:
        async with self._db.transaction() as tx:
            await self._require_state(tx, poll_id, PollState.OPEN, PollState.CLOSED)
            await tx.execute(
                "UPDATE polls SET closes_at = $2, version = version + 1 "
                "WHERE id = $1 AND state = $3 "
                "AND (closes_at IS NULL OR closes_at > $2 OR closes_at = $4)",
                poll_id,
                at,
                str(PollState.OPEN),
                replacing,
            )
            return await self._fetch_poll(tx, poll_id)

    async def open_poll_ids(self) -> list[int]:
        rows = await self._db.fetch(
            "SELECT id FROM polls WHERE state = $1 ORDER BY id", str(PollState.OPEN)
        )
        return [int(row["id"]) for row in rows]

    async def close_due_polls(self, *, now: Millis) -> list[int]:
        rows = await self._db.fetch(
            "UPDATE polls SET state = $1, closed_at = closes_at, version = version + 1 "
            "WHERE state = $2 AND closes_at IS NOT NULL AND closes_at <= $3 RETURNING id",
            str(PollState.CLOSED),
            str(PollState.OPEN),
            now,
        )
        return sorted(int(row["id"]) for row in rows)

    async def record_ballots(self, ballots: list[Ballot]) -> set[int]:
        if not ballots:
            return set()
        async with self._db.transaction() as tx:
            polls: dict[int, Row | None] = {}
            for poll_id in sorted({ballot.poll_id for ballot in ballots}):
                polls[poll_id] = await tx.fetchrow(
                    "SELECT state, closed_at, allow_change FROM polls WHERE id = $1", poll_id
                )
            # One ballot per voter key, the one applying them in seq order would leave: the
            # newest where changes are allowed, the first cast where the first one stays.
            chosen: dict[tuple[int, str], Ballot] = {}
            for ballot in ballots:
                poll = polls[ballot.poll_id]
                if poll is None or poll["state"] == PollState.DRAFT:
                    continue
                if poll["closed_at"] is not None and ballot.cast_at > poll["closed_at"]:
                    continue
                key = (ballot.poll_id, ballot.voter_key)
                kept = chosen.get(key)
                newest_wins = bool(poll["allow_change"])
                if kept is None or (
                    ballot.seq > kept.seq if newest_wins else ballot.seq < kept.seq
                ):
                    chosen[key] = ballot
            written: list[Ballot] = []
            for allow_change in (True, False):
                group = [
                    b
                    for b in chosen.values()
                    if bool(polls[b.poll_id]["allow_change"]) is allow_change  # type: ignore[index]
                ]
                if group:
                    written += await self._write_votes(tx, group, allow_change=allow_change)
            if written:
                await self._replace_choices(tx, written)
            changes: dict[int, int] = {}
            for ballot in written:
                changes[ballot.poll_id] = changes.get(ballot.poll_id, 0) + 1
            # One version step per recorded change, in one statement per poll.
            for poll_id, count in sorted(changes.items()):
                await tx.execute(
                    "UPDATE polls SET version = version + $2 WHERE id = $1", poll_id, count
                )
        return set(changes)

    async def _write_votes(
        self, tx: Executor, ballots: list[Ballot], *, allow_change: bool
    ) -> list[Ballot]:
        """Upsert the votes; return the ballots that were written (new or newer)."""
        statement = _UPSERT_CHANGEABLE if allow_change else _INSERT_FIRST_ONLY
        if self._db.dialect == "postgres":
            # Dialect difference: the whole batch as arrays in one statement.
            rows = await tx.fetch(
                statement.replace("VALUES ($1, $2, $3, $4, $5, $6)", _UNNEST_VOTES).replace(
                    "RETURNING seq", "RETURNING poll_id, voter_key"
                ),
                [b.poll_id for b in ballots],
                [b.voter_key for b in ballots],
                [b.user_id for b in ballots],
                [b.ballot_id for b in ballots],
                [b.seq for b in ballots],
                [b.cast_at for b in ballots],
            )
            done = {(int(row["poll_id"]), str(row["voter_key"])) for row in rows}
            return [b for b in ballots if (b.poll_id, b.voter_key) in done]
        written = []
        for b in ballots:
            if await tx.fetchval(
                statement, b.poll_id, b.voter_key, b.user_id, b.ballot_id, b.seq, b.cast_at
            ):
                written.append(b)
        return written

    async def _replace_choices(self, tx: Executor, ballots: list[Ballot]) -> None:
        choices = [(b.poll_id, b.voter_key, c) for b in ballots for c in sorted(set(b.choices))]
        if self._db.dialect == "postgres":
            await tx.execute(
                "DELETE FROM poll_choices c USING unnest($1::bigint[], $2::text[]) "
                "AS k(poll_id, voter_key) "
                "WHERE c.poll_id = k.poll_id AND c.voter_key = k.voter_key",
                [b.poll_id for b in ballots],
                [b.voter_key for b in ballots],
            )
            await tx.execute(
                "INSERT INTO poll_choices (poll_id, voter_key, choice) "
                "SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[])",
                [c[0] for c in choices],
                [c[1] for c in choices],
                [c[2] for c in choices],
            )
            return
        await tx.executemany(
            "DELETE FROM poll_choices WHERE poll_id = $1 AND voter_key = $2",
            [(b.poll_id, b.voter_key) for b in ballots],
        )
        await tx.executemany(
            "INSERT INTO poll_choices (poll_id, voter_key, choice) VALUES ($1, $2, $3)", choices
        )

    async def _votes(self, poll_id: int, voter_key: str | None) -> list[StoredVote]:
        rows = await self._db.fetch(
            "SELECT v.voter_key, v.user_id, v.ballot_id, v.cast_at, u.display_name, "
            "n.label AS unit_label, c.choice "
            "FROM poll_votes v "
            "LEFT JOIN users u ON u.id = v.user_id "
            "LEFT JOIN units n ON n.id = u.unit_id "
            "LEFT JOIN poll_choices c ON c.poll_id = v.poll_id AND c.voter_key = v.voter_key "
            "WHERE v.poll_id = $1 AND ($2 = '' OR v.voter_key = $2) "
            "ORDER BY v.voter_key, c.choice",
            poll_id,
            voter_key or "",
        )
        votes: dict[str, tuple[Row, list[int]]] = {}
        for row in rows:
            entry = votes.setdefault(row["voter_key"], (row, []))
            if row["choice"] is not None:
                entry[1].append(int(row["choice"]))
        result = [
            StoredVote(
                voter_key=row["voter_key"],
                user_id=row["user_id"],
                display_name=row["display_name"] or "",
                unit_label=row["unit_label"],
                choices=tuple(choices),
                ballot_id=row["ballot_id"],
                cast_at=row["cast_at"],
            )
            for row, choices in votes.values()
        ]
        # Sorted in Python: collations differ between the dialects (see ``store_sql``).
        return sorted(result, key=lambda v: (v.display_name.casefold(), v.voter_key))

    async def get_vote(self, poll_id: int, voter_key: str) -> StoredVote | None:
        votes = await self._votes(poll_id, voter_key)
        return votes[0] if votes else None

    async def list_votes(self, poll_id: int) -> list[StoredVote]:
        return await self._votes(poll_id, None)

    async def poll_tally(self, poll_id: int) -> Tally | None:
        rows = await self._db.fetch(_TALLY, poll_id)
        head = [row for row in rows if row["choice"] == -1]
        if not head:
            return None
        options = await self._db.fetchval("SELECT options FROM polls WHERE id = $1", poll_id)
        counts = [0] * len(orjson.loads(options))
        voters = 0
        for row in rows:
            choice = int(row["choice"])
            if choice == -2:
                voters = int(row["n"])
            elif 0 <= choice < len(counts):
                counts[choice] = int(row["n"])
        return Tally(
            poll_id=poll_id,
            version=int(head[0]["n"]),
            state=PollState(head[0]["state"]),
            counts=tuple(counts),
            voters=voters,
        )
