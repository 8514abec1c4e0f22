"""The residents' requests on the community-figures page (``Feature.figures``): the plan's goal
four — 80 % of problems resolved — with the requests' own definitions (``persistence.requests
.Bucket``), for the period's requests, the whole neighbourhood or one building."""

from __future__ import annotations

from linli.feature import Figure, Services
from linli.periods import Period
from linli.types import BuildingId
from persistence.requests import Bucket
from web.requests.actions import request_figures

#: The plan: at least 80 % of residents' problems and needs resolved (解決至少80%).
TARGET = 0.8
SECTION = "figures.section.requests"


def _share(done: int, of: int) -> float | None:
    return None if of == 0 else done / of


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> list[Figure]:
    found = await request_figures(services, since=period.start, until=period.end)
    bucket = found.total if building is None else found.by_building.get(str(building))
    if bucket is None:
        bucket = Bucket(key=str(building))
    average = None if bucket.ratings == 0 else bucket.rating_sum / bucket.ratings
    return [
        Figure("requests.filed", "figures.req.filed", "figures.req.filed_def", bucket.filed,
               section=SECTION),
        Figure("requests.resolved_30", "figures.req.resolved_30", "figures.req.resolved_30_def",
               _share(bucket.resolved_30, bucket.eligible_30), unit="share", target=TARGET,
               section=SECTION),
        Figure("requests.resolved_365", "figures.req.resolved_365",
               "figures.req.resolved_365_def", _share(bucket.resolved_365, bucket.eligible_365),
               unit="share", target=TARGET, section=SECTION),
        Figure("requests.on_target", "figures.req.on_target", "figures.req.on_target_def",
               _share(bucket.resolved_on_target, bucket.eligible_target), unit="share",
               section=SECTION),
        Figure("requests.first_response", "figures.req.first_response",
               "figures.req.first_response_def", bucket.first_response_median, unit="duration",
               section=SECTION),
        Figure("requests.open", "figures.req.open", "figures.req.open_def", bucket.open,
               section=SECTION),
        Figure("requests.overdue", "figures.req.overdue", "figures.req.overdue_def",
               bucket.overdue, section=SECTION),
        Figure("requests.csat", "figures.req.csat", "figures.req.csat_def", average,
               unit="score", people=bucket.ratings, section=SECTION),
    ]  # fmt: skip
