"""Every change of a survey: store write + timers + notifications + audit, with no HTTP in sight,
so the API, the timers, the CLI and an admin console make the same change the same way; and the
reads other features use (``monthly_satisfaction`` for the community figures).

Callers have authorised staff actions already (``web/surveys/api.py``: ``Can.RUN_SURVEYS``); a
resident's ``answer`` checks the audience itself, since every caller must.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from linli.feature import Services
from linli.live import zone_of
from linli.types import Millis, UserId
from persistence.audit import NewEntry
from persistence.moderation.sql import SqlModerationStore
from persistence.notifications import Kind
from persistence.store import User
from persistence.surveys import (
    MONTHLY,
    AnswerRow,
    AnswerValue,
    Audience,
    Counting,
    InvalidAnswer,
    Question,
    RawResults,
    Respondent,
    SaveResult,
    SeriesSettings,
    Survey,
    SurveyDraft,
    SurveyExists,
    SurveyState,
    SurveyStore,
    answer_rows,
    respondent_key,
)
from persistence.surveys.sql import SqlSurveyStore
from persistence.timers import TimerJob
from web.notifications.actions import notify
from web.surveys.results import Satisfaction, SurveyResults, compute, satisfaction
from web.surveys.search import index_survey

log = logging.getLogger(__name__)

FEATURE = "surveys"
OPEN_TIMER = "surveys.open"
CLOSE_TIMER = "surveys.close"
REMINDER_TIMER = "surveys.reminder"
MONTHLY_TIMER = "surveys.monthly"
#: The plan asks for feedback "in the third week of each month": the monthly survey opens on the
#: 15th at 09:00 local time, stays open a week, and those who have not answered are reminded two
#: days before it closes.
MONTHLY_DAY, MONTHLY_HOUR = 15, 9
MONTHLY_DAYS_OPEN = 7
MONTHLY_REMIND_BEFORE_DAYS = 2
DAY_MS = 86_400_000


def surveys_store(services: Services) -> SurveyStore:
    return SqlSurveyStore(services.database)


def timer_key(kind: str, survey_id: int) -> str:
    return f"{kind}:{survey_id}"


@functools.cache
def template_json(template: str) -> dict[str, object]:
    if template != MONTHLY:
        raise KeyError(template)
    data: dict[str, object] = json.loads(
        (Path(__file__).parent / "monthly.json").read_text(encoding="utf-8")
    )
    return data


def template_questions(template: str) -> tuple[Question, ...]:
    return msgspec.convert(template_json(template)["questions"], tuple[Question, ...])


def period_of(ms: Millis, zone: ZoneInfo) -> str:
    """The month ``ms`` falls in, in the neighbourhood's time zone: ``YYYY-MM``."""
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m")


def previous_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def next_monthly(now: Millis, zone: ZoneInfo) -> Millis:
    """The next opening of the monthly survey after ``now`` (the 15th, 09:00 local)."""
    local = datetime.fromtimestamp(now / 1000, zone)
    at = local.replace(day=MONTHLY_DAY, hour=MONTHLY_HOUR, minute=0, second=0, microsecond=0)
    if at <= local:
        first = (at.replace(day=1) + timedelta(days=32)).replace(day=MONTHLY_DAY)
        at = first
    return int(at.timestamp() * 1000)


async def _record(services: Services, action: str, actor_id: UserId | None, survey: Survey) -> None:
    """Every change of a survey ends here: audited, and put in the search index as it now is."""
    await index_survey(services, survey)
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor_id,
            reason="",
            at=services.clock.now_ms(),
            subject=f"survey:{survey.id}",
            detail={"title": survey.draft.title},
        )
    )


# -- staff actions ------------------------------------------------------------------------------


async def create_survey(
    services: Services,
    draft: SurveyDraft,
    *,
    actor_id: UserId,
    template: str | None = None,
    period: str | None = None,
) -> Survey:
    """A new draft (SurveyExists when the template has a survey for that period already)."""
    survey = await surveys_store(services).create_survey(
        draft, created_by=actor_id, now=services.clock.now_ms(), template=template, period=period
    )
    await _record(services, "survey_create", actor_id, survey)
    return survey


