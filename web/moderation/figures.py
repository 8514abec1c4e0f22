"""The handling figures the plan measures moderation by (違規內容處理速度、用戶舉報處理率), per
period, computed from the store's rows so the arithmetic is tested on its own.

For a period ``[start, end)``:

* ``flags_received``: flags residents sent in the period;
* ``messages_flagged``: messages whose *first* flag fell in the period (the unit a moderator
  handles: five flags on one message are one case);
* ``handled``: of those, the ones a moderator has acted on (hide, restore, delete, dismiss —
  the automatic hide is not an action: the message still waits for a person);
* ``time_to_first_action``: first flag → first moderator action of the handled ones, median and
  90th percentile in milliseconds, by the nearest-rank method (always a value that occurred;
  ``None`` when nothing was handled);
* ``handled_within_24h``: the share of ``messages_flagged`` handled within 24 hours of the first
  flag (``None`` when nothing was flagged). Unhandled messages count against it.

The calendar periods are the neighbourhood's (``LINLI_TIME_ZONE``): ``linli/periods.py``.
"""

from __future__ import annotations

import math
from typing import Any

from linli.feature import Figure, Services
from linli.periods import DAY_MS, Period, periods
from linli.types import BuildingId
from persistence.moderation import HandlingRow
from persistence.moderation.sql import SqlModerationStore

__all__ = ["Period", "figures", "nearest_rank", "periods"]


def nearest_rank(sorted_values: list[int], percentile: float) -> int | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def figures(rows: list[HandlingRow], flags_received: int, period: Period) -> dict[str, Any]:
    durations = sorted(
        r.first_action_at - r.first_flag_at for r in rows if r.first_action_at is not None
    )
    flagged = len(rows)
    within = sum(1 for d in durations if d <= DAY_MS)
    return {
        "start": period.start,
        "end": period.end,
        "label": period.label,
        "flags_received": flags_received,
        "messages_flagged": flagged,
        "handled": len(durations),
        "time_to_first_action": {
            "median_ms": nearest_rank(durations, 50),
            "p90_ms": nearest_rank(durations, 90),
        },
        "handled_within_24h": None if flagged == 0 else within / flagged,
    }


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> list[Figure]:
    """The moderation slice of the community's figures (``Feature.figures``): reports are
    about messages in any room, so they are counted for the whole neighbourhood only."""
    if building is not None:
        return []
    store = SqlModerationStore(services.database)
    rows = await store.handling_rows(since=period.start, until=period.end)
    found = figures(rows, await store.count_flags(since=period.start, until=period.end), period)
    section = "figures.section.moderation"
    timing = found["time_to_first_action"]
    return [
        Figure("moderation.flags", "figures.mod.flags", "figures.mod.flags_def",
               found["flags_received"], section=section),
        Figure("moderation.flagged", "figures.mod.flagged", "figures.mod.flagged_def",
               found["messages_flagged"], section=section),
        Figure("moderation.handled", "figures.mod.handled", "figures.mod.handled_def",
               found["handled"], section=section),
        Figure("moderation.first_action_p50", "figures.mod.p50", "figures.mod.p50_def",
               timing["median_ms"], unit="duration", section=section),
        Figure("moderation.first_action_p90", "figures.mod.p90", "figures.mod.p90_def",
               timing["p90_ms"], unit="duration", section=section),
        Figure("moderation.within_24h", "figures.mod.within_24h", "figures.mod.within_24h_def",
               found["handled_within_24h"], unit="share", section=section),
    ]  # fmt: skip
