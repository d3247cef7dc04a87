"""Outputs produced elsewhere, scored like any model's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import default_store, run_suite

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


def test_jsonl_file_lines_split_on_newline_only(tmp_path: Path) -> None:
    # U+2028 / U+2029 are legal raw inside JSON strings; str.splitlines() splits on them
    (tmp_path / "outs.jsonl").write_bytes(
        '{"id": "c1", "output": "yes"}\r\n'
        '{"id": "c2", "output": "line\u2028sep\u2029par"}\r\n'
        '{"id": "c3", "output": 0.10}\n'.encode()
    )
    got = _run(tmp_path, "file: outs.jsonl")
    assert got["c1"] == ("yes", True, None)
    assert got["c2"][0] == "line\u2028sep\u2029par"
    assert got["c3"][0] == "0.10"  # a number as written, not 0.1


def test_editing_the_outputs_file_starts_a_new_run(tmp_path: Path) -> None:
    outs = tmp_path / "outs.jsonl"
    outs.write_text("".join(f'{{"id": "c{i}", "output": "old"}}\n' for i in (1, 2, 3)))
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(source="file: outs.jsonl"))

    def crash(result: object) -> None:
        raise KeyboardInterrupt  # the run dies after its first case

    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, on_result=crash)
    (crashed,) = default_store().list_runs()
    assert crashed.status == "interrupted"
    outs.write_text("".join(f'{{"id": "c{i}", "output": "yes"}}\n' for i in (1, 2, 3)))
    outcome = run_suite(suite)
    assert not outcome.resumed and outcome.run.run_id != crashed.run_id
    assert [r.output for r in outcome.results] == ["yes", "yes", "yes"]
    assert outcome.run.providers[0]["sha256"] != crashed.providers[0]["sha256"]
