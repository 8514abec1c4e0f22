"""``ActivityStore`` in SQL for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from linli.periods import Period
from linli.types import BuildingId, Millis, UserId
from persistence.activity import (
    VISIT_GAP_MS,
    ActivityEvent,
    ActivityKind,
    UserDay,
    visits_in,
)
from persistence.db import Database, Row

#: Users per statement when reading their events (a bound on the parameters of one query).
_CHUNK = 500


class SqlActivityStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(self, events: Sequence[ActivityEvent]) -> None:
        if not events:
            return
        async with self.database.transaction() as tx:
            await tx.executemany(
                "INSERT INTO activity_events (id, user_id, kind, at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (id) DO NOTHING",
                [(e.id, e.user_id, str(e.kind), e.at) for e in events],
            )

    async def roll_up(self, user_id: UserId, period: Period) -> UserDay | None:
        await self.roll_up_many([(user_id, period)])
        row = await self.database.fetchrow(
            "SELECT day, user_id, building_id, logins, visits, events FROM activity_days "
            "WHERE day = $1 AND user_id = $2",
            period.label,
            user_id,
        )
        return None if row is None else _day(row)

    async def roll_up_many(self, days: Sequence[tuple[UserId, Period]]) -> None:
        if not days:
            return
        users = sorted({u for u, _ in days})
        # Each user's events from a visit gap before the earliest day to the latest day's end:
        # enough to tell whether a day's first event starts a visit.
        since = min(p.start for _, p in days) - VISIT_GAP_MS
        until = max(p.end for _, p in days)
        async with self.database.transaction() as tx:
            times: dict[UserId, list[tuple[Millis, str]]] = defaultdict(list)
            buildings: dict[UserId, BuildingId | None] = {}
            for start in range(0, len(users), _CHUNK):
                chunk = users[start : start + _CHUNK]
                marks = ", ".join(f"${i + 3}" for i in range(len(chunk)))
                for r in await tx.fetch(
                    f"SELECT user_id, kind, at FROM activity_events WHERE at >= $1 AND at < $2 "
                    f"AND user_id IN ({marks}) ORDER BY user_id, at",
                    since,
                    until,
                    *chunk,
                ):
                    times[r["user_id"]].append((r["at"], r["kind"]))
                for r in await tx.fetch(
                    f"SELECT id, building_id FROM users WHERE id IN "
                    f"({', '.join(f'${i + 1}' for i in range(len(chunk)))})",
                    *chunk,
                ):
                    buildings[r["id"]] = r["building_id"]
            rows = []
            for user_id, period in days:
                mine = times.get(user_id, [])
                inside = [(at, kind) for at, kind in mine if period.start <= at < period.end]
                if not inside:
                    continue
                # An event before ``since`` is more than a visit gap before every day here, so
                # it could not continue a visit: none read means none that matters.
                before = max((at for at, _ in mine if at < period.start), default=None)
                rows.append(
                    (
                        period.label,
                        user_id,
                        buildings.get(user_id),
                        sum(1 for _, kind in inside if kind == ActivityKind.LOGIN),
                        visits_in([at for at, _ in inside], period.start, period.end, before),
                        len(inside),
                    )
                )
            await tx.executemany(
                "DELETE FROM activity_days WHERE day = $1 AND user_id = $2",
                [(p.label, u) for u, p in days],
            )
            await tx.executemany(
                "INSERT INTO activity_days (day, user_id, building_id, logins, visits, events) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                rows,
            )

    async def days(self, start_day: str, end_day: str) -> list[UserDay]:
        rows = await self.database.fetch(
            "SELECT day, user_id, building_id, logins, visits, events FROM activity_days "
            "WHERE day >= $1 AND day <= $2 ORDER BY day, user_id",
            start_day,
            end_day,
        )
        return [_day(r) for r in rows]


def _day(row: Row) -> UserDay:
    return UserDay(
        day=row["day"],
        user_id=row["user_id"],
        building_id=row["building_id"],
        logins=row["logins"],
        visits=row["visits"],
        events=row["events"],
    )