def monthly_draft(
    *, audience: Audience = Audience.EVERYONE, counting: Counting = Counting.RESIDENT
) -> SurveyDraft:
    data = template_json(MONTHLY)
    return SurveyDraft(
        title=str(data["title"]),
        intro=str(data["intro"]),
        questions=template_questions(MONTHLY),
        audience=audience,
        counting=counting,
    )


async def create_from_template(
    services: Services, template: str, *, actor_id: UserId, period: str | None = None
) -> Survey:
    """A draft of the shipped template for ``period`` (this month by default)."""
    period = period or period_of(services.clock.now_ms(), zone_of(services))
    return await create_survey(
        services, monthly_draft(), actor_id=actor_id, template=template, period=period
    )


async def update_survey(
    services: Services, survey_id: int, draft: SurveyDraft, *, actor_id: UserId
) -> Survey:
    survey = await surveys_store(services).update_survey(survey_id, draft)
    if survey.state is SurveyState.SCHEDULED:
        for kind in (OPEN_TIMER, CLOSE_TIMER, REMINDER_TIMER):
            await services.timers.cancel(timer_key(kind, survey.id))
        await _schedule(services, survey)
    await _record(services, "survey_edit", actor_id, survey)
    return survey


async def _schedule(services: Services, survey: Survey) -> None:
    now = services.clock.now_ms()
    d = survey.draft
    jobs = (
        (OPEN_TIMER, d.opens_at if survey.state is SurveyState.SCHEDULED else None),
        (CLOSE_TIMER, d.closes_at),
        (REMINDER_TIMER, d.remind_at),
    )
    for kind, at in jobs:
        if at is not None:
            await services.timers.schedule(
                timer_key(kind, survey.id), kind, at, {"survey_id": survey.id}, now=now
            )


async def publish(services: Services, survey_id: int, *, actor_id: UserId | None) -> Survey:
    """Draft → open now (or scheduled for its ``opens_at``), with its timers; the audience is told
    when it opens."""
    survey = await surveys_store(services).publish(survey_id, now=services.clock.now_ms())
    await _schedule(services, survey)
    await _record(services, "survey_publish", actor_id, survey)
    if survey.state is SurveyState.OPEN:
        await _notify_opened(services, survey, actor_id)
    return survey


async def close(services: Services, survey_id: int, *, actor_id: UserId | None) -> Survey:
    """Open → closed now (idempotent); its pending timers are cancelled."""
    survey, changed = await surveys_store(services).close_survey(
        survey_id, now=services.clock.now_ms()
    )
    for kind in (OPEN_TIMER, CLOSE_TIMER, REMINDER_TIMER):
        await services.timers.cancel(timer_key(kind, survey_id))
    if changed:
        await _record(
            services, "survey_close" if actor_id else "survey_close_scheduled", actor_id, survey
        )
    return survey


async def set_series(
    services: Services,
    *,
    enabled: bool,
    audience: Audience,
    counting: Counting,
    actor_id: UserId,
) -> SeriesSettings:
    """Turn the monthly survey on or off (the ``surveys.monthly`` timer reads it)."""
    settings = SeriesSettings(
        MONTHLY, enabled, audience, counting, actor_id, services.clock.now_ms()
    )
    await surveys_store(services).set_series(settings)
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="survey_series_on" if enabled else "survey_series_off",
            actor_id=actor_id,
            reason="",
            at=settings.updated_at,
            subject=f"survey_series:{MONTHLY}",
            detail={"audience": str(audience), "counting": str(counting)},
        )
    )
    return settings


# -- audience and answering ---------------------------------------------------------------------


async def in_audience(services: Services, draft: SurveyDraft, user: User) -> bool:
    """Whether ``user`` is one of those the survey asks."""
    if draft.audience is Audience.GROUP:
        return await services.store.is_member(user.id, draft.group_slug)
    if user.building_id is None:
        return False
    return draft.audience is Audience.EVERYONE or user.building_id in draft.buildings


def respondent_of(survey: Survey, user: User) -> Respondent | None:
    key = respondent_key(survey.draft.counting, user.id, user.unit_id)
    return None if key is None else Respondent(key, user.id, user.building_id)


