"""``FiguresStore`` in SQL for SQLite and PostgreSQL alike."""

from __future__ import annotations

from linli.types import BuildingId, Millis
from persistence.db import Database
from persistence.figures import CoreFigures, Span

# "($2 IS NULL OR building_id = $2)" would leave PostgreSQL unable to type $2; a building id is
# never negative, so -1 stands for "everywhere".
_IN = "($2 = -1 OR u.building_id = $2)"


class SqlFiguresStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def core(self, span: Span, building: BuildingId | None) -> CoreFigures:
        b = -1 if building is None else building
        db = self.database
        residents = await db.fetchval(
            f"SELECT count(*) FROM users u "
            f"WHERE u.role = 'resident' AND u.created_at < $1 AND {_IN}",
            span.end,
            b,
        )
        households = await db.fetchval(
            "SELECT count(*) FROM units WHERE ($1 = -1 OR building_id = $1)", b
        )
        with_account = await db.fetchval(
            f"SELECT count(DISTINCT u.unit_id) FROM users u WHERE u.role = 'resident' "
            f"AND u.unit_id IS NOT NULL AND u.created_at < $1 AND {_IN}",
            span.end,
            b,
        )
        days = f"""
            FROM activity_days d JOIN users u ON u.id = d.user_id
            WHERE u.role = 'resident' AND d.day >= $1 AND d.day <= $3 AND {_IN}
        """
        row = await db.fetchrow(
            f"SELECT count(DISTINCT d.user_id) AS active, count(*) AS user_days, "
            f"coalesce(sum(d.logins), 0) AS logins, coalesce(sum(d.visits), 0) AS visits, "
            f"count(DISTINCT CASE WHEN d.logins > 0 THEN d.user_id END) AS logged_in {days}",
            span.first_day,
            b,
            span.last_day,
        )
        assert row is not None
        registrations = await db.fetchval(
            f"SELECT count(*) FROM users u WHERE u.role = 'resident' AND u.created_at >= $1 "
            f"AND u.created_at < $3 AND {_IN}",
            span.start,
            b,
            span.end,
        )
        chat_posts = await db.fetchval(
            f"SELECT count(*) FROM messages m JOIN users u ON u.id = m.author_id "
            f"WHERE u.role = 'resident' AND m.created_at >= $1 AND m.created_at < $3 "
            f"AND (m.channel LIKE 'building:%' OR m.channel LIKE 'group:%') AND {_IN}",
            span.start,
            b,
            span.end,
        )
        votes = await db.fetchval(
            f"SELECT count(*) FROM poll_votes v JOIN users u ON u.id = v.user_id "
            f"WHERE u.role = 'resident' AND v.cast_at >= $1 AND v.cast_at < $3 AND {_IN}",
            span.start,
            b,
            span.end,
        )
        return CoreFigures(
            residents=int(residents),
            households=int(households),
            households_with_account=int(with_account),
            active=int(row["active"]),
            user_days=int(row["user_days"]),
            residents_logged_in=int(row["logged_in"]),
            logins=int(row["logins"]),
            visits=int(row["visits"]),
            registrations=int(registrations),
            chat_posts=int(chat_posts),
            votes=int(votes),
        )

    async def daily_active(
        self, first_day: str, last_day: str, building: BuildingId | None
    ) -> dict[str, int]:
        rows = await self.database.fetch(
            f"SELECT d.day, count(*) AS n FROM activity_days d JOIN users u ON u.id = d.user_id "
            f"WHERE u.role = 'resident' AND d.day >= $1 AND d.day <= $3 AND {_IN} GROUP BY d.day",
            first_day,
            -1 if building is None else building,
            last_day,
        )
        return {r["day"]: int(r["n"]) for r in rows}

    async def joined(self, building: BuildingId | None) -> list[tuple[int, Millis]]:
        rows = await self.database.fetch(
            "SELECT u.id, u.created_at FROM users u WHERE u.role = 'resident' AND "
            "($1 = -1 OR u.building_id = $1) ORDER BY u.id",
            -1 if building is None else building,
        )
        return [(int(r["id"]), int(r["created_at"])) for r in rows]

    async def active_days(self, user_ids: list[int]) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {u: set() for u in user_ids}
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start : start + 500]
            marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
            rows = await self.database.fetch(
                f"SELECT user_id, day FROM activity_days WHERE user_id IN ({marks})", *chunk
            )
            for r in rows:
                found[int(r["user_id"])].add(r["day"])
        return found
