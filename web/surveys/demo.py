"""The surveys' part of the demo neighbourhood: last month's monthly satisfaction survey, closed,
with the answers of the four demo residents; and this month's, open for a week, which lee, wong
and lam have answered and chan has not (log in as chan to answer it; as ho or lam to read the
results)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from linli.config import Settings
from linli.feature import Demo
from persistence.surveys import (
    MONTHLY,
    AnswerRow,
    AnswerValue,
    Respondent,
    Survey,
    SurveyDraft,
    answer_rows,
    respondent_key,
)
from persistence.surveys.sql import SqlSurveyStore
from persistence.timers.sql import SqlTimerStore
from web.surveys.actions import (
    CLOSE_TIMER,
    DAY_MS,
    REMINDER_TIMER,
    monthly_draft,
    period_of,
    previous_period,
    timer_key,
)
from web.surveys.search import reindex

# (username, answers) for last month and for this month.
LAST_MONTH: tuple[tuple[str, dict[str, AnswerValue]], ...] = (
    (
        "chan",
        {
            "overall": 4,
            "clean": 4,
            "security": 5,
            "repairs": 3,
            "platform": 4,
            "nps": 8,
            "improve": [2],
            "comments": "升降機維修要快啲 The lift repairs should be quicker.",
        },
    ),
    (
        "lee",
        {
            "overall": 3,
            "clean": 3,
            "security": 4,
            "repairs": 2,
            "platform": 4,
            "nps": 7,
            "improve": [0, 2],
        },
    ),
    (
        "wong",
        {
            "overall": 5,
            "clean": 4,
            "security": 5,
            "repairs": 4,
            "platform": 5,
            "nps": 10,
            "improve": [4],
            "comments": "多謝管理處 Thanks to the management office.",
        },
    ),
    (
        "lam",
        {
            "overall": 4,
            "clean": 5,
            "security": 4,
            "repairs": 4,
            "platform": 4,
            "nps": 9,
            "improve": [3, 5],
        },
    ),
)
THIS_MONTH: tuple[tuple[str, dict[str, AnswerValue]], ...] = (
    (
        "lee",
        {
            "overall": 4,
            "clean": 4,
            "security": 4,
            "repairs": 4,
            "platform": 5,
            "nps": 9,
            "improve": [0],
        },
    ),
    ("wong", {"overall": 5, "clean": 5, "security": 5, "repairs": 4, "platform": 5, "nps": 10}),
    (
        "lam",
        {
            "overall": 4,
            "clean": 4,
            "security": 3,
            "repairs": 5,
            "platform": 4,
            "nps": 8,
            "improve": [1],
            "comments": "晚上大堂燈可以再光啲 The lobby could be brighter at night.",
        },
    ),
)


async def _answer(
    store: SqlSurveyStore, demo: Demo, survey: Survey, who: str, answers: dict[str, AnswerValue]
) -> None:
    user = demo.users[who]
    key = respondent_key(survey.draft.counting, user.id, user.unit_id)
    assert key is not None
    rows: dict[str, list[AnswerRow]] = {}
    for qid, value in answers.items():
        question = survey.draft.question(qid)
        assert question is not None
        rows[qid] = answer_rows(question, value)
    await store.save_response(
        survey.id,
        Respondent(key, user.id, user.building_id),
        rows,
        submit=True,
        submission_id=f"demo-{who}",
    )


async def seed_surveys(demo: Demo) -> None:
    store = SqlSurveyStore(demo.store.database)
    zone = ZoneInfo(Settings().time_zone)
    now = demo.now
    this_period = period_of(now, zone)
    last_period = previous_period(this_period)
    staff = demo.users["ho"].id
    base = monthly_draft()

    # Last month's: opened on its 15th, closed a week later.
    year, month = (int(x) for x in last_period.split("-"))
    opened = int(datetime(year, month, 15, 9, tzinfo=zone).timestamp() * 1000)
    last = await store.create_survey(
        SurveyDraft(
            title=f"{base.title} {last_period}",
            intro=base.intro,
            questions=base.questions,
            closes_at=opened + 7 * DAY_MS,
        ),
        created_by=staff,
        now=opened,
        template=MONTHLY,
        period=last_period,
    )
    await store.publish(last.id, now=opened)
    for who, answers in LAST_MONTH:
        await _answer(store, demo, last, who, answers)
    await store.close_survey(last.id, now=opened + 7 * DAY_MS)

    # This month's: open now for a week, reminders two days before the close.
    closes_at = now + 7 * DAY_MS
    current = await store.create_survey(
        SurveyDraft(
            title=f"{base.title} {this_period}",
            intro=base.intro,
            questions=base.questions,
            closes_at=closes_at,
            remind_at=closes_at - 2 * DAY_MS,
        ),
        created_by=staff,
        now=now,
        template=MONTHLY,
        period=this_period,
    )
    current = await store.publish(current.id, now=now)
    for who, answers in THIS_MONTH:
        await _answer(store, demo, current, who, answers)
    timers = SqlTimerStore(demo.store.database)
    for kind, at in ((CLOSE_TIMER, closes_at), (REMINDER_TIMER, closes_at - 2 * DAY_MS)):
        await timers.schedule(
            timer_key(kind, current.id), kind, at, {"survey_id": current.id}, now=now
        )
    await reindex(demo.store, now)  # searchable from the start
