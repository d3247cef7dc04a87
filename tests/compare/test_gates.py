"""Gates and baselines: the schema, each check, the baseline file, and `harness` exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.compare import (
    CompareError,
    baseline_from,
    baseline_records,
    check_gate,
    evaluate_gates,
    from_results,
    load_baseline,
    write_baseline,
)
from harness.errors import SuiteError
from harness.results.store import ResultStore
from harness.suite.loader import load_suite
from harness.suite.schema import Gate
from tests.compare.helpers import case, run_record, write_suite

# --- the schema ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gates", "message", "line"),
    [
        ("  - metric: rougeL", "exactly one of 'min_pass_rate'", 20),
        ("  - min_pass_rate: 0.9\n    baseline: b.json", "this gate has several", 20),
        ("  - min_pass_rate: 0.9\n    max_drop: 0.1", "need a 'baseline'", 20),
        ("  - min_pass_rate: 1.5", "less than or equal to 1", 20),
        ("  - baseline: b.json\n    max_dorp: 0.1", "max_dorp", 21),
    ],
)
def test_malformed_gates_point_at_their_line(
    tmp_path: Path, gates: str, message: str, line: int
) -> None:
    path = write_suite(tmp_path, ["answer 0"], gates)
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(path)
    assert info.value.line == line


def test_well_formed_gates_load(tmp_path: Path) -> None:
    gates = (
        "  - min_pass_rate: 0.9\n"
        "  - {metric: rougeL, baseline: b.json, max_drop: 0.02, significance: 0.05}"
    )
    suite = load_suite(write_suite(tmp_path, ["answer 0"], gates)).suite
    assert suite.gates == [
        Gate(min_pass_rate=0.9),
        Gate(metric="rougeL", baseline="b.json", max_drop=0.02, significance=0.05),
    ]


# --- checks --------------------------------------------------------------------------------


def _records(n: int, failing: int = 0, rouge: float = 0.8, run_id: str = "run-b", **kw):  # type: ignore[no-untyped-def]
    results = [case(i, run_id=run_id, passed=i >= failing, rouge=rouge, **kw) for i in range(n)]
    return from_results(results, run_id, run_record(run_id))


def test_min_pass_rate_per_prompt_and_provider() -> None:
    results = [case(i, passed=i >= 2, provider="gpt") for i in range(10)]
    results += [case(i, passed=i >= 5, provider="qwen") for i in range(10)]
    records = from_results(results, "run")
    gpt, qwen = check_gate(Gate(min_pass_rate=0.8), records)
    assert (gpt.passed, qwen.passed) == (True, False)
    assert gpt.message == "pass rate 80.0% (8/10) ≥ 80.0%"
    assert qwen.message == "pass rate 50.0% (5/10) < 80.0%"
    assert qwen.name == "gates[0] pass rate ≥ 0.8 (v1 · qwen)"
    (only,) = check_gate(Gate(min_pass_rate=0.8, provider="qwen"), records)
    assert only.provider_id == "qwen"


def test_min_pass_rate_of_one_scorer() -> None:
    results = [case(i, rouge=None if i < 3 else 0.5) for i in range(10)]
    (result,) = check_gate(Gate(metric="rougeL", min_pass_rate=0.7), from_results(results, "r"))
    assert result.passed and result.message.startswith("rougeL pass rate 70.0% (7/10)")


def test_gate_input_errors() -> None:
    records = _records(5)
    with pytest.raises(CompareError, match=r"'rouge_l'.*Did you mean 'rougeL'"):
        check_gate(Gate(metric="rouge_l", min_pass_rate=0.5), records)
    with pytest.raises(CompareError, match=r"gate provider 'gtp'.*Did you mean 'gpt'"):
        check_gate(Gate(min_pass_rate=0.5, provider="gtp"), records)
    with pytest.raises(CompareError, match="gate case_set 'hard'"):
        check_gate(Gate(min_pass_rate=0.5, case_set="hard"), records)


def _baseline(n: int = 200, rouge: float = 0.8, failing: int = 0):  # type: ignore[no-untyped-def]
    return _records(n, failing=failing, rouge=rouge, run_id="base")


def test_drop_beyond_max_fails_and_within_passes() -> None:
    base = _baseline()
    (ok,) = check_gate(
        Gate(metric="rougeL", baseline="b", max_drop=0.05), _records(200, rouge=0.76), base
    )
    (bad,) = check_gate(
        Gate(metric="rougeL", baseline="b", max_drop=0.02), _records(200, rouge=0.76), base
    )
    assert ok.passed and not bad.passed
    assert bad.message == "0.8 → 0.76 (n=200): drop 0.04 > max 0.02"
    assert "wilcoxon" in (bad.details or "")
    (same,) = check_gate(Gate(baseline="b"), _records(200), base)
    assert same.passed and "drop 0 ≤ max 0" in same.message


def test_significance_spares_a_drop_that_may_be_noise() -> None:
    base = _baseline(n=40)
    # 2 of 40 cases fail now: a 5-point drop, far from significant (McNemar p = 0.5).
    noisy = _records(40, failing=2)
    (spared,) = check_gate(Gate(baseline="b", max_drop=0.02, significance=0.05), noisy, base)
    (strict,) = check_gate(Gate(baseline="b", max_drop=0.02), noisy, base)
    assert spared.passed and not strict.passed
    assert "not significant at 0.05" in spared.message
    # 30 of 200 failing is significant.
    (caught,) = check_gate(
        Gate(baseline="b", max_drop=0.02, significance=0.05), _records(200, failing=30), _baseline()
    )
    assert not caught.passed and "significant at 0.05" in caught.message


def test_small_suite_says_it_cannot_see_the_drop() -> None:
    (result,) = check_gate(
        Gate(baseline="b", max_drop=0.02), _records(20, failing=1), _baseline(n=20)
    )
    assert "suite too small to detect a drop of 0.02" in (result.details or "")


def test_lower_is_better_metric_fails_on_a_rise() -> None:
    base = _baseline(50)
    now = _records(50)
    for r in now.records:
        r.scores["toxicity"] = 0.3
    (result,) = check_gate(Gate(metric="toxicity", baseline="b", max_drop=0.1), now, base)
    assert not result.passed and "rise 0.2 > max 0.1" in result.message


def test_baseline_without_common_cases_or_groups() -> None:
    with pytest.raises(CompareError, match="shares no case"):
        check_gate(Gate(baseline="b"), _records(5, prompt="v9"), _baseline(5))
    now = from_results([*(case(i, run_id="b") for i in range(5)),
                        *(case(i, run_id="b", provider="new") for i in range(5))], "b")  # fmt: skip
    checked, new = check_gate(Gate(baseline="b"), now, _baseline(5))
    assert checked.passed and new.passed and new.message.startswith("not checked")


# --- the baseline file ---------------------------------------------------------------------


def test_baseline_round_trip_one_case_per_line(tmp_path: Path) -> None:
    records = _records(4, failing=1, run_id="run-a")
    records.records[2].scores["rougeL"] = None
    path = write_baseline(baseline_from(records), tmp_path / "deep" / "baseline.json")
    text = path.read_text(encoding="utf-8")
    head = json.loads(text)
    assert (head["format"], head["schema_version"], head["run_id"]) == (
        "harness-baseline",
        1,
        "run-a",
    )
    case_lines = [ln for ln in text.splitlines() if ln.startswith('{"case_set"')]
    assert len(case_lines) == 4
    loaded = load_baseline(path)
    assert loaded == baseline_from(records).model_copy(update={"saved_at": loaded.saved_at})
    back = baseline_records(loaded, str(path))
    assert [r.passed for r in back.records] == [False, True, True, True]
    assert back.records[2].scores["rougeL"] is None and back.records[2].output is None
    assert back.higher_is_better["toxicity"] is False


def test_baseline_needs_a_complete_run() -> None:
    records = from_results([case(1)], "run", run_record("run", status="interrupted"))
    with pytest.raises(
        CompareError, match="is interrupted: a baseline must come from a complete run"
    ):
        baseline_from(records)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "baseline file not found"),
        ("{not json", "not valid JSON"),
        ('{"cases": []}', "not a harness baseline file"),
        ('{"format": "harness-baseline", "schema_version": 99}', "schema version 99"),
        ('{"format": "harness-baseline", "schema_version": 1, "cases": [{}]}', "run_id"),
    ],
)
def test_bad_baseline_files_say_how_to_fix(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CompareError, match=message) as info:
        load_baseline(path, "RUN-1")
    assert f"harness baseline save RUN-1 -o {path}" in str(info.value)


# --- the command line, end to end ----------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / ".harness"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _latest(home: Path) -> str:
    store = ResultStore(home / ".harness" / "results.db")
    try:
        return store.list_runs()[0].run_id
    finally:
        store.close()


GATES = """\
  - min_pass_rate: 0.5
  - metric: rougeL
    baseline: baseline.json
    max_drop: 0.02
