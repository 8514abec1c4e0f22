"""``MeetingStore`` in SQL for SQLite and PostgreSQL alike (see ``persistence/meetings`` for the
guarantees).

Concurrency: every change updates the meeting's row (``version = version + 1``) in its own
transaction, which orders the changes of one meeting. A vote takes a shared lock on its item's
row (PostgreSQL ``FOR SHARE``; SQLite's ``BEGIN IMMEDIATE`` makes every transaction the only
writer), and closing the item updates that row, so the close waits for the votes already
under way and no vote can be recorded after it. Locks are always taken item first, meeting
second, so the two never deadlock. ``snapshot`` reads under PostgreSQL's REPEATABLE READ (one
view for all its statements); on SQLite a transaction is that view already.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from linli.types import Millis, UserId
from persistence.db import Database, Executor, Row
from persistence.meetings import (
    MAX_ITEM_FILES,
    AlreadyVoted,
    Ballot,
    CheckedInAlready,
    CheckIn,
    CheckOut,
    EmptyRegister,
    Held,
    Item,
    ItemDraft,
    ItemFile,
    ItemNotOpen,
    ItemState,
    Meeting,
    MeetingDraft,
    MeetingKind,
    MeetingNotFound,
    MeetingState,
    MeetingStateError,
    MinutesState,
    NotCheckedIn,
    NotInSession,
    NotOnRoll,
    NotPaperProxy,
    NotPresent,
    ObjectionClosed,
    OwnerEntry,
    Proxy,
    ProxyScan,
    Question,
    QuestionState,
    RegisteredUnit,
    RegisterEntry,
    RollEntry,
    Route,
    ScanFile,
    Snapshot,
    StoredVote,
    TooManyFiles,
    VoteCorrection,
    VoteNotFound,
)
from persistence.meetings.rules import Choice, Ratio, Threshold, ThresholdKind
from persistence.store_sql import label_key

_MEETING_COLUMNS: Final = (
    "id, kind, title, place, starts_at, state, projector_token, checkin_code, version, "
    "created_by, created_at, convened_at, opened_at, closed_at, minutes, minutes_state, "
    "minutes_by, minutes_at, minutes_notice_id"
)
_ITEM_COLUMNS: Final = (
    "id, position, title, explanation, resolution, threshold, rule, state, opened_at, "
    "closed_at, result, figures, objection_until, objection_result"
)


def rule_json(threshold: Threshold) -> str:
    def ratio(r: Ratio) -> list[object]:
        return [r.num, r.den, r.strict]

    return orjson.dumps(
        {
            "quorum_heads": ratio(threshold.quorum_heads),
            "quorum_share": ratio(threshold.quorum_share),
            "pass_heads": ratio(threshold.pass_heads),
            "pass_share": ratio(threshold.pass_share),
            "min_present": threshold.min_present,
        }
    ).decode()


def rule_of(kind: str, text: str) -> Threshold:
    data = orjson.loads(text)

    def ratio(v: list[Any]) -> Ratio:
        return Ratio(int(v[0]), int(v[1]), bool(v[2]))

    return Threshold(
        ThresholdKind(kind),
        ratio(data["quorum_heads"]),
        ratio(data["quorum_share"]),
        ratio(data["pass_heads"]),
        ratio(data["pass_share"]),
        int(data["min_present"]),
    )


def _item(row: Row) -> Item:
    return Item(
        id=row["id"],
        position=row["position"],
        draft=ItemDraft(
            title=row["title"],
            explanation=row["explanation"],
            resolution=bool(row["resolution"]),
            threshold=rule_of(row["threshold"], row["rule"]),
        ),
        state=ItemState(row["state"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        result=row["result"],
        figures=orjson.loads(row["figures"]) if row["figures"] else None,
        objection_until=row["objection_until"],
        objection_result=row["objection_result"],
    )


def _meeting(row: Row, items: Sequence[Item]) -> Meeting:
    return Meeting(
        id=row["id"],
        kind=MeetingKind(row["kind"]),
        title=row["title"],
        place=row["place"],
        starts_at=row["starts_at"],
        state=MeetingState(row["state"]),
        projector_token=row["projector_token"],
        checkin_code=row["checkin_code"],
        version=row["version"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        convened_at=row["convened_at"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        minutes=row["minutes"],
        minutes_state=MinutesState(row["minutes_state"]),
        minutes_by=row["minutes_by"],
        minutes_at=row["minutes_at"],
        items=tuple(items),
        minutes_notice_id=row["minutes_notice_id"],
    )


class SqlMeetingStore:
    """Implements ``persistence.meetings.MeetingStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the register ----------------------------------------------------------------------

    async def replace_register(self, entries: Sequence[RegisterEntry], *, now: Millis) -> int:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM meeting_unit_owners")
            await tx.execute("DELETE FROM meeting_units")
            await tx.execute("DELETE FROM meeting_owners")
            # One owner row per person: an account, or a name without one (the import's key).
            owners: dict[tuple[int | None, str], int] = {}
            for entry in entries:
                ids = []
                for owner in entry.owners:
                    key = (owner.user_id, "" if owner.user_id is not None else owner.name)
                    if key not in owners:
                        owners[key] = await tx.fetchval(
                            "INSERT INTO meeting_owners (name, user_id, created_at) "
                            "VALUES ($1, $2, $3) RETURNING id",
                            owner.name,
                            owner.user_id,
                            now,
                        )
                    ids.append(owners[key])
                await tx.execute(
                    "INSERT INTO meeting_units (unit_id, share, voice_owner_id) "
                    "VALUES ($1, $2, $3)",
                    entry.unit_id,
                    entry.share,
                    ids[entry.voice],
                )
                for owner_id in dict.fromkeys(ids):
                    await tx.execute(
                        "INSERT INTO meeting_unit_owners (unit_id, owner_id) VALUES ($1, $2)",
                        entry.unit_id,
                        owner_id,
                    )
        return len(entries)

    async def ensure_unit(self, building_id: int, label: str) -> int:
        """The id of the building's unit with this label (as residents' registration spells
        it: ``persistence.store_sql.label_key``), made when missing."""
        key = label_key(label)
        async with self._db.transaction() as tx:
            found = await tx.fetchval(
                "SELECT id FROM units WHERE building_id = $1 AND label_key = $2", building_id, key
            )
            if found is None:
                found = await tx.fetchval(
                    "INSERT INTO units (building_id, label, label_key) VALUES ($1, $2, $3) "
                    "RETURNING id",
                    building_id,
                    " ".join(label.split()),
                    key,
                )
            return int(found)

    async def register(self) -> list[RegisteredUnit]:
        return await self._register(self._db)

    async def _register(self, tx: Executor) -> list[RegisteredUnit]:
        rows = await tx.fetch(
            "SELECT m.unit_id, m.share, m.voice_owner_id, u.label, u.building_id, b.name AS bname, "
            "o.id AS owner_id, o.name, o.user_id "
            "FROM meeting_units m JOIN units u ON u.id = m.unit_id "
            "JOIN buildings b ON b.id = u.building_id "
            "JOIN meeting_unit_owners uo ON uo.unit_id = m.unit_id "
            "JOIN meeting_owners o ON o.id = uo.owner_id "
            "ORDER BY u.building_id, m.unit_id, o.id"
        )
        found: dict[int, tuple[Row, list[Row]]] = {}
        for row in rows:
            found.setdefault(row["unit_id"], (row, []))[1].append(row)
        units = []
        for head, owner_rows in found.values():
            owners = tuple(OwnerEntry(r["name"], r["user_id"]) for r in owner_rows)
            voice = next(r for r in owner_rows if r["owner_id"] == head["voice_owner_id"])
            units.append(
                RegisteredUnit(
                    unit_id=head["unit_id"],
                    label=f"{head['bname']} {head['label']}",
                    building_id=head["building_id"],
                    share=head["share"],
                    owners=owners,
                    voice=OwnerEntry(voice["name"], voice["user_id"]),
                    voice_owner_id=head["voice_owner_id"],
                )
            )
        # Sorted in Python: collations differ between the dialects.
        return sorted(units, key=lambda u: (u.building_id, u.label.casefold(), u.unit_id))

    # -- meetings --------------------------------------------------------------------------

    async def _insert_items(self, tx: Executor, meeting_id: int, draft: MeetingDraft) -> None:
        for position, item in enumerate(draft.items, start=1):
            await tx.execute(
                "INSERT INTO meeting_items (meeting_id, position, title, explanation, resolution, "
                "threshold, rule, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                meeting_id,
                position,
                item.title,
                item.explanation,
                int(item.resolution),
                str(item.threshold.kind),
                rule_json(item.threshold),
                str(ItemState.PENDING),
            )

    async def create_meeting(
        self,
        draft: MeetingDraft,
        *,
        created_by: UserId,
        projector_token: str,
        checkin_code: str,
        now: Millis,
    ) -> Meeting:
        async with self._db.transaction() as tx:
            meeting_id = await tx.fetchval(
                "INSERT INTO meetings (kind, title, place, starts_at, state, projector_token, "
                "checkin_code, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "RETURNING id",
                str(draft.kind),
                draft.title,
                draft.place,
                draft.starts_at,
                str(MeetingState.DRAFT),
                projector_token,
                checkin_code,
                created_by,
                now,
            )
            await self._insert_items(tx, meeting_id, draft)
            return await self._fetch(tx, meeting_id)

    async def _fetch(self, tx: Executor, meeting_id: int) -> Meeting:
        meeting = await self._maybe(tx, "id", meeting_id)
        if meeting is None:
            raise MeetingNotFound(f"meeting {meeting_id}")
        return meeting

    async def _maybe(self, tx: Executor, column: str, value: object) -> Meeting | None:
        row = await tx.fetchrow(
            f"SELECT {_MEETING_COLUMNS} FROM meetings WHERE {column} = $1", value
        )
        if row is None:
            return None
        items = await tx.fetch(
            f"SELECT {_ITEM_COLUMNS} FROM meeting_items WHERE meeting_id = $1 ORDER BY position",
            row["id"],
        )
        return _meeting(row, [_item(i) for i in items])

    async def _state(self, tx: Executor, meeting_id: int, *allowed: MeetingState) -> None:
        state = await tx.fetchval("SELECT state FROM meetings WHERE id = $1", meeting_id)
        if state is None:
            raise MeetingNotFound(f"meeting {meeting_id}")
        if MeetingState(state) not in allowed:
            raise MeetingStateError(
                f"meeting {meeting_id}: expected {'/'.join(allowed)}, but it is {state}"
            )

    async def _bump(self, tx: Executor, meeting_id: int) -> None:
        await tx.execute("UPDATE meetings SET version = version + 1 WHERE id = $1", meeting_id)

    async def update_meeting(self, meeting_id: int, draft: MeetingDraft) -> Meeting:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.DRAFT)
            await tx.execute(
                "UPDATE meetings SET kind = $2, title = $3, place = $4, starts_at = $5, "
                "version = version + 1 WHERE id = $1",
                meeting_id,
                str(draft.kind),
                draft.title,
                draft.place,
                draft.starts_at,
            )
            await tx.execute("DELETE FROM meeting_items WHERE meeting_id = $1", meeting_id)
            await self._insert_items(tx, meeting_id, draft)
            return await self._fetch(tx, meeting_id)

    async def get_meeting(self, meeting_id: int) -> Meeting | None:
        return await self._maybe(self._db, "id", meeting_id)

    async def get_meeting_by_token(self, token: str) -> Meeting | None:
        return await self._maybe(self._db, "projector_token", token)

    async def list_meetings(self) -> list[Meeting]:
        ids = await self._db.fetch("SELECT id FROM meetings ORDER BY starts_at DESC, id DESC")
        found = [await self.get_meeting(int(row["id"])) for row in ids]
        return [m for m in found if m is not None]

    async def convene(self, meeting_id: int, *, now: Millis) -> Meeting:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.DRAFT)
            units = await self._register(tx)
            if not units:
                raise EmptyRegister("no unit has an owner and a share")
            for unit in units:
                await tx.execute(
                    "INSERT INTO meeting_members (meeting_id, unit_id, owner_key, voice_owner_id, "
                    "user_id, share, label, owners) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    meeting_id,
                    unit.unit_id,
                    f"owner:{unit.voice_owner_id}",
                    unit.voice_owner_id,
                    unit.voice.user_id,
                    unit.share,
                    unit.label,
                    "、".join(o.name for o in unit.owners),
                )
            await tx.execute(
                "UPDATE meetings SET state = $2, convened_at = $3, version = version + 1 "
                "WHERE id = $1",
                meeting_id,
                str(MeetingState.CONVENED),
                now,
            )
            return await self._fetch(tx, meeting_id)

    async def _move(
        self, meeting_id: int, source: MeetingState, target: MeetingState, column: str, now: Millis
    ) -> Meeting:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, source)
            if target is MeetingState.CLOSED and await tx.fetchval(
                "SELECT count(*) FROM meeting_items WHERE meeting_id = $1 AND state = $2",
                meeting_id,
                str(ItemState.OPEN),
            ):
                raise MeetingStateError("close the open item first")
            await tx.execute(
                f"UPDATE meetings SET state = $2, {column} = $3, version = version + 1 "
                "WHERE id = $1",
                meeting_id,
                str(target),
                now,
            )
            return await self._fetch(tx, meeting_id)

    async def open_meeting(self, meeting_id: int, *, now: Millis) -> Meeting:
        return await self._move(
            meeting_id, MeetingState.CONVENED, MeetingState.OPEN, "opened_at", now
        )

    async def close_meeting(self, meeting_id: int, *, now: Millis) -> Meeting:
        return await self._move(
            meeting_id, MeetingState.OPEN, MeetingState.CLOSED, "closed_at", now
        )

    # -- the night -------------------------------------------------------------------------

    async def roll(self, meeting_id: int) -> list[RollEntry]:
        return await self._roll(self._db, meeting_id)

    async def _roll(self, tx: Executor, meeting_id: int) -> list[RollEntry]:
        rows = await tx.fetch(
            "SELECT unit_id, owner_key, voice_owner_id, user_id, share, label, owners "
            "FROM meeting_members WHERE meeting_id = $1 ORDER BY unit_id",
            meeting_id,
        )
        return [
            RollEntry(
                unit_id=r["unit_id"],
                owner_key=r["owner_key"],
                voice_owner_id=r["voice_owner_id"],
                user_id=r["user_id"],
                share=r["share"],
                label=r["label"],
                owners=r["owners"],
            )
            for r in rows
        ]

    async def set_proxy(self, meeting_id: int, proxy: Proxy) -> Meeting:
        return await self.set_proxies(meeting_id, [proxy])

    async def set_proxies(
        self, meeting_id: int, proxies: Sequence[Proxy], scan: ScanFile | None = None
    ) -> Meeting:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.CONVENED, MeetingState.OPEN)
            for proxy in proxies:
                await self._set_proxy(tx, meeting_id, proxy, scan)
            await self._bump(tx, meeting_id)
            return await self._fetch(tx, meeting_id)

    async def _set_proxy(
        self, tx: Executor, meeting_id: int, proxy: Proxy, scan: ScanFile | None
    ) -> None:
        if not await tx.fetchval(
            "SELECT count(*) FROM meeting_members WHERE meeting_id = $1 AND unit_id = $2",
            meeting_id,
            proxy.unit_id,
        ):
            raise NotOnRoll(f"unit {proxy.unit_id}")
        if await tx.fetchval(
            "SELECT count(*) FROM meeting_checkins WHERE meeting_id = $1 AND unit_id = $2",
            meeting_id,
            proxy.unit_id,
        ):
            raise CheckedInAlready(f"unit {proxy.unit_id}")
        for table in ("meeting_proxies", "meeting_proxy_scans"):
            await tx.execute(
                f"DELETE FROM {table} WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                proxy.unit_id,
            )
        await tx.execute(
            "INSERT INTO meeting_proxies (meeting_id, unit_id, proxy_key, proxy_user_id, "
            "proxy_name, route, reference, recorded_by, created_at, scan_to_follow) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            meeting_id,
            proxy.unit_id,
            proxy.proxy_key,
            proxy.proxy_user_id,
            proxy.proxy_name,
            str(proxy.route),
            proxy.reference,
            proxy.recorded_by,
            proxy.created_at,
            1 if proxy.scan_to_follow and scan is None else 0,
        )
        if scan is not None:
            await self._put_scan(
                tx, meeting_id, proxy.unit_id, scan, proxy.recorded_by, proxy.created_at
            )

    async def _put_scan(
        self, tx: Executor, meeting_id: int, unit_id: int, scan: ScanFile, by: UserId, now: Millis
    ) -> None:
        await tx.execute(
            "INSERT INTO meeting_proxy_scans (meeting_id, unit_id, blob_id, filename, "
            "media_type, size, sha256, added_by, added_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            meeting_id,
            unit_id,
            scan.blob_id,
            scan.filename,
            scan.media_type,
            scan.size,
            scan.sha256,
            by,
            now,
        )

    async def set_proxy_scan(
        self, meeting_id: int, unit_id: int, scan: ScanFile, *, by: UserId, now: Millis
    ) -> ProxyScan | None:
        async with self._db.transaction() as tx:
            await self._state(
                tx, meeting_id, MeetingState.CONVENED, MeetingState.OPEN, MeetingState.CLOSED
            )
            route = await tx.fetchval(
                "SELECT route FROM meeting_proxies WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            )
            if route != str(Route.PAPER):
                raise NotPaperProxy(f"unit {unit_id}")
            old = await tx.fetchrow(
                "SELECT * FROM meeting_proxy_scans WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            )
            await tx.execute(
                "DELETE FROM meeting_proxy_scans WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            )
            await self._put_scan(tx, meeting_id, unit_id, scan, by, now)
            await tx.execute(
                "UPDATE meeting_proxies SET scan_to_follow = 0 "
                "WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            )
            await self._bump(tx, meeting_id)
            return None if old is None else _scan(old)

    async def proxy_scans(self, meeting_id: int) -> list[ProxyScan]:
        rows = await self._db.fetch(
            "SELECT * FROM meeting_proxy_scans WHERE meeting_id = $1 ORDER BY unit_id",
            meeting_id,
        )
        return [_scan(r) for r in rows]

    async def remove_proxy(self, meeting_id: int, unit_id: int) -> bool:
        async with self._db.transaction() as tx:
            if await tx.fetchval(
                "SELECT count(*) FROM meeting_checkins WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            ):
                raise CheckedInAlready(f"unit {unit_id}")
            removed = await tx.execute(
                "DELETE FROM meeting_proxies WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            )
            await tx.execute(
                "DELETE FROM meeting_proxy_scans WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit_id,
            )
            if removed:
                await self._bump(tx, meeting_id)
            return removed > 0

    async def check_in(
        self,
        meeting_id: int,
        entries: Sequence[tuple[int, str | None]],
        *,
        route: Route,
        recorded_by: UserId,
        now: Millis,
    ) -> list[int]:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.OPEN)
            added = []
            for unit_id, proxy_key in entries:
                if not await tx.fetchval(
                    "SELECT count(*) FROM meeting_members WHERE meeting_id = $1 AND unit_id = $2",
                    meeting_id,
                    unit_id,
                ):
                    raise NotOnRoll(f"unit {unit_id}")
                if await tx.fetchval(
                    "INSERT INTO meeting_checkins (meeting_id, unit_id, proxy_key, route, "
                    "recorded_by, at) VALUES ($1, $2, $3, $4, $5, $6) "
                    "ON CONFLICT (meeting_id, unit_id) DO NOTHING RETURNING unit_id",
                    meeting_id,
                    unit_id,
                    proxy_key,
                    str(route),
                    recorded_by,
                    now,
                ):
                    added.append(unit_id)
            # The meeting's row last, so its lock is held for the commit only (every change of
            # the meeting queues on it); conditional, so a close in between rolls this back.
            if added and not await tx.execute(
                "UPDATE meetings SET version = version + 1 WHERE id = $1 AND state = $2",
                meeting_id,
                str(MeetingState.OPEN),
            ):
                raise MeetingStateError(f"meeting {meeting_id} closed meanwhile")
            return added

    async def check_out(
        self, meeting_id: int, unit_ids: Sequence[int], *, recorded_by: UserId, now: Millis
    ) -> list[CheckOut]:
        # The check-in rows exclusively (PostgreSQL): a vote reading one for share waits, and
        # then finds the unit absent; the meeting's row last, as every writer takes it.
        lock = " FOR UPDATE" if self._db.dialect == "postgres" else ""
        async with self._db.transaction() as tx:
            state = await tx.fetchval("SELECT state FROM meetings WHERE id = $1", meeting_id)
            if state is None:
                raise MeetingNotFound(f"meeting {meeting_id}")
            if state != MeetingState.OPEN:
                raise NotInSession(f"meeting {meeting_id} is {state}, not under way")
            ended: list[CheckOut] = []
            absent: list[int] = []
            for unit_id in dict.fromkeys(unit_ids):
                if not await tx.fetchval(
                    "SELECT count(*) FROM meeting_members WHERE meeting_id = $1 AND unit_id = $2",
                    meeting_id,
                    unit_id,
                ):
                    raise NotOnRoll(f"unit {unit_id}")
                row = await tx.fetchrow(
                    "SELECT proxy_key, route, recorded_by, at FROM meeting_checkins "
                    f"WHERE meeting_id = $1 AND unit_id = $2{lock}",
                    meeting_id,
                    unit_id,
                )
                if row is None:
                    absent.append(unit_id)
                    continue
                ended.append(
                    CheckOut(
                        unit_id=unit_id,
                        proxy_key=row["proxy_key"],
                        route=Route(row["route"]),
                        recorded_by=int(row["recorded_by"]),
                        at=int(row["at"]),
                        out_at=now,
                        out_by=recorded_by,
                    )
                )
            if absent:
                raise NotCheckedIn(absent)
            for stay in ended:
                await tx.execute(
                    "INSERT INTO meeting_checkouts (meeting_id, unit_id, proxy_key, route, "
                    "recorded_by, at, out_at, out_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    meeting_id,
                    stay.unit_id,
                    stay.proxy_key,
                    str(stay.route),
                    stay.recorded_by,
                    stay.at,
                    stay.out_at,
                    stay.out_by,
                )
                await tx.execute(
                    "DELETE FROM meeting_checkins WHERE meeting_id = $1 AND unit_id = $2",
                    meeting_id,
                    stay.unit_id,
                )
            if ended and not await tx.execute(
                "UPDATE meetings SET version = version + 1 WHERE id = $1 AND state = $2",
                meeting_id,
                str(MeetingState.OPEN),
            ):
                raise NotInSession(f"meeting {meeting_id} closed meanwhile")
            return ended

    async def holders(self, meeting_id: int, unit_ids: Sequence[int]) -> list[UserId]:
        found: set[int] = set()
        for unit_id in dict.fromkeys(unit_ids):
            for sql in (
                "SELECT user_id FROM meeting_members WHERE meeting_id = $1 AND unit_id = $2",
                "SELECT proxy_user_id FROM meeting_proxies WHERE meeting_id = $1 AND unit_id = $2",
            ):
                user_id = await self._db.fetchval(sql, meeting_id, unit_id)
                if user_id is not None:
                    found.add(int(user_id))
        return sorted(found)

    async def open_item(self, meeting_id: int, item_id: int, *, now: Millis) -> Meeting:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.OPEN)
            if await tx.fetchval(
                "SELECT count(*) FROM meeting_items WHERE meeting_id = $1 AND state = $2",
                meeting_id,
                str(ItemState.OPEN),
            ):
                raise MeetingStateError("another item is open for votes")
            if not await tx.execute(
                "UPDATE meeting_items SET state = $3, opened_at = $4 "
                "WHERE id = $1 AND meeting_id = $2 AND state = $5",
                item_id,
                meeting_id,
                str(ItemState.OPEN),
                now,
                str(ItemState.PENDING),
            ):
                raise MeetingStateError(f"item {item_id} is not pending")
            await self._bump(tx, meeting_id)
            return await self._fetch(tx, meeting_id)

    async def close_item(self, meeting_id: int, item_id: int, *, now: Millis) -> Meeting:
        async with self._db.transaction() as tx:
            if not await tx.execute(
                "UPDATE meeting_items SET state = $3, closed_at = $4 "
                "WHERE id = $1 AND meeting_id = $2 AND state = $5",
                item_id,
                meeting_id,
                str(ItemState.CLOSED),
                now,
                str(ItemState.OPEN),
            ):
                raise MeetingStateError(f"item {item_id} is not open")
            await self._bump(tx, meeting_id)
            return await self._fetch(tx, meeting_id)

    async def set_item_result(
        self, meeting_id: int, item_id: int, *, result: str | None, figures: Mapping[str, Any]
    ) -> Meeting:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE meeting_items SET result = $2, figures = $3 WHERE id = $1",
                item_id,
                result,
                orjson.dumps(figures).decode(),
            )
            await self._bump(tx, meeting_id)
            return await self._fetch(tx, meeting_id)

    async def cast_votes(
        self, item_id: int, ballots: Sequence[Ballot], *, cast_by: UserId, now: Millis
    ) -> list[int]:
        lock = " FOR SHARE" if self._db.dialect == "postgres" else ""
        async with self._db.transaction() as tx:
            item = await tx.fetchrow(
                f"SELECT meeting_id, state FROM meeting_items WHERE id = $1{lock}", item_id
            )
            if item is None or item["state"] != ItemState.OPEN:
                raise ItemNotOpen(f"item {item_id}")
            meeting_id = int(item["meeting_id"])
            units = [b.unit_id for b in ballots]
            # For share: a check-out under way waits for this vote, or this vote for it (and
            # then finds the unit absent). Never a vote from a unit that has just left.
            missing = [
                u
                for u in units
                if await tx.fetchval(
                    "SELECT unit_id FROM meeting_checkins WHERE meeting_id = $1 "
                    f"AND unit_id = $2{lock}",
                    meeting_id,
                    u,
                )
                is None
            ]
            if missing:
                raise NotPresent(f"units {missing} have not checked in")
            recorded = []
            for ballot in ballots:
                if await tx.fetchval(
                    "INSERT INTO meeting_votes (item_id, unit_id, choice, route, cast_by, cast_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (item_id, unit_id) DO NOTHING "
                    "RETURNING unit_id",
                    item_id,
                    ballot.unit_id,
                    str(ballot.choice),
                    str(ballot.route),
                    cast_by,
                    now,
                ):
                    recorded.append(ballot.unit_id)
            if len(recorded) != len(ballots):
                # Voted already (the primary key); raising rolls the whole call back.
                raise AlreadyVoted(sorted(set(units) - set(recorded)))
            await self._bump(tx, meeting_id)
            return recorded

    async def correct_vote(
        self,
        item_id: int,
        unit_id: int,
        choice: Choice,
        *,
        reason: str,
        corrected_by: UserId,
        now: Millis,
    ) -> VoteCorrection:
        # The item's row first, exclusively (votes take it shared): then the meeting's, as
        # every writer does, so they never deadlock.
        lock = " FOR UPDATE" if self._db.dialect == "postgres" else ""
        async with self._db.transaction() as tx:
            item = await tx.fetchrow(
                f"SELECT meeting_id, state FROM meeting_items WHERE id = $1{lock}", item_id
            )
            if item is None or item["state"] == ItemState.PENDING:
                raise ItemNotOpen(f"item {item_id}")
            meeting_id = int(item["meeting_id"])
            state = await tx.fetchval("SELECT state FROM meetings WHERE id = $1", meeting_id)
            if state != MeetingState.OPEN:
                raise ItemNotOpen(f"meeting {meeting_id} is not open")
            old = await tx.fetchval(
                "SELECT choice FROM meeting_votes WHERE item_id = $1 AND unit_id = $2",
                item_id,
                unit_id,
            )
            if old is None:
                raise VoteNotFound(f"unit {unit_id} has no vote on item {item_id}")
            if old == str(choice):
                raise MeetingStateError(f"unit {unit_id} voted {choice} already")
            await tx.execute(
                "UPDATE meeting_votes SET choice = $3 WHERE item_id = $1 AND unit_id = $2",
                item_id,
                unit_id,
                str(choice),
            )
            correction_id = await tx.fetchval(
                "INSERT INTO meeting_vote_corrections (item_id, unit_id, old_choice, new_choice, "
                "reason, corrected_by, corrected_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "RETURNING id",
                item_id,
                unit_id,
                old,
                str(choice),
                reason,
                corrected_by,
                now,
            )
            await self._bump(tx, meeting_id)
        return VoteCorrection(
            int(correction_id), item_id, unit_id, Choice(old), choice, reason, corrected_by, now
        )

    async def held(self, meeting_id: int, user_id: UserId, item_id: int | None = None) -> Held:
        own = [
            int(r["unit_id"])
            for r in await self._db.fetch(
                "SELECT unit_id FROM meeting_members WHERE meeting_id = $1 AND user_id = $2 "
                "ORDER BY unit_id",
                meeting_id,
                user_id,
            )
        ]
        entrusted = [
            int(r["unit_id"])
            for r in await self._db.fetch(
                "SELECT unit_id FROM meeting_proxies WHERE meeting_id = $1 AND proxy_user_id = $2 "
                "ORDER BY unit_id",
                meeting_id,
                user_id,
            )
            if int(r["unit_id"]) not in own
        ]
        units = own + entrusted
        present: list[int] = []
        voted: list[int] = []
        checked_in: list[int] = []
        mine = f"user:{user_id}"
        for unit in units:
            checkin = await self._db.fetchrow(
                "SELECT proxy_key FROM meeting_checkins WHERE meeting_id = $1 AND unit_id = $2",
                meeting_id,
                unit,
            )
            if checkin is not None:
                checked_in.append(unit)
            # A unit's vote is theirs who brought it in: the owner in person, or the proxy.
            if checkin is not None and (
                (checkin["proxy_key"] is None and unit in own) or checkin["proxy_key"] == mine
            ):
                present.append(unit)
            if item_id is not None and await self._db.fetchval(
                "SELECT count(*) FROM meeting_votes WHERE item_id = $1 AND unit_id = $2",
                item_id,
                unit,
            ):
                voted.append(unit)
        return Held(tuple(own), tuple(entrusted), tuple(present), tuple(voted), tuple(checked_in))

    async def proxy_keys(self, meeting_id: int, unit_ids: Sequence[int]) -> dict[int, str]:
        wanted = set(unit_ids)
        rows = await self._db.fetch(
            "SELECT unit_id, proxy_key FROM meeting_proxies WHERE meeting_id = $1", meeting_id
        )
        return {int(r["unit_id"]): r["proxy_key"] for r in rows if int(r["unit_id"]) in wanted}

    async def ask(self, meeting_id: int, user_id: UserId, text: str, *, now: Millis) -> int:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.CONVENED, MeetingState.OPEN)
            question_id = await tx.fetchval(
                "INSERT INTO meeting_questions (meeting_id, user_id, text, state, created_at) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                meeting_id,
                user_id,
                text,
                str(QuestionState.QUEUED),
                now,
            )
            await self._bump(tx, meeting_id)
            return int(question_id)

    async def upvote(self, meeting_id: int, question_id: int, user_id: UserId) -> bool:
        async with self._db.transaction() as tx:
            state = await tx.fetchval(
                "SELECT state FROM meeting_questions WHERE id = $1 AND meeting_id = $2",
                question_id,
                meeting_id,
            )
            if state != QuestionState.SHOWN:
                raise MeetingNotFound(f"question {question_id}")
            added = await tx.fetchval(
                "INSERT INTO meeting_question_votes (question_id, user_id) VALUES ($1, $2) "
                "ON CONFLICT (question_id, user_id) DO NOTHING RETURNING user_id",
                question_id,
                user_id,
            )
            if added is not None:
                await self._bump(tx, meeting_id)
            return added is not None

    async def set_question_state(
        self, meeting_id: int, question_id: int, state: QuestionState
    ) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE meeting_questions SET state = $3 WHERE id = $1 AND meeting_id = $2",
                question_id,
                meeting_id,
                str(state),
            )
            if not changed:
                raise MeetingNotFound(f"question {question_id}")
            await self._bump(tx, meeting_id)
            return True

    async def questions(self, meeting_id: int) -> list[Question]:
        return await self._questions(self._db, meeting_id)

    async def _questions(self, tx: Executor, meeting_id: int) -> list[Question]:
        rows = await tx.fetch(
            "SELECT q.id, q.user_id, q.text, q.state, q.created_at, "
            "(SELECT count(*) FROM meeting_question_votes v WHERE v.question_id = q.id) AS votes "
            "FROM meeting_questions q WHERE q.meeting_id = $1 ORDER BY q.id",
            meeting_id,
        )
        found = [
            Question(
                id=r["id"],
                user_id=r["user_id"],
                text=r["text"],
                state=QuestionState(r["state"]),
                created_at=r["created_at"],
                votes=int(r["votes"]),
            )
            for r in rows
        ]
        return sorted(found, key=lambda q: (-q.votes, q.id))

    async def snapshot(self, meeting_id: int) -> Snapshot | None:
        async with self._db.transaction() as tx:
            if self._db.dialect == "postgres":
                await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            meeting = await self._maybe(tx, "id", meeting_id)
            if meeting is None:
                return None
            roll = await self._roll(tx, meeting_id)
            proxies = [
                Proxy(
                    unit_id=r["unit_id"],
                    proxy_key=r["proxy_key"],
                    proxy_user_id=r["proxy_user_id"],
                    proxy_name=r["proxy_name"],
                    route=Route(r["route"]),
                    reference=r["reference"],
                    recorded_by=r["recorded_by"],
                    created_at=r["created_at"],
                    scan_to_follow=bool(r["scan_to_follow"]),
                )
                for r in await tx.fetch(
                    "SELECT * FROM meeting_proxies WHERE meeting_id = $1 ORDER BY unit_id",
                    meeting_id,
                )
            ]
            checkins = [
                CheckIn(
                    unit_id=r["unit_id"],
                    proxy_key=r["proxy_key"],
                    route=Route(r["route"]),
                    recorded_by=r["recorded_by"],
                    at=r["at"],
                )
                for r in await tx.fetch(
                    "SELECT * FROM meeting_checkins WHERE meeting_id = $1 ORDER BY unit_id",
                    meeting_id,
                )
            ]
            checkouts = [
                CheckOut(
                    unit_id=int(r["unit_id"]),
                    proxy_key=r["proxy_key"],
                    route=Route(r["route"]),
                    recorded_by=int(r["recorded_by"]),
                    at=int(r["at"]),
                    out_at=int(r["out_at"]),
                    out_by=int(r["out_by"]),
                )
                for r in await tx.fetch(
                    "SELECT * FROM meeting_checkouts WHERE meeting_id = $1 ORDER BY out_at, id",
                    meeting_id,
                )
            ]
            votes = [
                StoredVote(
                    item_id=r["item_id"],
                    unit_id=r["unit_id"],
                    choice=Choice(r["choice"]),
                    route=Route(r["route"]),
                    cast_by=r["cast_by"],
                    cast_at=r["cast_at"],
                )
                for r in await tx.fetch(
                    "SELECT v.* FROM meeting_votes v JOIN meeting_items i ON i.id = v.item_id "
                    "WHERE i.meeting_id = $1 ORDER BY v.item_id, v.unit_id",
                    meeting_id,
                )
            ]
            objections: dict[int, list[int]] = {}
            for r in await tx.fetch(
                "SELECT o.item_id, o.unit_id FROM meeting_objections o "
                "JOIN meeting_items i ON i.id = o.item_id WHERE i.meeting_id = $1 "
                "ORDER BY o.item_id, o.unit_id",
                meeting_id,
            ):
                objections.setdefault(int(r["item_id"]), []).append(int(r["unit_id"]))
            questions = await self._questions(tx, meeting_id)
            corrections = [
                VoteCorrection(
                    id=int(r["id"]),
                    item_id=int(r["item_id"]),
                    unit_id=int(r["unit_id"]),
                    old_choice=Choice(r["old_choice"]),
                    new_choice=Choice(r["new_choice"]),
                    reason=r["reason"],
                    corrected_by=int(r["corrected_by"]),
                    corrected_at=int(r["corrected_at"]),
                )
                for r in await tx.fetch(
                    "SELECT c.* FROM meeting_vote_corrections c "
                    "JOIN meeting_items i ON i.id = c.item_id WHERE i.meeting_id = $1 "
                    "ORDER BY c.id",
                    meeting_id,
                )
            ]
        return Snapshot(
            meeting=meeting,
            roll=tuple(roll),
            proxies=tuple(proxies),
            checkins=tuple(checkins),
            votes=tuple(votes),
            objections={k: tuple(v) for k, v in objections.items()},
            questions=tuple(questions),
            corrections=tuple(corrections),
            checkouts=tuple(checkouts),
        )

    # -- after -----------------------------------------------------------------------------

    async def save_minutes(
        self, meeting_id: int, text: str, state: MinutesState, *, by: UserId, now: Millis
    ) -> Meeting:
        async with self._db.transaction() as tx:
            await self._state(tx, meeting_id, MeetingState.CLOSED)
            await tx.execute(
                "UPDATE meetings SET minutes = $2, minutes_state = $3, minutes_by = $4, "
                "minutes_at = $5, version = version + 1 WHERE id = $1",
                meeting_id,
                text,
                str(state),
                by,
                now,
            )
            return await self._fetch(tx, meeting_id)

    async def owner_token(
        self, meeting_id: int, user_id: UserId, token: str, *, now: Millis
    ) -> str:
        await self._db.execute(
            "INSERT INTO meeting_owner_tokens (meeting_id, user_id, token, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (meeting_id, user_id) DO NOTHING",
            meeting_id,
            user_id,
            token,
            now,
        )
        found = await self._db.fetchval(
            "SELECT token FROM meeting_owner_tokens WHERE meeting_id = $1 AND user_id = $2",
            meeting_id,
            user_id,
        )
        return str(found)

    async def token_user(self, meeting_id: int, token: str) -> UserId | None:
        found = await self._db.fetchval(
            "SELECT user_id FROM meeting_owner_tokens WHERE meeting_id = $1 AND token = $2",
            meeting_id,
            token,
        )
        return None if found is None else int(found)

    async def add_item_file(
        self,
        item_id: int,
        *,
        blob_id: str,
        filename: str,
        media_type: str,
        size: int,
        sha256: str,
        added_by: UserId,
        now: Millis,
    ) -> ItemFile:
        lock = " FOR UPDATE" if self._db.dialect == "postgres" else ""
        async with self._db.transaction() as tx:
            if (
                await tx.fetchval(f"SELECT id FROM meeting_items WHERE id = $1{lock}", item_id)
                is None
            ):
                raise MeetingNotFound(f"item {item_id}")
            taken = await tx.fetchval(
                "SELECT count(*) FROM meeting_item_files WHERE item_id = $1", item_id
            )
            if int(taken) >= MAX_ITEM_FILES:
                raise TooManyFiles(f"item {item_id} has {MAX_ITEM_FILES} files")
            file_id = await tx.fetchval(
                "INSERT INTO meeting_item_files (item_id, blob_id, filename, media_type, size, "
                "sha256, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                item_id,
                blob_id,
                filename,
                media_type,
                size,
                sha256,
                added_by,
                now,
            )
        return ItemFile(
            int(file_id), item_id, blob_id, filename, media_type, size, sha256, added_by, now
        )

    async def item_files(self, meeting_id: int) -> list[ItemFile]:
        rows = await self._db.fetch(
            "SELECT f.* FROM meeting_item_files f JOIN meeting_items i ON i.id = f.item_id "
            "WHERE i.meeting_id = $1 ORDER BY f.item_id, f.id",
            meeting_id,
        )
        return [
            ItemFile(
                int(r["id"]),
                int(r["item_id"]),
                r["blob_id"],
                r["filename"],
                r["media_type"],
                int(r["size"]),
                r["sha256"],
                int(r["added_by"]),
                int(r["added_at"]),
            )
            for r in rows
        ]

    async def set_minutes_notice(self, meeting_id: int, notice_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE meetings SET minutes_notice_id = $2 WHERE id = $1", meeting_id, notice_id
            )
            await self._bump(tx, meeting_id)

    async def set_objection_window(self, item_id: int, until: Millis) -> None:
        await self._db.execute(
            "UPDATE meeting_items SET objection_until = $2 WHERE id = $1 "
            "AND objection_result IS NULL",
            item_id,
            until,
        )

    async def add_objection(
        self, item_id: int, unit_id: int, *, recorded_by: UserId, now: Millis
    ) -> bool:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT meeting_id, objection_until, objection_result FROM meeting_items "
                "WHERE id = $1",
                item_id,
            )
            if (
                row is None
                or row["objection_until"] is None
                or row["objection_result"] is not None
                or now > row["objection_until"]
            ):
                raise ObjectionClosed(f"item {item_id}")
            if not await tx.fetchval(
                "SELECT count(*) FROM meeting_members WHERE meeting_id = $1 AND unit_id = $2",
                row["meeting_id"],
                unit_id,
            ):
                raise NotOnRoll(f"unit {unit_id}")
            added = await tx.fetchval(
                "INSERT INTO meeting_objections (item_id, unit_id, recorded_by, at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (item_id, unit_id) DO NOTHING "
                "RETURNING unit_id",
                item_id,
                unit_id,
                recorded_by,
                now,
            )
            if added:
                await self._bump(tx, int(row["meeting_id"]))
            return added is not None

    async def finish_objections(self, item_id: int, outcome: str) -> bool:
        async with self._db.transaction() as tx:
            meeting_id = await tx.fetchval(
                "SELECT meeting_id FROM meeting_items WHERE id = $1", item_id
            )
            done = await tx.execute(
                "UPDATE meeting_items SET objection_result = $2 "
                "WHERE id = $1 AND objection_result IS NULL",
                item_id,
                outcome,
            )
            if done:
                await self._bump(tx, int(meeting_id))
            return done > 0


def _scan(r: Row) -> ProxyScan:
    return ProxyScan(
        unit_id=int(r["unit_id"]),
        file=ScanFile(
            blob_id=r["blob_id"],
            filename=r["filename"],
            media_type=r["media_type"],
            size=int(r["size"]),
            sha256=r["sha256"],
        ),
        added_by=int(r["added_by"]),
        added_at=int(r["added_at"]),
    )
