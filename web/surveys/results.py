"""A survey's results as figures, computed from the store's counts of stored rows (pure: no I/O,
so the tests compare them with figures of their own).

Definitions (the guide's "reading the results" says the same in words):

* **Percent of an option**: answers with that option / responses that answered the question. A
  multiple choice's percents may add up to more than 100.
* **Mean of a scale** (1-5) or NPS (0-10): the sum of the answers / their number.
* **NPS**: percent of promoters (9-10) minus percent of detractors (0-6), of those who answered,
  from -100 to 100.
* **Satisfaction** (the monthly figure): the percent of those who answered the monthly survey's
  overall question with 4 (滿意 satisfied) or 5 (非常滿意 very satisfied).
* Percents and means are shown to one decimal, half up; the exact counts stand beside them.
* **Per building** figures are shown only for buildings with at least ``MIN_GROUP`` responses, so
  that a building's few answers cannot be picked out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from linli.types import BuildingId
from persistence.surveys import (
    NPS_MAX,
    NPS_MIN,
    SCALE_MAX,
    SCALE_MIN,
    TEXT_KINDS,
    Question,
    QuestionKind,
    RawResults,
)

#: Fewest responses a building needs before its own figures are shown.
MIN_GROUP = 3
#: The monthly template's question the satisfaction figure is read from, and what counts.
SATISFACTION_QUESTION = "overall"
SATISFIED_VALUES = (4, 5)
PROMOTERS = (9, 10)
DETRACTORS = tuple(range(0, 7))


def one_decimal(value: Fraction | None) -> str:
    """``value`` to one decimal, half up ("" for None)."""
    if value is None:
        return ""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def percent(part: int, whole: int) -> Fraction | None:
    return None if whole == 0 else Fraction(100 * part, whole)


@dataclass(frozen=True, slots=True)
class Bar:
    #: The option's index, or the scale's value.
    value: int
    count: int
    percent: Fraction | None


@dataclass(frozen=True, slots=True)
class Nps:
    promoters: int
    passives: int
    detractors: int
    score: Fraction | None


@dataclass(frozen=True, slots=True)
class BuildingFigure:
    building_id: BuildingId | None
    responses: int
    #: None when the building has fewer than ``MIN_GROUP`` responses (not shown).
    mean: Fraction | None


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question: Question
    answered: int
    bars: tuple[Bar, ...] = ()
    mean: Fraction | None = None
    nps: Nps | None = None
    #: Text answers as shown (the word list applied).
    texts: tuple[str, ...] = ()
    #: Text answers withheld because they contain a word of moderation's word list.
    withheld: int = 0
    by_building: tuple[BuildingFigure, ...] = ()
    #: The same question's mean in the previous month's survey of the same template.
    previous_mean: Fraction | None = None


@dataclass(frozen=True, slots=True)
class SurveyResults:
    survey_id: int
    responses: int
    #: Everyone the survey asks (residents, or households), for the response rate.
    asked: int
    questions: tuple[QuestionResult, ...]
    responses_by_building: Mapping[BuildingId | None, int] = field(default_factory=dict)

    @property
    def rate(self) -> Fraction | None:
        return percent(self.responses, self.asked)

    def question(self, qid: str) -> QuestionResult | None:
        return next((r for r in self.questions if r.question.id == qid), None)


def _values(question: Question) -> range:
    if question.kind is QuestionKind.SCALE:
        return range(SCALE_MIN, SCALE_MAX + 1)
    if question.kind is QuestionKind.NPS:
        return range(NPS_MIN, NPS_MAX + 1)
    return range(len(question.options))


def _mean(counts: Mapping[int, int]) -> Fraction | None:
    n = sum(counts.values())
    return None if n == 0 else Fraction(sum(v * c for v, c in counts.items()), n)


def compute(
    questions: Sequence[Question],
    raw: RawResults,
    *,
    asked: int,
    hidden: Sequence[str] = (),
    previous: RawResults | None = None,
) -> SurveyResults:
    """The figures of every question. ``hidden`` is the word list's patterns (text answers
    containing one are withheld); ``previous`` the counts of last month's survey."""
    results: list[QuestionResult] = []
    buildings = sorted(raw.responses_by_building, key=lambda b: (b is None, b or 0))
    for q in questions:
        if not q.answerable:
            continue
        answered = raw.answered.get(q.id, 0)
        if q.kind in TEXT_KINDS:
            texts = raw.texts.get(q.id, ())
            shown = tuple(t for t in texts if not any(w and w in t for w in hidden))
            results.append(
                QuestionResult(q, answered, texts=shown, withheld=len(texts) - len(shown))
            )
            continue
        counts = {v: raw.counts.get((q.id, v), 0) for v in _values(q)}
        bars = tuple(Bar(v, c, percent(c, answered)) for v, c in counts.items())
        mean = nps = previous_mean = None
        by_building: list[BuildingFigure] = []
        if q.kind in (QuestionKind.SCALE, QuestionKind.NPS):
            mean = _mean(counts)
            if previous is not None:
                previous_mean = _mean({v: previous.counts.get((q.id, v), 0) for v in _values(q)})
            for b in buildings:
                mine = {v: raw.counts_by_building.get((b, q.id, v), 0) for v in _values(q)}
                responses = raw.responses_by_building.get(b, 0)
                shown_mean = _mean(mine) if responses >= MIN_GROUP else None
                by_building.append(BuildingFigure(b, responses, shown_mean))
        if q.kind is QuestionKind.NPS:
            promoters = sum(counts[v] for v in PROMOTERS)
            detractors = sum(counts[v] for v in DETRACTORS)
            total = sum(counts.values())
            score = None if total == 0 else Fraction(100 * (promoters - detractors), total)
            nps = Nps(promoters, total - promoters - detractors, detractors, score)
        results.append(
            QuestionResult(
                q,
                answered,
                bars=bars,
                mean=mean,
                nps=nps,
                by_building=tuple(by_building),
                previous_mean=previous_mean,
            )
        )
    return SurveyResults(
        raw.survey_id,
        raw.responses,
        asked,
        tuple(results),
        responses_by_building=raw.responses_by_building,
    )


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """One month's satisfaction figure (see the module docstring for its definition)."""

    #: The month, ``YYYY-MM`` in the neighbourhood's time zone.
    period: str
    survey_id: int
    #: Whether the survey has closed (an open month's figure may still move).
    final: bool
    responses: int
    #: Answers to the overall question, and how many of them were 4 or 5.
    answered: int
    satisfied: int
    percent: Fraction | None
    mean: Fraction | None


def satisfaction(period: str, survey_id: int, final: bool, raw: RawResults) -> Satisfaction:
    counts = {v: raw.counts.get((SATISFACTION_QUESTION, v), 0) for v in range(1, 6)}
    answered = sum(counts.values())
    satisfied = sum(counts[v] for v in SATISFIED_VALUES)
    return Satisfaction(
        period=period,
        survey_id=survey_id,
        final=final,
        responses=raw.responses,
        answered=answered,
        satisfied=satisfied,
        percent=percent(satisfied, answered),
        mean=_mean(counts),
    )
