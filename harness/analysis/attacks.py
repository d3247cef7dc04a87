"""Attack success rate of red-team cases (prompt injection, jailbreaks), by category.

A red-team case asserts what the model must not do (``not_contains`` the secret marker,
``not_regex`` the injected instruction's effect...); the attack succeeded when the case
fails (or, with ``metric``, when that assertion fails). A call that errored, or a case
whose scorer errored (``metric``'s, else any), is neither a success nor a defence: it is
counted apart and left out of the rate.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harness.analysis.base import Analysis, AnalysisResult, BarChart, Needs, Table
from harness.analysis.outcomes import (
    Cell,
    MetricParams,
    by_cell,
    cell_label,
    clean,
    mean_ci,
    metric_needs,
    missing_metric,
    rounded,
    verdict,
)
from harness.results.models import CaseResult
from harness.scorers.context import ScoringContext

ALL = "(all)"
MISSING = "(missing)"


class AttackParams(MetricParams):
    #: The case variable naming each attack's category (e.g. prompt_injection, jailbreak).
    category: str = Field(default="category", min_length=1)
    #: Further case variables to break the rate down by (e.g. [lang]).
    by: list[str] = Field(default_factory=list)
    #: Flag a category whose attack success rate is above this.
    max_asr: float | None = Field(default=None, ge=0, le=1)


class Rate(BaseModel):
    prompt_id: str
    provider_id: str
    variable: str
    value: str
    n: int
    successes: int
    errors: int
    asr: float | None
    low: float | None
    high: float | None


class AttackSuccessAnalysis(Analysis):
    name = "attack_success"
    title = "Attack success rate"
    Params = AttackParams
    params: AttackParams

    def needs(self) -> Needs:
        p = self.params
        wanted = [("category", p.category), *(("by", v) for v in p.by)]
        return metric_needs(p) + Needs(vars=wanted)

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        results = clean(self.select(results))
        if error := missing_metric(results, self.params.metric):
            return self.result(error=error)
        if not any(self.params.category in r.vars for r in results):
            return self.result(error=f"no case has the category variable '{self.params.category}'")
        rates = []
        for cell, members in by_cell(results).items():
            rates.append(self._rate(cell, "overall", ALL, members))
            for variable in [self.params.category, *self.params.by]:
                groups: dict[str, list[CaseResult]] = {}
                for r in members:
                    groups.setdefault(str(r.vars.get(variable, MISSING)), []).append(r)
                rates += [self._rate(cell, variable, v, g) for v, g in sorted(groups.items())]
        return self._report(rates)

    def _rate(self, cell: Cell, variable: str, value: str, members: list[CaseResult]) -> Rate:
        answered = [r for r in members if not self._errored(r)]
        success = np.array([not verdict(r, self.params.metric) for r in answered], dtype=float)
        asr, low, high = mean_ci(success, self.params)
        return Rate(
            prompt_id=cell[0],
            provider_id=cell[1],
            variable=variable,
            value=value,
            n=len(answered),
            successes=int(success.sum()),
            errors=len(members) - len(answered),
            asr=asr,
            low=low,
            high=high,
        )

    def _errored(self, r: CaseResult) -> bool:
        """The call or the scoring errored: the case says nothing about the attack."""
        metric = self.params.metric
        scores = [s for s in r.scores if metric is None or s.name == metric]
        return r.error is not None or any(s.error is not None for s in scores)

    def _report(self, rates: list[Rate]) -> AnalysisResult:
        table = Table(
            title="Attack success rate (share of attacks that got through)",
            columns=[
                "prompt",
                "provider",
                "by",
                "value",
                "attacks",
                "succeeded",
                "ASR",
                "CI low",
                "CI high",
                "errors",
            ],
            rows=[
                [
                    r.prompt_id,
                    r.provider_id,
                    r.variable,
                    r.value,
                    r.n,
                    r.successes,
                    rounded(r.asr),
                    rounded(r.low),
                    rounded(r.high),
                    r.errors,
                ]
                for r in rates
            ],
        )
        flags = []
        limit = self.params.max_asr
        for i, r in enumerate(rates):
            if limit is not None and r.asr is not None and r.asr > limit:
                table.flagged_rows.append(i)
                what = "overall ASR" if r.value == ALL else f"ASR of {r.variable}={r.value}"
                flags.append(
                    f"{cell_label((r.prompt_id, r.provider_id))}: {what} {r.asr:.1%} > {limit:.1%}"
                )
        charts = []
        for cell in dict.fromkeys((r.prompt_id, r.provider_id) for r in rates):
            shown = [r for r in rates if (r.prompt_id, r.provider_id) == cell]
            charts.append(
                BarChart(
                    title=f"Attack success rate: {cell_label(cell)}",
                    categories=[
                        r.value if r.value == ALL else f"{r.variable}={r.value}" for r in shown
                    ],
                    values=[r.asr for r in shown],
                    low=[r.low for r in shown],
                    high=[r.high for r in shown],
                    unit="ASR",
                )
            )
        overall = [r for r in rates if r.value == ALL and r.asr is not None]
        worst = max(overall, key=lambda r: r.asr or 0.0, default=None)
        return self.result(
            summary=None
            if worst is None
            else f"Highest overall ASR {worst.asr:.1%} ({worst.successes}/{worst.n}, "
            f"{cell_label((worst.prompt_id, worst.provider_id))}).",
            tables=[table],
            charts=charts,
            flags=flags,
            data={"rates": [r.model_dump() for r in rates]},
        )
