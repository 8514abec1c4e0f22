"""Calendar periods in the neighbourhood's time zone (``LINLI_TIME_ZONE``): days, ISO weeks and
months as ``[start, end)`` in milliseconds. Every figure Linli shows by day, week or month uses
these, so the moderation figures, the requests' figures and the community's figures agree on
where a day begins.

Each boundary is a local date's midnight converted with the zone's rules for that date, never
now's offset shifted by whole days, so across a daylight-saving change a day lasts 23 or 25 hours
and a week or month is that much shorter or longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from linli.types import Millis

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Period:
    start: Millis
    end: Millis
    label: str


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def midnight(day: date, zone: tzinfo) -> Millis:
    """The first instant of ``day`` in ``zone``. Where the zone skips midnight (a change to
    daylight saving at 00:00, as in America/Santiago), fold 0 reads the missing 00:00 with the
    offset in force before the change, which is the instant the day begins; where 00:00 happens
    twice, fold 0 is the first of them."""
    # Subtracting an epoch in another tzinfo converts both to UTC (within one tzinfo, Python
    # would subtract wall times); integer division keeps the milliseconds exact.
    return (datetime.combine(day, time(), tzinfo=zone) - _EPOCH) // _ONE_MS


def periods(kind: str, count: int, now: Millis, *, zone: tzinfo) -> list[Period]:
    """The last ``count`` calendar periods in ``zone`` up to and including the current one,
    oldest first. ``kind``: ``day``, ``week`` (ISO, from Monday) or ``month``."""
    today = datetime.fromtimestamp(now / 1000, zone).date()
    found: list[Period] = []
    if kind == "day":
        for back in range(count):
            day = today - timedelta(days=back)
            found.append(
                Period(midnight(day, zone), midnight(day + timedelta(days=1), zone), str(day))
            )
    elif kind == "week":
        monday = today - timedelta(days=today.weekday())
        for back in range(count):
            start = monday - timedelta(weeks=back)
            year, week, _ = start.isocalendar()
            end = start + timedelta(weeks=1)
            found.append(Period(midnight(start, zone), midnight(end, zone), f"{year}-W{week:02d}"))
    elif kind == "month":
        start = today.replace(day=1)
        for _ in range(count):
            following = (start + timedelta(days=32)).replace(day=1)
            found.append(
                Period(midnight(start, zone), midnight(following, zone), start.strftime("%Y-%m"))
            )
            start = (start - timedelta(days=1)).replace(day=1)
    else:
        raise ValueError(f"unknown period {kind!r}: day, week or month")
    return list(reversed(found))


def local_date(at: Millis, zone: tzinfo) -> date:
    """The local date of the instant ``at``."""
    return datetime.fromtimestamp(at / 1000, zone).date()


def day_period(day: date, zone: tzinfo) -> Period:
    """The local day ``day`` as a period labelled YYYY-MM-DD."""
    return Period(midnight(day, zone), midnight(day + timedelta(days=1), zone), str(day))
