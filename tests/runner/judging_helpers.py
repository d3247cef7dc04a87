"""A minimal model-backed scorer and run-level analyses, registered by the judging tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.base import Analysis, AnalysisParams, AnalysisResult, BarChart, Table
from harness.providers.base import Message, ModelRequest
from harness.results.models import CaseResult
from harness.runner.context import ScoringContext
from harness.scorers.base import ModelScorer, ScoreValue


class NumberJudge(ModelScorer):
    """Asks the judge to grade the output and reads its reply as a number in [0, 1]."""

    name = "number_judge"
    default_threshold = 0.5

    def __init__(self, *, judge: str | None = None) -> None:
        self.judge = judge

    def judges(self) -> list[str | None]:
        return [self.judge]

    async def ascore(
        self, output: str, expected: Sequence[str], vars: Mapping[str, Any], ctx: ScoringContext
    ) -> ScoreValue:
        request = ModelRequest(messages=(Message(role="user", content=f"GRADE {output}"),))
        reply = await ctx.generate(request, self.judge)
        value = float(reply.text)
        verdicts = [{"label": output, "verdict": value >= 0.5, "reason": "graded " + reply.text}]
        return ScoreValue(value=value, metadata={"verdicts": verdicts})


class PassCountParams(AnalysisParams):
    flag_below: float = 0.0


class PassCount(Analysis):
    """Counts passing cases per prompt; flags a prompt whose pass rate is below a bar."""

    name = "pass_count"
    title = "Passing cases"
    Params = PassCountParams
    params: PassCountParams

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        chosen = self.select(results)
        prompts = sorted({r.prompt_id for r in chosen})
        rates = [
            sum(r.passed for r in chosen if r.prompt_id == p)
            / sum(1 for r in chosen if r.prompt_id == p)
            for p in prompts
        ]
        flags = [
            f"{p} <b>below</b>"
            for p, x in zip(prompts, rates, strict=True)
            if x < self.params.flag_below
        ]
        return self.result(
            summary=f"{sum(r.passed for r in chosen)} of {len(chosen)} passed",
            tables=[
                Table(
                    title="Per prompt <i>",
                    columns=["prompt", "rate"],
                    rows=[[p, x] for p, x in zip(prompts, rates, strict=True)],
                )
            ],
            charts=[BarChart(title="rate", categories=prompts, values=rates)],
            flags=flags,
            data={"rates": dict(zip(prompts, rates, strict=True))},
        )


class Broken(Analysis):
    name = "broken"
    title = "Always fails"

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        raise ValueError("no group column")
