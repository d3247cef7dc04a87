"""Performance drop rate under perturbations, each perturbed case paired with its clean one.

PDR = 1 − (mean perturbed score) / (mean clean score) over the pairs (PromptBench's
definition, aggregated as a ratio of means so a clean score of 0 does not drop a pair):
0 means no drop, 0.25 a quarter of the clean score lost, a negative PDR a gain. Its
interval is a paired percentile bootstrap (``scipy.stats.bootstrap``, pairs resampled
together); the difference of means, its interval and the paired test (McNemar on
verdicts, Wilcoxon on scores) come from :func:`harness.compare.stats.paired_stats`.

Pairs are per (prompt, provider) cell: per perturbation, and pooled over every
perturbation of the case variables ("overall"). The overall row pairs each clean case with
the mean of its perturbed copies, so its intervals and test resample clean cases, not the
pairs that share one (its ``n`` still counts the pairs; ``cases`` the clean cases). With
every perturbation of every case scored, its means and PDR are those of the pooled pairs.
Prompt families add paraphrase pairs: each other version of a family against the family's
reference version (``references``, else its first id in sort order) on the same row
("paraphrase:<version>"). Rows are in a fixed order (cells, then perturbations, by id).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
import scipy
from pydantic import BaseModel, Field
from scipy import stats as sps

from harness.analysis.base import Analysis, AnalysisResult, BarChart, Needs, Table
from harness.analysis.outcomes import (
    Cell,
    MetricParams,
    cell_label,
    metric_name,
    metric_needs,
    missing_metric,
    ordered,
    rounded,
    value,
)
from harness.compare.stats import paired_stats
from harness.results.models import CaseResult
from harness.scorers.context import ScoringContext

OVERALL = "overall"
PARAPHRASE = "paraphrase:"


class RobustnessParams(MetricParams):
    #: Flag a perturbation whose PDR is above this (e.g. 0.1).
    max_pdr: float | None = None
    #: Also pair the versions of each prompt family with the family's reference version.
    paraphrases: bool = True
    #: Family -> its reference (original) prompt version; default: the first id in sort order.
    references: dict[str, str] = Field(default_factory=dict)
    #: Pairs that broke (passed clean, failed perturbed) listed per cell, at most.
    examples: int = 10


class Drop(BaseModel):
    """The drop of one perturbation (or all of them) in one cell."""

    prompt_id: str
    provider_id: str
    perturbation: str
    #: Pairs, and the clean cases they come from (the unit the intervals resample).
    n: int
    cases: int
    clean_mean: float | None
    perturbed_mean: float | None
    pdr: float | None
    pdr_low: float | None
    pdr_high: float | None
    diff: float | None
    diff_low: float | None
    diff_high: float | None
    test: str | None
    p_value: float | None
    #: Pairs whose value fell / rose under the perturbation.
    n_down: int
    n_up: int


def pdr(clean: np.ndarray, perturbed: np.ndarray) -> float | None:
    """1 − mean(perturbed) / mean(clean); None when the clean mean is 0."""
    base = clean.mean() if len(clean) else 0.0
    return None if base == 0 else float(1 - perturbed.mean() / base)


def pdr_ci(
    clean: np.ndarray, perturbed: np.ndarray, params: MetricParams
) -> tuple[float | None, float | None]:
    """Paired percentile-bootstrap interval of the PDR (resamples with a clean mean of 0,
    where the PDR is undefined, are left out)."""
    if len(clean) < 2 or clean.mean() == 0:
        return None, None

    def statistic(c: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
        base = c.mean(axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(base == 0, np.nan, 1 - q.mean(axis=axis) / base)

    with warnings.catch_warnings():
        # scipy warns when a resample has no clean score (NaN): those are dropped below.
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        boot = sps.bootstrap(
            (clean, perturbed),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=params.resamples,
            method="percentile",
            confidence_level=params.confidence,
            random_state=np.random.default_rng(params.seed),
        )
    dist = boot.bootstrap_distribution
    dist = dist[np.isfinite(dist)]
    if len(dist) == 0:
        return None, None
    tail = (1 - params.confidence) / 2
    low, high = np.quantile(dist, [tail, 1 - tail])
    return float(low), float(high)


def drop(
    cell: Cell, name: str, clean: np.ndarray, perturbed: np.ndarray, params: MetricParams
) -> Drop:
    """The drop over the pairs (NaN on either side drops the pair)."""
    keep = ~(np.isnan(clean) | np.isnan(perturbed))
    clean, perturbed = clean[keep], perturbed[keep]
    stats = paired_stats(
        clean, perturbed, resamples=params.resamples, confidence=params.confidence, seed=params.seed
    )
    low, high = pdr_ci(clean, perturbed, params)
    return Drop(
        prompt_id=cell[0],
        provider_id=cell[1],
        perturbation=name,
        n=stats.n,
        cases=stats.n,
        clean_mean=stats.mean_a,
        perturbed_mean=stats.mean_b,
        pdr=pdr(clean, perturbed),
        pdr_low=low,
        pdr_high=high,
        diff=stats.diff,
        diff_low=stats.ci_low,
        diff_high=stats.ci_high,
        test=stats.test,
        p_value=stats.p_value,
        n_down=stats.n_down,
        n_up=stats.n_up,
    )


Pair = tuple[CaseResult, CaseResult]


def pairs(
    results: list[CaseResult], paraphrases: bool, references: dict[str, str] | None = None
) -> dict[Cell, dict[str, list[Pair]]]:
    """(clean, perturbed) result pairs per cell and perturbation, in the order of
    :func:`ordered`; with ``paraphrases``, (reference version, other version) pairs per
    prompt family."""
    results = ordered(results)
    clean = {(r.prompt_id, r.provider_id, r.row_id): r for r in results if r.perturbation is None}
    out: dict[Cell, dict[str, list[Pair]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.perturbation is not None and r.clean_row_id is not None:
            base = clean.get((r.prompt_id, r.provider_id, r.clean_row_id))
            if base is not None:
                out[(r.prompt_id, r.provider_id)][r.perturbation].append((base, r))
    if paraphrases:
        first = {
            family: min(r.prompt_id for r in clean.values() if r.prompt_family == family)
            for family in {r.prompt_family for r in clean.values()} - {None}
        } | (references or {})
        for r in clean.values():
            ref = first.get(r.prompt_family or "")
            if ref is not None and ref != r.prompt_id:
                base = clean.get((ref, r.provider_id, r.row_id))
                if base is not None:
                    out[(ref, r.provider_id)][f"{PARAPHRASE}{r.prompt_id}"].append((base, r))
    return out


class RobustnessAnalysis(Analysis):
    name = "robustness"
    title = "Robustness to perturbations"
    Params = RobustnessParams
    params: RobustnessParams

    def needs(self) -> Needs:
        refs = self.params.references
        return metric_needs(self.params) + Needs(
            families=[("references", family) for family in refs],
            prompts=[("references", prompt) for prompt in refs.values()],
        )

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        results = self.select(results)
        if error := missing_metric(results, self.params.metric) or self._bad_reference(results):
            return self.result(error=error)
        found = pairs(results, self.params.paraphrases, self.params.references)
        if not found:
            return self.result(
                error="no perturbed case has its clean case in this run: declare "
                "'perturbations:' in the suite (or a prompt family for paraphrases)"
            )
        drops: list[Drop] = []
        broke: list[list[str | None]] = []
        for cell, by_name in found.items():
            everything: list[Pair] = []
            for name, members in by_name.items():
                drops.append(self._drop(cell, name, members))
                if not name.startswith(PARAPHRASE):
                    everything += members
            if everything:
                drops.append(self._overall(cell, everything))
            broke += self._broke([p for members in by_name.values() for p in members])
        return self._report(drops, broke)

    def _drop(self, cell: Cell, name: str, members: list[Pair]) -> Drop:
        metric = self.params.metric
        clean = np.array([value(c, metric) for c, _ in members], dtype=float)
        perturbed = np.array([value(q, metric) for _, q in members], dtype=float)
        return drop(cell, name, clean, perturbed, self.params)

    def _overall(self, cell: Cell, members: list[Pair]) -> Drop:
        """Every perturbation pooled: each clean case against the mean of its perturbed copies."""
        metric = self.params.metric
        per_case: dict[str, tuple[float, list[float]]] = {}
        for c, q in members:
            clean_value, perturbed = value(c, metric), value(q, metric)
            if not (np.isnan(clean_value) or np.isnan(perturbed)):
                per_case.setdefault(c.row_id, (clean_value, []))[1].append(perturbed)
        clean = np.array([c for c, _ in per_case.values()], dtype=float)
        perturbed = np.array([np.mean(q) for _, q in per_case.values()], dtype=float)
        found = drop(cell, OVERALL, clean, perturbed, self.params)
        return found.model_copy(update={"n": sum(len(q) for _, q in per_case.values())})

    def _bad_reference(self, results: list[CaseResult]) -> str | None:
        """An error when ``references`` names a version outside the family."""
        family_of = {r.prompt_id: r.prompt_family for r in results}
        for family, prompt in self.params.references.items():
            if prompt in family_of and family_of[prompt] != family:
                return (
                    f"references: prompt version '{prompt}' is not in family '{family}' "
                    f"(its family: {family_of[prompt] or 'none'})"
                )
        return None

    def _broke(self, members: list[Pair]) -> list[list[str | None]]:
        metric = self.params.metric
        rows = [
            [
                q.prompt_id,
                q.provider_id,
                c.row_id,
                q.perturbation or q.prompt_id,
                c.output,
                q.output,
            ]
            for c, q in members
            if value(q, metric) < value(c, metric)
        ]
        return rows[: self.params.examples]

    def _report(self, drops: list[Drop], broke: list[list[str | None]]) -> AnalysisResult:
        metric = metric_name(self.params.metric)
        table = Table(
            title=f"Performance drop rate ({metric})",
            columns=[
                "prompt",
                "provider",
                "perturbation",
                "pairs",
                "clean cases",
                "clean",
                "perturbed",
                "PDR",
                "PDR CI low",
                "PDR CI high",
                "difference",
                "diff CI low",
                "diff CI high",
                "test",
                "p",
                "fell",
                "rose",
            ],
            rows=[
                [
                    d.prompt_id,
                    d.provider_id,
                    d.perturbation,
                    d.n,
                    d.cases,
                    rounded(d.clean_mean),
                    rounded(d.perturbed_mean),
                    rounded(d.pdr),
                    rounded(d.pdr_low),
                    rounded(d.pdr_high),
                    rounded(d.diff),
                    rounded(d.diff_low),
                    rounded(d.diff_high),
                    d.test,
                    rounded(d.p_value),
                    d.n_down,
                    d.n_up,
                ]
                for d in drops
            ],
            note="PDR = 1 − perturbed / clean mean; difference = perturbed − clean. Overall: "
            "each clean case against the mean of its perturbed copies (fell / rose count "
            "clean cases).",
        )
        flags = []
        limit = self.params.max_pdr
        for i, d in enumerate(drops):
            if limit is not None and d.pdr is not None and d.pdr > limit:
                table.flagged_rows.append(i)
                flags.append(
                    f"{cell_label((d.prompt_id, d.provider_id))}: PDR under {d.perturbation} "
                    f"{d.pdr:.3f} > {limit:g}"
                )
        tables = [table]
        if broke:
            tables.append(
                Table(
                    title=f"Cases that got worse (at most {self.params.examples} per cell)",
                    columns=[
                        "prompt",
                        "provider",
                        "row",
                        "perturbation",
                        "clean output",
                        "perturbed output",
                    ],
                    rows=broke,  # type: ignore[arg-type]
                )
            )
        chart = BarChart(
            title="PDR per perturbation",
            categories=[
                f"{cell_label((d.prompt_id, d.provider_id))} · {d.perturbation}" for d in drops
            ],
            values=[d.pdr for d in drops],
            low=[d.pdr_low for d in drops],
            high=[d.pdr_high for d in drops],
            unit="PDR",
            reference=0.0,
        )
        overall = [d for d in drops if d.perturbation == OVERALL and d.pdr is not None]
        worst = max(overall, key=lambda d: d.pdr or 0.0, default=None)
        summary = (
            f"Overall PDR {worst.pdr:.3f} ({cell_label((worst.prompt_id, worst.provider_id))}, "
            f"{worst.n} pairs) on {metric}."
            if worst
            else None
        )
        return self.result(
            summary=summary,
            tables=tables,
            charts=[chart],
            flags=flags,
            data={"metric": self.params.metric, "drops": [d.model_dump() for d in drops]},
            versions={"scipy": scipy.__version__},
        )
