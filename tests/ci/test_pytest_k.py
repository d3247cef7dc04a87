"""pytest's `-k`, `--lf` and node ids run only the selected cases of a suite, not the whole
suite: the application under test is called for those cases alone, and the stored run is a
partial run of just them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore
from tests.ci.test_pytest_plugin import pytest_in

#: Logs each question it is asked to $CALL_LOG, then answers from the row.
APP = """import os

def answer(messages, vars, config):
    with open(os.environ["CALL_LOG"], "a") as log:
        log.write(vars["q"] + "\\n")
    return vars["out"]
"""
SUITE = """name: logged
prompts: [{id: v1, template: "Q: {{ q }}"}]
providers: [{id: app, type: python, function: "app:answer", cache: false}]
cases:
  - {id: ok1, vars: {q: "2+2", out: "4"}, expected: "4"}
  - {id: wrong1, vars: {q: "3+3", out: "7"}, expected: "6", tags: [arith]}
  - {id: ok2, vars: {q: "1+1", out: "2"}, expected: "2"}
  - {id: wrong2, vars: {q: "5+5", out: "11"}, expected: "10"}
defaults: {assert: [{type: exact}]}
gates: [{min_pass_rate: 0.5}]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "app.py").write_text(APP)
    (tmp_path / "evals" / "logged.yaml").write_text(SUITE)
    monkeypatch.setenv("CALL_LOG", str(tmp_path / "calls.log"))
    return tmp_path


def calls(project: Path) -> list[str]:
    """The questions the app was asked since the last look."""
    log = project / "calls.log"
    asked = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(asked)


def last_run(project: Path) -> tuple[RunRecord, list[CaseResult]]:
    store = ResultStore(project / ".harness" / "results.db")
    run = store.list_runs()[0]
    return run, store.results(run.run_id)


@pytest.mark.slow  # pytest subprocesses: ~3 s each
def test_k_runs_only_the_selected_cases(project: Path) -> None:
    run = pytest_in(project, "evals", "-q", "-p", "no:cacheprovider", "-k", "ok2 or arith")
    assert "1 failed, 1 passed, 3 deselected" in run.stdout, run.stdout + run.stderr
    assert calls(project) == ["1+1", "3+3"]
    record, results = last_run(project)
    assert record.n_cases == 2 and {r.row_id for r in results} == {"ok2", "wrong1"}
    assert record.selection == "pytest: 2 selected case(s)"
    assert "(partial: pytest: 2 selected case(s))" in run.stdout


@pytest.mark.slow
def test_lf_and_node_ids_run_only_their_cases_and_gates_alone_the_whole_suite(
    project: Path,
) -> None:
    first = pytest_in(project, "evals", "-q")  # the cache provider on: --lf has a memory
    assert "2 failed, 3 passed" in first.stdout, first.stdout + first.stderr
    assert calls(project) == ["1+1", "2+2", "3+3", "5+5"]
    assert last_run(project)[0].selection is None  # the same run `harness run` makes
    pytest_in(project, "evals", "-q", "--lf")
    assert calls(project) == ["3+3", "5+5"]
    pytest_in(project, "evals/logged.yaml::v1::app::ok1", "-q")
    assert calls(project) == ["2+2"]
    # a gate is checked on the whole run, so selecting only gates runs every case
    gates = pytest_in(project, "evals", "-q", "-p", "no:cacheprovider", "-k", "gates")
    assert "1 passed, 4 deselected" in gates.stdout, gates.stdout
    assert calls(project) == ["1+1", "2+2", "3+3", "5+5"]


@pytest.mark.slow
def test_repeated_cases_are_one_item_per_sample(project: Path) -> None:
    suite = project / "evals" / "logged.yaml"
    suite.write_text(SUITE.replace("name: logged\n", "name: logged\nrepeat: 3\n"))
    run = pytest_in(project, "evals", "-v", "-p", "no:cacheprovider", "-k", "ok1")
    assert "evals/logged.yaml::v1::app::ok1[2] PASSED" in run.stdout, run.stdout
    assert "3 passed, 10 deselected" in run.stdout  # 9 other samples and the gate
    assert calls(project) == ["2+2"] * 3
