"""Working time: a clock that runs on working days only (Monday to Friday by default,
``LINLI_REQUEST_WORKING_DAYS``, less the holidays the admins list), whole local days of the
installation's zone.

A request's targets are durations of this clock: "a first response within 1 working day" filed
on Friday at 19:00 is due on Monday at 19:00 (Friday's last five hours, then Monday's first
nineteen), not on Saturday; filed on Saturday it is due at the end of Monday. A target of 24
hours and one of 1 day are the same duration of working time.

Pure functions, no I/O: the store reads the holidays and passes them in
(``docs/design/0019-requests.md``, "Working days").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo

from linli.types import Millis

#: A target longer than this many calendar days is refused (a bound on the day-by-day walk):
#: ten years, far beyond any target a category could want.
MAX_CALENDAR_DAYS = 3660


#: Monday to Friday, as ``date.weekday()`` numbers.
MON_FRI = frozenset(range(5))


def is_working_day(
    day: date, holidays: frozenset[date], weekdays: frozenset[int] = MON_FRI
) -> bool:
    return day.weekday() in weekdays and day not in holidays


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def add_working_time(
    start: Millis,
    duration_ms: int,
    zone: tzinfo,
    holidays: Iterable[date] = (),
    weekdays: frozenset[int] = MON_FRI,
) -> Millis:
    """The instant at which ``duration_ms`` of working time has passed since ``start``.

    Days are walked one at a time in ``zone`` (so a day is 23 or 25 hours across a change of
    clocks, as it is on the wall); a duration that ends exactly at the end of a working day ends
    at the next local midnight. ``duration_ms`` 0 is ``start`` itself, even on a holiday.
    """
    if duration_ms < 0:
        raise ValueError("a duration of working time is not negative")
    if not weekdays:
        raise ValueError("a week needs a working day")
    if duration_ms == 0:
        return start
    off = frozenset(holidays)
    left = duration_ms
    at = start
    day = datetime.fromtimestamp(start / 1000, zone).date()
    for _ in range(MAX_CALENDAR_DAYS):
        following = day + timedelta(days=1)
        day_end = _ms(datetime.combine(following, time(), tzinfo=zone))
        if is_working_day(day, off, weekdays):
            available = day_end - at
            if left <= available:
                return at + left
            left -= available
        day, at = following, day_end
    raise ValueError(f"{duration_ms} ms of working time is more than {MAX_CALENDAR_DAYS} days")
