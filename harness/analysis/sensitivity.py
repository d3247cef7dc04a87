"""How much the metric moves across the prompt versions of a family (paraphrases).

Per family and provider: each version's mean metric with a bootstrap interval, the
spread across versions (min, max, max − min, sample standard deviation), and the share
of rows whose verdict flips, i.e. passes under some version and fails under another
(over the rows every version ran). A pairwise matrix shows which versions disagree.
Prompt versions without a ``family`` form one family, ``(all)``, when the suite
declares no family at all. Families, providers and versions are in a fixed order (by id).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np
from pydantic import BaseModel

from harness.analysis.base import (
    Analysis,
    AnalysisResult,
    BarChart,
    MatrixChart,
    Needs,
    Table,
)
from harness.analysis.outcomes import (
    MetricParams,
    clean,
    mean_ci,
    metric_name,
    metric_needs,
    missing_metric,
    ordered,
    rounded,
    value,
    verdict,
)
from harness.results.models import CaseResult
from harness.scorers.context import ScoringContext

ALL = "(all)"


class SensitivityParams(MetricParams):
    #: Analyse only this family (default: every family).
    family: str | None = None
    #: Flag a family whose max − min of the metric is above this.
    max_spread: float | None = None
    #: Flag a family whose share of flipping rows is above this.
    max_flip_rate: float | None = None


class VersionScore(BaseModel):
    prompt_id: str
    n: int
    mean: float | None
    low: float | None
    high: float | None


class FamilySpread(BaseModel):
    family: str
    provider_id: str
    versions: list[VersionScore]
    min: float | None
    max: float | None
    spread: float | None
    std: float | None
    #: Rows every version ran, and the share of them whose verdict is not the same everywhere.
    n_rows: int
    flip_rate: float | None
    #: Share of shared rows whose verdict differs, for each pair of versions (row, column).
    pairwise_flips: list[list[float]]


def spread(means: list[float]) -> dict[str, float | None]:
    """min, max, max − min and the sample standard deviation of the versions' means."""
    if not means:
        return {"min": None, "max": None, "spread": None, "std": None}
    arr = np.array(means)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return {
        "min": float(arr.min()),
        "max": float(arr.max()),
        "spread": float(arr.max() - arr.min()),
        "std": std,
    }


def flip_rates(verdicts: np.ndarray) -> tuple[float | None, list[list[float]]]:
    """``verdicts``: rows x versions of booleans. The share of rows not unanimous, and the
    pairwise share of rows where two versions disagree."""
    n_rows, k = verdicts.shape
    pairwise = [[0.0] * k for _ in range(k)]
    if n_rows == 0:
        return None, pairwise
    for a, b in combinations(range(k), 2):
        pairwise[a][b] = pairwise[b][a] = float((verdicts[:, a] != verdicts[:, b]).mean())
    unanimous = verdicts.all(axis=1) | ~verdicts.any(axis=1)
    return float(1 - unanimous.mean()), pairwise


