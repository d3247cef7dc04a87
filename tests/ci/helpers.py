"""Builders shared by the CI tests: case results, runs, and small suites that need no model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.providers.base import Message
from harness.results.models import CaseResult, RunRecord, Score

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def score(
    scorer: str,
    value: float | None,
    threshold: float | None = 1.0,
    *,
    higher: bool = True,
    error: str | None = None,
) -> Score:
    passed = None
    if threshold is not None and value is not None:
        passed = value >= threshold if higher else value <= threshold
    if error is not None:
        passed = False
    return Score(
        scorer=scorer,
        version="1",
        value=value,
        threshold=threshold,
        passed=passed,
        higher_is_better=higher,
        error=error,
    )


def result(
    row_id: str,
    output: str | None = "ok",
    *,
    scores: list[Score] | None = None,
    passed: bool | None = None,
    case_set: str = "main",
    prompt_id: str = "v1",
    provider_id: str = "fake",
    run_id: str = "run-1",
    error: str | None = None,
    expected: list[str] | None = None,
    vars: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    minutes: int = 0,
) -> CaseResult:
    scores = [score("exact", 1.0)] if scores is None else scores
    if passed is None:
        passed = error is None and all(s.passed is not False for s in scores)
    vars = {"q": f"question {row_id}"} if vars is None else vars
    return CaseResult(
        run_id=run_id,
        case_id=f"{case_set}-{prompt_id}-{provider_id}-{row_id}",
        request_key="k",
        prompt_id=prompt_id,
        provider_id=provider_id,
        model="fake-model",
        case_set=case_set,
        row_id=row_id,
        tags=tags or [],
        vars=vars,
        messages=[Message(role="user", content=f"Q: {vars.get('q', '')}")],
        expected=["ok"] if expected is None else expected,
        output=None if error else output,
        error=error,
        latency_s=0.25,
        scores=[] if error else scores,
        passed=passed,
        finished_at=T0 + timedelta(minutes=minutes),
    )


def run_record(run_id: str = "run-1", *, suite: str = "s", minutes: int = 0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        suite_name=suite,
        suite_path="s.yaml",
        suite_hash="h",
        created_at=T0 + timedelta(minutes=minutes),
        status="complete",
        harness_version="0.1.0",
        providers=[{"id": "fake", "type": "outputs", "model": "fake-model"}],
        prompts=["v1", "v2"],
        n_cases=0,
    )


def write_suite(
    folder: Path,
    cases: list[tuple[str, str, str]],
    *,
    name: str = "mini",
    bad_cases: str = "",
    file: str = "suite.yaml",
    prompts: int = 1,
) -> Path:
    """A suite of ``(id, output, expected)`` cases scored by ``exact``; outputs are stored
    in the cases, so nothing is called."""
    import json

    lines = [
        f"  - id: {json.dumps(i)}\n    vars: {{q: {json.dumps('question ' + i)}, "
        f"out: {json.dumps(out)}}}\n    expected: {json.dumps(exp)}\n"
        for i, out, exp in cases
    ]
    prompt_yaml = "".join(
        f"  - id: v{p + 1}\n    template: 'Q{p}: {{{{ q }}}}'\n" for p in range(prompts)
    )
    path = folder / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# suite header comment\nname: {name}\nprompts:\n{prompt_yaml}"
        "providers:\n  - id: stored\n    type: outputs\n    column: out\n"
        f"cases:\n{''.join(lines)}{bad_cases}"
        "defaults:\n  assert: [{type: exact}]\n",
        encoding="utf-8",
    )
    return path
