"""``RequestStore`` in SQL for SQLite and PostgreSQL alike (see ``persistence/requests`` for the
guarantees).

Every statement is in the dialects' common subset. Optional filters are built into the WHERE
clause in Python rather than written as ``($n IS NULL OR …)``, which PostgreSQL cannot type
without casts SQLite does not parse. Status changes read the status and update on the condition
that it is still that status, in one transaction, so a concurrent change cannot slip between.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from linli.types import BuildingId, Millis, UserId
from persistence.db import Database, Executor, Row, UniqueViolation
from persistence.requests import (
    DAY_MS,
    DONE_STATUSES,
    MAX_PHOTOS,
    OPEN_STATUSES,
    SET_APART,
    TRANSITIONS,
    AlreadyRated,
    Bucket,
    Category,
    CategoryRule,
    EventKind,
    Figures,
    Holiday,
    NewRequest,
    Photo,
    Place,
    Query,
    Rating,
    ReopenExpired,
    Request,
    RequestEvent,
    RequestNotFound,
    RequestStateError,
    Status,
    Team,
    TeamLoad,
    Template,
    TooManyPhotos,
)
from persistence.requests.workdays import MON_FRI, add_working_time

_COLUMNS: Final = (
    "id, category, status, private, text, author_id, building_id, floor, unit_id, place_id, "
    "assignee_id, source_link, merged_into, reject_reason, version, created_at, updated_at, "
    "respond_by, resolve_by, first_response_at, resolved_at, closed_at, resolutions, overdue_at"
)
_OPEN_SQL: Final = "('received', 'in_progress', 'waiting')"
_DONE_SQL: Final = "('resolved', 'closed')"
_APART_SQL: Final = "('rejected', 'merged')"
assert {str(s) for s in OPEN_STATUSES} == {"received", "in_progress", "waiting"}
assert {str(s) for s in DONE_STATUSES} == {"resolved", "closed"}
assert {str(s) for s in SET_APART} == {"rejected", "merged"}


def _request(row: Row) -> Request:
    return Request(
        id=int(row["id"]),
        category=Category(row["category"]),
        status=Status(row["status"]),
        private=bool(row["private"]),
        text=row["text"],
        author_id=int(row["author_id"]),
        building_id=int(row["building_id"]),
        floor=row["floor"],
        unit_id=row["unit_id"],
        place_id=row["place_id"],
        assignee_id=row["assignee_id"],
        source_link=row["source_link"],
        merged_into=row["merged_into"],
        reject_reason=row["reject_reason"],
        version=int(row["version"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
        respond_by=int(row["respond_by"]),
        resolve_by=int(row["resolve_by"]),
        first_response_at=row["first_response_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        resolutions=int(row["resolutions"]),
        overdue_at=row["overdue_at"],
    )


def _placeholders(start: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


def month_bounds(since: Millis, until: Millis, zone: ZoneInfo) -> list[tuple[str, int, int]]:
    """The months of ``zone`` overlapping [since, until): (``YYYY-MM``, start ms, end ms), cut
    at local midnight of each month's first day."""
    if until <= since:
        return []
    start = datetime.fromtimestamp(since / 1000, zone)
    year, month = start.year, start.month
    found = []
    while True:
        begin = datetime(year, month, 1, tzinfo=zone)
        year2, month2 = (year + 1, 1) if month == 12 else (year, month + 1)
        end = datetime(year2, month2, 1, tzinfo=zone)
        begin_ms, end_ms = int(begin.timestamp() * 1000), int(end.timestamp() * 1000)
        if begin_ms >= until:
            break
        found.append((f"{year:04d}-{month:02d}", begin_ms, end_ms))
        year, month = year2, month2
    return found


# The figures in three statements, each one pass over the period's requests. The counts and
# the ratings are grouped at the finest grain (category, building, month: at most a few
# thousand groups); the totals by one dimension are sums of those integer sums. Medians and p90s
# cannot be added up, so one statement ranks every duration within each dimension's groups.
# $1 since, $2 until, $3 now; {month} is the month's label as a CASE over the month bounds
# (labels and integers made here, never input).
_COUNTS: Final = """
    SELECT r.category AS cat, r.building_id AS bld, {month} AS mon,
        count(*) AS filed,
        sum(CASE WHEN r.status = 'rejected' THEN 1 ELSE 0 END) AS rejected,
        sum(CASE WHEN r.status = 'merged' THEN 1 ELSE 0 END) AS merged,
        sum(CASE WHEN r.status IN {open} THEN 1 ELSE 0 END) AS open_n,
        sum(CASE WHEN r.status IN {open} AND (r.resolve_by < $3
            OR (r.first_response_at IS NULL AND r.respond_by < $3)) THEN 1 ELSE 0 END) AS overdue,
        {windows}
        sum(CASE WHEN r.status NOT IN {apart} THEN r.resolutions ELSE 0 END) AS resolutions
    FROM requests r
    WHERE r.created_at >= $1 AND r.created_at < $2
    GROUP BY r.category, r.building_id, {month}
"""
# A window ends at {due}, a column fixed when the request was filed (n working days, or its
# resolution target): eligible once that end has passed or the request was resolved by it.
_WINDOW: Final = """
        sum(CASE WHEN r.status NOT IN {apart} AND (r.{due} <= $3
            OR (r.status IN {done} AND r.resolved_at <= r.{due}))
            THEN 1 ELSE 0 END) AS {eligible},
        sum(CASE WHEN r.status IN {done} AND r.resolved_at <= r.{due}
            THEN 1 ELSE 0 END) AS {resolved},"""
