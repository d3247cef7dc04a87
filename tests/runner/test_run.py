"""The runner end to end against a real OpenAI-compatible server on 127.0.0.1 with faults."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from harness.api import run_suite
from harness.cli import main
from harness.errors import AuthError
from harness.results.store import ResultStore
from tests.fakeserver import FakeOpenAIServer, Fault

KEY_ENV = "HARNESS_TEST_API_KEY"
SECRET = "test-secret-4f9a2c7e1b"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.chdir(tmp_path)


def write_suite(
    tmp_path: Path,
    base_url: str,
    n: int,
    *,
    prompts: int = 1,
    concurrency: int = 8,
    extra: str = "",
) -> Path:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"q": f"question {i}"}) + "\n" for i in range(n)))
    prompt_yaml = "".join(
        f"  - id: p{p}\n    template: 'P{p} {{{{ q }}}}'\n" for p in range(prompts)
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""name: runner-test
prompts:
{prompt_yaml}providers:
  - id: api
    type: openai
    model: test-model
    base_url: {base_url}
    api_key_env: {KEY_ENV}
    concurrency: {concurrency}
    backoff: 0.01
    timeout: 2
{extra}
cases:
  file: rows.jsonl
defaults:
  assert:
    - type: contains
      value: ECHO
"""
    )
    return suite


def keys(n: int, prompt: int = 0) -> list[str]:
    return [f"P{prompt} question {i}" for i in range(n)]


def test_every_fault_is_retried_and_no_success_is_requested_twice(tmp_path: Path) -> None:
    faults = {
        "P0 question 0": [Fault.http(429, {"Retry-After": "0.05"}), 500, "truncated"],
        "P0 question 1": ["drop", 503, "html"],
        "P0 question 2": ["no_choices", Fault.http(502), Fault.http(429)],
        "P0 question 3": [Fault("hang", delay=5)],
    }
    server = FakeOpenAIServer(faults=faults, fault_rate=0.3, seed=7, max_random_faults_per_key=3)
    with server as url:
        outcome = run_suite(write_suite(tmp_path, url, 40, extra="    max_retries: 8"))
    assert outcome.run.status == "complete"
    assert len(outcome.results) == 40
    assert all(r.error is None and r.passed for r in outcome.results)
    assert sorted(server.success_counts) == sorted(keys(40))
    assert set(server.success_counts.values()) == {1}
    assert outcome.stats.retries == sum(server.fault_counts.values())
    assert server.fault_counts["429"] >= 2 and server.fault_counts["drop"] >= 1


def test_retries_exhausted_records_the_error_and_moves_on(tmp_path: Path) -> None:
    server = FakeOpenAIServer(faults={"P0 question 1": [500, 500, 500]})
    with server as url:
        outcome = run_suite(write_suite(tmp_path, url, 3, extra="    max_retries: 2"))
    by_row = {r.vars["q"]: r for r in outcome.results}
    assert "500" in (by_row["question 1"].error or "")
    assert by_row["question 1"].passed is False and by_row["question 1"].scores == []
    assert by_row["question 0"].passed and by_row["question 2"].passed


def test_permanent_error_fails_the_case_without_retrying(tmp_path: Path) -> None:
    server = FakeOpenAIServer(faults={"P0 question 0": [400]})
    with server as url:
        outcome = run_suite(write_suite(tmp_path, url, 2))
    failed = [r for r in outcome.results if r.error]
    assert len(failed) == 1 and "400" in failed[0].error
    assert sum(1 for r in server.requests if r.key == "P0 question 0") == 1


