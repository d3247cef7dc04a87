"""What a new user hit: gate typos caught before the run, gates on partial runs, an
errored assertion never outweighed, gate notes on a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import run_suite
from harness.cli import main


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


SUITE = """name: review
prompts: [{id: p, template: "q"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - {id: a, vars: {out: "Paris"}, expected: Paris, tags: [geo]}
  - {id: b, vars: {out: "no"}, expected: "4", tags: [math]}
bad_cases: [{name: kept, file: kept.yaml}]
defaults: {assert: [{type: icontains, value: "paris", name: says-paris}]}
"""


def write(tmp_path: Path, gates: str) -> Path:
    (tmp_path / "kept.yaml").write_text("cases:\n  - {id: k, vars: {out: Paris}, expected: x}\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE + gates)
    return suite


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("{metric: says-pari, min_pass_rate: 0.5}", "gate metric 'says-pari' is not an assertion"),
        ("{prompt: pp, min_pass_rate: 0.5}", "gate prompt 'pp' is not a prompt of this suite"),
        ("{provider: dum, min_pass_rate: 0.5}", "gate provider 'dum' is not a provider"),
        ("{case_set: kep, min_pass_rate: 0.5}", "gate case_set 'kep' is not a case set"),
    ],
)
def test_a_gate_typo_is_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gate: str, message: str
) -> None:
    suite = write(tmp_path, f"gates:\n  - {gate}\n")
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "suite.yaml:10:" in err and message in err and "Did you mean" in err
    assert main(["run", str(suite)]) == 2
    assert not list((tmp_path / "home").glob("results.db")) or not run_ids(tmp_path)


def run_ids(tmp_path: Path) -> list[str]:
    from harness.results.store import ResultStore

    return [r.run_id for r in ResultStore(tmp_path / "home" / "results.db").list_runs()]


def test_a_gate_on_a_set_a_filtered_run_lacks_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write(tmp_path, "gates:\n  - {case_set: kept, min_pass_rate: 1.0}\n")
    assert main(["run", str(suite), "--tag", "geo", "--report", "r.html"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "not checked: this run is partial" in out


def test_an_errored_assertion_fails_the_case_whatever_the_weights(tmp_path: Path) -> None:
    suite = tmp_path / "w.yaml"
    suite.write_text(
        """name: weights
prompts: [{id: p, template: "q"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - id: j
    vars: {out: '{"answer": 4}'}
    expected: "4"
    threshold: 0.6
    assert:
      - {type: is_json, weight: 3}
      - {type: exact, weight: 1, transform: "(output | from_json).missing.deeper"}
"""
    )
    (result,) = run_suite(suite).results
    assert result.scores[1].error is not None
    assert result.score == pytest.approx(0.75) and result.passed is False


def test_a_passing_baseline_gate_prints_its_ci_and_p_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write(tmp_path, "")
    first = run_suite(suite)
    assert main(["baseline", "save", first.run.run_id, "-o", "b.json"]) == 0
    suite.write_text(SUITE + "gates:\n  - {metric: says-paris, baseline: b.json, max_drop: 0.02}\n")
    capsys.readouterr()
    assert main(["run", str(suite), "--report", "r.html"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "95% CI" in out and "p=" in out


def test_an_unscorable_assertion_is_loud_and_counts_against_the_error_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "t.yaml"
    suite.write_text(
        """name: unscorable
prompts: [{id: p, template: "q"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - {id: a, vars: {out: "x"}, expected: x}
  - {id: b, vars: {out: "y"}, expected: x}
defaults:
  assert: [{type: exact, transform: "(output | from_json).answer"}]
"""
    )
    assert main(["run", str(suite), "--report", "r.html", "--junit-xml", "j.xml"]) == 1
    err = capsys.readouterr().err
    assert "2 of 2 cases errored (100.0%), over max_error_rate 0" in err
    assert "2 cases errored: scoring exact: " in err
    suite.write_text(suite.read_text() + "max_error_rate: 1\n")
    assert main(["run", str(suite), "--report", "r.html"]) == 0
