"""The survey figures (``web/surveys/results.py``) and charts (``web/surveys/charts.py``) as pure
functions: percents, means and NPS against hand-counted values, buildings with too few
responses left out, text answers with a listed word withheld, and charts that escape their
labels and carry every number."""

from __future__ import annotations

from fractions import Fraction

from persistence.surveys import Question, QuestionKind, RawResults
from web.surveys.charts import bar_chart
from web.surveys.results import MIN_GROUP, compute, one_decimal

SCALE = Question(id="q", kind=QuestionKind.SCALE, text="Satisfied?")
NPS = Question(id="n", kind=QuestionKind.NPS, text="Recommend?")
TEXT = Question(id="t", kind=QuestionKind.LONG_TEXT, text="Else?")
PICK = Question(id="m", kind=QuestionKind.MULTIPLE, text="Fix?", options=("a", "b", "c"))


def _raw() -> RawResults:
    # Building 1: scale answers 5, 5, 4; building 2: one answer, 1. NPS: 10, 9, 6, 8.
    by_building: dict[tuple[int | None, str, int], int] = {
        (1, "q", 5): 2, (1, "q", 4): 1, (2, "q", 1): 1,
        (1, "n", 10): 1, (1, "n", 9): 1, (1, "n", 6): 1, (2, "n", 8): 1,
        (1, "m", 0): 3, (2, "m", 0): 1, (1, "m", 2): 2,
    }  # fmt: skip
    counts: dict[tuple[str, int], int] = {}
    for (_, q, v), n in by_building.items():
        counts[(q, v)] = counts.get((q, v), 0) + n
    return RawResults(
        survey_id=1,
        responses=4,
        responses_by_building={1: 3, 2: 1},
        counts=counts,
        counts_by_building=by_building,
        answered={"q": 4, "n": 4, "m": 4, "t": 2},
        texts={"t": ("thanks", "you idiot")},
    )


def test_figures_equal_hand_counts() -> None:
    results = compute([SCALE, NPS, TEXT, PICK], _raw(), asked=10, hidden=["idiot"])
    assert results.rate == Fraction(40)
    scale = results.question("q")
    assert scale is not None
    assert [b.count for b in scale.bars] == [1, 0, 0, 1, 2]
    assert scale.mean == Fraction(5 + 5 + 4 + 1, 4)
    assert one_decimal(scale.mean) == "3.8"
    assert [one_decimal(b.percent) for b in scale.bars] == ["25.0", "0.0", "0.0", "25.0", "50.0"]
    # Building 2 has fewer than MIN_GROUP responses: its mean is not shown.
    assert MIN_GROUP == 3
    assert [(b.building_id, b.mean) for b in scale.by_building] == [(1, Fraction(14, 3)), (2, None)]
    nps = results.question("n")
    assert nps is not None and nps.nps is not None
    assert (nps.nps.promoters, nps.nps.passives, nps.nps.detractors) == (2, 1, 1)
    assert nps.nps.score == Fraction(100 * (2 - 1), 4)
    pick = results.question("m")
    assert pick is not None
    assert [b.count for b in pick.bars] == [4, 0, 2]
    assert [one_decimal(b.percent) for b in pick.bars] == ["100.0", "0.0", "50.0"]
    text = results.question("t")
    assert text is not None and text.texts == ("thanks",) and text.withheld == 1


def test_one_decimal_rounds_half_up() -> None:
    assert one_decimal(Fraction(1, 8) * 100) == "12.5"
    assert one_decimal(Fraction(2, 3) * 100) == "66.7"
    assert one_decimal(Fraction(1, 16) * 100) == "6.3"  # 6.25 half up, not to even
    assert one_decimal(None) == ""


def test_chart_escapes_labels_and_carries_the_numbers() -> None:
    results = compute([PICK], _raw(), asked=4)
    pick = results.question("m")
    assert pick is not None
    svg = bar_chart("<b>Fix?</b>", ["<a>", "b & c", "c"], pick.bars, chart_id="c1")
    assert "<b>" not in svg and "&lt;b&gt;Fix?&lt;/b&gt;" in svg
    assert "&lt;a&gt;" in svg and "b &amp; c" in svg
    assert ">4 (100.0%)</text>" in svg and ">0 (0.0%)</text>" in svg and ">2 (50.0%)</text>" in svg
    assert 'role="img"' in svg and "<desc" in svg and "style=" not in svg