def test_wrong_key_stops_the_run_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    server = FakeOpenAIServer(expected_api_key="the-right-key")
    with server as url:
        suite = write_suite(tmp_path, url, 50, concurrency=4)
        with pytest.raises(AuthError):
            run_suite(suite)
        assert len(server.requests) <= 4  # one per worker at most, then the run stops
        assert main(["run", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err and SECRET not in err


def test_rerun_makes_zero_requests_and_no_cache_bypasses(tmp_path: Path) -> None:
    server = FakeOpenAIServer()
    with server as url:
        suite = write_suite(tmp_path, url, 10, prompts=2)
        first = run_suite(suite)
        assert len(server.requests) == 20 and first.stats.cached == 0
        second = run_suite(suite)
        assert len(server.requests) == 20, "a finished suite re-ran requests"
        assert second.run.run_id != first.run.run_id
        assert second.stats.cached == 20 and all(r.cached for r in second.results)
        assert [r.output for r in sorted(second.results, key=lambda r: r.case_id)] == [
            r.output for r in sorted(first.results, key=lambda r: r.case_id)
        ]
        third = run_suite(suite, use_cache=False)
        assert len(server.requests) == 40 and third.stats.cached == 0


def test_cache_key_ignores_operational_settings_but_not_the_model(tmp_path: Path) -> None:
    server = FakeOpenAIServer()
    with server as url:
        run_suite(write_suite(tmp_path, url, 3))
        run_suite(write_suite(tmp_path, url, 3, concurrency=1, extra="    max_retries: 1"))
        assert len(server.requests) == 3
        suite = write_suite(tmp_path, url, 3)
        suite.write_text(suite.read_text().replace("test-model", "other-model"))
        run_suite(suite)
        assert len(server.requests) == 6


def test_api_key_never_written_anywhere(tmp_path: Path) -> None:
    server = FakeOpenAIServer(faults={"P0 question 0": [Fault.http(401)]})
    with server as url:
        suite = write_suite(tmp_path, url, 5)
        with pytest.raises(AuthError):
            run_suite(suite)
        server.requests.clear()
        outcome = run_suite(suite)
        assert main(["report", outcome.run.run_id, "-o", str(tmp_path / "r.html")]) == 0
        assert main(["export", outcome.run.run_id, "--format", "jsonl", "-o", "x.jsonl"]) == 0
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"API key written to {path}"


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _start_cli(suite: Path, tmp_path: Path, stderr: IO[bytes]) -> subprocess.Popen:
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(suite)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def _wait_for_results(db: Path, at_least: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while _stored(db) < at_least:
        assert proc.poll() is None, (db.parent.parent / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill-9", "ctrl-c", "sigterm"]
)
def test_interrupted_run_resumes_without_repeating_finished_calls(
    tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "home" / "results.db"
    server = FakeOpenAIServer(latency=0.05)
    with server as url:
        suite = write_suite(tmp_path, url, 60, concurrency=4)
        with (tmp_path / "stderr.txt").open("wb") as stderr:
            proc = _start_cli(suite, tmp_path, stderr)
            _wait_for_results(db, 8, proc)
            proc.send_signal(sig)
            code = proc.wait(timeout=30)
        store = ResultStore(db)
        (run,) = store.list_runs()
        finished_before = {r.vars["q"] for r in store.results(run.run_id)}
        if sig != signal.SIGKILL:
            assert code == (130 if sig == signal.SIGINT else 143)
            assert run.status == "interrupted"
            stderr_text = (tmp_path / "stderr.txt").read_text()
            assert "resume" in stderr_text and "Traceback" not in stderr_text
        assert 8 <= len(finished_before) < 60
        outcome = run_suite(suite)
    assert outcome.resumed and outcome.run.run_id == run.run_id
    assert outcome.run.status == "complete" and len(outcome.results) == 60
    assert all(r.passed for r in outcome.results)
    for q in finished_before:
        assert server.success_counts[f"P0 {q}"] == 1, f"{q} was requested again after it finished"


#: The CLI with result batches that never commit before the run ends: a kill lands between
#: each answer's cache write and its result's commit.
NEVER_COMMITTING_CLI = """
import sys
from harness.runner import writer
writer.MAX_CASES, writer.MAX_DELAY = 10**9, 10.0**9
from harness.cli import main
sys.exit(main(["run", sys.argv[1]]))
"""


def _cached_answers(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_kill_between_cache_write_and_batch_commit_repeats_no_call(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = FakeOpenAIServer(latency=0.05)
    with server as url:
        suite = write_suite(tmp_path, url, 60, concurrency=4)
        env = {**os.environ, "HARNESS_HOME": str(home)}
        proc = subprocess.Popen(
            [sys.executable, "-c", NEVER_COMMITTING_CLI, str(suite)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while _cached_answers(home / "cache.db") < 8:
            assert proc.poll() is None and time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=30)
        cached = _cached_answers(home / "cache.db")
        assert _stored(home / "results.db") == 0  # every finished case was still in the batch
        outcome = run_suite(suite)
    assert outcome.resumed and outcome.run.status == "complete" and len(outcome.results) == 60
    # The lost batch comes from the cache: only the cases never answered are asked again.
    assert outcome.stats.cached == cached and outcome.stats.requests == 60 - cached


def test_resume_by_run_id_and_unknown_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with FakeOpenAIServer() as url:
        suite = write_suite(tmp_path, url, 4)
        first = run_suite(suite)
        again = run_suite(suite, resume=first.run.run_id[:10])
        assert again.run.run_id == first.run.run_id and again.stats.finished == 0
    assert main(["report", "no-such-run"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    server = FakeOpenAIServer(latency=0.05)
    with server as url:
        run_suite(write_suite(tmp_path, url, 40, concurrency=5))
    assert server.max_in_flight == 5


def test_requests_per_minute_limit(tmp_path: Path) -> None:
    server = FakeOpenAIServer()
    with server as url:
        started = time.monotonic()
        run_suite(write_suite(tmp_path, url, 40, extra="    rpm: 1200"))
        elapsed = time.monotonic() - started
    # 1200 rpm = 20 per second after a burst of one second's worth: 40 requests need >= 1 s.
    assert elapsed >= 0.95


def test_usage_latency_and_cost_recorded(tmp_path: Path) -> None:
    server = FakeOpenAIServer(latency=0.02)
    with server as url:
        suite = write_suite(
            tmp_path, url, 3, extra="    prices: {input_per_1m: 1.0, output_per_1m: 2.0}"
        )
        outcome = run_suite(suite)
    for r in outcome.results:
        assert r.prompt_tokens and r.completion_tokens
        assert r.latency_s is not None and r.latency_s >= 0.02
        expected = (r.prompt_tokens * 1.0 + r.completion_tokens * 2.0) / 1e6
        assert r.cost_usd == pytest.approx(expected)
        assert r.scores[0].version.startswith("contains")