# Nearest-rank median and p90 with window functions (SQLite has no percentile_cont): the rows at
# rank ceil(n/2) = (n+1)/2 and ceil(9n/10) = (9n+9)/10 in integer arithmetic. ``d`` holds both
# durations of every counted request that has them ("f": first response, "r": resolution);
# each row is ranked in its four groups (all, category, building, month) in one pass.
_RANKS: Final = """
    WITH d AS (
        SELECT 'f' AS what, r.category AS cat, r.building_id AS bld, {month} AS mon,
            r.first_response_at - r.created_at AS dur
        FROM requests r
        WHERE r.created_at >= $1 AND r.created_at < $2 AND r.status NOT IN {apart}
            AND r.first_response_at IS NOT NULL
        UNION ALL
        SELECT 'r', r.category, r.building_id, {month}, r.resolved_at - r.created_at
        FROM requests r
        WHERE r.created_at >= $1 AND r.created_at < $2 AND r.status IN {done}
            AND r.resolved_at IS NOT NULL
    )
    SELECT * FROM (
        SELECT what, cat, bld, mon, dur,
            ROW_NUMBER() OVER (PARTITION BY what ORDER BY dur) AS rn_total,
            COUNT(*) OVER (PARTITION BY what) AS n_total,
            ROW_NUMBER() OVER (PARTITION BY what, cat ORDER BY dur) AS rn_category,
            COUNT(*) OVER (PARTITION BY what, cat) AS n_category,
            ROW_NUMBER() OVER (PARTITION BY what, bld ORDER BY dur) AS rn_building,
            COUNT(*) OVER (PARTITION BY what, bld) AS n_building,
            ROW_NUMBER() OVER (PARTITION BY what, mon ORDER BY dur) AS rn_month,
            COUNT(*) OVER (PARTITION BY what, mon) AS n_month
        FROM d
    ) AS ranked
    WHERE rn_total IN ((n_total + 1) / 2, (9 * n_total + 9) / 10)
        OR rn_category IN ((n_category + 1) / 2, (9 * n_category + 9) / 10)
        OR rn_building IN ((n_building + 1) / 2, (9 * n_building + 9) / 10)
        OR rn_month IN ((n_month + 1) / 2, (9 * n_month + 9) / 10)
"""
_RATINGS: Final = """
    SELECT r.category AS cat, r.building_id AS bld, {month} AS mon, count(*) AS n,
        sum(t.score) AS total
    FROM request_ratings t JOIN requests r ON r.id = t.request_id
    WHERE r.created_at >= $1 AND r.created_at < $2 AND r.status NOT IN {apart}
    GROUP BY r.category, r.building_id, {month}
"""
_SUMMED: Final = (
    "filed",
    "rejected",
    "merged",
    "open",
    "overdue",
    "resolutions",
    "eligible_7",
    "resolved_7",
    "eligible_30",
    "resolved_30",
    "eligible_365",
    "resolved_365",
    "eligible_target",
    "resolved_on_target",
    "ratings",
    "rating_sum",
)
WINDOW_DAYS: Final = (7, 30, 365)


