"""Surveys in the search index (``web/search``): an open or closed survey is found by its
audience (everyone, its buildings, its group's members), a draft or scheduled one only by the
staff who run surveys. The text is the introduction and the questions with their options —
never an answer. Every change of a survey passes ``web.surveys.actions._record``, which puts it
in again; ``reindex`` rebuilds them all (``linli search reindex``, the demo)."""

from __future__ import annotations

from linli.feature import Services
from linli.richtext import plain
from linli.roles import Can
from linli.types import Millis
from persistence.search import Document, Readers
from persistence.search.sql import SqlSearchStore
from persistence.store import Store
from persistence.surveys import Audience, Survey, SurveyState
from persistence.surveys.sql import SqlSurveyStore
from web.search import actions as search

KIND = "survey"


def readers_of(survey: Survey) -> Readers:
    staff = (str(Can.RUN_SURVEYS),)
    draft = survey.draft
    if survey.state in (SurveyState.DRAFT, SurveyState.SCHEDULED):
        return Readers(duties=staff)
    if draft.audience is Audience.BUILDINGS:
        return Readers(buildings=draft.buildings, duties=staff)
    if draft.audience is Audience.GROUP:
        return Readers(groups=(draft.group_slug,), duties=staff)
    return Readers(everyone=True)


def survey_document(survey: Survey) -> Document:
    draft = survey.draft
    lines = [plain(draft.intro, limit=5_000)]
    for question in draft.questions:
        lines.append(question.text)
        lines.extend(question.options)
    return Document(
        kind=KIND,
        ref=str(survey.id),
        title=draft.title,
        text="\n".join(line for line in lines if line)[:20_000],
        readers=readers_of(survey),
        link=f"/surveys/{survey.id}",
        at=survey.opened_at or survey.created_at,
        author_id=survey.created_by,
    )


async def index_survey(services: Services, survey: Survey) -> None:
    await search.index(services, survey_document(survey))


async def reindex(core: Store, now: Millis) -> int:
    """Every survey into the index afresh; how many."""
    surveys = await SqlSurveyStore(core.database).list_surveys()
    index = SqlSearchStore(core.database)
    await index.clear(KIND)
    if surveys:
        await index.upsert([survey_document(s) for s in surveys], now=now)
    return len(surveys)
