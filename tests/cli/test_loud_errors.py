"""A run must never look green when it is not: errored calls, locks, baselines, odd text."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sqlalchemy

from harness.api import run_suite
from harness.cli import main
from harness.errors import StoreError
from harness.results.store import ResultStore
from tests.fakeserver import FakeOpenAIServer


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def _dead_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_suite(tmp_path: Path, base_url: str, n: int = 3, extra: str = "") -> Path:
    suite = tmp_path / "suite.yaml"
    cases = "".join(
        f"  - {{id: c{i}, vars: {{q: 'question {i}'}}, expected: x}}\n" for i in range(n)
    )
    suite.write_text(
        f"""name: loud
prompts:
  - id: p
    template: "{{{{ q }}}}"
providers:
  - id: api
    type: openai
    model: m
    base_url: {base_url}
    api_key_env: null
    max_retries: 0
    timeout: 5
cases:
{cases}defaults:
  assert: [{{type: contains, value: x}}]
{extra}"""
    )
    return suite


def test_every_call_failing_is_loud_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = api_suite(tmp_path, f"http://127.0.0.1:{_dead_port()}/v1", n=4)
    code = main(
        ["run", str(suite), "--junit-xml", "j.xml", "--summary-md", "s.md", "--report", "r.html"]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "4 of 4 cases errored (100.0%), over max_error_rate 0" in captured.err
    assert "4 cases errored: TransientProviderError: connection failed" in captured.err
    assert "(api)" in captured.err
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert root.get("errors") == "4"
    budget = [c for c in root.iter("testcase") if c.get("name") == "max_error_rate"]
    assert len(budget) == 1 and budget[0].find("failure") is not None
    md = (tmp_path / "s.md").read_text()
    assert "❌" in md and "4 errors" in md and "max_error_rate" in md

    assert main(["runs"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "loud" in line)
    assert " 4 " in row and "0.0%" in row


def test_max_error_rate_allows_some_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = api_suite(
        tmp_path, f"http://127.0.0.1:{_dead_port()}/v1", n=2, extra="max_error_rate: 1.0\n"
    )
    assert main(["run", str(suite), "--report", "r.html"]) == 0
    err = capsys.readouterr().err
    assert "2 of 2 cases errored (100.0%), within max_error_rate 1" in err


@pytest.mark.parametrize("bad", ["1.5", "-0.1", ".nan", "yes"])
def test_max_error_rate_must_be_a_share(tmp_path: Path, bad: str) -> None:
    suite = api_suite(tmp_path, "http://127.0.0.1:1/v1", extra=f"max_error_rate: {bad}\n")
    assert main(["validate", str(suite)]) == 2


def test_a_clean_run_adds_no_error_check(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=lambda body: "x") as url:
        suite = api_suite(tmp_path, url)
        assert main(["run", str(suite), "--junit-xml", "j.xml", "--report", "r.html"]) == 0
    names = [c.get("name") for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")]
    assert "max_error_rate" not in names


def test_runs_pass_rate_counts_only_the_suites_own_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kept.yaml").write_text(
        "cases:\n"
        + "".join(f"  - {{id: b{i}, vars: {{out: no}}, expected: x}}\n" for i in range(4))
    )
    suite = tmp_path / "own.yaml"
    suite.write_text(
        """name: own
