"""No query path joins a survey's answers to its users: every SQL text of the surveys store that
reads ``survey_answers`` or ``survey_responses`` names no ``users`` table, and ``user_id`` of a
response is written or read in the two statements of named surveys only. (The stored rows are
inspected by ``tests/contract/test_surveys_store.py`` and ``tests/e2e/test_surveys.py``.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SQL = Path(__file__).resolve().parents[2] / "persistence" / "surveys" / "sql.py"


def _sql_texts() -> list[str]:
    texts = []
    for node in ast.walk(ast.parse(SQL.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            texts.append("".join(str(v.value) for v in node.values if isinstance(v, ast.Constant)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return [t for t in texts if re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", t)]


def test_no_statement_reads_answers_and_users_together() -> None:
    texts = _sql_texts()
    touching = [t for t in texts if "survey_answers" in t or "survey_responses" in t]
    assert len(touching) > 10  # the scan saw the store's statements
    assert [t for t in touching if re.search(r"\busers\b", t)] == []
    with_user = [t for t in touching if re.search(r"\buser_id\b", t)]
    # The insert (NULL), the update (NULL unless named) and the named survey's export read.
    assert len(with_user) == 3, with_user
    assert any("user_id = $5" in t for t in with_user)
    assert any("NULL, 0, '', 0" in t for t in with_user)
    assert any("SELECT r.token, r.user_id" in t for t in with_user)
