"""The organiser's CSV never hands a spreadsheet a formula from a resident's answer or name."""

from __future__ import annotations

from web.events.api import _cell


def test_cells_that_would_be_formulas_are_quoted() -> None:
    assert [_cell(v) for v in ["=1+1", "+886", "-x", "@SUM(A1)", "\tx"]] == [
        "'=1+1", "'+886", "'-x", "'@SUM(A1)", "'\tx",
    ]  # fmt: skip
    assert [_cell(v) for v in ["素食", "", 3, None]] == ["素食", "", 3, None]