prompts: [{id: p, template: "q"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - {id: c1, vars: {out: x}, expected: x}
  - {id: c2, vars: {out: no}, expected: x}
bad_cases: [{name: kept, file: kept.yaml}]
defaults: {assert: [{type: exact}]}
"""
    )
    main(["run", str(suite), "--report", "r.html"])
    capsys.readouterr()
    main(["runs"])
    row = next(line for line in capsys.readouterr().out.splitlines() if "own" in line)
    assert "50.0%" in row  # 1 of the 2 own cases; the 4 failing bad cases are shown apart


def test_second_process_cannot_run_the_same_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.2, responder=lambda body: "x") as url:
        suite = api_suite(tmp_path, url, n=40)
        text = suite.read_text().replace("timeout: 5", "timeout: 5\n    concurrency: 1")
        suite.write_text(text)
        env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
        first = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", str(suite)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            store = _wait_for_run(tmp_path / "home" / "results.db", first)
            with pytest.raises(StoreError, match="is being run by process"):
                run_suite(suite, store=store)
        finally:
            first.terminate()
            first.wait(timeout=30)
            assert first.stderr is not None
            first.stderr.close()
        # the first process is gone: its lock no longer holds the run
        outcome = run_suite(suite, store=ResultStore(tmp_path / "home" / "results.db"))
    assert outcome.resumed and len(outcome.results) == 40


def _wait_for_run(db: Path, proc: subprocess.Popen[bytes]) -> ResultStore:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the first run never started"
        if db.exists():
            store = ResultStore(db)
            if store.list_runs() and store.results(store.list_runs()[0].run_id):
                return store
            store.close()
        time.sleep(0.05)


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.db")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(dead.stdout)
    with store.engine.begin() as c:
        c.execute(
            sqlalchemy.text("INSERT INTO run_locks VALUES ('r1', :owner, 't')"),
            {"owner": f"{socket.gethostname()}:{pid}:1"},
        )
    store.lock_run("r1")  # no error: that process no longer exists
    store.unlock_run("r1")
    with store.engine.connect() as c:
        assert c.scalar(sqlalchemy.text("SELECT count(*) FROM run_locks")) == 0


def test_validate_checks_gate_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = api_suite(
        tmp_path, "http://127.0.0.1:1/v1", extra="gates:\n  - baseline: b/base.json\n"
    )
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "suite.yaml:" in err and "baseline file not found" in err and "Traceback" not in err

    other = tmp_path / "other.yaml"
    other.write_text(
        suite.read_text()
        .replace("name: loud", "name: other")
        .replace("gates:\n  - baseline: b/base.json\n", "")
    )
    with FakeOpenAIServer(responder=lambda body: "x") as url:
        other.write_text(other.read_text().replace("http://127.0.0.1:1/v1", url))
        outcome = run_suite(other)
    assert main(["baseline", "save", outcome.run.run_id, "-o", str(tmp_path / "b/base.json")]) == 0
    assert "baseline: b/base.json  # relative to the suite file" in capsys.readouterr().out
    assert main(["validate", str(suite)]) == 2
    assert "was saved from suite 'other', not 'loud'" in capsys.readouterr().err


def test_baseline_snippet_is_relative_to_the_suite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "suites").mkdir()
    with FakeOpenAIServer(responder=lambda body: "x") as url:
        suite = api_suite(tmp_path, url)
        moved = tmp_path / "suites" / "s.yaml"
        suite.rename(moved)
        outcome = run_suite(moved)
    assert main(["baseline", "save", outcome.run.run_id, "-o", "baselines/s.json"]) == 0
    assert "baseline: ../baselines/s.json" in capsys.readouterr().out


def test_no_cache_skips_reading_but_refreshes_the_cache(tmp_path: Path) -> None:
    server = FakeOpenAIServer(responder=lambda body: "x")
    with server as url:
        suite = api_suite(tmp_path, url, n=2)
        run_suite(suite)
        assert len(server.requests) == 2
        suite.write_text(suite.read_text().replace("name: loud", "name: loud2"))
        run_suite(suite, use_cache=False)
        assert len(server.requests) == 4  # asked again
        suite.write_text(suite.read_text().replace("name: loud2", "name: loud3"))
        run_suite(suite)
        assert len(server.requests) == 4  # and what it got is cached


def test_lone_surrogates_are_stored_losslessly(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from harness.results.models import CaseResult, RunRecord

    store = ResultStore(tmp_path / "r.db")
    now = datetime.now(UTC)
    store.save_run(
        RunRecord(
            run_id="r", suite_name="s\ud800", suite_path="x", suite_hash="h",
            created_at=now, harness_version="0",
        )
    )  # fmt: skip
    result = CaseResult(
        run_id="r", case_id="c", request_key="k", prompt_id="p", provider_id="a", model="m",
        row_id="row", messages=[], output="a\ud800b\udfff", finished_at=now,
    )  # fmt: skip
    store.add_result(result)
    again = ResultStore(tmp_path / "r.db")
    assert again.results("r") == [result]
    assert again.get_run("r").suite_name == "s\ud800"
    assert list(again.iter_fields("r", ["$.output"])) == [["a\ud800b\udfff"]]


def test_compare_prints_terminal_escapes_visibly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "esc.yaml"
    suite.write_text(
        """name: esc
prompts: [{id: p, template: "{{ q }}"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - {id: "evil\\e[31m", vars: {q: a, out: "no"}, expected: "yes"}
defaults: {assert: [{type: exact}]}
"""
    )
    first = run_suite(suite)
    suite.write_text(suite.read_text().replace('out: "no"', 'out: "yes"'))
    second = run_suite(suite)
    capsys.readouterr()
    assert main(["compare", first.run.run_id, second.run.run_id, "-o", "c.html"]) == 0
    assert main(["compare", second.run.run_id, first.run.run_id, "-o", "c.html"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[31m" not in out and "evil\\x1b[31m" in out


def _outputs_suite(tmp_path: Path, outputs: list[str]) -> Path:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(json.dumps({"id": f"r{i}", "out": o, "expected": ["a", "b"]}) + "\n"
                for i, o in enumerate(outputs))
    )  # fmt: skip
    suite = tmp_path / "exp.yaml"
    suite.write_text(
        """name: exp
prompts: [{id: p, template: "q"}]
providers: [{id: dump, type: outputs, column: out}]
cases: {file: rows.jsonl, id: id, expected: expected}
defaults: {assert: [{type: rougeL, threshold: 0.1}]}
"""
    )
    return suite


def test_csv_export_neutralises_formulas_and_keeps_odd_text(tmp_path: Path) -> None:
    import pandas as pd

    outputs = ['=HYPERLINK("http://evil","x")', "+1", "@SUM(A1)", "plain", "a\ud800b"]
    outcome = run_suite(_outputs_suite(tmp_path, outputs))
    assert main(["export", outcome.run.run_id, "--format", "csv", "-o", "o.csv"]) == 0
    frame = pd.read_csv(tmp_path / "o.csv").set_index("row_id")
    assert frame.loc["r0", "output"] == "'" + outputs[0]
    assert frame.loc["r1", "output"] == "'+1" and frame.loc["r2", "output"] == "'@SUM(A1)"
    assert frame.loc["r3", "output"] == "plain"
    assert frame.loc["r4", "output"] == "a\\ud800b"
    assert main(["export", outcome.run.run_id, "--format", "parquet", "-o", "o.parquet"]) == 0


def test_jsonl_export_keeps_full_precision_lists_and_surrogates(tmp_path: Path) -> None:
    outcome = run_suite(_outputs_suite(tmp_path, ["a x y z w", "a\ud800"]))
    assert main(["export", outcome.run.run_id, "--format", "jsonl", "-o", "o.jsonl"]) == 0
    lines = (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()
    records = {r["row_id"]: r for r in map(json.loads, lines)}
    stored = {r.row_id: r for r in outcome.results}
    assert records["r1"]["output"] == "a\ud800"  # the JSON escape brings it back exactly
    assert records["r0"]["expected"] == ["a", "b"] and isinstance(records["r0"]["tags"], list)
    assert records["r0"]["score.rougeL"] == stored["r0"].scores[0].value  # not rounded
    assert records["r0"]["score.rougeL"] != round(records["r0"]["score.rougeL"], 10)


def test_validate_needs_no_api_key_and_names_the_unset_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LOUD_TEST_KEY", raising=False)
    suite = api_suite(tmp_path, "http://127.0.0.1:1/v1")
    suite.write_text(suite.read_text().replace("api_key_env: null", "api_key_env: LOUD_TEST_KEY"))
    assert main(["validate", str(suite)]) == 0
    captured = capsys.readouterr()
    assert "3 cases" in captured.out
    assert "$LOUD_TEST_KEY is not set (provider 'api')" in captured.err
    assert main(["run", str(suite)]) == 2  # running does need it
    assert "No LOUD_TEST_KEY in the environment" in capsys.readouterr().err


def test_api_key_from_a_dotenv_file_beside_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "environ", {**os.environ})  # what the .env adds goes with the test
    monkeypatch.delenv("LOUD_TEST_KEY", raising=False)
    canary = "sk-dotenv-canary-5521"
    server = FakeOpenAIServer(responder=lambda body: "x")
    with server as url:
        (tmp_path / "app").mkdir()
        suite = api_suite(tmp_path / "app", url)
        suite.write_text(
            suite.read_text().replace("api_key_env: null", "api_key_env: LOUD_TEST_KEY")
        )
        (tmp_path / "app" / ".env").write_text(f"LOUD_TEST_KEY={canary}\n")
        assert main(["validate", str(suite)]) == 0
        assert "not set" not in capsys.readouterr().err
        assert main(["run", str(suite), "--report", "r.html"]) == 0
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {canary}"}
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert canary not in (tmp_path / "r.html").read_text()


def test_ctrl_c_while_the_cli_loads_prints_no_traceback() -> None:
    # Ctrl-C arrives while `harness` is still importing its command line
    script = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "harness.cli":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
from harness.__main__ import main
sys.exit(main())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 130
    assert proc.stderr.strip() == "interrupted" and "Traceback" not in proc.stderr


def test_a_lone_surrogate_in_a_model_output_runs_scores_and_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeOpenAIServer(responder=lambda body: "x \ud800 y")
    with server as url:
        suite = api_suite(tmp_path, url, n=2)
        args = ["--junit-xml", "j.xml", "--summary-md", "s.md", "--report", "r.html"]
        assert main(["run", str(suite), *args]) == 0
        assert main(["run", str(suite), "--report", "r2.html"]) == 0
    assert len(server.requests) == 2  # the answer was cached: the re-run asked nothing
    store = ResultStore(tmp_path / "home" / "results.db")
    for run in store.list_runs():
        stored = store.results(run.run_id)
        assert {r.output for r in stored} == {"x \ud800 y"} and all(r.passed for r in stored)
    run = store.list_runs()[0].run_id
    assert "\\ud800" in (tmp_path / "r.html").read_text(encoding="utf-8")
    ET.parse(tmp_path / "j.xml")
    (tmp_path / "s.md").read_text(encoding="utf-8")
    assert main(["export", run, "--format", "csv", "-o", "o.csv"]) == 0


def test_validate_needs_no_http_header_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LOUD_APP_TOKEN", raising=False)
    suite = tmp_path / "app.yaml"
    suite.write_text(
        """name: app
prompts: [{id: p, template: "{{ q }}"}]
providers:
  - id: app
    type: http
    url: http://127.0.0.1:1/ask
    headers: {Authorization: "Bearer ${LOUD_APP_TOKEN}", X-Other: {env: LOUD_APP_TOKEN}}
cases: [{vars: {q: hi}, expected: x, assert: [{type: exact}]}]
"""
    )
    assert main(["validate", str(suite)]) == 0
    captured = capsys.readouterr()
    assert "1 cases" in captured.out
    assert captured.err.count("$LOUD_APP_TOKEN is not set (provider 'app')") == 1
    assert main(["run", str(suite)]) == 2
    assert "No LOUD_APP_TOKEN in the environment" in capsys.readouterr().err


def test_a_lone_surrogate_in_ids_and_error_messages_is_summarised(tmp_path: Path) -> None:
    from harness.analysis.summary import summarize

    suite = tmp_path / "odd.yaml"
    suite.write_text(
        """name: odd
prompts: [{id: p, template: "q"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - {id: "row\\ud800", vars: {out: x}, expected: x}
  - {id: "other", vars: {}, expected: x}
defaults: {assert: [{type: exact}]}
max_error_rate: 1
"""
    )
    assert main(["run", str(suite), "--report", "r.html", "--summary-md", "s.md"]) == 0
    outcome = run_suite(suite)
    assert {r.row_id for r in outcome.results} == {"row\ud800", "other"}
    summary = summarize(outcome.results)
    assert summary.groups[0].n == 2 and summary.groups[0].n_errors == 1
