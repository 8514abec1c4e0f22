"""The surveys HTTP API: staff (``Can.RUN_SURVEYS``) write drafts, publish and close surveys,
turn the monthly survey on, read results and export CSV; residents read the surveys they are
asked, answer them (saved as they go, resumable on any device) and change their response until
the close when the survey allows it.

Handlers are parse → authorise → act → serialise; errors are ``ApiError`` (``docs/protocol.md``
lists the codes).
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linli.richtext import render as render_markdown
from linli.roles import Can, may, roles_that
from persistence.store import User
from persistence.surveys import (
    MAX_OPTIONS,
    MAX_QUESTIONS,
    MONTHLY,
    AlreadyAnswered,
    Audience,
    Counting,
    InvalidAnswer,
    MissingAnswers,
    MyResponse,
    Question,
    QuestionKind,
    Survey,
    SurveyDraft,
    SurveyExists,
    SurveyNotFound,
    SurveyState,
    SurveyStateError,
)
from web.api import require_user
from web.http import ApiError, Empty, HttpCode, decode_body, line, services_of, set_field
from web.surveys import actions
from web.surveys.actions import surveys_store
from web.surveys.results import SurveyResults, one_decimal

STAFF = roles_that(Can.RUN_SURVEYS)
Id = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,20}$")]
Time = Annotated[int, msgspec.Meta(gt=0)]


def is_staff(user: User) -> bool:
    return may(user.role, Can.RUN_SURVEYS)


def survey_json(survey: Survey) -> dict[str, Any]:
    d = survey.draft
    return {
        "id": survey.id,
        "title": d.title,
        "intro": d.intro,
        "intro_html": render_markdown(d.intro),
        "questions": msgspec.to_builtins(d.questions),
        "audience": str(d.audience),
        "buildings": list(d.buildings),
        "group": d.group_slug,
        "counting": str(d.counting),
        "anonymous": d.anonymous,
        "allow_change": d.allow_change,
        "opens_at": d.opens_at,
        "closes_at": d.closes_at,
        "remind_at": d.remind_at,
        "state": str(survey.state),
        "template": survey.template,
        "period": survey.period,
        "version": survey.version,
        "opened_at": survey.opened_at,
        "closed_at": survey.closed_at,
    }


def mine_json(mine: MyResponse | None) -> dict[str, Any] | None:
    if mine is None:
        return None
    return {"answers": dict(mine.answers), "submitted": mine.submitted, "revision": mine.revision}


class QuestionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    kind: QuestionKind
    text: str
    required: bool = False
    hint: str = ""
    options: list[str] = []
    max_choices: Annotated[int, msgspec.Meta(ge=1)] | None = None
    low_label: str = ""
    high_label: str = ""

    def __post_init__(self) -> None:
        set_field(self, "text", line(self.text, "text", max_len=300))
        set_field(self, "hint", line(self.hint, "hint", min_len=0, max_len=300))
        set_field(self, "low_label", line(self.low_label, "low_label", min_len=0, max_len=40))
        set_field(self, "high_label", line(self.high_label, "high_label", min_len=0, max_len=40))
        if len(self.options) > MAX_OPTIONS:
            raise ApiError(
                400, HttpCode.BAD_REQUEST, f"At most {MAX_OPTIONS} options.", field="options"
            )
        set_field(self, "options", [line(o, "option", max_len=100) for o in self.options])

    def question(self) -> Question:
        choice = self.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
        return Question(
            id=self.id,
            kind=self.kind,
            text=self.text,
            required=self.required and self.kind is not QuestionKind.SECTION,
            hint=self.hint,
            options=tuple(self.options) if choice else (),
            max_choices=self.max_choices if self.kind is QuestionKind.MULTIPLE else None,
            low_label=self.low_label,
            high_label=self.high_label,
        )


class DraftBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A survey's whole draft (create or edit)."""

    title: str
    questions: Annotated[list[QuestionBody], msgspec.Meta(min_length=1, max_length=MAX_QUESTIONS)]
    intro: str = ""
    audience: Audience = Audience.EVERYONE
    buildings: list[int] = []
    group: str = ""
    counting: Counting = Counting.RESIDENT
    anonymous: bool = True
    allow_change: bool = True
    opens_at: Time | None = None
    closes_at: Time | None = None
    remind_at: Time | None = None

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", max_len=200))
        set_field(self, "intro", line(self.intro, "intro", min_len=0, max_len=4000))

    def draft(self) -> SurveyDraft:
        try:
            return SurveyDraft(
                title=self.title,
                intro=self.intro,
                questions=tuple(q.question() for q in self.questions),
                audience=self.audience,
                buildings=tuple(self.buildings) if self.audience is Audience.BUILDINGS else (),
                group_slug=self.group if self.audience is Audience.GROUP else "",
                counting=self.counting,
                anonymous=self.anonymous,
                allow_change=self.allow_change,
                opens_at=self.opens_at,
                closes_at=self.closes_at,
                remind_at=self.remind_at,
            )
        except ValueError as exc:
            raise ApiError(400, HttpCode.BAD_REQUEST, str(exc)) from None


class TemplateBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    template: str = MONTHLY
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None


class AnswerBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Answers to save: question id -> a number, a list of option indexes or a text."""

    answers: dict[Id, int | list[int] | str]
    submit: bool = False
    #: The page's id for this submission: a retry with the same id changes nothing.
    submission_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


class SeriesBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool
    audience: Audience = Audience.EVERYONE
    counting: Counting = Counting.RESIDENT


async def _survey(request: Request) -> Survey:
    survey = await surveys_store(services_of(request)).get_survey(request.path_params["survey_id"])
    if survey is None:
        raise ApiError(404, HttpCode.SURVEY_NOT_FOUND, "No such survey.")
    return survey


async def _for_reader(request: Request) -> tuple[Survey, User]:
    """The survey of the path for staff, or for a resident it asks (not a draft): others get
    404, which says nothing of surveys they are not asked."""
    user = await require_user(request)
    survey = await _survey(request)
    if is_staff(user):
        return survey, user
    hidden = survey.state is SurveyState.DRAFT
    if hidden or not await actions.in_audience(services_of(request), survey.draft, user):
        raise ApiError(404, HttpCode.SURVEY_NOT_FOUND, "No such survey.")
    return survey, user


async def _for_staff(request: Request) -> tuple[Survey, User]:
    user = await require_user(request, *STAFF)
    return await _survey(request), user


async def _mine(request: Request, survey: Survey, user: User) -> MyResponse | None:
    respondent = actions.respondent_of(survey, user)
    if respondent is None:
        return None
    return await surveys_store(services_of(request)).my_response(survey.id, respondent.key)


async def list_surveys(request: Request) -> Response:
    user = await require_user(request)
    services = services_of(request)
    staff = is_staff(user)
    found = []
    for survey in await surveys_store(services).list_surveys():
        if not staff and (
            survey.state in (SurveyState.DRAFT, SurveyState.SCHEDULED)
            or not await actions.in_audience(services, survey.draft, user)
        ):
            continue
        mine = await _mine(request, survey, user) if survey.state is SurveyState.OPEN else None
        found.append(
            {
                **survey_json(survey),
                "answered": bool(mine and mine.submitted),
                "started": mine is not None,
            }
        )
    return JSONResponse({"surveys": found, "staff": staff})


async def create_survey(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    draft = (await decode_body(request, DraftBody)).draft()
    survey = await actions.create_survey(services_of(request), draft, actor_id=user.id)
    return JSONResponse({"survey": survey_json(survey)}, status_code=201)


async def from_template(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await decode_body(request, TemplateBody)
    if body.template != MONTHLY:
        raise ApiError(400, HttpCode.BAD_REQUEST, "No such template.", field="template")
    try:
        survey = await actions.create_from_template(
            services_of(request), body.template, actor_id=user.id, period=body.period
        )
    except SurveyExists:
        raise ApiError(409, HttpCode.SURVEY_EXISTS, "This month has its survey already.") from None
    return JSONResponse({"survey": survey_json(survey)}, status_code=201)


async def get_survey(request: Request) -> Response:
    survey, user = await _for_reader(request)
    services = services_of(request)
    asked = await actions.in_audience(services, survey.draft, user)
    respondent = actions.respondent_of(survey, user) if asked else None
    return JSONResponse(
        {
            "survey": survey_json(survey),
            "mine": mine_json(await _mine(request, survey, user) if respondent else None),
            "may_answer": respondent is not None and survey.state is SurveyState.OPEN,
            "staff": is_staff(user),
        }
    )


async def edit_survey(request: Request) -> Response:
    survey, user = await _for_staff(request)
    draft = (await decode_body(request, DraftBody)).draft()
    try:
        updated = await actions.update_survey(
            services_of(request), survey.id, draft, actor_id=user.id
        )
    except SurveyStateError:
        raise ApiError(
            409, HttpCode.SURVEY_NOT_DRAFT, "An opened survey cannot be changed."
        ) from None
    return JSONResponse({"survey": survey_json(updated)})


async def publish(request: Request) -> Response:
    survey, user = await _for_staff(request)
    await decode_body(request, Empty)
    try:
        published = await actions.publish(services_of(request), survey.id, actor_id=user.id)
    except (SurveyStateError, SurveyNotFound):
        raise ApiError(409, HttpCode.SURVEY_NOT_DRAFT, "Only a draft can be published.") from None
    return JSONResponse({"survey": survey_json(published)})


async def close(request: Request) -> Response:
    survey, user = await _for_staff(request)
    await decode_body(request, Empty)
    try:
        closed = await actions.close(services_of(request), survey.id, actor_id=user.id)
    except SurveyStateError:
        raise ApiError(
            409, HttpCode.SURVEY_NOT_OPEN, "Only an open survey can be closed."
        ) from None
    return JSONResponse({"survey": survey_json(closed)})


async def remind(request: Request) -> Response:
    survey, _ = await _for_staff(request)
    await decode_body(request, Empty)
    if survey.state is not SurveyState.OPEN:
        raise ApiError(409, HttpCode.SURVEY_NOT_OPEN, "Only an open survey has reminders.")
    reminded = await actions.remind(services_of(request), survey.id)
    return JSONResponse({"reminded": len(reminded)})


async def answer(request: Request) -> Response:
    survey, user = await _for_reader(request)
    body = await decode_body(request, AnswerBody)
    services = services_of(request)
    respondent = actions.respondent_of(survey, user)
    if respondent is None or not await actions.in_audience(services, survey.draft, user):
        raise ApiError(403, HttpCode.SURVEY_NOT_ASKED, "This survey does not ask you.")
    try:
        saved = await actions.answer(
            services,
            survey,
            respondent,
            body.answers,
            submit=body.submit,
            submission_id=body.submission_id,
        )
    except InvalidAnswer as exc:
        raise ApiError(
            400, HttpCode.SURVEY_INVALID_ANSWER, str(exc), question=exc.question
        ) from None
    except MissingAnswers as exc:
        raise ApiError(
            400, HttpCode.SURVEY_MISSING_ANSWERS, str(exc), questions=list(exc.questions)
        ) from None
    except AlreadyAnswered:
        raise ApiError(
            409, HttpCode.SURVEY_ANSWERED, "This survey was answered already; it allows no change."
        ) from None
    except SurveyStateError:
        raise ApiError(409, HttpCode.SURVEY_NOT_OPEN, "This survey is not open.") from None
    return JSONResponse({"mine": mine_json(saved.response), "duplicate": saved.duplicate})


def results_json(
    survey: Survey, results: SurveyResults, names: dict[int | None, str]
) -> dict[str, Any]:
    questions = []
    for r in results.questions:
        q = r.question
        questions.append(
            {
                "id": q.id,
                "kind": str(q.kind),
                "text": q.text,
                "answered": r.answered,
                "bars": [
                    {"value": b.value, "count": b.count, "percent": one_decimal(b.percent)}
                    for b in r.bars
                ],
                "mean": one_decimal(r.mean),
                "previous_mean": one_decimal(r.previous_mean),
                "nps": None
                if r.nps is None
                else {
                    "promoters": r.nps.promoters,
                    "passives": r.nps.passives,
                    "detractors": r.nps.detractors,
                    "score": one_decimal(r.nps.score),
                },
                "texts": list(r.texts),
                "withheld": r.withheld,
                "by_building": [
                    {
                        "building_id": b.building_id,
                        "name": names.get(b.building_id, ""),
                        "responses": b.responses,
                        "mean": one_decimal(b.mean),
                    }
                    for b in r.by_building
                ],
            }
        )
    return {
        "survey": survey_json(survey),
        "responses": results.responses,
        "asked": results.asked,
        "rate": one_decimal(results.rate),
        "questions": questions,
    }


async def building_names(request: Request) -> dict[int | None, str]:
    names: dict[int | None, str] = {
        b.id: b.name for b in await services_of(request).store.list_buildings()
    }
    return names


async def get_results(request: Request) -> Response:
    survey, _ = await _for_staff(request)
    results = await actions.results(services_of(request), survey)
    return JSONResponse(results_json(survey, results, await building_names(request)))


def _cell(question: Question, value: object) -> str:
    if value is None:
        return ""
    if question.kind is QuestionKind.SINGLE and isinstance(value, int):
        return question.options[value]
    if question.kind is QuestionKind.MULTIPLE and isinstance(value, list):
        return "; ".join(question.options[v] for v in value)
    return str(value)


async def export_csv(request: Request) -> Response:
    """One row per submitted response, one column per question. An anonymous survey's file has
    no column about who answered (and its rows are in the order of their random tokens); a
    named survey's starts with the name and unit."""
    survey, _ = await _for_staff(request)
    services = services_of(request)
    store = surveys_store(services)
    questions = [q for q in survey.draft.questions if q.answerable]
    out = io.StringIO()
    writer = csv.writer(out)
    named = not survey.draft.anonymous
    writer.writerow((["name", "unit"] if named else []) + [f"{q.id}: {q.text}" for q in questions])
    if named:
        for entry in await store.named_answers(survey.id):
            person = await services.store.get_user(entry.user_id)
            unit = ""
            if person is not None and person.building_id is not None:
                units = {u.id: u.label for u in await services.store.list_units(person.building_id)}
                unit = units.get(person.unit_id or 0, "")
            writer.writerow(
                [person.display_name if person else "", unit]
                + [_cell(q, entry.answers.get(q.id)) for q in questions]
            )
    else:
        for answers in await store.anonymous_answers(survey.id):
            writer.writerow([_cell(q, answers.get(q.id)) for q in questions])
    return Response(
        # A byte-order mark so spreadsheet programs read the Chinese text as UTF-8.
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="survey-{survey.id}.csv"'},
    )


