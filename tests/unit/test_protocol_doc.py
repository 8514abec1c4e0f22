"""``docs/protocol.md`` lists exactly the error and close codes of ``gateway/codes.py``.

Each table is the first markdown table under its heading (``## Error codes``, ``## Close codes``);
a code added to one side only, or a flag that disagrees, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.codes import CLOSE_REASONS, ERRORS, CloseCode, ErrorCode

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_FLAGS = {"yes": True, "no": False}


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first table after the line ``heading``."""
    lines = markdown.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        pytest.fail(f"docs/protocol.md has no heading {heading!r}")
    rows: list[list[str]] = []
    in_table = False
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            in_table = True
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif in_table:
            break
    if len(rows) < 3:
        pytest.fail(f"no table with rows under {heading!r}")
    _header, separator, *body = rows
    assert all(re.fullmatch(r":?-+:?", cell) for cell in separator), separator
    return body


def flag(cell: str, where: str) -> bool:
    assert cell in _FLAGS, f"{where}: expected yes or no, got {cell!r}"
    return _FLAGS[cell]


def documented_errors() -> dict[str, bool]:
    found: dict[str, bool] = {}
    for row in table_rows(PROTOCOL_MD.read_text(encoding="utf-8"), "## Error codes"):
        match = re.fullmatch(r"`([a-z_]+)`", row[0])
        assert match, f"error code cell not in backticks: {row[0]!r}"
        code = match.group(1)
        assert code not in found, f"{code} listed twice"
        found[code] = flag(row[1], code)
    return found


def documented_close_codes() -> dict[int, tuple[str, bool]]:
    found: dict[int, tuple[str, bool]] = {}
    for row in table_rows(PROTOCOL_MD.read_text(encoding="utf-8"), "## Close codes"):
        assert re.fullmatch(r"\d{4}", row[0]), f"close code cell is not a number: {row[0]!r}"
        code = int(row[0])
        assert code not in found, f"{code} listed twice"
        found[code] = (row[1], flag(row[2], row[0]))
    return found


def test_codes_module_is_complete() -> None:
    assert set(ERRORS) == set(ErrorCode)
    assert set(CLOSE_REASONS) == set(CloseCode)


def test_error_table_matches_codes() -> None:
    expected = {str(code): ERRORS[code].temporary for code in ErrorCode}
    assert documented_errors() == expected


def test_close_table_matches_codes() -> None:
    expected = {int(code): (code.name, code.reconnect) for code in CloseCode}
    assert documented_close_codes() == expected


def test_tables_are_parsed_from_the_right_sections() -> None:
    # The HTTP error table also has backticked codes; it must not be mistaken for the wire one.
    assert "username_taken" not in documented_errors()
    assert "too_many_attempts" in PROTOCOL_MD.read_text(encoding="utf-8")
