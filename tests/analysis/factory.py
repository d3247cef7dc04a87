"""Case results for analysis tests, without running anything."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from harness.analysis.base import AnalysisResult
from harness.analysis.registry import get_analysis
from harness.providers.base import Message
from harness.results.models import CaseResult, Score
from harness.runner.context import ScoringContext


def result(
    row_id: str,
    *,
    output: str | None = "",
    expected: list[str] | None = None,
    passed: bool = True,
    prompt_id: str = "v1",
    provider_id: str = "m",
    vars: dict[str, Any] | None = None,
    scores: list[Score] | None = None,
    prompt_family: str | None = None,
    clean_row_id: str | None = None,
    perturbation: str | None = None,
    error: str | None = None,
) -> CaseResult:
    return CaseResult(
        run_id="run",
        case_id=f"{prompt_id}/{provider_id}/{row_id}",
        request_key="k",
        prompt_id=prompt_id,
        provider_id=provider_id,
        model="m",
        row_id=row_id,
        vars=vars or {},
        messages=[Message(role="user", content="q")],
        expected=expected or [],
        output=output,
        error=error,
        scores=scores or [],
        passed=passed,
        finished_at=datetime(2026, 1, 1, tzinfo=UTC),
        prompt_family=prompt_family,
        clean_row_id=clean_row_id,
        perturbation=perturbation,
    )


def case(
    row: str,
    prompt: str = "p",
    provider: str = "m",
    output: str | None = "out",
    vars: dict[str, Any] | None = None,
    scores: list[Score] | None = None,
) -> CaseResult:
    """A passed case, positionally: row, prompt version, provider."""
    return result(
        row, prompt_id=prompt, provider_id=provider, output=output, vars=vars, scores=scores
    )


def judge_score(grade: int | None, passed: bool = True, error: str | None = None) -> Score:
    """A ``judge`` score of ``grade`` on the 1-5 scale (None: the verdict did not parse)."""
    return Score(
        scorer="judge",
        version="judge@1",
        value=None if grade is None else grade / 5,
        threshold=0.75,
        passed=passed,
        metadata={} if grade is None else {"grade": grade},
        error=error,
    )


def score(scorer: str, value: float | None, threshold: float = 0.5, **kw: Any) -> Score:
    passed = value is not None and value >= threshold
    return Score(scorer=scorer, version="1", value=value, threshold=threshold, passed=passed, **kw)


def analyze(type_name: str, results: list[CaseResult], **params: Any) -> AnalysisResult:
    """Run analysis ``type_name`` with ``params`` on ``results``."""
    analysis = get_analysis(type_name, type_name, params)
    return asyncio.run(analysis.analyze(results, ScoringContext()))
