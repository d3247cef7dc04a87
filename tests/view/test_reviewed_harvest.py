"""The loop the view closes: a person marks an output bad, `harness badcases harvest --reviewed`
keeps it (with the correct answer written), and the next run runs it as a bad case."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from harness.api import default_store, run_suite
from harness.cli import main
from harness.view import create_app
from tests.ci.helpers import write_suite

BAD_SET = "bad_cases:\n  - name: regressions\n    file: suite.badcases.yaml\n"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test on each backend: the runs, the reviews and the harvest in one store."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_DB_URL", store_url)
    monkeypatch.chdir(tmp_path)


def mini_suite(tmp_path: Path, cases: list[tuple[str, str, str]]) -> Path:
    """A suite of ``(id, output, expected)`` cases with an empty bad-case set."""
    (tmp_path / "suite.badcases.yaml").write_text("cases: []\n")
    return write_suite(tmp_path, cases, bad_cases=BAD_SET)


def test_a_case_marked_bad_is_harvested_and_runs_next_time(tmp_path: Path) -> None:
    # "sure" passes `exact` (its expected answer is wrong too); a person knows better
    suite = mini_suite(tmp_path, [("ok", "4", "4"), ("sure", "5", "5"), ("no", "x", "y")])
    run = run_suite(suite).run
    store = default_store()
    (sure,) = [r for r in store.results(run.run_id) if r.row_id == "sure"]
    store.close()
    client = TestClient(create_app(store.url, reviewer="ann"), base_url="http://127.0.0.1")
    url = f"/runs/{run.run_id}/cases/{sure.case_id}/review"
    assert client.post(url, data={"verdict": "bad", "correct_answer": "4"}).status_code == 200

    assert main(["badcases", "harvest", run.run_id, "--reviewed"]) == 0
    (case,) = yaml.safe_load((tmp_path / "suite.badcases.yaml").read_text())["cases"]
    assert case["id"] == "sure" and case["expected"] == "4"  # not the failed "no"
    assert case["provenance"]["original_expected"] == "5"
    assert case["provenance"]["review"].startswith("marked bad by ann at ")

    again = run_suite(suite)
    kept = [(r.row_id, r.passed) for r in again.results if r.case_set == "regressions"]
    assert kept == [("sure", False)]


def test_harvest_reviewed_without_marks_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = mini_suite(tmp_path, [("no", "x", "y")])
    run = run_suite(suite).run
    assert main(["badcases", "harvest", run.run_id, "--reviewed"]) == 2
    assert "is marked bad: mark them in `harness view` first" in capsys.readouterr().err
