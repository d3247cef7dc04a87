"""The Markdown summary: the suite's cases and bad-case sets apart, gates, failures, and
$GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.ci.summary_md import summary_markdown, write_summary_md
from harness.cli import main
from tests.ci.helpers import result, run_record, score, write_suite


@dataclass
class Gate:
    name: str
    passed: bool
    message: str


RESULTS = [
    result("a", scores=[score("exact", 1.0), score("f1", 1.0, 0.5)]),
    result("b", "nope", scores=[score("exact", 0.0), score("f1", 0.25, 0.5)]),
    result("a", prompt_id="v2", scores=[score("exact", 1.0), score("f1", 1.0, 0.5)]),
    result("x", case_set="regressions"),
    result("y", "bad | <b>x</b>\nline2", case_set="regressions", scores=[score("exact", 0.0)]),
]


def table_after(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if heading in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows


def test_main_table_then_bad_case_sets_apart() -> None:
    text = summary_markdown(run_record(), RESULTS)
    assert text.startswith("### harness: s\n")
    assert "Run `run-1` · 5 cases · 3 passed · 0 errors · status complete" in text
    main_rows = table_after(text, "Run `run-1`")
    assert main_rows[0] == "| prompt | provider | n | pass rate | exact | f1 | errors | cost |"
    assert main_rows[2] == "| v1 | fake | 2 | 50.0% | 0.500 | 0.625 | 0 | - |"
    assert main_rows[3] == "| v2 | fake | 1 | 100.0% | 1.000 | 1.000 | 0 | - |"
    bad_rows = table_after(text, "**Bad-case sets**")
    assert bad_rows[2] == "| regressions | v1 | fake | 1/2 | 50.0% |"


def test_failed_cases_are_listed_escaped_in_a_collapsed_block() -> None:
    text = summary_markdown(run_record(), RESULTS)
    assert "<details><summary>2 failed cases</summary>" in text
    rows = table_after(text, "failed cases")
    assert rows[2] == "| v1 / fake / b | exact = 0.000 &lt; 1.000; f1 = 0.250 &lt; 0.500 | nope |"
    # a pipe, HTML and a newline in the output cannot break the table
    assert rows[3] == (
        "| regressions / v1 / fake / y | exact = 0.000 &lt; 1.000 | "
        "bad \\| &lt;b&gt;x&lt;/b&gt; line2 |"
    )


def test_only_the_first_failures_are_listed() -> None:
    many = [result(f"r{i}", "no", scores=[score("exact", 0.0)]) for i in range(15)]
    text = summary_markdown(run_record(), many, max_failures=10)
    assert len(table_after(text, "failed cases")) == 12
    assert "…and 5 more." in text


def test_gates_give_the_verdict() -> None:
    gates = [Gate("pass rate", True, "95% >= 90%"), Gate("bad cases", False, "2 failed again")]
    text = summary_markdown(run_record(), RESULTS, gates)
    assert text.startswith("### ❌ harness: s")
    assert "| ✅ | pass rate | 95% &gt;= 90% |" in text
    assert "| ❌ | bad cases | 2 failed again |" in text
    assert summary_markdown(run_record(), RESULTS, gates[:1]).startswith("### ✅ harness: s")


def test_written_to_the_path_and_appended_to_the_github_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step_summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    target = tmp_path / "out" / "summary.md"
    written = write_summary_md(run_record(), RESULTS, target)
    assert written == [target, step]
    write_summary_md(run_record(), RESULTS, target)
    assert target.read_text().count("### harness: s") == 1  # the file is replaced
    assert step.read_text().startswith("earlier step\n### harness: s")
    assert step.read_text().count("### harness: s") == 2  # the job summary is appended to


def test_without_github_actions_only_the_path_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_summary_md(run_record(), RESULTS, tmp_path / "s.md") == [tmp_path / "s.md"]
    assert write_summary_md(run_record(), RESULTS) == []


def test_harness_run_writes_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "gh.md"))
    monkeypatch.chdir(tmp_path)
    bad = "bad_cases:\n  - name: regressions\n    file: bad.yaml\n"
    (tmp_path / "bad.yaml").write_text(
        "cases:\n  - {id: old, vars: {q: x, out: '1'}, expected: '1'}\n"
    )
    suite = write_suite(tmp_path, [("good", "4", "4"), ("bad", "5", "4")], bad_cases=bad)
    assert main(["run", str(suite), "--summary-md", "summary.md", "--report", "r.html"]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "| v1 | stored | 2 | 50.0% | 0.500 | 0 | - |" in text
    assert "| regressions | v1 | stored | 1/1 | 100.0% |" in text
    assert (tmp_path / "gh.md").read_text() == text + "\n"
