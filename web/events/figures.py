"""Events on the community-figures page (``Feature.figures``): sign-ups made in the period, and
for the sessions that took place in it, the sign-ups confirmed, attended and not attended
(no-shows), counted from ``event_signups`` (in one building: sign-ups of its residents)."""

from __future__ import annotations

from linli.feature import Figure, Services
from linli.periods import Period
from linli.types import BuildingId

SECTION = "figures.section.events"
# -1 stands for "every building" (a building id is never negative; PostgreSQL must be able to
# type the parameter).
_HERE = "($3 = -1 OR u.building_id = $3)"


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> list[Figure]:
    db = services.database
    b = -1 if building is None else building
    signups = await db.fetchval(
        "SELECT count(*) FROM event_signups s JOIN users u ON u.id = s.user_id "
        f"WHERE s.created_at >= $1 AND s.created_at < $2 AND {_HERE}",
        period.start,
        period.end,
        b,
    )
    held = await db.fetchrow(
        "SELECT count(*) AS confirmed, "
        "count(CASE WHEN s.attendance = 'present' OR s.checked_in_at IS NOT NULL THEN 1 END) "
        "AS present, count(CASE WHEN s.attendance = 'no_show' THEN 1 END) AS no_show "
        "FROM event_signups s JOIN event_sessions e ON e.id = s.session_id "
        "JOIN users u ON u.id = s.user_id "
        f"WHERE s.state = 'confirmed' AND e.starts_at >= $1 AND e.starts_at < $2 AND {_HERE}",
        period.start,
        period.end,
        b,
    )
    assert held is not None
    confirmed, present, absent = int(held["confirmed"]), int(held["present"]), int(held["no_show"])
    return [
        Figure("events.signups", "figures.events.signups", "figures.events.signups_def",
               int(signups), section=SECTION),
        Figure("events.confirmed", "figures.events.confirmed", "figures.events.confirmed_def",
               confirmed, section=SECTION),
        Figure("events.attended", "figures.events.attended", "figures.events.attended_def",
               present, section=SECTION),
        Figure("events.no_shows", "figures.events.no_shows", "figures.events.no_shows_def",
               absent, section=SECTION),
    ]  # fmt: skip
