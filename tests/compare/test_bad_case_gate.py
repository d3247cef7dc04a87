"""The `bad_cases_stay_fixed` gate: a bad case that passed once must not fail again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main

SUITE = """name: fixed
prompts:
  - id: v1
    template: "{{ q }}"
providers:
  - id: stored
    type: outputs
    column: out
cases:
  - vars: {q: main question, out: right}
    expected: right
bad_cases:
  - name: regressions
    file: bad.yaml
defaults:
  assert: [{type: exact}]
gates:
  - bad_cases_stay_fixed: true
"""


def write(folder: Path, outputs: list[str]) -> Path:
    cases = "".join(
        f"  - id: b{i}\n    vars: {{q: bad {i}, out: {out}}}\n    expected: right\n"
        for i, out in enumerate(outputs)
    )
    (folder / "bad.yaml").write_text("cases:\n" + cases)
    suite = folder / "suite.yaml"
    suite.write_text(SUITE)
    return suite


def test_gate_fails_only_when_a_once_fixed_bad_case_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    # First run: b0 still fails, b1 is fixed. Nothing passed before, so nothing regressed.
    suite = write(tmp_path, ["wrong", "right"])
    assert main(["run", str(suite)]) == 0
    assert "PASS bad cases stay fixed" in capsys.readouterr().out
    # b0 fixed as well, b1 still fixed: passes.
    write(tmp_path, ["right", "right"])
    assert main(["run", str(suite)]) == 0
    # b1 (fixed in both earlier runs) breaks again: the gate fails the run.
    write(tmp_path, ["right", "wrong"])
    assert main(["run", str(suite)]) == 1
    out = capsys.readouterr().out
    failed = out.split("FAIL bad cases stay fixed")[1]
    assert "/ b1: passed in run" in failed and "/ b0:" not in failed


def test_gate_kinds_are_exclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write(tmp_path, ["right"])
    suite.write_text(
        SUITE.replace(
            "bad_cases_stay_fixed: true", "bad_cases_stay_fixed: true\n    min_pass_rate: 1"
        )
    )
    assert main(["validate", str(suite)]) == 2
    assert "exactly one of" in capsys.readouterr().err