"""


def test_run_exit_codes_with_gates(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = [f"answer {i}" for i in range(40)]
    suite = write_suite(home, good, GATES)

    # No baseline yet: bad input (2), pointing at the gate's line, naming this run.
    assert main(["run", str(suite)]) == 2
    first = _latest(home)
    err = capsys.readouterr().err
    assert "suite.yaml:22" in err and f"harness baseline save {first}" in err

    assert main(["baseline", "save", first, "-o", "baseline.json"]) == 0
    assert json.loads((home / "baseline.json").read_text())["run_id"] == first
    capsys.readouterr()

    assert main(["run", str(suite)]) == 0
    assert "PASS gates[1] rougeL vs baseline" in capsys.readouterr().out

    # Ten answers go wrong: the pass rate holds (75% ≥ 50%) but rougeL drops: exit 1.
    write_suite(home, [f"wrong {i}" if i < 10 else a for i, a in enumerate(good)], GATES)
    assert main(["run", str(suite)]) == 1
    captured = capsys.readouterr()
    assert "PASS gates[0] pass rate ≥ 0.5" in captured.out
    assert "FAIL gates[1] rougeL vs baseline (v1 · stored)" in captured.out
    assert "1 of 2 gate check(s) failed" in captured.err
    second = _latest(home)

    # Comparing runs never gates: 0, and the report is written.
    assert main(["compare", first, second, "-o", "cmp.html"]) == 0
    out = capsys.readouterr().out
    assert "10 regressions" in out and (home / "cmp.html").is_file()
    assert main(["compare", "baseline.json", second, "-o", "vs-baseline.html"]) == 0

    # Bad input: 2.
    assert main(["compare", first]) == 2
    assert main(["compare", first, second, "--prompts", "v1"]) == 2
    assert main(["compare", first, "--prompts", "v9"]) == 2
    assert main(["compare", first, second, "--metric", "rouge_l"]) == 2
    assert main(["baseline", "save", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'rougeL'" in err and "no run 'no-such-run'" in err

    write_suite(home, good, "  - metric: rougeL")
    assert main(["run", str(suite)]) == 2


def test_run_without_gates_still_exits_zero_when_cases_fail(home: Path) -> None:
    suite = write_suite(home, ["wrong"] * 3, "  []")
    (home / "suite.yaml").write_text(suite.read_text().replace("gates:\n  []\n", ""))
    assert main(["run", str(suite)]) == 0


def test_compare_inside_one_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ResultStore(home / ".harness" / "results.db")
    store.save_run(run_record("mixed"))
    for p in ("v1", "v2"):
        for m in ("gpt", "qwen"):
            for i in range(12):
                store.add_result(case(i, run_id="mixed", prompt=p, provider=m,
                                      passed=not (p == "v2" and i < 4)))  # fmt: skip
    store.close()
    assert main(["compare", "mixed", "--prompts", "v1", "-o", "prompts.html"]) == 0
    out = capsys.readouterr().out
    assert "v2 vs v1" in out and "8 regressions" in out
    assert main(["compare", "mixed", "--providers", "qwen", "-o", "providers.html"]) == 0
    assert "gpt vs qwen" in capsys.readouterr().out
    html = (home / "prompts.html").read_text(encoding="utf-8")
    assert "Prompts vs v1 · mixed" in html


def test_gates_reach_the_junit_file(home: Path) -> None:
    suite = write_suite(home, ["wrong 0", "answer 1"], "  - min_pass_rate: 0.9")
    assert main(["run", str(suite), "--junit-xml", "junit.xml"]) == 1
    xml = (home / "junit.xml").read_text(encoding="utf-8")
    assert "gates[0] pass rate ≥ 0.9 (v1 · stored)" in xml
    assert "pass rate 50.0% (1/2) &lt; 90.0%" in xml


def test_perturbed_copies_do_not_move_a_pass_rate_gate() -> None:
    clean = [case(i, passed=i >= 1) for i in range(10)]  # 90 %
    perturbed = [
        case(100 + i, passed=False, tags=["perturbed:typo"]) for i in range(10)
    ]  # every perturbed copy fails: the robustness analysis' business, not the gate's
    (result,) = check_gate(Gate(min_pass_rate=0.9), from_results(clean + perturbed, "run"))
    assert result.passed and result.message == "pass rate 90.0% (9/10) ≥ 90.0%"


# --- what each verdict measured (the report's gates table) ----------------------------------


def test_every_gate_kind_says_what_it_checked_and_measured(tmp_path: Path) -> None:
    now = _records(200, failing=30, rouge=0.76)
    (rate,) = check_gate(Gate(min_pass_rate=0.8), now)
    assert (rate.checked, rate.threshold, rate.observed, rate.p_value) == (
        "pass rate ≥ 0.8", 0.8, 0.85, None
    )  # fmt: skip
    (scorer_rate,) = check_gate(Gate(metric="rougeL", min_pass_rate=0.5), now)
    assert scorer_rate.checked == "rougeL pass rate ≥ 0.5" and scorer_rate.observed == 1.0

    gate = Gate(metric="rougeL", baseline="baselines/x.json", max_drop=0.02, significance=0.05)
    (drop,) = check_gate(gate, now, _baseline())
    assert drop.checked == "rougeL mean drop ≤ 0.02 vs baselines/x.json, significance 0.05"
    assert drop.threshold == 0.02 and drop.observed == pytest.approx(0.04)
    assert drop.p_value is not None and drop.p_value < 0.05 and not drop.passed
    (rise,) = check_gate(Gate(metric="toxicity", baseline="b.json"), now, _baseline())
    assert rise.checked == "toxicity mean rise ≤ 0 vs b.json" and rise.observed == 0.0

    suite = load_suite(write_suite(tmp_path, ["answer 0"], "  - bad_cases_stay_fixed: true"))
    records = from_results([case(0, run_id="r")], "r", run_record("r"))
    (unchecked,) = evaluate_gates(suite, records, store=None)
    assert unchecked.checked.startswith("bad cases that passed") and unchecked.observed is None
    store = ResultStore(tmp_path / "results.db")
    store.save_run(run_record("r"))
    store.add_result(case(0, run_id="r"))
    (fixed,) = evaluate_gates(suite, records, store=store)
    store.close()
    assert (fixed.passed, fixed.threshold, fixed.observed) == (True, 0, 0)
