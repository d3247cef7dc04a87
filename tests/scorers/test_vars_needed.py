"""Scorers that read case variables (ragas, judge) refuse a case that lacks them at load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api import prepare
from harness.errors import SuiteError

SUITE = """name: rag
prompts: [{{id: p, template: "{{{{ answer }}}}"}}]
providers: [{{id: given, type: outputs, column: answer}}]
judges: [{{id: j, type: openai, model: m, base_url: "http://127.0.0.1:9/v1", api_key_env: null}}]
cases:
  file: rows.jsonl
  assert:
    - {assertion}
"""


def plan(tmp_path: Path, assertion: str, rows: list[dict]) -> None:
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "suite.yaml").write_text(SUITE.format(assertion=assertion))
    prepare(tmp_path / "suite.yaml")


def test_a_row_without_contexts_fails_at_its_line(tmp_path: Path) -> None:
    rows = [{"question": "q", "answer": "a", "contexts": ["c"]}, {"question": "q2", "answer": "a"}]
    with pytest.raises(SuiteError) as caught:
        plan(tmp_path, "{type: faithfulness}", rows)
    assert caught.value.line == 2 and caught.value.path.endswith("rows.jsonl")
    assert "scorer 'faithfulness' reads the case variable(s) 'contexts'" in caught.value.message
    assert "its variables: answer, question" in caught.value.message


def test_mapped_and_omitted_vars(tmp_path: Path) -> None:
    rows = [{"query": "q", "answer": "a", "docs": ["c"]}]
    plan(tmp_path, "{type: faithfulness, question_var: query, contexts_var: docs}", rows)
    with pytest.raises(SuiteError, match="'judge' reads the case variable\\(s\\) 'question'"):
        plan(tmp_path, "{type: judge, rubric: accuracy}", rows)
    plan(tmp_path, "{type: judge, rubric: accuracy, question_var: null}", rows)
