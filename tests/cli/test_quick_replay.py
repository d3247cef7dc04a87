"""The same `harness run` command again, nothing changed: the replay's output is printed
from its record before the CLI loads (harness/quick_replay.py). Whatever it cannot check
by a file's stamp goes the long way (harness/replay.py), which may still replay."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import harness.cli
from harness.__main__ import main
from harness.results.store import ResultStore
from tests.cli.test_replay import ROWS, _write_rows

SUITE = """name: quick
prompts:
  - {id: v1, template: "Q: {{ q }}"}
providers:
  - {id: stored, type: outputs, column: out}
cases:
  file: rows.jsonl
  expected: expected
defaults:
  assert:
    - {type: exact}
gates:
  - min_pass_rate: 0.5
"""


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suite.yaml").write_text(SUITE)
    _write_rows(tmp_path, ROWS)
    return tmp_path / "suite.yaml"


class Command:
    """`harness ...` as the console script runs it; tells whether the CLI was loaded."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys, self.cli_calls = capsys, 0
        cli_main = harness.cli.main

        def counted(argv: list[str] | None = None) -> int:
            self.cli_calls += 1
            return cli_main(argv)

        monkeypatch.setattr(harness.cli, "main", counted)

    def __call__(self, *argv: str) -> tuple[int, str, bool]:
        """Exit code, output (stdout + stderr), and whether it was a quick replay."""
        before, environment = self.cli_calls, dict(os.environ)
        try:
            code = main(list(argv))
        finally:  # as the next command, a process of its own, finds it (.env files read)
            os.environ.clear()
            os.environ.update(environment)
        captured = self.capsys.readouterr()
        return code, captured.out + captured.err, self.cli_calls == before


