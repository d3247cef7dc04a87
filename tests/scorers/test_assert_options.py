"""What an assertion says besides its scorer: ``not`` (promptfoo's ``not-``), ``weight`` and the
case ``threshold`` (promptfoo's weighted test score), and ``transform`` (a sandboxed Jinja
expression of the output); and their bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from harness.api import prepare, run_suite
from harness.ci._format import failure_summary, score_line
from harness.cli import main
from harness.results.models import CaseResult
from harness.results.store import ResultStore

HEAD = """name: options
prompts: [{id: v1, template: "{{ q }}"}]
providers: [{id: dump, type: outputs, column: out}]
"""


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def cases(outputs: list[str], expected: str | None = None) -> str:
    """An inline case per output (its id is the output's position)."""
    rows = [
        f"  - id: c{i}\n    vars: {{q: x, out: {json.dumps(o)}}}\n" for i, o in enumerate(outputs)
    ]
    if expected is not None:
        rows = [r + f"    expected: {json.dumps(expected)}\n" for r in rows]
    return "cases:\n" + "".join(rows)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def run(tmp_path: Path, text: str) -> list[CaseResult]:
    outcome = run_suite(write(tmp_path, text), store=ResultStore(tmp_path / "results.db"))
    return sorted(outcome.results, key=lambda r: r.row_id)


def line_of(text: str, marker: str) -> int:
    (line,) = [i for i, t in enumerate(text.splitlines(), 1) if marker in t]
    return line


# --- not ---------------------------------------------------------------------------------


def test_not_inverts_the_verdict_and_keeps_the_value(tmp_path: Path) -> None:
    text = (
        HEAD
        + cases(["Paris", "London"])
        + ("defaults:\n  assert:\n    - {type: contains, value: London, not: true}\n")
    )
    paris, london = run(tmp_path, text)
    (s,) = paris.scores
    assert (s.value, s.passed, paris.passed) == (0.0, True, True)
    assert s.inverted and s.higher_is_better is False  # lower is better for "must not"
    assert s.explanation == "inverted: missing ['London']"
    (s,) = london.scores
    assert (s.value, s.passed, london.passed) == (1.0, False, False)
    assert s.explanation == "inverted: contains passed"
    assert failure_summary(london) == "not contains = 1.000 >= 1.000"


def test_not_on_a_threshold_scorer_passes_below_the_threshold(tmp_path: Path) -> None:
    ref = "the cat sat on the mat"
    outputs = ["a dog lay on a rug", "the cat sat on a mat"]
    text = (
        HEAD
        + cases(outputs, ref)
        + ("defaults:\n  assert:\n    - {type: chrf, threshold: 0.5, not: true}\n")
    )
    far, near = run(tmp_path, text)
    for r, out in ((far, outputs[0]), (near, outputs[1])):
        value = CHRF().sentence_score(out, [ref]).score / 100
        assert r.scores[0].value == pytest.approx(value)
        assert r.passed is (value < 0.5)
    assert far.passed and not near.passed


# --- weight and the case threshold -------------------------------------------------------

WEIGHTED = """defaults:
  assert:
    - {type: contains, value: Paris, weight: 3}
    - {type: contains, value: France, name: country}
    - {type: regex, pattern: "!$", weight: 0}   # informational
"""


def test_a_case_threshold_is_over_the_weighted_assertions(tmp_path: Path) -> None:
    text = HEAD + cases(["Paris", "france", "Paris, France!"]) + WEIGHTED
    text = text.replace("  - id: c0\n", "  - id: c0\n    threshold: 0.75\n")
    text = text.replace("  - id: c1\n", "  - id: c1\n    threshold: 0.75\n")
    paris, france, both = run(tmp_path, text)
    # Paris passes 3 of 4 weight (the weight-0 regex counts for nothing): 0.75 reaches 0.75
    assert (paris.score, paris.threshold, paris.passed) == (0.75, 0.75, True)
    assert [s.passed for s in paris.scores] == [True, False, False]
    assert (france.score, france.passed) == (0.0, False)
    assert failure_summary(france) == (
        "case score 0.000 < 0.750; contains (weight 3) = 0.000 < 1.000; "
        "country = 0.000 < 1.000; regex (weight 0) = 0.000 < 1.000"
    )
    # no threshold: every assertion of weight > 0 must pass; the weight-0 one never fails it
    assert (both.score, both.threshold, both.passed) == (1.0, None, True)


def test_weight_zero_is_informational_without_a_threshold(tmp_path: Path) -> None:
    paris, _, _ = run(tmp_path, HEAD + cases(["Paris France", "x", "y"]) + WEIGHTED)
    assert [s.passed for s in paris.scores] == [True, True, False]
    assert paris.passed and paris.score == 1.0
    assert score_line(paris.scores[2]) == "regex (weight 0) = 0.000 < 1.000"


def test_the_case_threshold_comes_from_the_case_then_its_dataset_then_the_defaults(
    tmp_path: Path,
) -> None:
    (tmp_path / "rows.csv").write_text("q,out\na,a\nb,b\n")
    dataset = "cases:\n  file: rows.csv\n  expected: out\n  assert: [{type: exact}]\n"
    text = HEAD + dataset + "defaults:\n  threshold: 0.5\n"
    plan = prepare(write(tmp_path, text)).plan
    assert {c.row.threshold for c in plan.cases} == {0.5}
    text = text.replace("  assert: [", "  threshold: 0.25\n  assert: [")
    plan = prepare(write(tmp_path, text)).plan
    assert {c.row.threshold for c in plan.cases} == {0.25}
    inline = (
        HEAD + cases(["a", "b"], "a") + "defaults:\n  threshold: 0.5\n  assert: [{type: exact}]\n"
    )
    inline = inline.replace("  - id: c1\n", "  - id: c1\n    threshold: 1\n")
    plan = prepare(write(tmp_path, inline)).plan
    assert [c.row.threshold for c in plan.cases] == [0.5, 1.0]


# --- transform ---------------------------------------------------------------------------


def test_a_transform_is_what_the_scorer_sees(tmp_path: Path) -> None:
    text = HEAD + (
        "cases:\n"
        "  - id: c0\n    vars: {q: x, out: '{\"answer\": 42}'}\n    expected: '43'\n"
        '    assert:\n      - {type: exact, transform: "(output | from_json).answer + 1"}\n'
        "  - id: c1\n    vars: {q: x, out: 'Answer: Paris ', city: Paris}\n    expected: Paris\n"
        "    assert:\n      - {type: exact, transform: \"output.split(':')[-1] | trim\"}\n"
        "      - {type: contains, name: city, transform: \"vars.city ~ ' / ' ~ output\","
        " value: 'Paris / Answer'}\n"
    )
    json_case, split_case = run(tmp_path, text)
    (s,) = json_case.scores
    assert (s.value, s.answer, json_case.passed) == (1.0, "43", True)  # 43 passed on as JSON text
    assert [s.passed for s in split_case.scores] == [True, True]
    assert split_case.scores[0].answer == "Paris"
    assert split_case.output == "Answer: Paris "  # the stored output is the model's own


def test_a_transform_that_raises_is_a_scoring_error_naming_the_assertion_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD
        + cases(['{"answer": "a"}', "not json"], "a")
        + (
            "defaults:\n  assert:\n"
            "    - type: exact\n      name: answer\n"
            '      transform: "(output | from_json).answer"\n'
            '    - {type: exact, name: never, not: true, transform: "output | from_json"}\n'
        )
    )
    ok, broken = run(tmp_path, text)
    assert ok.passed
    where = f"suite.yaml:{line_of(text, '- type: exact')}"
    (answer, never) = broken.scores
    assert answer.value is None and answer.passed is False and not broken.passed
    assert answer.error is not None and where in answer.error
    assert answer.error.startswith("transform of assertion 'answer' (")
    assert "ValueError: from_json: not JSON" in answer.error
    assert never.passed is False and never.error is not None  # `not` never passes an error
    # the summary says the mean is over the one case that could be scored, and the
    # unscorable case counts against max_error_rate (default 0): exit 1, said out loud
    assert main(["run", str(tmp_path / "suite.yaml")]) == 1
    captured = capsys.readouterr()
    assert "1 case errored: scoring answer: transform of assertion 'answer'" in captured.err
    out = captured.out
    row = next(line for line in out.splitlines() if "dump" in line and "%" in line)
    assert "1.000 (1 of 2 scored)" in row and "+1 scoring" in row
    html = Path(out.split("Report: ")[1].split()[0]).read_text()
    assert ">1.000 <span" in html and "(1 of 2 scored)</span>" in html


