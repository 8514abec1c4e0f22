"""The forum's part of the community figures (``Feature.figures``, ``web/figures/``): topics
started, replies written, and questions answered (topics of the period with an accepted answer,
as a share too), each counted from the stored rows for the period and place asked."""

from __future__ import annotations

from collections.abc import Sequence

from linli.feature import Figure, Services
from linli.periods import Period
from linli.types import BuildingId
from web.forum.actions import forum_store

SECTION = "figures.section.activity"


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> Sequence[Figure]:
    counts = await forum_store(services).counts(
        start=period.start, end=period.end, building=building
    )
    share = None if counts.topics == 0 else counts.solved / counts.topics
    return [
        Figure("forum.topics", "forum.figures.topics", "forum.figures.topics_def",
               counts.topics, section=SECTION),
        Figure("forum.replies", "forum.figures.replies", "forum.figures.replies_def",
               counts.replies, section=SECTION),
        Figure("forum.answered", "forum.figures.answered", "forum.figures.answered_def",
               counts.solved, section=SECTION),
        Figure("forum.answered_share", "forum.figures.answered_share",
               "forum.figures.answered_share_def", share, unit="share", section=SECTION),
    ]  # fmt: skip
