"""End to end: a server that echoes the API key in every kind of reply never gets the key into
the results store, the cache, a report, JUnit, the Markdown summary, the logs or stderr."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from harness.api import run_suite
from harness.ci.junit import write_junit
from harness.ci.summary_md import write_summary_md
from harness.cli import main
from harness.report.html import write_report
from tests.fakeserver import FakeOpenAIServer, Fault
from tests.leaks import assert_no_key, assert_no_key_in_files

KEY_ENV = "HARNESS_CANARY_KEY"
CANARY = "sk-canary-7f3e9b2d41c8a6"
#: One row per kind of broken reply; the rows after them are answered.
FAULTS = ["no_choices", "truncated", "html", "sse", 500, 503, 429, 400, 404, 422]
JUDGE_FAULTS = ["no_choices", "truncated", "html", "sse", 500, 400, Fault.http(429)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(KEY_ENV, CANARY)
    monkeypatch.chdir(tmp_path)


def write_suite(tmp_path: Path, url: str, judge_url: str, n: int) -> Path:
    rows = "".join(json.dumps({"q": f"question {i}", "gold": "ECHO"}) + "\n" for i in range(n))
    (tmp_path / "rows.jsonl").write_text(rows)
    openai = f"type: openai\n    api_key_env: {KEY_ENV}\n    max_retries: 0\n    backoff: 0.01"
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""name: leaky
prompts:
  - id: p
    template: "{{{{ q }}}}"
providers:
  - id: api
    {openai}
    model: m
    base_url: {url}
judges:
  - id: judge
    {openai}
    model: j
    base_url: {judge_url}
embeddings:
  - id: emb
    type: openai
    model: e
    base_url: {url}
    api_key_env: {KEY_ENV}
cases:
  file: rows.jsonl
  expected: gold
  assert:
    - type: contains
      value: ECHO
    - type: judge
      rubric: accuracy
      question_var: null
      reference: false
    - type: similar
"""
    )
    return suite


def test_an_echoed_key_reaches_no_file_no_log_and_no_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and the HTTP client's debug logs too
    n = len(FAULTS) + 2
    faults = {f"question {i}": [f] for i, f in enumerate(FAULTS)}
    server = FakeOpenAIServer(echo_auth=True, faults=faults)
    judge = FakeOpenAIServer(echo_auth=True, fault_rate=1.0, random_faults=JUDGE_FAULTS)
    with server as url, judge as judge_url:
        outcome = run_suite(write_suite(tmp_path, url, judge_url, n))
        # A 401 stops a run: its message quotes the key the server was sent.
        server.expected_api_key = "sk-someone-else"
        suite = str(tmp_path / "suite.yaml")
        code = main(["run", suite, "--no-cache", "--report", str(tmp_path / "cli.html")])
    assert code == 2
    errors = {r.vars["q"]: r.error for r in outcome.results if r.error}
    assert len(errors) == len(FAULTS)  # every broken reply was a case error, quoting the echo
    for i, fault in enumerate(FAULTS):  # scrubbed (a JSON decode error quotes nothing)
        assert fault == "truncated" or "***" in errors[f"question {i}"], errors[f"question {i}"]
    judged = [s for r in outcome.results for s in r.scores if s.scorer == "judge"]
    assert len(judged) == 2 and all(s.error for s in judged)  # the judge failed every time
    similar = [s for r in outcome.results for s in r.scores if s.scorer == "similar"]
    assert len(similar) == 2 and all(s.error is None for s in similar)
    reports = tmp_path / "reports"
    write_report(outcome.run, outcome.results, reports / "run.html")
    write_junit(outcome.run, outcome.results, reports / "junit.xml")
    write_summary_md(outcome.run, outcome.results, reports / "summary.md")
    assert (tmp_path / "home" / "cache.db").exists()
    assert_no_key_in_files(tmp_path, CANARY)  # results.db, cache.db (and WAL), every report
    captured = capfd.readouterr()
    assert "***" in captured.err  # the CLI printed the 401, scrubbed
    for text in (captured.out, captured.err, caplog.text):
        assert_no_key(text, CANARY)
