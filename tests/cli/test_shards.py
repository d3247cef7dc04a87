"""`harness run --shard I/N --run-id ID`: n jobs split one suite into one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import prepare
from harness.cli import main
from harness.results.store import ResultStore
from harness.sharding import Shard, parse_shard

ROWS = "\n".join(
    f"  - {{id: r{i}, vars: {{q: q{i}, out: {'yes' if i % 3 else 'no'}}}, expected: 'yes'}}"
    for i in range(10)
)
SUITE = f"""name: shards
prompts:
  - {{id: v1, template: "Q: {{{{ q }}}}"}}
  - {{id: v2, template: "Question: {{{{ q }}}}"}}
providers:
  - {{id: dump, type: outputs, column: out}}
cases:
{ROWS}
defaults:
  assert: [{{type: exact}}]
gates:
  - min_pass_rate: 0.9
"""


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def _results(tmp_path: Path, run_id: str) -> dict[str, tuple[bool | None, list]]:
    store = ResultStore(tmp_path / "home" / "results.db")
    try:
        return {r.case_id: (r.passed, [s.value for s in r.scores]) for r in store.results(run_id)}
    finally:
        store.close()


def test_shards_are_disjoint_cover_the_plan_and_stay_within_one_case(suite: Path) -> None:
    cases = prepare(suite).plan.cases
    parts = [Shard(i, 3).pick(cases) for i in (1, 2, 3)]
    ids = [c.case_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.case_id for c in cases) and len(set(ids)) == len(ids)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [c.case_id for c in Shard(2, 3).pick(prepare(suite).plan.cases)] == [
        c.case_id for c in parts[1]
    ]  # another job plans the same part


def test_three_shards_write_one_run_equal_to_an_unsharded_run(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in (1, 2):
        assert main(["run", str(suite), "--shard", f"{i}/3", "--run-id", "ci-7"]) == 0
        out = capsys.readouterr().out
        assert "the other shards' are still to come" in out and "min_pass_rate" not in out
        assert f"reports/ci-7-shard-{i}-of-3.html" in out  # shards at once: a report each
    store = ResultStore(tmp_path / "home" / "results.db")
    assert store.get_run("ci-7").status == "partial"
    store.close()
    assert main(["trend", "shards", "--db", str(tmp_path / "home" / "results.db")]) == 2
    assert "no complete run of suite 'shards'" in capsys.readouterr().err  # not a trend point
    # the last shard completes the run: the gate is checked on every case, and fails
    assert main(["run", str(suite), "--shard", "3/3", "--run-id", "ci-7"]) == 1
    out = capsys.readouterr().out
    assert "still to come" not in out and "FAIL" in out and "reports/ci-7.html" in out
    store = ResultStore(tmp_path / "home" / "results.db")
    run = store.get_run("ci-7")
    assert run.status == "complete" and store.count_results("ci-7") == run.n_cases == 20
    store.close()

    assert main(["run", str(suite), "--no-cache", "--run-id", "whole"]) == 1
    assert _results(tmp_path, "ci-7") == _results(tmp_path, "whole")
    capsys.readouterr()
    assert main(["trend", "shards"]) == 0
    assert "over 2 runs" in capsys.readouterr().out


def test_a_shard_run_again_runs_nothing_twice(suite: Path, tmp_path: Path) -> None:
    assert main(["run", str(suite), "--shard", "1/2", "--run-id", "a"]) == 0
    first = _results(tmp_path, "a")
    assert main(["run", str(suite), "--shard", "1/2", "--run-id", "a"]) == 0
    assert _results(tmp_path, "a") == first and len(first) == 10
    # a plain re-run resumes the partial run and completes it
    assert main(["run", str(suite)]) == 1
    assert len(_results(tmp_path, "a")) == 20


def test_a_shard_needs_a_run_id_and_a_good_spec(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(suite), "--shard", "1/2"]) == 2
    assert "needs --run-id" in capsys.readouterr().err
    for bad in ("0/2", "3/2", "1/0", "1-2", "x"):
        with pytest.raises(SystemExit) as stop:
            main(["run", str(suite), "--shard", bad, "--run-id", "a"])
        assert stop.value.code == 2
        assert "--shard" in capsys.readouterr().err


def test_a_run_id_of_other_cases_is_refused(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(suite), "--run-id", "x"]) == 1
    suite.write_text(SUITE.replace("r9", "r99"))
    assert main(["run", str(suite), "--shard", "1/2", "--run-id", "x"]) == 2
    assert "different cases" in capsys.readouterr().err


def test_parse_shard() -> None:
    assert parse_shard(" 2/4 ") == Shard(2, 4)
    with pytest.raises(ValueError, match="between 1 and 4"):
        parse_shard("5/4")


def test_a_shard_past_the_cases_says_it_has_none(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(suite), "--shard", "25/25", "--run-id", "few"]) == 0
    err = capsys.readouterr().err
    assert "(shard 25/25)" in err and "shard 25/25 has no case: the run has only 20" in err


def test_a_run_id_with_resume_or_retry_errors_is_refused(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for choose in (["--resume", "x"], ["--retry-errors"]):
        assert main(["run", str(suite), *choose, "--run-id", "new"]) == 2
        assert "give one or the other" in capsys.readouterr().err