class PromptSensitivityAnalysis(Analysis):
    name = "prompt_sensitivity"
    title = "Prompt sensitivity"
    Params = SensitivityParams
    params: SensitivityParams

    def needs(self) -> Needs:
        family = [("family", self.params.family)] if self.params.family else []
        return metric_needs(self.params) + Needs(families=family)

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        results = clean(self.select(results))
        if error := missing_metric(results, self.params.metric):
            return self.result(error=error)
        declared = any(r.prompt_family is not None for r in results)
        groups: dict[tuple[str, str], dict[str, list[CaseResult]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in ordered(results):
            family = r.prompt_family if declared else ALL
            if family is None or self.params.family not in (None, family):
                continue
            groups[(family, r.provider_id)][r.prompt_id].append(r)
        found = [self._family(f, p, v) for (f, p), v in groups.items() if len(v) > 1]
        if not found:
            return self.result(
                error="no prompt family with two or more versions: give prompt versions "
                "a common 'family:' in the suite"
            )
        return self._report(found)

    def _family(
        self, family: str, provider_id: str, versions: dict[str, list[CaseResult]]
    ) -> FamilySpread:
        metric = self.params.metric
        scores = []
        for prompt_id, members in versions.items():
            mean, low, high = mean_ci(np.array([value(r, metric) for r in members]), self.params)
            scores.append(
                VersionScore(prompt_id=prompt_id, n=len(members), mean=mean, low=low, high=high)
            )
        by_row = [{r.row_id: verdict(r, metric) for r in members} for members in versions.values()]
        shared = [row for row in by_row[0] if all(row in v for v in by_row[1:])]
        matrix = np.array([[v[row] for v in by_row] for row in shared], dtype=bool)
        flip, pairwise = flip_rates(matrix.reshape(len(shared), len(by_row)))
        return FamilySpread(
            family=family,
            provider_id=provider_id,
            versions=scores,
            **spread([s.mean for s in scores if s.mean is not None]),
            n_rows=len(shared),
            flip_rate=flip,
            pairwise_flips=pairwise,
        )

    def _flags(self, f: FamilySpread) -> list[str]:
        p, where, flags = self.params, f"{f.family} · {f.provider_id}", []
        if p.max_spread is not None and f.spread is not None and f.spread > p.max_spread:
            flags.append(
                f"{where}: {metric_name(p.metric)} spread {f.spread:.3f} > {p.max_spread:g}"
            )
        if (
            p.max_flip_rate is not None
            and f.flip_rate is not None
            and f.flip_rate > p.max_flip_rate
        ):
            flags.append(f"{where}: {f.flip_rate:.1%} of rows flip > {p.max_flip_rate:.1%}")
        return flags

    def _report(self, families: list[FamilySpread]) -> AnalysisResult:
        metric = metric_name(self.params.metric)
        spread_table = Table(
            title=f"Spread of {metric} across the versions of each family",
            columns=[
                "family",
                "provider",
                "versions",
                "min",
                "max",
                "max − min",
                "std",
                "shared rows",
                "flip rate",
            ],
            rows=[],
        )
        versions_table = Table(
            title=f"{metric} per prompt version",
            columns=["family", "provider", "prompt", "n", metric, "CI low", "CI high"],
            rows=[],
        )
        flags: list[str] = []
        charts: list[BarChart | MatrixChart] = []
        for i, f in enumerate(families):
            spread_table.rows.append(
                [
                    f.family,
                    f.provider_id,
                    len(f.versions),
                    rounded(f.min),
                    rounded(f.max),
                    rounded(f.spread),
                    rounded(f.std),
                    f.n_rows,
                    rounded(f.flip_rate),
                ]
            )
            found = self._flags(f)
            if found:
                spread_table.flagged_rows.append(i)
            flags += found
            versions_table.rows += [
                [
                    f.family,
                    f.provider_id,
                    v.prompt_id,
                    v.n,
                    rounded(v.mean),
                    rounded(v.low),
                    rounded(v.high),
                ]
                for v in f.versions
            ]
            names = [v.prompt_id for v in f.versions]
            charts.append(
                BarChart(
                    title=f"{metric}: {f.family} · {f.provider_id}",
                    categories=names,
                    values=[v.mean for v in f.versions],
                    low=[v.low for v in f.versions],
                    high=[v.high for v in f.versions],
                    unit=metric,
                )
            )
            charts.append(
                MatrixChart(
                    title=f"Share of rows whose verdict differs: {f.family} · {f.provider_id}",
                    row_labels=names,
                    col_labels=names,
                    values=f.pairwise_flips,
                )
            )
        widest = max(families, key=lambda f: f.spread or 0.0)
        return self.result(
            summary=f"Widest spread of {metric}: {widest.spread or 0:.3f} across "
            f"{len(widest.versions)} versions of '{widest.family}' ({widest.provider_id}); "
            f"{(widest.flip_rate or 0):.1%} of its rows flip.",
            tables=[spread_table, versions_table],
            charts=charts,
            flags=flags,
            data={"metric": self.params.metric, "families": [f.model_dump() for f in families]},
        )
