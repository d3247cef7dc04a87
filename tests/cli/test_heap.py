"""The `harness` command loads with the garbage collector off and freezes what it loaded
before a command's work; the library, and the CLI's `main` called with its arguments in a
process of its own making (a test), leave the collector as they found it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from harness.__main__ import main as command_main
from harness.cli import main
from harness.heap import loading_modules, settle_heap

#: Runs the command in a fresh process and says what the collector was doing at the
#: command's start and after it.
PROBE = """
import gc, sys
from harness import cli

dispatched = cli._cmd_run, cli._cmd_validate
seen = {}

def probe(command):
    def probed(args):
        seen["frozen"] = gc.get_freeze_count()
        seen["on"] = gc.isenabled()
        return command(args)
    return probed

cli._cmd_run, cli._cmd_validate = map(probe, dispatched)
from harness.__main__ import main
code = main()  # as the console script calls it: argv from sys.argv
print(code, seen["frozen"] > 10_000, seen["on"], gc.isenabled(), gc.get_freeze_count() > 10_000)
"""


def _probe(tmp_path: Path, *argv: str) -> str:
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\n")[-2]


def test_a_command_loads_with_the_collector_off_and_works_with_it_on(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("name: [unclosed\n")
    # validate: settled before dispatch (frozen, on when the command starts)
    assert _probe(tmp_path, "validate", "suite.yaml") == "2 True True True True"
    # run: off when it starts (its store's modules still load), settled inside, on after
    assert _probe(tmp_path, "run", "suite.yaml") == "2 False False True True"


def test_settle_outside_the_command_changes_nothing(tmp_path: Path) -> None:
    frozen = gc.get_freeze_count()
    settle_heap()
    (tmp_path / "suite.yaml").write_text("name: [unclosed\n")
    assert main(["validate", str(tmp_path / "suite.yaml")]) == 2
    assert command_main(["validate", str(tmp_path / "suite.yaml")]) == 2  # argv passed in
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_loading_restores_the_collector() -> None:
    frozen = gc.get_freeze_count()
    with loading_modules():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == frozen  # never settled: nothing frozen
    gc.disable()
    try:
        with loading_modules():
            settle_heap()
            settle_heap()  # the second time is a no-op
            assert gc.isenabled()
        assert gc.isenabled()  # on since settle(), whatever it was before
    finally:
        gc.unfreeze()
        gc.enable()
