"""The figures' calendar periods in the neighbourhood's time zone: a day ends at local midnight,
and across a daylight-saving change it is 23 or 25 hours long."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from web.moderation.figures import periods

HOUR = 3_600_000
TAIPEI = ZoneInfo("Asia/Taipei")  # UTC+8 all year
LONDON = ZoneInfo("Europe/London")


def ms(iso: str) -> int:
    """Milliseconds of a UTC time written as ``2023-11-14T16:00``."""
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2023-11-14T22:13:20")  # a Tuesday in UTC, already Wednesday 06:13 in Taipei


def test_taipei_days_end_at_16_utc() -> None:
    days = periods("day", 3, NOW, zone=TAIPEI)
    assert [(p.label, p.start, p.end) for p in days] == [
        ("2023-11-13", ms("2023-11-12T16:00"), ms("2023-11-13T16:00")),
        ("2023-11-14", ms("2023-11-13T16:00"), ms("2023-11-14T16:00")),
        ("2023-11-15", ms("2023-11-14T16:00"), ms("2023-11-15T16:00")),
    ]
    assert days[-1].start <= NOW < days[-1].end


def test_taipei_weeks_and_months_begin_at_local_midnight() -> None:
    weeks = periods("week", 2, NOW, zone=TAIPEI)
    assert [(p.label, p.start, p.end) for p in weeks] == [
        ("2023-W45", ms("2023-11-05T16:00"), ms("2023-11-12T16:00")),
        ("2023-W46", ms("2023-11-12T16:00"), ms("2023-11-19T16:00")),
    ]
    months = periods("month", 2, NOW, zone=TAIPEI)
    assert [(p.label, p.start, p.end) for p in months] == [
        ("2023-10", ms("2023-09-30T16:00"), ms("2023-10-31T16:00")),
        ("2023-11", ms("2023-10-31T16:00"), ms("2023-11-30T16:00")),
    ]


def test_the_same_instant_falls_on_another_day_in_utc() -> None:
    assert periods("day", 1, NOW, zone=UTC)[0].label == "2023-11-14"
    assert periods("day", 1, NOW, zone=TAIPEI)[0].label == "2023-11-15"


def test_london_spring_forward_day_has_23_hours() -> None:
    # 2024-03-31, the last Sunday of March: 01:00 GMT becomes 02:00 BST.
    sunday = periods("day", 1, ms("2024-03-31T12:00"), zone=LONDON)[0]
    assert (sunday.label, sunday.start, sunday.end) == (
        "2024-03-31",
        ms("2024-03-31T00:00"),  # midnight GMT
        ms("2024-03-31T23:00"),  # midnight BST
    )
    assert sunday.end - sunday.start == 23 * HOUR
    saturday, sunday_again, monday = periods("day", 3, ms("2024-04-01T12:00"), zone=LONDON)
    assert [p.end - p.start for p in (saturday, sunday_again, monday)] == [
        24 * HOUR,
        23 * HOUR,
        24 * HOUR,
    ]
    assert saturday.end == sunday_again.start and sunday_again.end == monday.start
    week = periods("week", 1, ms("2024-03-31T12:00"), zone=LONDON)[0]
    assert (week.label, week.end - week.start) == ("2024-W13", (7 * 24 - 1) * HOUR)
    march = periods("month", 1, ms("2024-03-15T12:00"), zone=LONDON)[0]
    assert (march.start, march.end) == (ms("2024-03-01T00:00"), ms("2024-03-31T23:00"))


def test_london_fall_back_day_has_25_hours() -> None:
    # 2024-10-27, the last Sunday of October: 02:00 BST becomes 01:00 GMT.
    sunday = periods("day", 1, ms("2024-10-27T12:00"), zone=LONDON)[0]
    assert (sunday.start, sunday.end) == (ms("2024-10-26T23:00"), ms("2024-10-28T00:00"))
    assert sunday.end - sunday.start == 25 * HOUR


def test_a_day_without_a_midnight_begins_when_the_clocks_jump() -> None:
    # Chile moved to summer time at 00:00 on 2022-09-11: 23:59:59 -04 was followed by 01:00 -03,
    # so that day began at 04:00 UTC and had 23 hours.
    santiago = ZoneInfo("America/Santiago")
    day = periods("day", 1, ms("2022-09-11T12:00"), zone=santiago)[0]
    assert (day.label, day.start, day.end) == (
        "2022-09-11",
        ms("2022-09-11T04:00"),
        ms("2022-09-12T03:00"),
    )


@pytest.mark.parametrize("kind", ["day", "week", "month"])
@pytest.mark.parametrize("zone", [TAIPEI, LONDON, ZoneInfo("America/New_York"), UTC])
def test_periods_tile_the_time_before_now(kind: str, zone: ZoneInfo) -> None:
    """Over a year and a half of DST changes, each period ends where the next begins and the last
    one holds now."""
    now = ms("2024-11-03T06:30")  # New York's fall-back morning
    found = periods(kind, {"day": 550, "week": 80, "month": 18}[kind], now, zone=zone)
    assert all(a.end == b.start for a, b in itertools.pairwise(found))
    assert found[-1].start <= now < found[-1].end
    assert all(p.start < p.end for p in found)
