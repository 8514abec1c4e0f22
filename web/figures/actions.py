"""The community's figures (社區數據): the plan's measures for a run of calendar periods and a
place, from the core's rows (``persistence/figures``) and each feature's ``Feature.figures``.

Definitions (written on the page too, ``figures.*_def`` in the catalogue):

* **residents**: accounts with the resident role registered before the period ended (staff are
  not counted anywhere);
* **active**: a resident with at least one active day in the period (a login, a page or API
  request, or a WebSocket connection: ``persistence/activity``);
* **average daily active**: the residents active on each day of the period, averaged over its
  days; the plan's goal is 50 % of residents;
* **login rate**: residents who logged in (or registered) during the period ÷ residents;
* **visits**: runs of a resident's activity without a 30-minute gap;
* **posts**: chat messages + forum topics + forum replies + notices published, the sum of those
  rows as the page shows them (``posts_figure``);
* **new residents by source**: onboarding's rows (``web/onboard/figures.py``), one per poster
  and invite code, the desk and the rest, adding up to the new residents;
* **cohorts**: of the residents who registered in a month, those active in the 7 days ending on
  day 30, 60, 90 and 180 after their registration.

Privacy: only aggregates; a count of people from 1 to 4, or a share over fewer than 5 people, is
shown as "< 5" (``shown``).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Final

from linli.feature import Figure, FigureSource, Services
from linli.live import zone_of
from linli.periods import Period, local_date, periods
from linli.types import BuildingId
from persistence.figures import CohortRow, CoreFigures, Span
from persistence.figures.sql import SqlFiguresStore

#: The plan's goal two: daily active users = 50 % of the community
#: (每日活躍用戶數達到社區總人數的50%).
DAU_TARGET: Final = 0.5
#: Below this many people a figure is not shown (it could point at a person).
MIN_PEOPLE: Final = 5
COHORT_DAYS: Final = (30, 60, 90, 180)
COHORT_WINDOW_DAYS: Final = 7
PERIOD_KINDS: Final = ("day", "week", "month")

SECTION_REACH: Final = "figures.section.reach"
SECTION_ACTIVITY: Final = "figures.section.activity"


def span_of(period: Period, zone: tzinfo) -> Span:
    """The period with its first and last local day (for the daily rollup)."""
    return Span(
        period.start,
        period.end,
        str(local_date(period.start, zone)),
        str(local_date(period.end - 1, zone)),
    )


def _days(span: Span) -> int:
    return (date.fromisoformat(span.last_day) - date.fromisoformat(span.first_day)).days + 1


def core_figures(core: CoreFigures, span: Span) -> list[Figure]:
    """The platform's own figures for one period, from the stored counts."""
    days = _days(span)
    average_dau = core.user_days / days
    share = None if core.residents == 0 else average_dau / core.residents
    login_rate = None if core.residents == 0 else core.residents_logged_in / core.residents
    households = None if core.households == 0 else core.households_with_account / core.households
    reach, act = SECTION_REACH, SECTION_ACTIVITY
    return [
        Figure("residents", "figures.residents", "figures.residents_def", core.residents,
               unit="people", section=reach),
        Figure("households_share", "figures.households_share", "figures.households_share_def",
               households, unit="share", people=core.households_with_account, section=reach),
        Figure("registrations", "figures.registrations", "figures.registrations_def",
               core.registrations, unit="people", section=reach),
        Figure("active", "figures.active", "figures.active_def", core.active, unit="people",
               section=act),
        Figure("dau", "figures.dau", "figures.dau_def", round(average_dau, 1), unit="people",
               section=act),
        Figure("dau_share", "figures.dau_share", "figures.dau_share_def", share, unit="share",
               target=DAU_TARGET, people=core.residents, section=act),
        Figure("login_rate", "figures.login_rate", "figures.login_rate_def", login_rate,
               unit="share", people=core.residents, section=act),
        Figure("visits", "figures.visits", "figures.visits_def", core.visits, section=act),
        Figure("chat_posts", "figures.chat_posts", "figures.chat_posts_def", core.chat_posts,
               section=act),
        Figure("votes", "figures.votes", "figures.votes_def", core.votes, section=act),
    ]  # fmt: skip


def shown(figure: Figure) -> Figure:
    """``figure`` as the page may show it: people counts of 1–4 and shares or scores over fewer
    than 5 people become ``None`` with ``unit`` "few" (the page writes "< 5")."""
    few = (
        figure.unit == "people" and figure.value is not None and 0 < figure.value < MIN_PEOPLE
    ) or (figure.people is not None and figure.people < MIN_PEOPLE and figure.value is not None)
    if not few:
        return figure
    return Figure(
        figure.key, figure.label, figure.definition, None, unit="few", target=figure.target,
        people=figure.people, section=figure.section, args=figure.args,
    )  # fmt: skip


