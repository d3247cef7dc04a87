"""``type: exec`` with real subprocesses: stdin or argument, JSON stdout, a failing command,
a hung one killed with its children at the timeout, load-time errors."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from harness.api import run_suite
from harness.cli import main
from tests.providers.apps import (  # app_home: a fixture
    app_home,  # noqa: F401
    calls,
    write_suite,
)

pytestmark = pytest.mark.usefixtures("app_home")

#: One script, several behaviours picked by its first argument.
APP = r"""
import json, os, subprocess, sys, time
from pathlib import Path

mode = sys.argv[1]
with open(Path(__file__).with_name("calls.log"), "a") as f:
    f.write(mode + "\n")
if mode == "stdin":
    print("A: " + sys.stdin.read().upper())
elif mode == "arg":
    print("A: " + sys.argv[2])
elif mode == "json":
    data = json.load(sys.stdin)
    roles = [m["role"] for m in data["messages"]]
    print(json.dumps({"answer": "A: " + data["vars"]["q"], "docs": ["d1", "d2"], "roles": roles}))
elif mode == "fail":
    sys.stderr.write("loading the index\n" * 50 + "IndexError: no such shard\n")
    sys.exit(1)
elif mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    Path(__file__).with_name("child.pid").write_text(str(child.pid))
    time.sleep(60)
"""


def _provider(*args: str, **extra: str) -> str:
    command = json.dumps([sys.executable, "app.py", *args])
    keys = "".join(f"  {k}: {v}\n" for k, v in extra.items())
    return f"- id: cli\n  type: exec\n  command: {command}\n{keys}"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path / "calls.log"


def test_prompt_on_stdin(tmp_path: Path, log: Path) -> None:
    outcome = run_suite(write_suite(tmp_path, _provider("stdin"), ["one", "two"]))
    assert sorted(r.output for r in outcome.results) == ["A: Q: ONE", "A: Q: TWO"]
    assert all(r.passed for r in outcome.results) and len(calls(log)) == 2


def test_prompt_as_an_argument_from_a_shell_like_string(tmp_path: Path, log: Path) -> None:
    command = f'{sys.executable} app.py arg "{{{{ prompt }}}}"'
    provider = f"- id: cli\n  type: exec\n  command: '{command}'\n"
    outcome = run_suite(write_suite(tmp_path, provider, ["one two"]))
    assert outcome.results[0].output == "A: Q: one two"


def test_json_stdin_and_stdout_picked_apart(tmp_path: Path, log: Path) -> None:
    provider = _provider("json", stdin="json", response="{output: answer, contexts: docs}")
    outcome = run_suite(write_suite(tmp_path, provider, ["one"]))
    (result,) = outcome.results
    assert result.output == "A: one" and result.contexts == ["d1", "d2"] and result.passed


def test_non_zero_exit_is_an_error_with_the_end_of_stderr(tmp_path: Path, log: Path) -> None:
    provider = _provider("fail", max_retries="3", backoff="0.01")
    outcome = run_suite(write_suite(tmp_path, provider, ["one"]))
    (result,) = outcome.results
    error = result.error or ""
    assert "failed (exit status 1)" in error and error.endswith("IndexError: no such shard")
    assert len(error) < 1200 and result.passed is False
    assert calls(log) == ["fail"]  # a failed command is not retried


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_hung_command_is_killed_with_its_children_at_the_timeout(
    tmp_path: Path, log: Path
) -> None:
    provider = _provider("hang", timeout="1")
    started = time.monotonic()
    outcome = run_suite(write_suite(tmp_path, provider, ["one"]))
    assert time.monotonic() - started < 10
    (result,) = outcome.results
    assert "timed out after 1.0s" in (result.error or "")
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the command's child process outlived the timeout"


def test_cache_and_cache_off(tmp_path: Path, log: Path) -> None:
    suite = write_suite(tmp_path, _provider("stdin"), ["one"])
    run_suite(suite)
    assert run_suite(suite).stats.requests == 0 and len(calls(log)) == 1
    off = write_suite(tmp_path, _provider("stdin", cache="false"), ["one"], name="off.yaml")
    run_suite(off)
    run_suite(off)
    assert len(calls(log)) == 3


def test_editing_the_script_invalidates_the_cache(tmp_path: Path, log: Path) -> None:
    suite = write_suite(tmp_path, _provider("stdin"), ["one"])
    run_suite(suite)
    (tmp_path / "app.py").write_text(APP.replace('"A: " + sys.stdin', '"A! " + sys.stdin'))
    again = run_suite(suite, concurrency=1)
    assert again.results[0].output == "A! Q: ONE" and len(calls(log)) == 2


@pytest.mark.parametrize(
    ("provider", "line", "message"),
    [
        ("- {id: cli, type: exec, command: [no-such-program-x1, a]}", 7, "command not found"),
        ("- {id: cli, type: exec, command: 'app.py \"unclosed'}", 7, "cannot split the command"),
        ("- {id: cli, type: exec, command: [], timeout: 1}", 7, "at least 1 item"),
        (f"- {{id: cli, type: exec, command: [{sys.executable}], cwd: nowhere}}", 7, "cwd is not"),
    ],
    ids=["not-found", "shell-syntax", "empty", "bad-cwd"],
)
def test_bad_commands_are_load_time_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, line: int, message: str
) -> None:
    suite = write_suite(tmp_path, provider, ["one"])
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"suite.yaml:{line}:" in err and message in err and "Traceback" not in err


def test_the_command_runs_in_the_suite_folder(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = write_suite(tmp_path, _provider("stdin"), ["one"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    outcome = run_suite(os.path.relpath(suite, elsewhere))
    assert outcome.results[0].output == "A: Q: ONE"
