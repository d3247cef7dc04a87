"""Case results built by hand, for analysis tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from harness.providers.base import Message
from harness.results.models import CaseResult, Score


def case(
    row: str,
    prompt: str = "p",
    provider: str = "m",
    output: str | None = "out",
    vars: dict[str, Any] | None = None,
    scores: list[Score] | None = None,
) -> CaseResult:
    return CaseResult(
        run_id="r",
        case_id=f"{row}-{prompt}-{provider}",
        request_key="k",
        prompt_id=prompt,
        provider_id=provider,
        model="m",
        row_id=row,
        vars=vars or {},
        messages=[Message(role="user", content="q")],
        output=output,
        scores=scores or [],
        passed=True,
        finished_at=datetime.now(UTC),
    )


def judge_score(grade: int | None, passed: bool = True, error: str | None = None) -> Score:
    return Score(
        scorer="judge",
        version="judge@1",
        value=None if grade is None else grade / 5,
        threshold=0.75,
        passed=passed,
        metadata={} if grade is None else {"grade": grade},
        error=error,
    )
