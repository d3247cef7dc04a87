"""Analyses are checked against the suite's cases when it loads, before any model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api import prepare
from harness.cli import main
from harness.errors import SuiteError

SUITE = """name: checked
prompts:
  - {{id: v1, template: "{{{{ q }}}}", family: qa}}
  - {{id: v2, template: "Q: {{{{ q }}}}", family: qa}}
providers:
  - {{id: stored, type: outputs, column: out}}
cases:
  file: rows.jsonl
  expected: label
  assert: [{{type: exact, normalize: lower}}]
judges: [{{id: j, type: openai, model: m, base_url: "http://127.0.0.1:9/v1", api_key_env: null}}]
analyses:
{analyses}"""


def suite(tmp_path: Path, analyses: str) -> Path:
    rows = [
        {"q": f"q{i}", "out": "yes", "label": "yes", "region": "n", "cat": "x"} for i in range(4)
    ]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(analyses=analyses))
    return path


@pytest.mark.parametrize(
    ("analyses", "line", "words"),
    [
        (
            "  - {type: fairness, group: gender}\n",
            13,
            ["group: no case variable 'gender'", "Known: cat, label, out, q, region"],
        ),
        ("  - type: fairness\n    group: regoin\n", 14, ["Did you mean 'region'?"]),
        (
            "  - {type: fairness, group: region, metric: exac}\n",
            13,
            ["metric: no assertion 'exac' in the 'main' cases. Did you mean 'exact'?"],
        ),
        (
            "  - {type: attack_success, category: categry}\n",
            13,
            ["no case variable 'categry'", "Did you mean 'category'?"]
            if False
            else ["no case variable 'categry'"],
        ),
        (
            "  - {type: judge_agreement, human_var: grade, scorer: exact}\n",
            13,
            ["human_var: no case variable 'grade'"],
        ),
        (
            "  - type: pairwise\n    a: v1\n    b: v3\n    question_var: q\n",
            15,
            ["b: no prompt version 'v3' in the suite.", "Known: v1, v2"],
        ),
        (
            "  - {type: robustness, references: {qa: v9}}\n",
            13,
            ["references: no prompt version 'v9'"],
        ),
        (
            "  - {type: robustness, references: {qb: v1}}\n",
            13,
            ["references: no prompt family 'qb'", "Known: qa"],
        ),
        ("  - {type: prompt_sensitivity, family: q}\n", 13, ["family: no prompt family 'q'"]),
        (
            "  - {type: classification, label_var: lab}\n",
            13,
            ["no case variable 'lab'", "Did you mean 'label'?"],
        ),
        (
            "  - {type: classification, case_set: prod}\n",
            13,
            ["case set 'prod' has no cases (case sets: main)"],
        ),
        (
            "  - type: fairness\n    grup: region\n",
            14,
            ["unknown parameter 'grup'. Did you mean 'group'?", "Accepted parameters:"],
        ),
        ("  - {type: fairness}\n", 13, ["missing parameter 'group'"]),
        (
            "  - {type: fairness, group: region, threshold: 2}\n",
            13,
            ["threshold: Input should be less than or equal to 1 (got 2)"],
        ),
    ],
)
def test_a_wrong_name_fails_at_load_with_its_line(
    tmp_path: Path, analyses: str, line: int, words: list[str]
) -> None:
    with pytest.raises(SuiteError) as caught:
        prepare(suite(tmp_path, analyses))
    err = caught.value
    assert err.line == line, str(err)
    for word in words:
        assert word in err.message, err.message


def test_validate_reports_it_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = suite(tmp_path, "  - {type: fairness, group: gender}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:13:" in err and "Traceback" not in err


def test_names_that_exist_pass(tmp_path: Path) -> None:
    analyses = (
        "  - {type: fairness, group: region, metric: exact}\n"
        "  - {type: prompt_sensitivity, family: qa}\n"
        "  - {type: robustness, references: {qa: v2}}\n"
    )
    assert len(prepare(suite(tmp_path, analyses)).analyses) == 3