def answer_rows_of(
    survey: Survey, answers: Mapping[str, AnswerValue]
) -> dict[str, list[AnswerRow]]:
    """Every answer as stored rows, or InvalidAnswer naming the first wrong one (an unknown
    question id included)."""
    rows: dict[str, list[AnswerRow]] = {}
    for qid, value in answers.items():
        question = survey.draft.question(qid)
        if question is None:
            raise InvalidAnswer(qid, f"no question {qid!r} in this survey")
        rows[qid] = answer_rows(question, value)
    return rows


async def answer(
    services: Services,
    survey: Survey,
    respondent: Respondent,
    answers: Mapping[str, AnswerValue],
    *,
    submit: bool,
    submission_id: str,
) -> SaveResult:
    """Save (and with ``submit``, submit) a respondent's answers. The caller checked the audience
    (``in_audience``); raises InvalidAnswer and the store's errors."""
    rows = answer_rows_of(survey, answers)
    return await surveys_store(services).save_response(
        survey.id, respondent, rows, submit=submit, submission_id=submission_id
    )


# -- notifications ------------------------------------------------------------------------------


async def _audience_keys(services: Services, survey: Survey) -> dict[str, list[UserId]]:
    """Respondent key -> the users answering under it."""
    users = await surveys_store(services).audience_users(survey.draft)
    keys: dict[str, list[UserId]] = {}
    for user_id, unit_id in users:
        key = respondent_key(survey.draft.counting, user_id, unit_id)
        if key is not None:
            keys.setdefault(key, []).append(user_id)
    return keys


async def _notify_opened(services: Services, survey: Survey, actor_id: UserId | None) -> None:
    keys = await _audience_keys(services, survey)
    await notify(
        services,
        key=f"survey:{survey.id}:open",
        kind=Kind.SURVEY,
        text_zh=f"新問卷：{survey.draft.title}",
        text_en=f"New survey: {survey.draft.title}",
        link=f"/surveys/{survey.id}",
        actor_id=actor_id,
        user_ids=sorted(u for users in keys.values() for u in users),
    )


async def remind(services: Services, survey_id: int) -> list[UserId]:
    """Remind everyone the survey asks who has not answered (for a household survey: every
    resident of a household that has not); returns them. Nobody is reminded twice."""
    store = surveys_store(services)
    survey = await store.get_survey(survey_id)
    if survey is None or survey.state is not SurveyState.OPEN:
        return []
    keys = await _audience_keys(services, survey)
    answered = await store.answered(survey_id, list(keys))
    waiting = sorted(u for key, users in keys.items() if key not in answered for u in users)
    if waiting:
        await notify(
            services,
            key=f"survey:{survey.id}:remind",
            kind=Kind.SURVEY,
            text_zh=f"提提你：問卷「{survey.draft.title}」快將截止",
            text_en=f"A reminder: the survey “{survey.draft.title}” closes soon",
            link=f"/surveys/{survey.id}",
            user_ids=waiting,
        )
    return waiting


# -- timers -------------------------------------------------------------------------------------


def _survey_id(job: TimerJob) -> int | None:
    survey_id = job.payload.get("survey_id")
    if type(survey_id) is not int:
        log.error("%s timer without a survey id: %r", job.kind, job.payload)
        return None
    return survey_id


async def on_open_timer(services: Services, job: TimerJob) -> None:
    """``surveys.open``: a scheduled survey opens at its time (idempotent)."""
    survey_id = _survey_id(job)
    if survey_id is None:
        return
    survey, opened = await surveys_store(services).open_due(survey_id, now=services.clock.now_ms())
    if opened:
        await _record(services, "survey_open_scheduled", None, survey)
        await _notify_opened(services, survey, None)


async def on_close_timer(services: Services, job: TimerJob) -> None:
    """``surveys.close``: close at ``closes_at`` (a survey moved later waits for its new job)."""
    survey_id = _survey_id(job)
    if survey_id is None:
        return
    survey = await surveys_store(services).get_survey(survey_id)
    if survey is None or survey.state in (SurveyState.DRAFT, SurveyState.CLOSED):
        return
    if survey.draft.closes_at is not None and survey.draft.closes_at > services.clock.now_ms():
        await services.timers.schedule(
            job.key,
            CLOSE_TIMER,
            survey.draft.closes_at,
            {"survey_id": survey_id},
            now=services.clock.now_ms(),
        )
        return
    await close(services, survey_id, actor_id=None)