# --- bad input ---------------------------------------------------------------------------

ONE = HEAD + cases(["a"], "a") + "defaults:\n  assert:\n"


@pytest.mark.parametrize(
    ("text", "marker", "words"),
    [
        (ONE + "    - {type: exact, weight: -1}\n", "weight: -1", ["greater than or equal to 0"]),
        (ONE + '    - {type: exact, not: "yes"}\n', "not:", ["valid boolean"]),
        (ONE + '    - {type: exact, weight: "2"}\n', "weight:", ["valid number"]),
        (ONE + "    - {type: exact, name: 7}\n", "name: 7", ["valid string"]),
        (ONE + "    - {type: exact}\n  threshold: 1.5\n", "threshold: 1.5", ["less than or equal"]),
        (
            ONE + "    - {type: exact, weight: 0}\n    - {type: f1, weight: 0}\n",
            "- id: c0",
            ["every assertion of this case has weight 0", "give one a weight above 0"],
        ),
        (
            ONE + '    - {type: exact, name: answer, transform: "output |"}\n',
            "transform:",
            ["the transform of assertion 'answer' does not compile", "expected 'name'"],
        ),
        (
            ONE + '    - {type: exact, transform: "output }} {{ x"}\n',
            "transform:",
            ["the transform of assertion 'exact' does not compile"],
        ),
    ],
    ids=[
        "negative-weight", "not-a-string", "weight-a-string", "name-a-number",
        "threshold-above-1", "all-weights-zero", "transform-syntax", "transform-not-one-expression",
    ],
)  # fmt: skip
def test_bad_assertion_options_are_one_line_errors_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, marker: str, words: list[str]
) -> None:
    assert main(["validate", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"suite.yaml:{line_of(text, marker)}:" in err, err
    for word in words:
        assert word in err, err
