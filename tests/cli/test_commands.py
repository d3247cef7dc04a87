"""The CLI end to end on a suite of stored outputs (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main

SUITE = """name: cli-test
prompts:
  - id: v1
    template: "Q: {{ q }}"
  - id: v2
    template: "Question: {{ q }}"
providers:
  - id: dump
    type: outputs
    column: out
cases:
  - vars: {q: "capital of France", out: "Paris"}
    expected: Paris
    tags: [geo]
  - vars: {q: "2+2", out: "<script>alert(1)</script> 5"}
    expected: ["4", "four"]
    tags: [math]
defaults:
  assert:
    - type: exact
    - type: rougeL
"""


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def run_id(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    return err.split("run ", 1)[1].split()[0]


def test_run_prints_summary_and_writes_report(suite: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", str(suite)]) == 0
    captured = capsys.readouterr()
    assert "4 cases run" in captured.err
    assert "pass rate" in captured.out and "50.0%" in captured.out
    report = Path(captured.out.split("Report: ")[1].split()[0])
    html = report.read_text()
    assert "<script>alert(1)</script>" not in html and "cli-test" in html


def test_validate_counts_cases_without_running(suite: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", str(suite)]) == 0
    assert "2 prompt version(s) x 1 provider(s), 4 cases" in capsys.readouterr().out
    assert not (suite.parent / "home" / "results.db").exists()


def test_runs_lists_stored_runs(suite: Path, capsys: pytest.CaptureFixture) -> None:
    main(["run", str(suite)])
    rid = run_id(capsys)
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert rid in out and "cli-test" in out and "complete" in out and "4/4" in out
    assert "exact: v1/dump 0.500, v2/dump 0.500" in out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_formats(suite: Path, capsys: pytest.CaptureFixture, fmt: str) -> None:
    main(["run", str(suite)])
    rid = run_id(capsys)
    target = suite.parent / f"out.{fmt}"
    assert main(["export", rid, "--format", fmt, "-o", str(target)]) == 0
    reader = {"csv": pd.read_csv, "parquet": pd.read_parquet}.get(fmt)
    frame = reader(target) if reader else pd.read_json(target, lines=True)
    assert len(frame) == 4
    assert set(frame["prompt_id"]) == {"v1", "v2"}
    assert sorted(frame["score.exact"].tolist()) == [0.0, 0.0, 1.0, 1.0]
    expected = frame.loc[frame["output"] == "Paris", "expected"].iloc[0]
    # JSONL keeps lists as JSON lists; CSV and Parquet cells hold them as JSON text
    assert (expected if fmt == "jsonl" else json.loads(expected)) == ["Paris"]


def test_report_rerenders_by_id_prefix(suite: Path, capsys: pytest.CaptureFixture) -> None:
    main(["run", str(suite)])
    rid = run_id(capsys)
    target = suite.parent / "again.html"
    assert main(["report", rid[:12], "-o", str(target)]) == 0
    assert rid in target.read_text()


def test_missing_suite_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "not found" in err and "Traceback" not in err
