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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from linli.types import Millis
from persistence.moderation import HandlingRow

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Period:
    start: Millis
    end: Millis
    label: str


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


def _ms(moment: datetime) -> Millis:
    return int(moment.timestamp() * 1000)


def periods(kind: str, count: int, now: Millis) -> list[Period]:
    """The last ``count`` calendar periods (UTC) up to and including the current one, oldest
    first. ``kind``: ``day``, ``week`` (ISO, from Monday) or ``month``."""
    current = datetime.fromtimestamp(now / 1000, UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    found: list[Period] = []
    if kind == "day":
        for back in range(count):
            start = current - timedelta(days=back)
            found.append(
                Period(_ms(start), _ms(start + timedelta(days=1)), start.date().isoformat())
            )
    elif kind == "week":
        monday = current - timedelta(days=current.weekday())
        for back in range(count):
            start = monday - timedelta(weeks=back)
            year, week, _ = start.isocalendar()
            found.append(Period(_ms(start), _ms(start + timedelta(weeks=1)), f"{year}-W{week:02d}"))
    elif kind == "month":
        start = current.replace(day=1)
        for _ in range(count):
            following = (start + timedelta(days=32)).replace(day=1)
            found.append(Period(_ms(start), _ms(following), start.strftime("%Y-%m")))
            start = (start - timedelta(days=1)).replace(day=1)
    else:
        raise ValueError(f"unknown period {kind!r}: day, week or month")
    return list(reversed(found))
