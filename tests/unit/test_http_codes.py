"""One table of HTTP error codes: ``web.http.HttpCode``, the table in ``docs/protocol.md``, and
every ``ApiError``/``LoginRefused`` the handlers raise name the same codes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.unit.test_protocol_doc import PROTOCOL_MD, table_rows
from web.http import HttpCode

WEB = Path(__file__).resolve().parents[2] / "web"


def test_the_doc_lists_exactly_the_enum() -> None:
    rows = table_rows(PROTOCOL_MD.read_text(encoding="utf-8"), "### HTTP error codes")
    documented = []
    for row in rows:
        match = re.fullmatch(r"`([a-z_]+)`", row[0])
        assert match, f"code cell not in backticks: {row[0]!r}"
        documented.append(match.group(1))
    assert len(documented) == len(set(documented)), "a code is listed twice"
    assert set(documented) == {c.value for c in HttpCode}


def _raised_codes() -> list[tuple[str, int, str]]:
    """(file, line, code) of every ApiError(status, code, ...) and LoginRefused(code, ...)."""
    found = []
    for path in sorted(WEB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            index = {"ApiError": 1, "LoginRefused": 0}.get(node.func.id)
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                code = arg.value
            elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                if arg.value.id != "HttpCode":
                    # A refused login passed on (``exc.code``): LoginRefused's own code is
                    # scanned where it is raised.
                    assert arg.attr == "code", f"{path}:{node.lineno}"
                    continue
                code = HttpCode[arg.attr].value
            else:
                raise AssertionError(f"{path}:{node.lineno}: the code is not a literal")
            found.append((str(path.relative_to(WEB)), node.lineno, code))
    return found


def test_every_raised_code_is_in_the_table() -> None:
    raised = _raised_codes()
    assert len(raised) > 50  # the scan saw the handlers
    unknown = [r for r in raised if r[2] not in {c.value for c in HttpCode}]
    assert unknown == []
