"""The monthly satisfaction survey on the real backends, both modes, with a clock the test sets:
the ``surveys.monthly`` run makes and opens this month's survey from the shipped template only
when an admin turned the series on, once however often it runs, with its close and reminder
timers and the next month's run scheduled; and ``monthly_satisfaction`` (what the community
figures read) equals the figure computed here from the answers sent."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from linli.clock import ManualClock
from linli.config import Settings, load_settings
from linli.periods import Period
from linli.runtime import Runtime, open_runtime
from persistence.store import Role
from persistence.surveys import MONTHLY, Audience, Counting, Respondent, SurveyState
from persistence.surveys.sql import SqlSurveyStore
from persistence.timers import TimerJob
from web.surveys import actions
from web.surveys.figures import figure_source
from web.surveys.results import one_decimal

pytestmark = pytest.mark.timeout(60)
ZONE = ZoneInfo("Asia/Taipei")
#: 2026-11-15 09:00 in Taipei: the monthly run's time.
RUN_AT = int(datetime(2026, 11, 15, 9, tzinfo=ZONE).timestamp() * 1000)


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "embedded":
        return load_settings({}, database_url=request.getfixturevalue("sqlite_url"))
    return load_settings(
        {},
        database_url=request.getfixturevalue("postgres_schema_url"),
        redis_url=request.getfixturevalue("redis_url"),
        key_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, migrate_first=True) as rt:
        yield dataclasses.replace(rt, clock=ManualClock(RUN_AT))


def _job(due: int) -> TimerJob:
    return TimerJob(
        key=actions.MONTHLY_TIMER, kind=actions.MONTHLY_TIMER, due_at=due, payload={}, attempts=1
    )


def test_next_monthly_is_the_15th_at_nine_local() -> None:
    assert actions.next_monthly(RUN_AT - 1, ZONE) == RUN_AT
    december = int(datetime(2026, 12, 15, 9, tzinfo=ZONE).timestamp() * 1000)
    assert actions.next_monthly(RUN_AT, ZONE) == december
    january = int(datetime(2027, 1, 15, 9, tzinfo=ZONE).timestamp() * 1000)
    assert actions.next_monthly(december + 1, ZONE) == january
    assert actions.previous_period("2027-01") == "2026-12"
    assert actions.period_of(RUN_AT, ZONE) == "2026-11"


async def test_the_monthly_run_makes_one_survey_only_when_on(runtime: Runtime) -> None:
    store = runtime.store
    building = await store.create_building("Harbour View", now=1)
    admin = await store.create_user(
        username="admin",
        display_name="Admin",
        password_hash="-",
        role=Role.ADMIN,
        building_id=None,
        unit_label=None,
        now=1,
    )
    people = [
        await store.create_user(
            username=f"r{i}",
            display_name=f"R{i}",
            password_hash="-",
            role=Role.RESIDENT,
            building_id=building.id,
            unit_label=f"U{i}",
            now=1,
        )
        for i in range(7)
    ]
    surveys = SqlSurveyStore(runtime.database)
    december = actions.next_monthly(RUN_AT, ZONE)

    # Off (never turned on): nothing is made, and the next run is scheduled.
    await actions.on_monthly_timer(runtime, _job(RUN_AT))
    assert await surveys.list_surveys() == []
    entry = await runtime.timers.get(actions.MONTHLY_TIMER)
    assert entry is not None and entry.due_at == december

    await actions.set_series(
        runtime,
        enabled=True,
        audience=Audience.EVERYONE,
        counting=Counting.RESIDENT,
        actor_id=admin.id,
    )
    await actions.on_monthly_timer(runtime, _job(RUN_AT))
    await actions.on_monthly_timer(runtime, _job(RUN_AT))  # a second run (at least once)
    made = await surveys.list_surveys()
    assert len(made) == 1
    survey = made[0]
    assert (survey.template, survey.period, survey.state) == (MONTHLY, "2026-11", SurveyState.OPEN)
    week = 7 * 86_400_000
    assert survey.draft.closes_at == RUN_AT + week
    assert survey.draft.remind_at == RUN_AT + week - 2 * 86_400_000
    close = await runtime.timers.get(f"{actions.CLOSE_TIMER}:{survey.id}")
    remind = await runtime.timers.get(f"{actions.REMINDER_TIMER}:{survey.id}")
    assert close is not None and close.due_at == RUN_AT + week
    assert remind is not None and remind.due_at == RUN_AT + week - 2 * 86_400_000

    # The satisfaction figure: answers 1..5 and 4, 5 again; 4 or 5 are satisfied.
    scores = [1, 2, 3, 4, 5, 4, 5]
    for person, score in zip(people, scores, strict=True):
        respondent = Respondent(f"user:{person.id}", person.id, building.id)
        await actions.answer(
            runtime,
            survey,
            respondent,
            {"overall": score, "nps": 9},
            submit=True,
            submission_id="s",
        )
    figures = await actions.monthly_satisfaction(runtime)
    assert len(figures) == 1
    figure = figures[0]
    satisfied = sum(1 for s in scores if s >= 4)
    assert (figure.period, figure.final, figure.responses) == ("2026-11", False, 7)
    assert (figure.answered, figure.satisfied) == (7, satisfied)
    expected = (Decimal(100 * satisfied) / 7).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert one_decimal(figure.percent) == str(expected) == "57.1"
    assert figure.mean == Fraction(sum(scores), 7)
    # The same figure on the community-figures page, for November and for the building.
    november = Period(RUN_AT - 14 * 86_400_000, RUN_AT + 15 * 86_400_000, "2026-11")
    for place in (None, building.id):
        shown = {f.key: f for f in await figure_source(runtime, november, place)}
        assert shown["surveys.satisfaction"].value == satisfied / 7
        assert shown["surveys.satisfaction"].people == 7
        assert shown["surveys.responses"].value == 7
    october = Period(RUN_AT - 45 * 86_400_000, RUN_AT - 14 * 86_400_000, "2026-10")
    assert await figure_source(runtime, october, None) == []

    # The close timer at its time closes it; the figure is then final.
    runtime.clock.set_now_ms(RUN_AT + week)  # type: ignore[attr-defined]
    assert close is not None
    await actions.on_close_timer(
        runtime, TimerJob(close.key, close.kind, close.due_at, close.payload, 1)
    )
    closed = await surveys.get_survey(survey.id)
    assert closed is not None and closed.state is SurveyState.CLOSED
    assert (await actions.monthly_satisfaction(runtime))[0].final is True
    assert await runtime.timers.get(f"{actions.REMINDER_TIMER}:{survey.id}") is None
