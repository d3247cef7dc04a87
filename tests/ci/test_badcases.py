"""The bad-case loop: harvest failures with provenance, de-duplicate, append without losing
what a file holds, review by hand, and find bad cases that passed before and fail now."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from harness.api import default_store, run_suite
from harness.ci._casefile import append_cases
from harness.ci.badcases import (
    bad_case_regressions,
    harvest,
    harvest_candidates,
    regressions_since,
    target_file,
)
from harness.cli import main
from harness.errors import HarnessError
from harness.results.store import ResultStore
from harness.suite.loader import load_suite
from tests.ci.helpers import result, run_record, score, write_suite

BAD_SET = "bad_cases:\n  - name: regressions\n    file: suite.badcases.yaml\n"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def store() -> ResultStore:
    return default_store()


# --- candidates -------------------------------------------------------------------------


def test_failed_suite_cases_become_case_specs_with_provenance() -> None:
    run = run_record()
    results = [
        result("ok"),
        result("b", "five", scores=[score("exact", 0.0), score("f1", 0.0, 0.5)], expected=["4"]),
        result("b", "5!", prompt_id="v2", scores=[score("exact", 0.0)], expected=["4"]),
        result("c", error="TransientProviderError: 503"),
        result("old", "no", case_set="regressions", scores=[score("exact", 0.0)]),
    ]
    (cand,) = harvest_candidates(run, results)
    assert cand.case == {
        "id": "b",
        "vars": {"q": "question b"},
        "expected": "4",
        "provenance": {
            "run_id": "run-1",
            "date": "2026-03-01T12:00:00+00:00",
            "harvested": cand.case["provenance"]["harvested"],
            "suite": "s",
            "model": "fake-model",
            "provider": "fake",
            "prompt_id": "v1",
            "bad_output": "five",
            "failing_scores": [
                {"name": "exact", "scorer": "exact", "value": 0.0, "threshold": 1.0},
                {"name": "f1", "scorer": "f1", "value": 0.0, "threshold": 0.5},
            ],
            "also_failed": ["v2/fake"],
        },
    }
    with_errors = harvest_candidates(run, results, include_errors=True)
    assert [c.case["id"] for c in with_errors] == ["b", "c"]
    assert with_errors[1].case["provenance"]["error"] == "TransientProviderError: 503"


def test_a_harvested_case_keeps_its_dataset_assertions_and_drops_default_tags(
    tmp_path: Path,
) -> None:
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"id": "r1", "q": "2+2", "out": "5", "answer": "4", "tags": "math"}) + "\n"
    )
    suite = tmp_path / "ds.yaml"
    suite.write_text(
        "name: ds\nprompts: [{id: v1, template: '{{ q }}'}]\n"
        "providers: [{id: stored, type: outputs, column: out}]\n"
        "cases:\n  file: rows.jsonl\n  id: id\n  expected: answer\n  tags_column: tags\n"
        "  assert: [{type: contains, ignore_case: true}]\n"
        "defaults:\n  tags: [everywhere]\n"
    )
    outcome = run_suite(suite)
    (cand,) = harvest_candidates(outcome.run, outcome.results, load_suite(suite))
    assert cand.case["assert"] == [{"type": "contains", "ignore_case": True}]
    assert cand.case["tags"] == ["math"]


# --- harvest into files -----------------------------------------------------------------


def run_mini(tmp_path: Path, cases: list[tuple[str, str, str]], bad: str = BAD_SET) -> str:
    badfile = tmp_path / "suite.badcases.yaml"
    if not badfile.exists():
        badfile.write_text("cases:\n- id: seed\n  vars: {q: seed, out: s}\n  expected: s\n")
    suite = write_suite(tmp_path, cases, bad_cases=bad)
    return run_suite(suite).run.run_id


def test_harvest_appends_to_the_suite_bad_case_file_once(tmp_path: Path) -> None:
    badfile = tmp_path / "suite.badcases.yaml"
    badfile.write_text(
        "# Header comment kept.\ncases:\n  # a comment inside is kept too\n"
        "  - id: old\n    vars: {q: question old, out: '1'}\n    expected: '1'\n"
    )
    run_id = run_mini(tmp_path, [("good", "4", "4"), ("bad", "5", "4"), ("worse", "x", "y")])
    report = harvest(store(), run_id, tmp_path / "suite.yaml")
    assert report.path == badfile.resolve() and report.in_suite
    assert [c["id"] for c in report.added] == ["bad", "worse"]
    text = badfile.read_text()
    assert text.startswith("# Header comment kept.\ncases:\n  # a comment inside is kept too\n")
    assert "\n  - id: bad\n    vars:\n" in text  # appended at the list's own indentation
    cases = yaml.safe_load(text)["cases"]
    assert [c["id"] for c in cases] == ["old", "bad", "worse"]
    assert cases[1]["provenance"]["bad_output"] == "5"
    again = harvest(store(), run_id, tmp_path / "suite.yaml")
    assert (again.added, again.already_there) == ([], 2)
    assert badfile.read_text() == text


def test_the_harvested_cases_run_with_the_suite_next_time(tmp_path: Path) -> None:
    run_id = run_mini(tmp_path, [("good", "4", "4"), ("bad", "5", "4")])
    harvest(store(), run_id, tmp_path / "suite.yaml")
    outcome = run_suite(tmp_path / "suite.yaml")
    bad = [r for r in outcome.results if r.case_set == "regressions"]
    assert sorted((r.row_id, r.passed) for r in bad) == [("bad", False), ("seed", True)]


def test_same_content_under_another_id_is_not_added_again(tmp_path: Path) -> None:
    (tmp_path / "suite.badcases.yaml").write_text(
        "cases:\n- id: reported-by-user\n  vars: {q: question bad, out: '5'}\n  expected: ['4']\n"
    )
    run_id = run_mini(tmp_path, [("bad", "5", "4")])
    report = harvest(store(), run_id, tmp_path / "suite.yaml")
    assert (report.added, report.already_there) == ([], 1)


def test_a_file_that_cannot_take_a_text_append_is_rewritten_keeping_its_header(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("# header 1\n# header 2\n\ncases: []\nsource: users\n")
    append_cases(path, [{"id": "n", "vars": {"q": "x"}}])
    text = path.read_text()
    assert text.startswith("# header 1\n# header 2\n\n")
    assert yaml.safe_load(text) == {"cases": [{"id": "n", "vars": {"q": "x"}}], "source": "users"}


def test_appending_to_a_top_level_list_and_to_jsonl(tmp_path: Path) -> None:
    listed = tmp_path / "b.yml"
    listed.write_text("- id: a\n  vars: {q: x}\n")
    append_cases(listed, [{"id": "b", "vars": {"q": "y\x1b\n"}}])
    assert yaml.safe_load(listed.read_text()) == [
        {"id": "a", "vars": {"q": "x"}},
        {"id": "b", "vars": {"q": "y\x1b\n"}},
    ]
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"id": "a"}')
    append_cases(lines, [{"id": "b", "vars": {"q": "北京"}}])
    assert [json.loads(ln)["id"] for ln in lines.read_text().splitlines()] == ["a", "b"]
    assert "北京" in lines.read_text()
    with pytest.raises(HarnessError, match="YAML or JSONL"):
        append_cases(tmp_path / "b.csv", [{"id": "c"}])


def test_where_the_cases_go(tmp_path: Path) -> None:
    none = load_suite(write_suite(tmp_path, [("a", "1", "1")], file="none.yaml"))
    assert target_file(none) == (tmp_path / "none.badcases.yaml", "bad-cases", False)
    two = "bad_cases:\n  - {name: one, file: one.yaml}\n  - {name: two, file: two.yaml}\n"
    both = load_suite(write_suite(tmp_path, [("a", "1", "1")], file="two.yaml", bad_cases=two))
    with pytest.raises(HarnessError, match="choose one with --set NAME"):
        target_file(both)
    assert target_file(both, set_name="two") == ((tmp_path / "two.yaml").resolve(), "two", True)
    assert target_file(both, into=tmp_path / "one.yaml")[1:] == ("one", True)
    with pytest.raises(HarnessError, match="no bad-case set 'three'; its sets: one, two"):
        target_file(both, set_name="three")


def test_harvesting_with_the_wrong_suite_says_which_one_to_use(tmp_path: Path) -> None:
    run_id = run_mini(tmp_path, [("bad", "5", "4")])
    other = write_suite(tmp_path, [("a", "1", "1")], name="other", file="other.yaml")
    with pytest.raises(HarnessError, match="is of suite 'mini'"):
        harvest(store(), run_id, other)


# --- interactive ------------------------------------------------------------------------


def test_interactive_accept_reject_and_correct_the_expected_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [("a", "1", "one"), ("b", "2", "two"), ("c", "3", "three"), ("d", "4", "four")]
    run_id = run_mini(tmp_path, cases)
    # a: yes; b: no; c: unclear answer, then edit with two answers; d: quit
    monkeypatch.setattr("sys.stdin", io.StringIO("y\nn\nmaybe\ne\n3\nthree\n\nq\n"))
    report = harvest(store(), run_id, tmp_path / "suite.yaml", interactive=True)
    assert [c["id"] for c in report.added] == ["a", "c"]
    assert report.rejected == 2
    edited = report.added[1]
    assert edited["expected"] == ["3", "three"]
    assert edited["provenance"]["original_expected"] == "three"
    assert edited["provenance"]["review"] == "edited"
    assert report.added[0]["provenance"]["review"] == "accepted"
    shown = capsys.readouterr().out
    assert "[1/4] case: v1 / stored / a" in shown and "Q0: question a" in shown


def test_end_of_input_keeps_what_was_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = run_mini(tmp_path, [("a", "1", "one"), ("b", "2", "two")])
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    report = harvest(store(), run_id, tmp_path / "suite.yaml", interactive=True)
    assert [c["id"] for c in report.added] == ["a"]


def test_an_edit_that_matches_a_kept_case_is_not_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "suite.badcases.yaml").write_text(
        "cases:\n- {vars: {q: question a, out: '1'}, expected: '1'}\n"
    )
    run_id = run_mini(tmp_path, [("a", "1", "one")])
    monkeypatch.setattr("sys.stdin", io.StringIO("e\n1\n\n"))
    report = harvest(store(), run_id, tmp_path / "suite.yaml", interactive=True)
    assert (report.added, report.already_there) == ([], 1)


# --- the CLI ----------------------------------------------------------------------------


def test_cli_harvest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, [("good", "4", "4"), ("bad", "5", "4")])
    run_id = run_suite(suite).run.run_id
    assert main(["badcases", "harvest", run_id, "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    assert "Would add 1 bad case to" in out and "bad_output: '5'" in out
    assert not (tmp_path / "suite.badcases.yaml").exists()
    assert main(["badcases", "harvest", run_id[:17], "--suite", str(suite)]) == 0
    out, err = capsys.readouterr()
    assert "Added 1 bad case to suite.badcases.yaml (0 already kept)" in out
    assert "the suite does not run this file yet" in err
    assert "bad_cases:\n  - name: bad-cases\n    file: suite.badcases.yaml" in err
    assert main(["badcases", "harvest", "no-such-run"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


# --- regressions ------------------------------------------------------------------------


def bad(row: str, passed: bool, run_id: str, **kw: object) -> object:
    value = 1.0 if passed else 0.0
    return result(row, case_set="regressions", scores=[score("exact", value)], run_id=run_id, **kw)


def test_bad_cases_that_passed_before_and_fail_now() -> None:
    previous = [
        bad("fixed", True, "r1"),
        bad("never", False, "r1"),
        bad("fixed", True, "r1", prompt_id="v2"),
        result("main-case", run_id="r1"),
    ]
    current = [
        bad("fixed", False, "r2"),  # regressed
        bad("never", False, "r2"),  # never passed: not a regression
        bad("fixed", True, "r2", prompt_id="v2"),  # still passes
        result("main-case", "no", scores=[score("exact", 0.0)], run_id="r2"),  # not a bad case
        bad("new", False, "r2"),  # new bad case
    ]
    (reg,) = bad_case_regressions(current, previous)  # type: ignore[arg-type]
    assert (reg.case_set, reg.row_id, reg.prompt_id, reg.provider_id) == (
        "regressions",
        "fixed",
        "v1",
        "fake",
    )
    assert reg.passed_in == "r1" and not reg.errored
    assert reg.describe() == (
        "regressions / v1 / fake / fixed: passed in run r1, fails now (exact = 0.000 < 1.000)"
    )


def test_once_passed_in_any_earlier_run_counts() -> None:
    runs = [[bad("x", True, "r1", minutes=1)], [bad("x", False, "r2", minutes=2)]]
    (reg,) = bad_case_regressions([bad("x", False, "r3")], runs[0] + runs[1])  # type: ignore[arg-type]
    assert reg.passed_in == "r1"


def test_regressions_since_the_previous_run_in_the_store(tmp_path: Path) -> None:
    bad_file = tmp_path / "suite.badcases.yaml"
    bad_file.write_text("cases:\n- {id: k, vars: {q: x, out: '1'}, expected: '1'}\n")
    suite = write_suite(tmp_path, [("a", "1", "1")], bad_cases=BAD_SET)
    first = run_suite(suite).run
    bad_file.write_text("cases:\n- {id: k, vars: {q: x, out: '2'}, expected: '1'}\n")
    second = run_suite(suite).run
    (reg,) = regressions_since(store(), second.run_id)
    assert (reg.row_id, reg.passed_in) == ("k", first.run_id)
    assert regressions_since(store(), first.run_id) == []
