"""The survey pages: the list (what a resident is asked; staff see every survey, publish and
close them and turn the monthly survey on), a survey to answer (one question per screen on a
phone, a progress bar, back and next, saved as they go; rendered with the resident's saved
answers, so another device resumes where the first stopped), and the results for staff (charts
drawn here as SVG with the numbers beside the bars, per building, last month beside this one,
the CSV export).

Rendered like every page (``web.pages.render``); words are the ``surveys.*`` keys of
``web/locales/surveys/*.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.catalogue import messages_of
from linli.live import zone_of
from linli.richtext import render as render_markdown
from persistence.surveys import MyResponse, Question, QuestionKind, Survey, SurveyState
from web.api import current_user, user_json
from web.http import services_of
from web.pages import render, to_login, wording_of
from web.surveys import actions
from web.surveys.actions import surveys_store
from web.surveys.api import building_names, is_staff, survey_json
from web.surveys.charts import bar_chart
from web.surveys.results import one_decimal


@dataclass(frozen=True)
class Step:
    """One screen of the answer page: a question, with the section heading it starts under."""

    number: int
    question: Question
    section: str
    value: Any


def _when(request: Request) -> Any:
    """Formats a time (milliseconds) in the neighbourhood's time zone, for the templates."""
    zone = zone_of(services_of(request))

    def when(ms: int | None) -> str:
        if ms is None:
            return ""
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")

    return when


def steps_of(survey: Survey, mine: MyResponse | None) -> list[Step]:
    steps: list[Step] = []
    section = ""
    for q in survey.draft.questions:
        if q.kind is QuestionKind.SECTION:
            section = q.text
            continue
        value = mine.answers.get(q.id) if mine else None
        steps.append(Step(len(steps) + 1, q, section, value))
        section = ""
    return steps


async def list_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    services = services_of(request)
    staff = is_staff(user)
    rows = []
    for survey in await surveys_store(services).list_surveys():
        if not staff and (
            survey.state in (SurveyState.DRAFT, SurveyState.SCHEDULED)
            or not await actions.in_audience(services, survey.draft, user)
        ):
            continue
        mine = None
        respondent = actions.respondent_of(survey, user)
        if survey.state is SurveyState.OPEN and respondent is not None:
            mine = await surveys_store(services).my_response(survey.id, respondent.key)
        rows.append({"survey": survey, "mine": mine})
    series = await surveys_store(services).series("monthly") if staff else None
    return render(
        request,
        "surveys/list.html",
        user=user_json(user),
        when=_when(request),
        page="surveys/list",
        rows=rows,
        staff=staff,
        series_on=bool(series and series.enabled),
    )


async def answer_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    services = services_of(request)
    survey = await surveys_store(services).get_survey(request.path_params["survey_id"])
    staff = is_staff(user)
    asked = survey is not None and await actions.in_audience(services, survey.draft, user)
    if survey is None or (not staff and (survey.state is SurveyState.DRAFT or not asked)):
        return render(
            request,
            "surveys/missing.html",
            user=user_json(user),
            when=_when(request),
            page="surveys/list",
            status="missing",
        )
    respondent = actions.respondent_of(survey, user) if asked else None
    mine = (
        await surveys_store(services).my_response(survey.id, respondent.key)
        if respondent is not None
        else None
    )
    open_ = survey.state is SurveyState.OPEN
    preview = staff and not (open_ and respondent is not None)
    finished = bool(mine and mine.submitted)
    return render(
        request,
        "surveys/answer.html",
        user=user_json(user),
        when=_when(request),
        page="surveys/answer",
        survey=survey,
        intro_html=render_markdown(survey.draft.intro),
        steps=steps_of(survey, mine),
        mine=mine,
        may_answer=open_ and respondent is not None,
        locked=finished and not survey.draft.allow_change,
        finished=finished,
        preview=preview,
        staff=staff,
        household=survey.draft.counting == "unit",
    )


async def results_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    services = services_of(request)
    survey = await surveys_store(services).get_survey(request.path_params["survey_id"])
    if survey is None or not is_staff(user):
        return render(
            request,
            "surveys/missing.html",
            user=user_json(user),
            when=_when(request),
            page="surveys/list",
            status="missing",
        )
    results = await actions.results(services, survey)
    previous = await actions.previous_of(services, survey)
    words = messages_of(wording_of(request))
    names = await building_names(request)
    sections = []
    for i, r in enumerate(results.questions):
        q = r.question
        chart = ""
        if r.bars:
            labels = [_value_label(q, b.value, words) for b in r.bars]
            chart = bar_chart(q.text, labels, r.bars, chart_id=f"chart-{i}")
        sections.append(
            {
                "result": r,
                "chart": chart,
                "mean": one_decimal(r.mean),
                "previous_mean": one_decimal(r.previous_mean),
                "nps": one_decimal(r.nps.score) if r.nps else "",
                "buildings": [
                    {
                        "name": names.get(b.building_id, "—"),
                        "responses": b.responses,
                        "mean": one_decimal(b.mean),
                    }
                    for b in r.by_building
                ],
            }
        )
    return render(
        request,
        "surveys/results.html",
        user=user_json(user),
        when=_when(request),
        page="surveys/results",
        survey=survey,
        results=results,
        rate=one_decimal(results.rate),
        sections=sections,
        previous=previous,
    )


def _value_label(q: Question, value: int, words: dict[str, str]) -> str:
    if q.kind is QuestionKind.SCALE:
        if value == 1 and q.low_label:
            return f"1 {q.low_label}"
        if value == 5 and q.high_label:
            return f"5 {q.high_label}"
        return f"{value} {words.get(f'surveys.scale.{value}', '')}"
    if q.kind is QuestionKind.NPS:
        return str(value)
    return q.options[value]


async def edit_page(request: Request) -> Response:
    """Staff write a new draft, or change one (a published survey goes to its own page)."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    services = services_of(request)
    if not is_staff(user):
        return render(
            request,
            "surveys/missing.html",
            user=user_json(user),
            page="surveys/list",
            when=_when(request),
        )
    draft = None
    survey_id = request.path_params.get("survey_id")
    if survey_id is not None:
        survey = await surveys_store(services).get_survey(survey_id)
        if survey is None or survey.state is not SurveyState.DRAFT:
            return RedirectResponse(f"/surveys/{survey_id}", status_code=303)
        draft = survey_json(survey)
    return render(
        request,
        "surveys/edit.html",
        user=user_json(user),
        page="surveys/edit",
        when=_when(request),
        draft=draft,
        buildings=await services.store.list_buildings(),
        groups=await services.store.list_groups(),
    )


ROUTES = [
    Route("/surveys", list_page),
    Route("/surveys/new", edit_page),
    Route("/surveys/{survey_id:int}/edit", edit_page),
    Route("/surveys/{survey_id:int}", answer_page),
    Route("/surveys/{survey_id:int}/results", results_page),
]
