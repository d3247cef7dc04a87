"""`harness run` filters (--limit, --tag, --prompt, --provider, --var, --filter-failing,
--filter-errors, --retry-errors) and --repeat, end to end on a stored-outputs suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import prepare, run_suite
from harness.cli import main
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore
from harness.selection import Selection, select_cases

SUITE = """name: filters
prompts:
  - id: v1
    template: "Q: {{ q }}"
  - id: v2
    template: "Question: {{ q }}"
providers:
  - id: dump
    type: outputs
    column: out
  - id: other
    type: outputs
    column: out
cases:
  - {id: paris, vars: {q: capital of France, out: Paris, lang: en}, expected: Paris,
     tags: [geo, all]}
  - {id: four, vars: {q: 2+2, out: "5", lang: en}, expected: "4", tags: [math, all]}
  - {id: rome, vars: {q: capitale d'Italia, out: Roma, lang: it, n: 3}, expected: Roma,
     tags: [geo, all]}
  - {id: nothing, vars: {q: say nothing, lang: en}, expected: "", tags: [all]}
bad_cases:
  - {name: regressions, file: bad.yaml}
defaults:
  assert: [{type: exact}]
"""
BAD = "cases:\n- {id: old, vars: {q: '9+9', out: '18'}, expected: '18', tags: [all]}\n"

#: A python provider whose "fragile" cases error until $APP_UP is set.
APP = """import os

def answer(messages, vars, config):
    if vars.get("fragile") and not os.environ.get("APP_UP"):
        raise RuntimeError("service down")
    return vars["out"]
"""
APP_SUITE = """name: app
prompts: [{id: v1, template: "{{ q }}"}]
providers: [{id: app, type: python, function: "app:answer"}]
cases:
  - {id: steady, vars: {q: a, out: A}, expected: A}
  - {id: shaky, vars: {q: b, out: B, fragile: true}, expected: B}
defaults: {assert: [{type: exact}]}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def suite(tmp_path: Path, home: Path) -> Path:
    (tmp_path / "bad.yaml").write_text(BAD)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def store(home: Path) -> ResultStore:
    return ResultStore(home / "results.db")


def latest(home: Path) -> tuple[RunRecord, list[CaseResult]]:
    run = store(home).list_runs()[0]
    return run, store(home).results(run.run_id)


def ran(results: list[CaseResult]) -> set[tuple[str, str, str]]:
    return {(r.row_id, r.prompt_id, r.provider_id) for r in results}


def test_tag_prompt_and_provider_filters_make_a_partial_run(
    suite: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["run", str(suite), "--tag", "geo", "--prompt", "v2", "--provider", "other"]
    assert main(argv) == 0
    run, results = latest(home)
    assert ran(results) == {("paris", "v2", "other"), ("rome", "v2", "other")}
    assert run.selection == "--prompt v2 --provider other --tag geo" and run.n_cases == 2
    out = capsys.readouterr().out
    assert "partial run (--prompt v2 --provider other --tag geo): 2 cases" in out
    main(["runs"])
    assert "complete (partial)" in capsys.readouterr().out


def test_repeated_tags_and_providers_mean_or(suite: Path, home: Path) -> None:
    main(["run", str(suite), "--tag", "math", "--tag", "regressions", "--provider", "dump"])
    _, results = latest(home)
    assert {(r.case_set, r.row_id) for r in results} == {("main", "four"), ("regressions", "old")}


def test_limit_keeps_the_first_rows_of_the_main_set_and_every_bad_case(
    suite: Path, home: Path
) -> None:
    main(["run", str(suite), "--limit", "1"])
    _, results = latest(home)
    assert {(r.case_set, r.row_id) for r in results} == {("main", "paris"), ("regressions", "old")}
    assert len(results) == 2 * 2 * 2  # 2 prompts x 2 providers x 2 rows


def test_var_compares_text_and_values_as_json(suite: Path, home: Path) -> None:
    main(["run", str(suite), "--var", "lang=it", "--prompt", "v1", "--provider", "dump"])
    assert ran(latest(home)[1]) == {("rome", "v1", "dump")}
    main(["run", str(suite), "--var", "n=3", "--var", "lang=it", "--prompt", "v1"])
    assert {r.row_id for r in latest(home)[1]} == {"rome"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prompt", "v22"], "unknown prompt version 'v22'. Did you mean 'v2'? The suite's"),
        (["--provider", "dumb"], "unknown provider 'dumb'. Did you mean 'dump'?"),
        (["--tag", "goe"], "unknown tag 'goe'. Did you mean 'geo'?"),
        (["--var", "lnag=en"], "unknown case variable 'lnag'. Did you mean 'lang'?"),
        (["--var", "lang=fr"], "--var selects none of the 20 case(s) of"),
        (["--tag", "math", "--var", "lang=it"], "--var selects none of the 4 case(s) left by"),
        (["--filter-failing", "nosuchrun"], "no run 'nosuchrun'"),
        (["--retry-errors"], "--retry-errors: no earlier run of these cases"),
        (["--retry-errors", "--resume", "x"], "give --resume RUN_ID or --retry-errors, not both"),
    ],
)
def test_bad_filters_are_one_line_errors_with_exit_2(
    suite: Path, home: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    assert main(["run", str(suite), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not store(home).list_runs()  # nothing was run


@pytest.mark.parametrize("argv", [["--limit", "0"], ["--var", "lang"], ["--repeat", "two"]])
def test_malformed_option_values_are_usage_errors(
    suite: Path, capsys: pytest.CaptureFixture, argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(suite), *argv])
    assert exit_info.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_a_filter_that_keeps_every_case_is_still_a_run_of_its_own(suite: Path, home: Path) -> None:
    prepared = prepare(suite)
    everything = select_cases(prepared.loaded, prepared.plan, Selection(tags=("all",)), store(home))
    assert len(everything.cases) == len(prepared.plan.cases)
    assert everything.fingerprint != prepared.plan.fingerprint
    # an unfinished filtered run is not resumed by the whole suite, and is by its filters
    main(["run", str(suite), "--tag", "all"])
    filtered, _ = latest(home)
    filtered.status = "interrupted"
    store(home).save_run(filtered)
    main(["run", str(suite)])
    assert latest(home)[0].run_id != filtered.run_id
    outcome = run_suite(suite, select=Selection(tags=("all",)))
    assert outcome.resumed and outcome.run.run_id == filtered.run_id


def test_filter_failing_and_filter_errors_pick_cases_of_an_earlier_run(
    suite: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["run", str(suite), "--prompt", "v1", "--provider", "dump"]) == 1  # errors
    first, _ = latest(home)
    assert main(["run", str(suite), "--filter-failing", first.run_id[:15]]) == 1
    run, results = latest(home)
    # "four" failed and "nothing" errored (no output column); prompt v1 and provider dump only
    assert ran(results) == {("four", "v1", "dump"), ("nothing", "v1", "dump")}
    assert run.selection == f"--filter-failing {first.run_id}"
    main(["run", str(suite), "--filter-errors", first.run_id])
    assert ran(latest(home)[1]) == {("nothing", "v1", "dump")}
    main(["run", str(suite), "--tag", "geo", "--prompt", "v1", "--provider", "dump"])
    capsys.readouterr()
    geo, _ = latest(home)
    assert main(["run", str(suite), "--filter-errors", geo.run_id]) == 2
    assert f"run {geo.run_id} has no errored case: nothing to re-run" in capsys.readouterr().err


def test_filter_failing_refuses_a_run_of_another_suite(
    suite: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SUITE.replace("name: filters", "name: elsewhere"))
    main(["run", str(other), "--tag", "math"])
    theirs, _ = latest(home)
    capsys.readouterr()
    assert main(["run", str(suite), "--filter-failing", theirs.run_id]) == 2
    assert "is a run of suite 'elsewhere', not of 'filters'" in capsys.readouterr().err


def test_retry_errors_reruns_only_the_errored_cases_into_the_same_run(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "app.py").write_text(APP)
    suite = tmp_path / "app.yaml"
    suite.write_text(APP_SUITE)
    monkeypatch.delenv("APP_UP", raising=False)
    assert main(["run", str(suite)]) == 1
    first, results = latest(home)
    assert {r.row_id: r.error is not None for r in results} == {"steady": False, "shaky": True}
    steady_at = next(r.finished_at for r in results if r.row_id == "steady")
    monkeypatch.setenv("APP_UP", "1")
    capsys.readouterr()
    assert main(["run", str(suite), "--retry-errors"]) == 0
    assert f"Resuming run {first.run_id}" in capsys.readouterr().err
    run, results = latest(home)
    assert run.run_id == first.run_id and run.status == "complete"
    assert all(r.passed for r in results) and len(results) == 2
    assert next(r.finished_at for r in results if r.row_id == "steady") == steady_at  # not re-run
    assert main(["run", str(suite), "--retry-errors"]) == 2
    assert "has no errored case to retry" in capsys.readouterr().err


def test_retry_errors_leaves_an_unfinished_run_to_a_plain_resume(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "app.py").write_text(APP)
    suite = tmp_path / "app.yaml"
    suite.write_text(APP_SUITE)
    main(["run", str(suite)])
    run, _ = latest(home)
    run.status = "interrupted"
    store(home).save_run(run)
    capsys.readouterr()
    assert main(["run", str(suite), "--retry-errors"]) == 2
    assert f"run {run.run_id} is interrupted: `harness run" in capsys.readouterr().err


def test_runs_stored_before_filters_and_repeats_still_load() -> None:
    run = RunRecord.model_validate_json(
        '{"run_id": "r", "suite_name": "s", "suite_path": "s.yaml", "suite_hash": "h", '
        '"created_at": "2026-01-01T00:00:00Z", "harness_version": "0.1.0"}'
    )
    assert run.selection is None
    case = CaseResult.model_validate_json(
        '{"run_id": "r", "case_id": "c", "request_key": "k", "prompt_id": "p", '
        '"provider_id": "d", "model": "m", "row_id": "x", "messages": [], '
        '"finished_at": "2026-01-01T00:00:00Z"}'
    )
    assert case.repeat == 0


# --- --repeat ---

COUNTER_APP = """CALLS = {}

def answer(messages, vars, config):
    # right the first time a row is asked, wrong after: "once" is flaky under --repeat
    CALLS[vars["q"]] = CALLS.get(vars["q"], 0) + 1
    return vars["out"] if CALLS[vars["q"]] == 1 or vars.get("steady") else "?"
"""
COUNTER_SUITE = """name: counter
prompts: [{id: v1, template: "{{ q }}"}]
providers: [{id: app, type: python, function: "counter_app:answer", concurrency: 1}]
cases:
  - {id: always, vars: {q: a, out: A, steady: true}, expected: A}
  - {id: once, vars: {q: b, out: B}, expected: B}
defaults: {assert: [{type: exact}]}
"""


def test_repeat_runs_each_case_n_times_and_lists_flaky_cases(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "counter_app.py").write_text(COUNTER_APP)
    suite = tmp_path / "counter.yaml"
    suite.write_text(COUNTER_SUITE)
    main(["run", str(suite), "--repeat", "4", "--report", str(tmp_path / "r.html")])
    run, results = latest(home)
    assert run.n_cases == 8 and len({r.case_id for r in results}) == 8
    assert len({r.request_key for r in results}) == 8  # the cache never merges samples
    assert sorted(r.repeat for r in results if r.row_id == "once") == [0, 1, 2, 3]
    out = capsys.readouterr().out
    # pass@1 = (1 + 1/4) / 2; pass@4 = 1 (each passed once); pass^4 = (1 + 0) / 2
    assert "62.5%" in out and "100.0%" in out and "50.0%" in out
    assert "1 flaky case(s)" in out and "once (v1 · app): 1/4 passed" in out
    html = (tmp_path / "r.html").read_text()
    assert 'id="repeats"' in html and "<code>once</code> (v1 · app): 1/4 passed" in html
    assert "62.5%" in html and "1 flaky case" in html


def test_repeat_in_the_suite_and_seeds_per_sample(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    suite = tmp_path / "api.yaml"
    suite.write_text(
        "name: api\nrepeat: 3\nprompts: [{id: v1, template: '{{ q }}'}]\n"
        "providers:\n"
        "  - {id: a, type: openai, model: m, api_key_env: FAKE_KEY, params: {seed: 7}}\n"
        "  - {id: b, type: openai, model: m, api_key_env: FAKE_KEY}\n"
        "  - {id: c, type: outputs, column: q}\n"
        "cases: [{id: x, vars: {q: hi}, expected: hi}]\n"
        "defaults: {assert: [{type: exact}]}\n"
    )
    plan = prepare(suite).plan
    seeds = {p: [c.request.params.get("seed") for c in plan.cases if c.provider.id == p]
             for p in "abc"}  # fmt: skip
    assert seeds == {"a": [7, 8, 9], "b": [0, 1, 2], "c": [None, None, None]}
    assert len({c.request_key for c in plan.cases}) == 9
    once = prepare(suite, repeat=1).plan
    assert [c.request.params for c in once.cases if c.provider.id == "a"] == [{"seed": 7}]