class SqlRequestStore:
    """Implements ``persistence.requests.RequestStore`` over the shared database."""

    def __init__(
        self,
        db: Database,
        *,
        zone: tzinfo | None = None,
        weekdays: frozenset[int] = MON_FRI,
    ) -> None:
        """``zone``: the installation's (``Settings.zone``), whose local days are the working
        days of the targets, UTC when not given (tests that do not care); ``weekdays``: which
        of them run (``Settings.working_weekdays``)."""
        self._db = db
        self._zone: tzinfo = zone or ZoneInfo("UTC")
        self._weekdays = weekdays

    # -- routing, places, templates -----------------------------------------------------------

    async def create_team(self, name: str, *, now: Millis) -> Team:
        team_id = await self._db.fetchval(
            "INSERT INTO request_teams (name, created_at) VALUES ($1, $2) RETURNING id", name, now
        )
        return Team(int(team_id), name, (), ())

    async def set_team_members(self, team_id: int, user_ids: Sequence[UserId]) -> None:
        async with self._db.transaction() as tx:
            if await tx.fetchval("SELECT id FROM request_teams WHERE id = $1", team_id) is None:
                raise RequestNotFound(f"team {team_id}")
            await tx.execute("DELETE FROM request_team_members WHERE team_id = $1", team_id)
            for user_id in sorted(set(user_ids)):
                await tx.execute(
                    "INSERT INTO request_team_members (team_id, user_id) VALUES ($1, $2)",
                    team_id,
                    user_id,
                )

    async def teams(self) -> list[Team]:
        teams = await self._db.fetch("SELECT id, name FROM request_teams ORDER BY id")
        members = await self._db.fetch(
            "SELECT team_id, user_id FROM request_team_members ORDER BY user_id"
        )
        routed = await self._db.fetch(
            "SELECT category, team_id FROM request_categories WHERE team_id IS NOT NULL "
            "ORDER BY category"
        )
        return [
            Team(
                id=int(t["id"]),
                name=t["name"],
                member_ids=tuple(int(m["user_id"]) for m in members if m["team_id"] == t["id"]),
                categories=tuple(
                    Category(c["category"]) for c in routed if c["team_id"] == t["id"]
                ),
            )
            for t in teams
        ]

    async def route(
        self,
        category: Category,
        *,
        team_id: int | None,
        first_response_ms: int | None = None,
        resolution_ms: int | None = None,
    ) -> CategoryRule:
        async with self._db.transaction() as tx:
            if team_id is not None and (
                await tx.fetchval("SELECT id FROM request_teams WHERE id = $1", team_id) is None
            ):
                raise RequestNotFound(f"team {team_id}")
            await tx.execute(
                "UPDATE request_categories SET team_id = $2 WHERE category = $1",
                str(category),
                team_id,
            )
            if first_response_ms is not None:
                await tx.execute(
                    "UPDATE request_categories SET first_response_ms = $2 WHERE category = $1",
                    str(category),
                    first_response_ms,
                )
            if resolution_ms is not None:
                await tx.execute(
                    "UPDATE request_categories SET resolution_ms = $2 WHERE category = $1",
                    str(category),
                    resolution_ms,
                )
            row = await tx.fetchrow(
                "SELECT category, team_id, first_response_ms, resolution_ms "
                "FROM request_categories WHERE category = $1",
                str(category),
            )
        assert row is not None
        return _rule(row)

    async def rules(self) -> dict[Category, CategoryRule]:
        rows = await self._db.fetch(
            "SELECT category, team_id, first_response_ms, resolution_ms FROM request_categories"
        )
        return {Category(row["category"]): _rule(row) for row in rows}

    async def staff(self, roles: Sequence[str]) -> list[tuple[UserId, str]]:
        if not roles:
            return []
        rows = await self._db.fetch(
            f"SELECT id, display_name FROM users WHERE role IN ({_placeholders(1, len(roles))}) "
            "ORDER BY id",
            *roles,
        )
        return [(int(r["id"]), r["display_name"]) for r in rows]

    async def handler_ids(self, category: Category) -> list[UserId] | None:
        team_id = await self._db.fetchval(
            "SELECT team_id FROM request_categories WHERE category = $1", str(category)
        )
        if team_id is None:
            return None
        rows = await self._db.fetch(
            "SELECT user_id FROM request_team_members WHERE team_id = $1 ORDER BY user_id", team_id
        )
        return [int(row["user_id"]) for row in rows]

    async def add_place(self, name: str, *, building_id: BuildingId | None, now: Millis) -> Place:
        place_id = await self._db.fetchval(
            "INSERT INTO request_places (name, building_id, active, created_at) "
            "VALUES ($1, $2, 1, $3) RETURNING id",
            name,
            building_id,
            now,
        )
        return Place(int(place_id), name, building_id, True)

    async def set_place_active(self, place_id: int, active: bool) -> None:
        changed = await self._db.execute(
            "UPDATE request_places SET active = $2 WHERE id = $1", place_id, int(active)
        )
        if not changed:
            raise RequestNotFound(f"place {place_id}")

    async def places(self, *, building_id: BuildingId | None = None) -> list[Place]:
        if building_id is None:
            rows = await self._db.fetch(
                "SELECT id, name, building_id, active FROM request_places ORDER BY id"
            )
        else:
            rows = await self._db.fetch(
                "SELECT id, name, building_id, active FROM request_places "
                "WHERE building_id IS NULL OR building_id = $1 ORDER BY id",
                building_id,
            )
        return [Place(int(r["id"]), r["name"], r["building_id"], bool(r["active"])) for r in rows]

    async def add_template(self, title: str, body: str, *, now: Millis) -> Template:
        template_id = await self._db.fetchval(
            "INSERT INTO request_templates (title, body, created_at) VALUES ($1, $2, $3) "
            "RETURNING id",
            title,
            body,
            now,
        )
        return Template(int(template_id), title, body)

    async def delete_template(self, template_id: int) -> bool:
        return bool(
            await self._db.execute("DELETE FROM request_templates WHERE id = $1", template_id)
        )

    async def templates(self) -> list[Template]:
        rows = await self._db.fetch("SELECT id, title, body FROM request_templates ORDER BY id")
        return [Template(int(r["id"]), r["title"], r["body"]) for r in rows]

    async def set_holiday(self, day: date, name: str, *, now: Millis) -> Holiday:
        await self._db.execute(
            "INSERT INTO request_holidays (day, name, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (day) DO UPDATE SET name = excluded.name",
            day.isoformat(),
            name,
            now,
        )
        return Holiday(day, name)

    async def remove_holiday(self, day: date) -> bool:
        return bool(
            await self._db.execute("DELETE FROM request_holidays WHERE day = $1", day.isoformat())
        )

    async def holidays(self, *, since: date | None = None) -> list[Holiday]:
        # ISO dates sort as text, so the comparison is the dates'.
        rows = await self._db.fetch(
            "SELECT day, name FROM request_holidays WHERE day >= $1 ORDER BY day",
            (since or date.min).isoformat(),
        )
        return [Holiday(date.fromisoformat(r["day"]), r["name"]) for r in rows]

    # -- requests -----------------------------------------------------------------------------

    async def create_request(self, new: NewRequest, *, now: Millis) -> Request:
        async with self._db.transaction() as tx:
            rule = await tx.fetchrow(
                "SELECT first_response_ms, resolution_ms FROM request_categories "
                "WHERE category = $1",
                str(new.category),
            )
            assert rule is not None, f"no rule for {new.category}"
            filed_on = datetime.fromtimestamp(now / 1000, self._zone).date().isoformat()
            off = [
                date.fromisoformat(r["day"])
                for r in await tx.fetch(
                    "SELECT day FROM request_holidays WHERE day >= $1", filed_on
                )
            ]

            def due(ms: int) -> int:
                return add_working_time(now, ms, self._zone, off, self._weekdays)

            row = await tx.fetchrow(
                "INSERT INTO requests (category, status, private, text, author_id, building_id, "
                "floor, unit_id, place_id, source_link, reject_reason, version, created_at, "
                "updated_at, respond_by, resolve_by, resolutions, due_7, due_30, due_365) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', 1, $11, $11, $12, $13, 0, "
                "$14, $15, $16) "
                f"RETURNING {_COLUMNS}",
                str(new.category),
                str(Status.RECEIVED),
                int(new.private),
                new.text,
                new.author_id,
                new.building_id,
                new.floor,
                new.unit_id,
                new.place_id,
                new.source_link,
                now,
                due(int(rule["first_response_ms"])),
                due(int(rule["resolution_ms"])),
                # The plan's windows (7 / 30 / 365 days, "within a year") are calendar days;
                # only the categories' targets count working time.
                *(now + days * DAY_MS for days in WINDOW_DAYS),
            )
            assert row is not None
            request = _request(row)
            await tx.execute(
                "INSERT INTO request_followers (request_id, user_id, since) VALUES ($1, $2, $3)",
                request.id,
                new.author_id,
                now,
            )
            await _event(
                tx,
                request.id,
                EventKind.FILED,
                new.author_id,
                str(Status.RECEIVED),
                "",
                internal=False,
                now=now,
            )
        return request

    async def get_request(self, request_id: int) -> Request | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM requests WHERE id = $1", request_id)
        return None if row is None else _request(row)

    async def list_requests(self, query: Query, *, now: Millis) -> list[Request]:
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if query.categories is not None:
            if not query.categories:
                return []
            where.append(f"category IN ({_placeholders(len(args) + 1, len(query.categories))})")
            args += [str(c) for c in query.categories]
        if query.statuses is not None:
            if not query.statuses:
                return []
            where.append(f"status IN ({_placeholders(len(args) + 1, len(query.statuses))})")
            args += [str(s) for s in query.statuses]
        for column, value in (
            ("building_id", query.building_id),
            ("assignee_id", query.assignee_id),
            ("author_id", query.author_id),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if query.order == "overdue":
            # The earliest missed target first: an open request without a response is due at
            # the sooner of its two targets; then the oldest.
            args.append(now)
            n = len(args)
            order = (
                f"CASE WHEN status IN {_OPEN_SQL} AND (resolve_by < ${n} OR "
                f"(first_response_at IS NULL AND respond_by < ${n})) THEN 0 ELSE 1 END, "
                "CASE WHEN first_response_at IS NULL AND respond_by < resolve_by "
                "THEN respond_by ELSE resolve_by END, created_at, id"
            )
        else:
            order = "created_at, id"
        args.append(query.limit)
        sql = (
            f"SELECT {_COLUMNS} FROM requests "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT ${len(args)}"
        )
        rows = await self._db.fetch(sql, *args)
        return [_request(row) for row in rows]

    async def from_sources(self, prefix: str, *, limit: int = 200) -> list[Request]:
        # LIKE with a prefix the caller made (digits and fixed words: no % or _ to escape); a
        # text range would depend on PostgreSQL's collation, which may ignore punctuation.
        if "%" in prefix or "_" in prefix:
            raise ValueError(f"not a plain prefix: {prefix!r}")
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM requests WHERE source_link LIKE $1 ORDER BY id LIMIT $2",
            prefix + "%",
            limit,
        )
        # SQLite's LIKE ignores ASCII case: keep the exact prefix only.
        return [r for r in map(_request, rows) if r.source_link.startswith(prefix)]

    async def followed_by(self, user_id: UserId, *, limit: int = 100) -> list[Request]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM requests WHERE author_id = $1 OR id IN "
            "(SELECT request_id FROM request_followers WHERE user_id = $1) "
            "ORDER BY created_at DESC, id DESC LIMIT $2",
            user_id,
            limit,
        )
        return [_request(row) for row in rows]

    async def similar_open(
        self,
        *,
        category: Category,
        building_id: BuildingId,
        place_id: int | None,
        floor: str,
        limit: int = 5,
    ) -> list[Request]:
        args: list[object] = [str(category), building_id]
        if place_id is not None:
            args.append(place_id)
            where = "place_id = $3"
        else:
            args.append(floor)
            where = "place_id IS NULL AND floor = $3"
        args.append(limit)
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM requests WHERE category = $1 AND building_id = $2 "
            f"AND private = 0 AND status IN {_OPEN_SQL} AND {where} "
            "ORDER BY created_at, id LIMIT $4",
            *args,
        )
        return [_request(row) for row in rows]

    async def events(self, request_id: int, *, internal: bool) -> list[RequestEvent]:
        rows = await self._db.fetch(
            "SELECT e.id, e.request_id, e.kind, e.actor_id, e.status, e.text, e.internal, e.at, "
            "u.display_name FROM request_events e LEFT JOIN users u ON u.id = e.actor_id "
            "WHERE e.request_id = $1 AND (e.internal = 0 OR $2 = 1) ORDER BY e.id",
            request_id,
            int(internal),
        )
        return [
            RequestEvent(
                id=int(r["id"]),
                request_id=int(r["request_id"]),
                kind=EventKind(r["kind"]),
                actor_id=r["actor_id"],
                actor_name=r["display_name"] or "",
                status=r["status"],
                text=r["text"],
                internal=bool(r["internal"]),
                at=int(r["at"]),
            )
            for r in rows
        ]

    async def _locked(self, tx: Executor, request_id: int) -> Request:
        row = await tx.fetchrow(f"SELECT {_COLUMNS} FROM requests WHERE id = $1", request_id)
        if row is None:
            raise RequestNotFound(f"request {request_id}")
        return _request(row)

    async def _reload(self, tx: Executor, request_id: int) -> Request:
        return await self._locked(tx, request_id)

    async def _move(
        self, tx: Executor, request: Request, to: Status, now: Millis, sets: str, *args: object
    ) -> None:
        """The conditional update every status change is: from the status read, or nothing."""
        changed = await tx.execute(
            f"UPDATE requests SET status = $3, version = version + 1, updated_at = $4{sets} "
            "WHERE id = $1 AND status = $2",
            request.id,
            str(request.status),
            str(to),
            now,
            *args,
        )
        if changed != 1:
            current = await self._locked(tx, request.id)
            raise RequestStateError(request.id, current.status, f"change to {to}")

    async def change_status(
        self,
        request_id: int,
        to: Status,
        *,
        actor_id: UserId,
        now: Millis,
        reply: str = "",
        reason: str = "",
        expected: Status | None = None,
    ) -> Request:
        async with self._db.transaction() as tx:
            request = await self._locked(tx, request_id)
            if expected is not None and request.status is not expected:
                raise RequestStateError(request_id, request.status, f"change to {to}")
            if to not in TRANSITIONS[request.status]:
                raise RequestStateError(request_id, request.status, f"change to {to}")
            if to is Status.REJECTED and not reason:
                raise ValueError("a rejection needs a reason")
            sets = ", first_response_at = COALESCE(first_response_at, $4)"
            args: list[object] = []
            if to is Status.RESOLVED:
                sets += ", resolved_at = $4, resolutions = resolutions + 1"
            elif to is Status.CLOSED:
                sets += ", closed_at = $4"
            elif to is Status.REJECTED:
                sets += ", reject_reason = $5, closed_at = $4"
                args.append(reason)
            elif request.status is Status.RESOLVED:  # staff take a resolved request back
                sets += ", resolved_at = NULL"
            await self._move(tx, request, to, now, sets, *args)
            text = reason if to is Status.REJECTED and not reply else reply
            await _event(
                tx, request_id, EventKind.STATUS, actor_id, str(to), text, internal=False, now=now
            )
            return await self._reload(tx, request_id)

    async def add_reply(
        self, request_id: int, *, actor_id: UserId, text: str, staff: bool, now: Millis
    ) -> RequestEvent:
        async with self._db.transaction() as tx:
            await self._locked(tx, request_id)
            stamp = ", first_response_at = COALESCE(first_response_at, $2)" if staff else ""
            await tx.execute(
                f"UPDATE requests SET version = version + 1, updated_at = $2{stamp} WHERE id = $1",
                request_id,
                now,
            )
            event_id = await _event(
                tx, request_id, EventKind.REPLY, actor_id, "", text, internal=False, now=now
            )
        return await self._event_by_id(event_id)

    async def add_note(
        self, request_id: int, *, actor_id: UserId, text: str, now: Millis
    ) -> RequestEvent:
        async with self._db.transaction() as tx:
            await self._locked(tx, request_id)
            event_id = await _event(
                tx, request_id, EventKind.NOTE, actor_id, "", text, internal=True, now=now
            )
        return await self._event_by_id(event_id)

    async def _event_by_id(self, event_id: int) -> RequestEvent:
        request_id = await self._db.fetchval(
            "SELECT request_id FROM request_events WHERE id = $1", event_id
        )
        events = await self.events(int(request_id), internal=True)
        return next(e for e in events if e.id == event_id)

    async def assign(
        self, request_id: int, assignee_id: UserId | None, *, actor_id: UserId, now: Millis
    ) -> Request:
        async with self._db.transaction() as tx:
            await self._locked(tx, request_id)
            await tx.execute(
                "UPDATE requests SET assignee_id = $2, version = version + 1, updated_at = $3 "
                "WHERE id = $1",
                request_id,
                assignee_id,
                now,
            )
            name = ""
            if assignee_id is not None:
                name = str(
                    await tx.fetchval("SELECT display_name FROM users WHERE id = $1", assignee_id)
                    or ""
                )
            await _event(
                tx, request_id, EventKind.ASSIGN, actor_id, "", name, internal=True, now=now
            )
            return await self._reload(tx, request_id)

    async def follow(self, request_id: int, user_id: UserId, *, now: Millis) -> bool:
        async with self._db.transaction() as tx:
            await self._locked(tx, request_id)
            found = await tx.fetchval(
                "SELECT 1 FROM request_followers WHERE request_id = $1 AND user_id = $2",
                request_id,
                user_id,
            )
            if found:
                return False
            await tx.execute(
                "INSERT INTO request_followers (request_id, user_id, since) VALUES ($1, $2, $3)",
                request_id,
                user_id,
                now,
            )
        return True

    async def unfollow(self, request_id: int, user_id: UserId) -> bool:
        return bool(
            await self._db.execute(
                "DELETE FROM request_followers WHERE request_id = $1 AND user_id = $2",
                request_id,
                user_id,
            )
        )

    async def follower_ids(self, request_id: int) -> list[UserId]:
        rows = await self._db.fetch(
            "SELECT user_id FROM request_followers WHERE request_id = $1 ORDER BY user_id",
            request_id,
        )
        return [int(row["user_id"]) for row in rows]

    async def merge(
        self, duplicate_id: int, into_id: int, *, actor_id: UserId, now: Millis
    ) -> tuple[Request, Request]:
        if duplicate_id == into_id:
            raise ValueError("a request cannot be merged into itself")
        async with self._db.transaction() as tx:
            duplicate = await self._locked(tx, duplicate_id)
            kept = await self._locked(tx, into_id)
            if not duplicate.is_open:
                raise RequestStateError(duplicate_id, duplicate.status, "merge")
            if not kept.is_open:
                raise RequestStateError(into_id, kept.status, "take a merge")
            await self._move(tx, duplicate, Status.MERGED, now, ", merged_into = $5", into_id)
            await tx.execute(
                "INSERT INTO request_followers (request_id, user_id, since) "
                "SELECT $1, f.user_id, $3 FROM request_followers f WHERE f.request_id = $2 "
                "AND f.user_id NOT IN "
                "(SELECT user_id FROM request_followers WHERE request_id = $1)",
                into_id,
                duplicate_id,
                now,
            )
            await tx.execute(
                "UPDATE requests SET version = version + 1, updated_at = $2 WHERE id = $1",
                into_id,
                now,
            )
            await _event(
                tx,
                duplicate_id,
                EventKind.MERGED,
                actor_id,
                str(Status.MERGED),
                f"#{into_id}",
                internal=False,
                now=now,
            )
            await _event(
                tx,
                into_id,
                EventKind.MERGED_IN,
                actor_id,
                "",
                f"#{duplicate_id}",
                internal=False,
                now=now,
            )
            return await self._reload(tx, duplicate_id), await self._reload(tx, into_id)

    async def reopen(
        self, request_id: int, *, actor_id: UserId, text: str, window_ms: int, now: Millis
    ) -> Request:
        async with self._db.transaction() as tx:
            request = await self._locked(tx, request_id)
            if request.status not in DONE_STATUSES:
                raise RequestStateError(request_id, request.status, "reopen")
            assert request.resolved_at is not None
            if now - request.resolved_at > window_ms:
                raise ReopenExpired(f"request {request_id} was resolved too long ago")
            await self._move(
                tx, request, Status.IN_PROGRESS, now, ", resolved_at = NULL, closed_at = NULL"
            )
            await _event(
                tx,
                request_id,
                EventKind.REOPEN,
                actor_id,
                str(Status.IN_PROGRESS),
                text,
                internal=False,
                now=now,
            )
            return await self._reload(tx, request_id)

    async def rate(
        self, request_id: int, *, user_id: UserId, score: int, comment: str, now: Millis
    ) -> Rating:
        if not 1 <= score <= 5:
            raise ValueError("a rating is 1 to 5")
        try:
            async with self._db.transaction() as tx:
                request = await self._locked(tx, request_id)
                if request.status not in DONE_STATUSES or request.resolutions < 1:
                    raise RequestStateError(request_id, request.status, "rate")
                await tx.execute(
                    "INSERT INTO request_ratings (request_id, resolution, user_id, score, "
                    "comment, rated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    request_id,
                    request.resolutions,
                    user_id,
                    score,
                    comment,
                    now,
                )
                await tx.execute(
                    "UPDATE requests SET version = version + 1 WHERE id = $1", request_id
                )
                await _event(
                    tx,
                    request_id,
                    EventKind.RATING,
                    user_id,
                    "",
                    str(score),
                    internal=False,
                    now=now,
                )
        except UniqueViolation:
            raise AlreadyRated(f"request {request_id}: this resolution is rated") from None
        return Rating(request_id, request.resolutions, user_id, score, comment, now)

    async def rating_of(self, request_id: int) -> Rating | None:
        row = await self._db.fetchrow(
            "SELECT t.request_id, t.resolution, t.user_id, t.score, t.comment, t.rated_at "
            "FROM request_ratings t JOIN requests r ON r.id = t.request_id "
            "WHERE t.request_id = $1 AND t.resolution = r.resolutions",
            request_id,
        )
        if row is None:
            return None
        return Rating(
            int(row["request_id"]),
            int(row["resolution"]),
            int(row["user_id"]),
            int(row["score"]),
            row["comment"],
            int(row["rated_at"]),
        )

    # -- photos -------------------------------------------------------------------------------

    async def add_photo(
        self,
        request_id: int,
        *,
        blob_id: str,
        thumb_id: str,
        filename: str,
        media_type: str,
        width: int,
        height: int,
        added_by: UserId,
        now: Millis,
    ) -> Photo:
        # Another add may take the counted position between the count and the insert
        # (PostgreSQL, read committed): the key refuses the second, which counts again. Each
        # such loss is someone else's win, so MAX_PHOTOS + 1 tries always end.
        for _ in range(MAX_PHOTOS + 1):
            try:
                async with self._db.transaction() as tx:
                    await self._locked(tx, request_id)
                    taken = await tx.fetchval(
                        "SELECT count(*) FROM request_photos WHERE request_id = $1", request_id
                    )
                    position = int(taken) + 1
                    if position > MAX_PHOTOS:
                        raise TooManyPhotos(f"request {request_id} has {MAX_PHOTOS} photos")
                    await tx.execute(
                        "INSERT INTO request_photos (request_id, position, blob_id, thumb_id, "
                        "filename, media_type, width, height, added_by, added_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        request_id,
                        position,
                        blob_id,
                        thumb_id,
                        filename,
                        media_type,
                        width,
                        height,
                        added_by,
                        now,
                    )
                    await tx.execute(
                        "UPDATE requests SET version = version + 1 WHERE id = $1", request_id
                    )
            except UniqueViolation:
                continue
            return Photo(
                request_id,
                position,
                blob_id,
                thumb_id,
                filename,
                media_type,
                width,
                height,
                added_by,
                now,
            )
        raise TooManyPhotos(f"request {request_id} has {MAX_PHOTOS} photos")

    async def photos(self, request_id: int) -> list[Photo]:
        rows = await self._db.fetch(
            "SELECT request_id, position, blob_id, thumb_id, filename, media_type, width, "
            "height, added_by, added_at FROM request_photos WHERE request_id = $1 "
            "ORDER BY position",
            request_id,
        )
        return [
            Photo(
                int(r["request_id"]),
                int(r["position"]),
                r["blob_id"],
                r["thumb_id"],
                r["filename"],
                r["media_type"],
                int(r["width"]),
                int(r["height"]),
                int(r["added_by"]),
                int(r["added_at"]),
            )
            for r in rows
        ]

    # -- timers -------------------------------------------------------------------------------

    async def mark_overdue(self, request_id: int, *, now: Millis) -> Request | None:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE requests SET overdue_at = $2, version = version + 1 "
                f"WHERE id = $1 AND overdue_at IS NULL AND status IN {_OPEN_SQL} "
                "AND (resolve_by < $2 OR (first_response_at IS NULL AND respond_by < $2))",
                request_id,
                now,
            )
            if changed != 1:
                return None
            return await self._reload(tx, request_id)

    async def close_resolved(self, *, resolved_before: Millis, now: Millis) -> list[int]:
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE requests SET status = 'closed', closed_at = $2, version = version + 1, "
                "updated_at = $2 WHERE status = 'resolved' AND resolved_at < $1 RETURNING id",
                resolved_before,
                now,
            )
            ids = sorted(int(row["id"]) for row in rows)
            for request_id in ids:
                await _event(
                    tx,
                    request_id,
                    EventKind.STATUS,
                    None,
                    str(Status.CLOSED),
                    "",
                    internal=False,
                    now=now,
                )
        return ids

    async def team_load(self, categories: Sequence[Category], *, now: Millis) -> list[TeamLoad]:
        if not categories:
            return []
        rows = await self._db.fetch(
            "SELECT category, count(*) AS n, sum(CASE WHEN resolve_by < $1 OR "
            "(first_response_at IS NULL AND respond_by < $1) THEN 1 ELSE 0 END) AS late "
            f"FROM requests WHERE status IN {_OPEN_SQL} "
            f"AND category IN ({_placeholders(2, len(categories))}) "
            "GROUP BY category ORDER BY category",
            now,
            *[str(c) for c in categories],
        )
        return [TeamLoad(Category(r["category"]), int(r["n"]), int(r["late"])) for r in rows]

    # -- figures ------------------------------------------------------------------------------

    async def figures(
        self, *, since: Millis, until: Millis, now: Millis, zone: ZoneInfo
    ) -> Figures:
        months = month_bounds(since, until, zone)
        # The month of created_at: the first month whose end is after it (the WHERE keeps
        # created_at within the period, which the months cover).
        month = (
            "CASE "
            + " ".join(f"WHEN r.created_at < {end} THEN '{label}'" for label, _s, end in months)
            + " END"
            if months
            else "''"
        )
        ends = [(f"due_{d}", f"eligible_{d}", f"resolved_{d}") for d in WINDOW_DAYS]
        ends.append(("resolve_by", "eligible_target", "resolved_on_target"))
        windows = "".join(
            _WINDOW.format(
                apart=_APART_SQL, done=_DONE_SQL, due=due, eligible=eligible, resolved=resolved
            )
            for due, eligible, resolved in ends
        )
        # dimension -> key -> figure -> value
        found: dict[str, dict[str, dict[str, int]]] = {
            d: {} for d in ("total", "category", "building", "month")
        }

        def add(row: Row, values: dict[str, int]) -> None:
            keys = {
                "total": "all",
                "category": str(row["cat"]),
                "building": str(row["bld"]),
                "month": str(row["mon"]),
            }
            for dim, key in keys.items():
                entry = found[dim].setdefault(key, dict.fromkeys(_SUMMED, 0))
                for name, value in values.items():
                    entry[name] += value

        rows = await self._db.fetch(
            _COUNTS.format(month=month, open=_OPEN_SQL, apart=_APART_SQL, windows=windows),
            since,
            until,
            now,
        )
        for row in rows:
            values = {
                "filed": int(row["filed"]),
                "rejected": int(row["rejected"]),
                "merged": int(row["merged"]),
                "open": int(row["open_n"]),
                "overdue": int(row["overdue"]),
                "resolutions": int(row["resolutions"]),
            }
            for _due, eligible, resolved in ends:
                values[eligible] = int(row[eligible])
                values[resolved] = int(row[resolved])
            add(row, values)
        rows = await self._db.fetch(_RATINGS.format(month=month, apart=_APART_SQL), since, until)
        for row in rows:
            add(row, {"ratings": int(row["n"]), "rating_sum": int(row["total"])})
        ranks: dict[tuple[str, str], dict[str, int]] = {}
        rows = await self._db.fetch(
            _RANKS.format(month=month, apart=_APART_SQL, done=_DONE_SQL), since, until
        )
        for row in rows:
            name = "first_response" if row["what"] == "f" else "resolution"
            keys = {
                "total": "all",
                "category": str(row["cat"]),
                "building": str(row["bld"]),
                "month": str(row["mon"]),
            }
            for dim, key in keys.items():
                n, rn = int(row[f"n_{dim}"]), int(row[f"rn_{dim}"])
                entry = ranks.setdefault((dim, key), {})
                if rn == (n + 1) // 2:
                    entry[f"{name}_median"] = int(row["dur"])
                if rn == (9 * n + 9) // 10:
                    entry[f"{name}_p90"] = int(row["dur"])

        def buckets(dim: str) -> dict[str, Bucket]:
            made = {}
            for key, values in sorted(found[dim].items()):
                counted = values["filed"] - values["rejected"] - values["merged"]
                extra = ranks.get((dim, key), {})
                made[key] = Bucket(key=key, counted=counted, **values, **extra)
            return made

        by_month = buckets("month")
        for label, _start, _end in months:  # every month of the period, even an empty one
            by_month.setdefault(label, Bucket(key=label))
        return Figures(
            since=since,
            until=until,
            now=now,
            zone=zone.key,
            total=buckets("total").get("all", Bucket(key="all")),
            by_category=buckets("category"),
            by_building=buckets("building"),
            by_month=dict(sorted(by_month.items())),
        )


def _rule(row: Row) -> CategoryRule:
    return CategoryRule(
        category=Category(row["category"]),
        team_id=row["team_id"],
        first_response_ms=int(row["first_response_ms"]),
        resolution_ms=int(row["resolution_ms"]),
    )


async def _event(
    tx: Executor,
    request_id: int,
    kind: EventKind,
    actor_id: UserId | None,
    status: str,
    text: str,
    *,
    internal: bool,
    now: Millis,
) -> int:
    event_id = await tx.fetchval(
        "INSERT INTO request_events (request_id, kind, actor_id, status, text, internal, at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        request_id,
        str(kind),
        actor_id,
        status,
        text,
        int(internal),
        now,
    )
    return int(event_id)
