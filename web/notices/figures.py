"""Notices on the community-figures page (``Feature.figures``): for the notices published in
the period, how many households (units) of their audiences were reached and acknowledged —
the same counts as each notice's reach view, summed (a unit in the audience of two notices
counts twice: two notices to read). In one building: its units only."""

from __future__ import annotations

from linli.feature import Figure, Services
from linli.periods import Period
from linli.types import BuildingId
from persistence.notices import NoticeState
from persistence.notices.sql import SqlNoticeStore

SECTION = "figures.section.notices"


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> list[Figure]:
    store = SqlNoticeStore(services.database)
    published = [
        n
        for n in await store.list_notices(
            states=frozenset({NoticeState.PUBLISHED, NoticeState.EXPIRED, NoticeState.RETRACTED})
        )
        if n.published_at is not None and period.start <= n.published_at < period.end
    ]
    total = reached = acked = asked = 0
    for notice in published:
        reach = await store.reach(notice.id, notice.draft.audience)
        units = [u for u in reach.units if building is None or u.building_id == building]
        total += len(units)
        reached += sum(1 for u in units if u.read_at is not None)
        if notice.draft.requires_ack:
            asked += len(units)
            acked += sum(1 for u in units if u.acked_at is not None)
    return [
        Figure("notices.published", "figures.notices.published", "figures.notices.published_def",
               len(published), section=SECTION),
        Figure("notices.reach", "figures.notices.reach", "figures.notices.reach_def",
               None if total == 0 else reached / total, unit="share", section=SECTION),
        Figure("notices.acknowledged", "figures.notices.acknowledged",
               "figures.notices.acknowledged_def", None if asked == 0 else acked / asked,
               unit="share", section=SECTION),
    ]  # fmt: skip
