"""The surveys' slice of the community figures (``Feature.figures``): the monthly satisfaction
survey's figures for a period, from its stored rows. A period's survey is the shipped monthly
template's survey that opened within it (the latest, should there be several); per building,
the answers of that building's respondents.

Definitions are the catalogue's ``surveys.figures.*_def`` (the figures page shows them beside
the values) and ``web/surveys/results.py``'s: satisfaction is the share of answers 4 or 5 to
the overall question.
"""

from __future__ import annotations

from linli.feature import Figure, Services
from linli.periods import Period
from linli.types import BuildingId
from persistence.surveys import MONTHLY, SurveyState
from web.surveys.actions import surveys_store
from web.surveys.results import SATISFACTION_QUESTION, SATISFIED_VALUES

SECTION = "surveys.figures.section"


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> list[Figure]:
    store = surveys_store(services)
    surveys = [
        s
        for s in await store.list_surveys()
        if s.template == MONTHLY
        and s.state in (SurveyState.OPEN, SurveyState.CLOSED)
        and s.opened_at is not None
        and period.start <= s.opened_at < period.end
    ]
    if not surveys:
        return []
    survey = max(surveys, key=lambda s: s.opened_at or 0)
    raw = await store.raw_results(survey.id)
    if building is None:
        counts = {v: raw.counts.get((SATISFACTION_QUESTION, v), 0) for v in range(1, 6)}
        responses = raw.responses
    else:
        counts = {
            v: raw.counts_by_building.get((building, SATISFACTION_QUESTION, v), 0)
            for v in range(1, 6)
        }
        responses = raw.responses_by_building.get(building, 0)
    answered = sum(counts.values())
    satisfied = sum(counts[v] for v in SATISFIED_VALUES)
    share = None if answered == 0 else satisfied / answered
    mean = None if answered == 0 else round(sum(v * c for v, c in counts.items()) / answered, 2)
    return [
        Figure("surveys.satisfaction", "surveys.figures.satisfaction",
               "surveys.figures.satisfaction_def", share, unit="share", people=answered,
               section=SECTION),
        Figure("surveys.satisfaction_mean", "surveys.figures.mean", "surveys.figures.mean_def",
               mean, unit="score", people=answered, section=SECTION),
        Figure("surveys.responses", "surveys.figures.responses", "surveys.figures.responses_def",
               responses, unit="people", section=SECTION),
    ]  # fmt: skip