async def get_series(request: Request) -> Response:
    await require_user(request, *STAFF)
    series = await surveys_store(services_of(request)).series(MONTHLY)
    return JSONResponse(
        {
            "template": MONTHLY,
            "enabled": bool(series and series.enabled),
            "audience": str(series.audience) if series else str(Audience.EVERYONE),
            "counting": str(series.counting) if series else str(Counting.RESIDENT),
        }
    )


async def set_series(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await decode_body(request, SeriesBody)
    settings = await actions.set_series(
        services_of(request),
        enabled=body.enabled,
        audience=body.audience,
        counting=body.counting,
        actor_id=user.id,
    )
    return JSONResponse({"template": MONTHLY, "enabled": settings.enabled})


async def satisfaction(request: Request) -> Response:
    """The monthly satisfaction figure, every month (a summary every resident may read)."""
    await require_user(request)
    figures = await actions.monthly_satisfaction(services_of(request))
    return JSONResponse(
        {
            "definition": "percent of answers 4 or 5 to the monthly survey's overall question",
            "months": [
                {
                    "period": f.period,
                    "survey_id": f.survey_id,
                    "final": f.final,
                    "responses": f.responses,
                    "answered": f.answered,
                    "satisfied": f.satisfied,
                    "percent": one_decimal(f.percent),
                    "mean": one_decimal(f.mean),
                }
                for f in figures
            ],
        }
    )


ROUTES = [
    Route("/api/surveys", list_surveys, methods=["GET"]),
    Route("/api/surveys", create_survey, methods=["POST"]),
    Route("/api/surveys/from-template", from_template, methods=["POST"]),
    Route("/api/surveys/series", get_series, methods=["GET"]),
    Route("/api/surveys/series", set_series, methods=["POST"]),
    Route("/api/surveys/satisfaction", satisfaction, methods=["GET"]),
    Route("/api/surveys/{survey_id:int}", get_survey, methods=["GET"]),
    Route("/api/surveys/{survey_id:int}", edit_survey, methods=["POST"]),
    Route("/api/surveys/{survey_id:int}/publish", publish, methods=["POST"]),
    Route("/api/surveys/{survey_id:int}/close", close, methods=["POST"]),
    Route("/api/surveys/{survey_id:int}/remind", remind, methods=["POST"]),
    Route("/api/surveys/{survey_id:int}/answers", answer, methods=["POST"]),
    Route("/api/surveys/{survey_id:int}/results", get_results, methods=["GET"]),
    Route("/api/surveys/{survey_id:int}/export.csv", export_csv, methods=["GET"]),
]