async def on_reminder_timer(services: Services, job: TimerJob) -> None:
    """``surveys.reminder``: remind those who have not answered (the notification key makes a
    second run remind nobody twice)."""
    survey_id = _survey_id(job)
    if survey_id is not None:
        await remind(services, survey_id)


async def on_monthly_timer(services: Services, job: TimerJob) -> None:
    """``surveys.monthly`` (recurring): when an admin turned the series on, make this month's
    survey from the template and open it for a week; then schedule next month's run."""
    now = services.clock.now_ms()
    zone = zone_of(services)
    try:
        series = await surveys_store(services).series(MONTHLY)
        if series is not None and series.enabled:
            await run_monthly(services, series, now=now)
    finally:
        await services.timers.schedule(job.key, MONTHLY_TIMER, next_monthly(now, zone), {}, now=now)


async def run_monthly(services: Services, series: SeriesSettings, *, now: Millis) -> Survey | None:
    """This month's survey of the series, made and opened once (a second run finds it)."""
    period = period_of(now, zone_of(services))
    store = surveys_store(services)
    if await store.get_by_period(MONTHLY, period) is not None:
        return None
    closes_at = now + MONTHLY_DAYS_OPEN * DAY_MS
    base = monthly_draft(audience=series.audience, counting=series.counting)
    draft = SurveyDraft(
        title=f"{base.title} {period}",
        intro=base.intro,
        questions=base.questions,
        audience=base.audience,
        counting=base.counting,
        closes_at=closes_at,
        remind_at=closes_at - MONTHLY_REMIND_BEFORE_DAYS * DAY_MS,
    )
    try:
        survey = await create_survey(
            services, draft, actor_id=series.updated_by, template=MONTHLY, period=period
        )
    except SurveyExists:
        return None
    return await publish(services, survey.id, actor_id=None)


# -- results ------------------------------------------------------------------------------------


async def asked(services: Services, survey: Survey) -> int:
    """How many residents (or households) the survey asks."""
    return len(await _audience_keys(services, survey))


async def previous_of(services: Services, survey: Survey) -> Survey | None:
    """Last month's survey of the same template, if there is one."""
    if survey.template is None or survey.period is None:
        return None
    return await surveys_store(services).get_by_period(
        survey.template, previous_period(survey.period)
    )


async def results(services: Services, survey: Survey) -> SurveyResults:
    """The survey's figures from its stored rows, the word list applied to text answers, with
    last month's means beside this month's."""
    store = surveys_store(services)
    raw = await store.raw_results(survey.id)
    previous = await previous_of(services, survey)
    previous_raw = await store.raw_results(previous.id) if previous is not None else None
    words = [w.pattern for w in await SqlModerationStore(services.database).list_words()]
    return compute(
        survey.draft.questions,
        raw,
        asked=await asked(services, survey),
        hidden=words,
        previous=previous_raw,
    )


async def monthly_satisfaction(services: Services) -> list[Satisfaction]:
    """The monthly satisfaction figure of every month with a survey of the shipped template,
    oldest first: the percent of those answering the overall question with 4 or 5 (滿意 or
    非常滿意), with the counts and the mean beside it (``web/surveys/results.py`` defines it).
    Drafts are left out; a month whose survey is still open is marked not ``final``. For the
    community-figures page."""
    store = surveys_store(services)
    figures: list[Satisfaction] = []
    surveys = [
        s
        for s in await store.list_surveys()
        if s.template == MONTHLY and s.period and s.state in (SurveyState.OPEN, SurveyState.CLOSED)
    ]
    for survey in sorted(surveys, key=lambda s: s.period or ""):
        raw: RawResults = await store.raw_results(survey.id)
        assert survey.period is not None
        figures.append(
            satisfaction(survey.period, survey.id, survey.state is SurveyState.CLOSED, raw)
        )
    return figures
