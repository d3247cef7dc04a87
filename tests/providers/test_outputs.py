"""Outputs produced elsewhere, scored like any model's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import run_suite

SUITE = """name: stored
prompts: [{{id: p, template: "{{{{ q }}}}"}}]
providers:
  - {{id: dump, type: outputs, {source}}}
cases:
  - {{id: c1, vars: {{q: one, answer: "yes"}}, expected: "yes"}}
  - {{id: c2, vars: {{q: two, answer: "no"}}, expected: "yes"}}
  - {{id: c3, vars: {{q: three, answer: "yes"}}, expected: "yes"}}
defaults: {{assert: [{{type: exact}}]}}
"""


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))


def _run(tmp_path: Path, source: str) -> dict[str, tuple[str | None, bool, str | None]]:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(source=source))
    outcome = run_suite(suite)
    return {r.row_id: (r.output, r.passed, r.error) for r in outcome.results}


def test_output_from_a_column(tmp_path: Path) -> None:
    got = _run(tmp_path, "column: answer")
    assert got == {"c1": ("yes", True, None), "c2": ("no", False, None), "c3": ("yes", True, None)}


def test_output_from_a_jsonl_file_keyed_by_case_id(tmp_path: Path) -> None:
    (tmp_path / "outs.jsonl").write_text(
        '{"id": "c1", "output": "yes"}\n{"id": "c2", "output": "nope"}\n'
    )
    got = _run(tmp_path, "file: outs.jsonl")
    assert got["c1"] == ("yes", True, None) and got["c2"][:2] == ("nope", False)
    output, passed, error = got["c3"]
    assert output is None and not passed and "no output for id='c3'" in error
