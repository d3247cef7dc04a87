"""``type: python`` assertions from a real suite: what the check sees and may return, errors
that are errors (never a 0), and bad references refused at load with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.summary import summarize
from harness.api import run_suite
from harness.cli import main
from harness.errors import ScorerError
from harness.scorers import get_scorer
from tests.providers.apps import (  # app_home: a fixture
    app_home,  # noqa: F401
    write_suite,
)

pytestmark = pytest.mark.usefixtures("app_home")

APP = """
def answer(messages, vars):
    return {"output": "A: " + vars["q"], "contexts": ["ctx of " + vars["q"]],
            "metadata": {"source": "bm25"}}
"""

CHECKS = """
import asyncio
import harness

SEEN = []


def sees(output, case):
    SEEN.append(case)
    return harness.GradingResult(
        value=0.75,
        reason=f"{case.provider_id}/{case.prompt_id}/{case.row_id} {case.prompt!r} "
        f"{[m['role'] for m in case.messages]} {list(case.contexts)} {dict(case.metadata)} "
        f"{dict(case.vars)} {list(case.expected)}",
        answer=output.upper(),
        metadata={"n": len(output)},
    )


async def longer_than(output, case, config):
    await asyncio.sleep(0)
    return len(output) > config["chars"]


def ratio(output, case):
    return len(output) / 10


def as_dict(output, case):
    return {"passed": False, "reason": "never good enough"}


def raises(output, case):
    return {"q0": 1.0}[case.row_id]


def mutates(output, case):
    case.vars["q"] = "changed"


def nan(output, case):
    return float("nan")


def big(output, case):
    return len(output)


def text(output, case):
    return "yes"


def extra_key(output, case):
    return {"value": 1, "score": 1}


def not_json(output, case):
    return {"value": 1, "metadata": {"when": object()}}
"""


def _suite(tmp_path: Path, asserts: str, questions: list[str] | None = None) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "checks.py").write_text(CHECKS)
    provider = "- {id: app, type: python, function: 'app:answer'}"
    return write_suite(tmp_path, provider, questions or ["one"], asserts=asserts)


def _scores(outcome: object) -> dict[str, object]:
    """The one result's scores by assertion name."""
    (result,) = outcome.results  # type: ignore[attr-defined]
    return {s.name: s for s in result.scores}


def test_the_check_sees_a_read_only_view_of_the_whole_case(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "    - {type: python, function: 'checks:sees', threshold: 0.7}")
    score = _scores(run_suite(suite))["python"]
    assert score.value == 0.75 and score.passed and score.error is None
    assert score.explanation == (
        "app/p/q0 'Q: one' ['system', 'user'] ['ctx of one'] {'source': 'bm25'} {'q': 'one'} []"
    )
    assert score.answer == "A: ONE" and score.metadata == {"n": 6}
    assert score.scorer == "python" and score.version.startswith("python@1 checks:sees#")


@pytest.mark.parametrize(
    ("assertion", "value", "passed"),
    [
        ("{type: python, file: checks.py, function: longer_than, config: {chars: 3}}", 1.0, True),
        ("{type: python, file: checks.py, function: longer_than, config: {chars: 30}}", 0.0, False),
        ("{type: python, function: 'checks:ratio'}", 0.6, True),
        ("{type: python, function: 'checks:ratio', threshold: 0.8}", 0.6, False),
        ("{type: python, function: 'checks:as_dict'}", 0.0, False),
    ],
    ids=["async-bool-true", "async-bool-false", "number", "number-threshold", "dict"],
)  # fmt: skip
def test_numbers_bools_and_results(
    tmp_path: Path, assertion: str, value: float, passed: bool
) -> None:
    score = _scores(run_suite(_suite(tmp_path, f"    - {assertion}")))["python"]
    assert (score.value, score.passed, score.error) == (value, passed, None)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("raises", "checks:raises raised KeyError: 'q1' (checks.py:"),
        ("mutates", "TypeError: 'mappingproxy' object does not support item assignment"),
        ("nan", "returned nan: scores are in [0, 1]"),
        ("big", "scores are in [0, 1] (scale it"),
        ("text", "returned str: return a number, a bool, a harness.GradingResult"),
        ("extra_key", "score: Extra inputs are not permitted"),
        ("not_json", "metadata.when: input was not a valid JSON value"),
    ],
)
def test_a_failing_check_is_an_error_on_the_case_never_a_zero(
    tmp_path: Path, function: str, message: str
) -> None:
    check = f"    - {{type: python, function: 'checks:{function}'}}"
    asserts = f"{check}\n    - {{type: contains, value: A}}"
    suite = _suite(tmp_path, asserts, ["zero", "one"])
    outcome = run_suite(suite)
    for result in outcome.results:
        by_name = {s.name: s for s in result.scores}
        score = by_name["python"]
        if function == "raises" and result.row_id == "q0":
            assert score.error is None and score.passed  # only q1 raises
            continue
        assert score.value is None and score.passed is False and message in (score.error or "")
        assert by_name["contains"].passed  # the other assertions still run
        assert result.passed is False
    (group,) = summarize(outcome.results).groups
    assert group.n_errors == 0 and group.n_score_errors >= 1


def _validate(tmp_path: Path, assertion: str, capsys: pytest.CaptureFixture[str]) -> str:
    suite = _suite(tmp_path, f"    - {assertion}")
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "suite.yaml:12:" in err
    return err


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        ("{type: python, function: 'checks:seez'}",
         "no function 'seez' in", ),
        ("{type: python, function: 'nomodule:sees'}", "no module 'nomodule'"),
        ("{type: python, file: gone.py, function: sees}", "file not found:"),
        ("{type: python, function: 'checks:ratio', config: {a: 1}}",
         "'checks:ratio' takes no third argument"),
        ("{type: python, function: 'checks:SEEN'}", "is a list, not a function"),
        ("{type: python, fuction: 'checks:sees'}", "has no parameter 'fuction'. Did you mean"),
        ("{type: python}", "needs parameter(s): function"),
    ],
    ids=["unknown-function", "no-module", "missing-file", "config-unused", "not-callable",
         "typo", "no-function"],
)  # fmt: skip
def test_bad_references_are_load_time_errors_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assertion: str, message: str
) -> None:
    assert message in _validate(tmp_path, assertion, capsys)


def test_unknown_function_suggests_the_close_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _validate(tmp_path, "{type: python, function: 'checks:seez'}", capsys)
    assert "Did you mean 'sees'?" in err


def test_wrong_signature_is_a_load_time_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.py").write_text("def check(output):\n    return 1\n")
    err = _validate(tmp_path, "{type: python, file: bad.py, function: check}", capsys)
    assert "function 'bad.py:check' takes (output), but it is called with" in err
    assert "(output, case, config) or (output, case)" in err


def test_importable_modules_and_the_python_api(tmp_path: Path) -> None:
    scorer = get_scorer("python", {"function": "operator:is_not"})
    assert scorer.version_string.startswith("python@1 operator:is_not#")
    with pytest.raises(ScorerError, match="no function 'nope' in"):
        get_scorer("python", {"function": "operator:nope"})