#: The plan's "posts (chat, forum, notices)" as one figure: the sum of these figures as the page
#: shows them (those of features that are installed), so it always equals their rows.
POSTS_PARTS: Final = ("chat_posts", "forum.topics", "forum.replies", "notices.published")


def posts_figure(found: Sequence[Figure]) -> Figure:
    """Chat messages, forum topics and replies, and notices published in the period."""
    by_key = {f.key: f for f in found}
    total = sum(int(by_key[k].value or 0) for k in POSTS_PARTS if k in by_key)
    return Figure("posts", "figures.posts", "figures.posts_def", total, section=SECTION_ACTIVITY)


def label_of(figure: Figure, words: dict[str, str]) -> str:
    """A figure's name as the page and the CSV write it, its placeholders filled."""
    text = words.get(figure.label, figure.label)
    return text.format(**dict(figure.args)) if figure.args else text


@dataclass(frozen=True, slots=True)
class Column:
    """One period's figures, by key."""

    period: Period
    figures: dict[str, Figure]


@dataclass(frozen=True, slots=True)
class Table:
    """What the page and the CSV show: the figures' rows (first period's order) and a column per
    period, oldest first."""

    rows: list[Figure]
    columns: list[Column]


async def table(
    services: Services,
    sources: Sequence[FigureSource],
    *,
    kind: str,
    count: int,
    building: BuildingId | None,
    private: bool = True,
) -> Table:
    """The figures of the last ``count`` periods of ``kind`` (day, week, month) up to now.
    ``private``: apply the "< 5" rule (the CSV for the committee applies it too)."""
    zone = zone_of(services)
    store = SqlFiguresStore(services.database)
    columns = []
    for period in periods(kind, count, services.clock.now_ms(), zone=zone):
        span = span_of(period, zone)
        found = core_figures(await store.core(span, building), span)
        for source in sources:
            found.extend(await source(services, period, building))
        # Right after the chat messages it sums (the first of its parts).
        found.insert(next(i for i, f in enumerate(found) if f.key == "chat_posts"),
                     posts_figure(found))  # fmt: skip
        columns.append(Column(period, {f.key: shown(f) if private else f for f in found}))
    # The newest period's rows, then any only older periods have (a source's rows may differ).
    rows: dict[str, Figure] = {}
    for column in reversed(columns):
        for key, figure in column.figures.items():
            rows.setdefault(key, figure)
    return Table(list(rows.values()), columns)


async def daily_active_series(
    services: Services, days: int, building: BuildingId | None
) -> list[tuple[str, int, int]]:
    """(day, active residents, residents registered by the day's end) for the last ``days``
    local days, oldest first."""
    zone = zone_of(services)
    store = SqlFiguresStore(services.database)
    wanted = periods("day", days, services.clock.now_ms(), zone=zone)
    active = await store.daily_active(wanted[0].label, wanted[-1].label, building)
    joined = sorted(at for _, at in await store.joined(building))
    return [
        (period.label, active.get(period.label, 0), bisect.bisect_left(joined, period.end))
        for period in wanted
    ]


async def cohorts(services: Services, months: int, building: BuildingId | None) -> list[CohortRow]:
    """The cohort view for the residents who registered in each of the last ``months``
    months (oldest first): how many were active around day 30, 60, 90 and 180."""
    zone = zone_of(services)
    now = services.clock.now_ms()
    store = SqlFiguresStore(services.database)
    wanted = periods("month", months, now, zone=zone)
    people = await store.joined(building)
    rows = []
    for period in wanted:
        members = [(u, at) for u, at in people if period.start <= at < period.end]
        active = await store.active_days([u for u, _ in members])
        today = local_date(now, zone)
        counts: dict[int, int | None] = {}
        for n in COHORT_DAYS:
            total, pending = 0, False
            for user_id, at in members:
                joined = local_date(at, zone)
                last = joined + timedelta(days=n)
                if last > today:
                    pending = True
                    break
                window = {str(last - timedelta(days=k)) for k in range(COHORT_WINDOW_DAYS)}
                total += bool(active[user_id] & window)
            counts[n] = None if pending else total
        rows.append(CohortRow(period.label, len(members), counts))
    return rows


def period_count(kind: str) -> int:
    """How many periods the page shows for each kind."""
    return {"day": 14, "week": 8, "month": 6}[kind]
