"""`harness run` of a suite whose every input is unchanged shows the finished run again
(harness/replay.py); any change to what the results are made from runs the cases again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.store import ResultStore

SUITE = """name: replayed
prompts:
  - {id: v1, file: prompt.j2}
providers:
  - {id: stored, type: outputs, column: out}
cases:
  file: rows.jsonl
  expected: expected
defaults:
  assert:
    - {type: exact}
    - {type: python, file: checks.py, function: short}
gates:
  - min_pass_rate: 0.5
"""
ROWS = [
    {"id": "a", "q": "one", "out": "Paris", "expected": "Paris"},
    {"id": "b", "q": "two", "out": "Rome", "expected": "Paris"},
    {"id": "c", "q": "three", "out": "Paris", "expected": "Paris"},
]
CHECKS = "from helper import LIMIT\n\ndef short(output, case):\n    return len(output) <= LIMIT\n"


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # checks.py imports helper.py from here
    (tmp_path / "suite.yaml").write_text(SUITE)
    (tmp_path / "prompt.j2").write_text("Q: {{ q }}")
    (tmp_path / "checks.py").write_text(CHECKS)
    (tmp_path / "helper.py").write_text("LIMIT = 10\n")
    _write_rows(tmp_path, ROWS)
    return tmp_path / "suite.yaml"


def _write_rows(folder: Path, rows: list[dict[str, str]]) -> None:
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(suite: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["run", str(suite), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _runs(suite: Path) -> list[str]:
    return [r.run_id for r in ResultStore(suite.parent / "home" / "results.db").list_runs()]


def _table(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def test_an_unchanged_suite_shows_its_finished_run_again(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = _run(suite, capsys)
    (run_id,) = _runs(suite)
    report = suite.parent / "reports" / f"{run_id}.html"
    written = report.stat().st_mtime_ns
    code_again, again = _run(suite, capsys)
    assert (code, code_again) == (0, 0)
    assert f"Unchanged since run {run_id} of suite 'replayed'" in again
    assert "3 results stand and no case ran" in again
    assert _runs(suite) == [run_id]  # no new run
    assert _table(again) == _table(first) and _table(first)
    assert "PASS gates[0] pass rate ≥ 0.5 (v1 · stored): pass rate 66.7% (2/3)" in again
    assert f"Report: reports/{run_id}.html" in again and report.stat().st_mtime_ns == written


def test_the_same_bytes_with_a_new_mtime_are_unchanged(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(suite, capsys)
    rows = suite.parent / "rows.jsonl"
    os.utime(rows, ns=(rows.stat().st_atime_ns, rows.stat().st_mtime_ns + 10**9))
    assert "Unchanged since run" in _run(suite, capsys)[1]
    assert len(_runs(suite)) == 1


@pytest.mark.parametrize(
    "change",
    ["dataset", "suite", "template", "assertion code"],
)
def test_a_changed_input_runs_the_cases_again(
    suite: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    _run(suite, capsys)
    folder = suite.parent
    if change == "dataset":
        _write_rows(folder, [*ROWS[:2], {**ROWS[2], "out": "Lyon"}])
    elif change == "suite":
        suite.write_text(SUITE.replace("min_pass_rate: 0.5", "min_pass_rate: 0.6"))
    elif change == "template":
        (folder / "prompt.j2").write_text("Question: {{ q }}")
    else:
        (folder / "checks.py").write_text(CHECKS.replace("<= LIMIT", "< LIMIT"))
    again = _run(suite, capsys)[1]
    assert "Unchanged since run" not in again and "Running run" in again
    assert len(_runs(suite)) == 2


def test_a_change_in_code_the_checks_import_runs_them_again(suite: Path) -> None:
    """Each `harness run` is a process of its own, as a user runs it: only a new process
    imports the edited module."""
    folder = suite.parent
    env = {**os.environ, "PYTHONPATH": str(folder)}

    def run() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "harness", "run", "suite.yaml"]
        return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)

    assert run().returncode == 0
    assert "Unchanged since run" in run().stderr
    (folder / "helper.py").write_text("LIMIT = 4\n")  # "Paris" is too long now
    again = run()
    assert again.returncode == 1 and "Unchanged since run" not in again.stderr
    assert "pass rate 0.0% (0/3)" in again.stdout and len(_runs(suite)) == 2


@pytest.mark.parametrize(
    "options",
    [["--rerun"], ["--no-cache"], ["--limit", "2"], ["--repeat", "2"], ["--run-id", "named"]],
)
def test_options_that_ask_for_a_new_run_get_one(
    suite: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    _run(suite, capsys)
    again = _run(suite, capsys, *options)[1]
    assert "Unchanged since run" not in again
    assert len(_runs(suite)) == 2


def test_a_run_with_errors_is_never_replayed(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite.write_text(SUITE.replace("gates:", "max_error_rate: 1\ngates:"))
    _write_rows(suite.parent, [*ROWS, {"id": "d", "q": "four", "expected": "Paris"}])  # no out
    for _ in range(2):
        assert "Unchanged since run" not in _run(suite, capsys)[1]
    assert len(_runs(suite)) == 2


def test_a_provider_that_is_never_cached_is_never_replayed(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (suite.parent / "app.py").write_text("def answer(messages, vars):\n    return 'Paris'\n")
    provider = "{id: app, type: python, file: app.py, function: answer, cache: false}"
    suite.write_text(SUITE.replace("{id: stored, type: outputs, column: out}", provider))
    for _ in range(2):
        assert "Unchanged since run" not in _run(suite, capsys)[1]
    assert len(_runs(suite)) == 2


def test_a_cleared_cache_runs_the_cases_again(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(suite, capsys)
    (suite.parent / "home" / "cache.db").unlink()
    assert "Unchanged since run" not in _run(suite, capsys)[1]
    assert len(_runs(suite)) == 2


def test_gates_are_checked_again_and_the_report_follows_them(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A baseline is not what the run is made from: a replayed run is checked against the
    baseline as it is now, and its report is written again when a verdict changed."""
    folder, base = suite.parent, str(suite.parent / "base.json")
    _run(suite, capsys)
    (passing,) = _runs(suite)
    assert main(["baseline", "save", passing, "-o", base]) == 0
    gate = "{baseline: base.json, metric: python}"
    suite.write_text(SUITE.replace("min_pass_rate: 0.5", gate))
    (folder / "checks.py").write_text(CHECKS.replace("<= LIMIT", "< 5"))  # "Paris" fails
    code, first = _run(suite, capsys)
    assert code == 1 and "FAIL gates[0] python vs baseline" in first, first
    (run_id,) = set(_runs(suite)) - {passing}
    report = folder / "reports" / f"{run_id}.html"
    failing = report.read_text()
    assert main(["baseline", "save", run_id, "-o", base]) == 0  # b's failure accepted
    capsys.readouterr()
    code, again = _run(suite, capsys)
    assert code == 0 and "Unchanged since run" in again and "FAIL" not in again, again
    assert len(_runs(suite)) == 2 and report.read_text() != failing


