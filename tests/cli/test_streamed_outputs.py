"""`harness run` and `harness report` never hold a run's results as one list: the summary,
gates, error budget, report, JUnit and Markdown read them from the store a case at a time,
so memory stays flat however many cases a run has (a list takes ~6 KB a case)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NoReturn

import pytest

from harness.api import RunOutcome
from harness.cli import main
from harness.results.store import ResultStore

SUITE = """name: streamed
max_error_rate: 0.5
prompts:
  - {id: v1, template: "Q: {{ q }}"}
  - {id: v2, template: "Question: {{ q }}"}
providers:
  - {id: stored, type: outputs, column: out}
cases:
  - {id: a, vars: {q: one, out: Paris}, expected: Paris}
  - {id: b, vars: {q: two, out: Rome}, expected: Paris}
  - {id: c, vars: {q: three}, expected: Paris}
  - {id: d, vars: {q: four, out: Paris}, expected: Paris}
bad_cases:
  - {name: regressions, file: bad.yaml}
defaults:
  assert: [{type: exact}]
gates:
  - min_pass_rate: 0.4
  - bad_cases_stay_fixed: true
"""
BAD = "cases:\n- {id: old, vars: {q: five, out: Oslo}, expected: Oslo}\n"


def _whole_list(*args: object) -> NoReturn:
    raise AssertionError("the CLI loaded every result of the run as one list")


@pytest.fixture
def no_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(ResultStore, "results", _whole_list)
    monkeypatch.setattr(RunOutcome, "results", property(_whole_list), raising=False)
    (tmp_path / "suite.yaml").write_text(SUITE)
    (tmp_path / "bad.yaml").write_text(BAD)
    return tmp_path


def test_run_writes_every_output_without_holding_the_results(
    no_lists: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = no_lists
    args = ["--report", str(folder / "r.html"), "--junit-xml", str(folder / "j.xml")]
    code = main(["run", str(folder / "suite.yaml"), *args, "--summary-md", str(folder / "s.md")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS gates[0] pass rate ≥ 0.4 (v1 · stored): pass rate 50.0% (2/4)" in out
    junit = ET.parse(folder / "j.xml").getroot()
    # 10 cases and 3 gate verdicts + the error budget (two cases errored: allowed)
    assert (junit.get("tests"), junit.get("failures"), junit.get("errors")) == ("14", "2", "2")
    assert "PASS bad cases stay fixed: no bad case that passed before fails now" in out
    assert "10 cases · 6 passed · 2 errors" in (folder / "s.md").read_text()
    assert "2 of 10 cases errored" in (folder / "r.html").read_text()


def test_report_rerenders_a_stored_run_without_holding_it(no_lists: Path) -> None:
    folder = no_lists
    assert main(["run", str(folder / "suite.yaml"), "--report", str(folder / "r.html")]) == 0
    (run,) = ResultStore(folder / "home" / "results.db").list_runs()
    assert main(["report", run.run_id, "-o", str(folder / "again.html")]) == 0
    first, again = (folder / "r.html").read_text(), (folder / "again.html").read_text()
    assert _island(again) == _island(first) and '"output":"Rome"' in again


def _island(html: str) -> str:
    """The case table's data in a report."""
    return html.split('<script type="application/json" id="cases">')[1].split("</script>")[0]