@pytest.fixture
def harness_cmd(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Command:
    return Command(capsys, monkeypatch)


def _runs(suite: Path) -> list[str]:
    return [r.run_id for r in ResultStore(suite.parent / "home" / "results.db").list_runs()]


def test_the_same_command_again_prints_the_replay_as_the_long_way_does(
    suite: Path, harness_cmd: Command, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first, quick = harness_cmd("run", "suite.yaml")
    assert (code, quick) == (0, False) and "Running run" in first
    code, again, quick = harness_cmd("run", "suite.yaml")
    assert (code, quick) == (0, True)
    (run_id,) = _runs(suite)
    assert f"Unchanged since run {run_id}" in again and "PASS gates[0]" in again
    assert f"Report: reports/{run_id}.html" in again
    assert harness.cli.main(["run", "suite.yaml"]) == 0  # the long way: same text
    long = capsys.readouterr()
    assert long.out + long.err == again
    assert harness_cmd("run", "suite.yaml")[1:] == (again, True)  # and again
    assert _runs(suite) == [run_id]


def test_a_failing_gate_replays_with_its_exit_code(suite: Path, harness_cmd: Command) -> None:
    suite.write_text(SUITE.replace("min_pass_rate: 0.5", "min_pass_rate: 0.9"))
    assert harness_cmd("run", "suite.yaml")[0] == 1
    code, again, quick = harness_cmd("run", "suite.yaml")
    assert (code, quick) == (1, True) and "FAIL gates[0]" in again


def test_a_quick_replay_loads_neither_the_store_nor_the_cli(suite: Path) -> None:
    """As a user runs it: a process of its own, through the console script's entry point."""
    probe = (
        "import sys; from harness.__main__ import main; code = main(['run', 'suite.yaml']); "
        "heavy = ('sqlalchemy', 'pydantic', 'rich', 'harness.cli', 'yaml', 'jinja2'); "
        "print('loaded:', [m for m in heavy if m in sys.modules], file=sys.stderr); "
        "sys.exit(code)"
    )
    env = {**os.environ}

    def run() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", probe]
        return subprocess.run(command, cwd=suite.parent, env=env, capture_output=True, text=True)

    first, again = run(), run()
    assert first.returncode == again.returncode == 0, first.stderr
    assert "Running run" in first.stderr and "Unchanged since run" in again.stderr
    assert "loaded: []" in again.stderr, again.stderr


def test_one_pipe_for_both_streams_gets_them_in_the_long_way_s_order(suite: Path) -> None:
    """`harness run ... 2>&1` (a CI log): a failing gate's lines go to stdout and stderr."""
    suite.write_text(SUITE.replace("min_pass_rate: 0.5", "min_pass_rate: 0.9"))
    env, folder = {**os.environ}, suite.parent

    def run(*code: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, *(code or ("-m", "harness")), "run", "suite.yaml"]
        options = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        return subprocess.run(command, cwd=folder, env=env, **options)  # type: ignore[call-overload]

    assert run().returncode == 1
    quick = run()
    long = run("-c", "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))")
    assert quick.returncode == long.returncode == 1
    assert "Unchanged since run" in quick.stdout and quick.stdout == long.stdout


def test_a_dotenv_file_is_checked_as_the_run_read_it(suite: Path, harness_cmd: Command) -> None:
    dotenv = suite.parent / ".env"
    dotenv.write_text("SOME_KEY=1\n")
    harness_cmd("run", "suite.yaml")
    assert harness_cmd("run", "suite.yaml")[2]
    dotenv.write_text("SOME_KEY=2\n")
    assert not harness_cmd("run", "suite.yaml")[2]


@pytest.mark.parametrize("change", ["dataset", "environment", "another run", "report", ".env"])
def test_anything_it_read_or_ran_under_that_moved_goes_the_long_way(
    suite: Path, harness_cmd: Command, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    harness_cmd("run", "suite.yaml")
    (run_id,) = _runs(suite)
    folder = suite.parent
    replays = True  # the long way still finds the run unchanged
    if change == "dataset":
        _write_rows(folder, [ROWS[0], {**ROWS[1], "out": "Oslo"}, ROWS[2]])
        replays = False
    elif change == "environment":
        monkeypatch.setenv("SOME_OTHER_SETTING", "1")  # the whole environment is checked
    elif change == "another run":  # the store moved: the long way checks it
        (folder / "other.yaml").write_text(SUITE.replace("name: quick", "name: other"))
        assert harness_cmd("run", "other.yaml")[0] == 0
    elif change == "report":
        (folder / "reports" / f"{run_id}.html").unlink()
    else:
        (folder / ".env").write_text("SOME_KEY=1\n")
    code, again, quick = harness_cmd("run", "suite.yaml")
    assert (code, quick) == (0, False)
    assert ("Unchanged since run" in again) is replays, again
    assert (folder / "reports" / f"{run_id}.html").is_file()
    assert harness_cmd("run", "suite.yaml")[2]  # the long replay kept its record too


def test_a_changed_baseline_is_checked_the_long_way(suite: Path, harness_cmd: Command) -> None:
    assert harness_cmd("run", "suite.yaml")[0] == 0
    (run_id,) = _runs(suite)
    assert harness.cli.main(["baseline", "save", run_id, "-o", "base.json"]) == 0
    suite.write_text(SUITE.replace("min_pass_rate: 0.5", "{baseline: base.json, metric: exact}"))
    harness_cmd("run", "suite.yaml")
    _, before, quick = harness_cmd("run", "suite.yaml")
    assert quick and "gates[0]" in before  # with the baseline as it was
    base = suite.parent / "base.json"
    base.write_text(base.read_text().replace('"exact": 0.0', '"exact": 1.0'))
    _, again, quick = harness_cmd("run", "suite.yaml")
    assert not quick and "Unchanged since run" in again
    gate_line = [line for line in again.splitlines() if "gates[0]" in line]
    assert gate_line and gate_line[0] not in before, again


@pytest.mark.parametrize("options", [["--rerun"], ["--no-cache"]])
def test_commands_that_run_are_never_quick(
    suite: Path, harness_cmd: Command, options: list[str]
) -> None:
    for _ in range(2):
        code, output, quick = harness_cmd("run", "suite.yaml", *options)
        assert (code, quick) == (0, False) and "Running run" in output
    assert len(_runs(suite)) == 2


def test_what_it_cannot_check_by_stamps_is_not_kept(suite: Path, harness_cmd: Command) -> None:
    """CI files are written by each command; a Python module's name imports what the path
    finds (see harness/replay.py): both go the long way every time."""
    harness_cmd("run", "suite.yaml", "--junit-xml", "j.xml")
    code, again, quick = harness_cmd("run", "suite.yaml", "--junit-xml", "j.xml")
    assert (code, quick) == (0, False) and "Unchanged since run" in again
    (suite.parent / "checks.py").write_text("def short(output, case):\n    return True\n")
    check = "    - {type: python, file: checks.py, function: short}\ngates:"
    suite.write_text(SUITE.replace("gates:", check))
    for _ in range(3):
        code, output, quick = harness_cmd("run", "suite.yaml")
        assert (code, quick) == (0, False)
    assert "Unchanged since run" in output


def test_an_unreadable_record_goes_the_long_way(suite: Path, harness_cmd: Command) -> None:
    harness_cmd("run", "suite.yaml")
    cache = sqlite3.connect(suite.parent / "home" / "cache.db")
    with cache:
        cache.execute("UPDATE replays SET run = '{not json'")
    cache.close()
    code, again, quick = harness_cmd("run", "suite.yaml")
    assert (code, quick) == (0, False) and "Running run" in again  # both records broken
    assert harness_cmd("run", "suite.yaml")[2]