def test_a_missing_report_and_ci_files_are_written(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(suite, capsys)
    (run_id,) = _runs(suite)
    report = suite.parent / "reports" / f"{run_id}.html"
    report.unlink()
    ci = ["--junit-xml", "j.xml", "--summary-md", "s.md"]
    code, again = _run(suite, capsys, *ci)
    assert code == 0 and "Unchanged since run" in again and report.is_file()
    junit = ET.parse(suite.parent / "j.xml").getroot()
    assert (junit.get("tests"), junit.get("failures")) == ("4", "1")  # 3 cases and a gate
    assert "3 cases · 2 passed" in (suite.parent / "s.md").read_text()
    other = suite.parent / "other.html"
    assert _run(suite, capsys, "--report", str(other))[0] == 0 and other.is_file()


def test_inputs_reverted_after_a_later_run_run_again(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Gates look back on the runs before theirs (bad cases that passed before fail now): a
    revert to older inputs is a new run, compared with the later one, not the old run again."""
    _run(suite, capsys)
    _write_rows(suite.parent, ROWS[:2])
    _run(suite, capsys)
    _write_rows(suite.parent, ROWS)  # back as the first run had it
    assert "Unchanged since run" not in _run(suite, capsys)[1]
    assert len(_runs(suite)) == 3
    assert "Unchanged since run" in _run(suite, capsys)[1]  # the newest run, again


def test_a_symlink_pointed_at_another_file_runs_again(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = suite.parent
    (folder / "rows.jsonl").rename(folder / "v1.jsonl")
    (folder / "v2.jsonl").write_text((folder / "v1.jsonl").read_text().replace("Rome", "Oslo"))
    (folder / "rows.jsonl").symlink_to("v1.jsonl")
    _run(suite, capsys)
    (folder / "rows.jsonl").unlink()
    (folder / "rows.jsonl").symlink_to("v2.jsonl")
    assert "Unchanged since run" not in _run(suite, capsys)[1]


def test_a_module_name_that_imports_another_file_now_runs_again(
    suite: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`function: mychecks:short` is whatever `mychecks` imports: another folder first on
    the path (or a file beside the suite) is other code."""
    folder = suite.parent
    for lib in ("lib_a", "lib_b"):
        (folder / lib).mkdir()
        (folder / lib / "mychecks.py").write_text(CHECKS.replace("LIMIT = 10", ""))
    suite.write_text(SUITE.replace("file: checks.py, function: short", "function: mychecks:short"))
    monkeypatch.syspath_prepend(str(folder / "lib_a"))
    monkeypatch.delitem(sys.modules, "mychecks", raising=False)
    _run(suite, capsys)
    assert "Unchanged since run" in _run(suite, capsys)[1]
    monkeypatch.syspath_prepend(str(folder / "lib_b"))
    del sys.modules["mychecks"]  # as a new `harness run` process has it
    assert "Unchanged since run" not in _run(suite, capsys)[1]


def test_a_replay_writes_its_report_where_a_run_from_here_would(
    suite: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(suite, capsys)
    (run_id,) = _runs(suite)
    elsewhere = suite.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, again = _run(suite, capsys)
    assert code == 0 and "Unchanged since run" in again
    assert f"Report: reports/{run_id}.html" in again
    assert (elsewhere / "reports" / f"{run_id}.html").is_file()


def test_a_checks_file_symlink_pointed_at_other_code_runs_again(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = suite.parent
    (folder / "checks.py").rename(folder / "checks_v1.py")
    (folder / "checks_v2.py").write_text(CHECKS.replace("<= LIMIT", "< 5"))
    (folder / "checks.py").symlink_to("checks_v1.py")
    _run(suite, capsys)
    assert "Unchanged since run" in _run(suite, capsys)[1]
    (folder / "checks.py").unlink()
    (folder / "checks.py").symlink_to("checks_v2.py")
    code, again = _run(suite, capsys)
    assert "Unchanged since run" not in again and code == 1  # "Paris" fails the new check


def test_a_broken_replay_record_or_a_deleted_run_only_means_running(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    _run(suite, capsys)
    cache = sqlite3.connect(suite.parent / "home" / "cache.db")
    with cache:
        cache.execute("UPDATE replays SET run = '{not json'")
    code, again = _run(suite, capsys)
    assert code == 0 and "Unchanged since run" not in again and len(_runs(suite)) == 2
    (record,) = cache.execute("SELECT run FROM replays").fetchone()
    named = json.loads(record)["run_id"]
    store = sqlite3.connect(suite.parent / "home" / "results.db")
    with store:  # the run the replay names is gone from the store
        store.execute("DELETE FROM results WHERE run_id = ?", (named,))
        store.execute("DELETE FROM runs WHERE run_id = ?", (named,))
    code, again = _run(suite, capsys)
    assert (code, "Unchanged since run" in again, len(_runs(suite))) == (0, False, 2), again


def test_an_unreadable_cache_is_a_note_not_a_traceback(
    suite: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.runner.cache import ResponseCache

    _run(suite, capsys)

    def unreadable(self: ResponseCache, key: str) -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(ResponseCache, "get_replay", unreadable)
    code, again = _run(suite, capsys)
    assert code == 0 and "not replayed: OSError: disk I/O error" in again
    assert len(_runs(suite)) == 2


def test_a_no_cache_run_is_kept_and_replayed_by_the_next_plain_run(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-cache asks afresh and caches what it got: the next plain run would only repeat it."""
    _run(suite, capsys, "--no-cache")
    (run_id,) = _runs(suite)
    assert f"Unchanged since run {run_id}" in _run(suite, capsys)[1]


def test_a_run_scored_by_an_embedder_is_not_kept(
    suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An embedder's weights are not among the inputs: its scores are computed each run."""
    from tests.fakeserver import FakeOpenAIServer

    with FakeOpenAIServer() as url:
        emb = f"{{id: emb, type: openai, model: e, base_url: {url}, api_key_env: null}}"
        embedder = f"embeddings:\n  - {emb}\n"
        similar = "    - {type: similar, threshold: 0}\ngates:"
        suite.write_text(embedder + SUITE.replace("gates:", similar))
        for _ in range(2):
            code, again = _run(suite, capsys)
            assert code == 0 and "Unchanged since run" not in again, again
    assert len(_runs(suite)) == 2
