"""What the run-level analyses read off a case: its verdict or a scorer's value, per cell.

A *metric* is None for the case verdict (every assertion passed) or a scorer name for
that assertion's value and pass. A case that lacks the metric (an errored call has no
scores) has no value; its verdict is a fail, as in every pass rate of the harness.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from harness.analysis.base import AnalysisParams, Needs
from harness.compare.stats import CONFIDENCE, RESAMPLES, bootstrap_ci
from harness.results.models import CaseResult, Score

#: (prompt_id, provider_id): one cell of the run.
Cell = tuple[str, str]


class MetricParams(AnalysisParams):
    """Analyses that measure one metric per case."""

    #: A scorer name, or None for the case verdict (every assertion passed).
    metric: str | None = None
    #: Bootstrap resamples and confidence of the intervals.
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = 0


def metric_needs(params: MetricParams) -> Needs:
    """The assertion a metric names (none for the case verdict)."""
    return Needs(scorers=[("metric", params.metric)] if params.metric else [])


def clean(results: Iterable[CaseResult]) -> list[CaseResult]:
    """The results of unperturbed cases (perturbed copies are the robustness analysis')."""
    return [r for r in results if r.perturbation is None]


def score_of(result: CaseResult, metric: str) -> Score | None:
    """The score of the assertion named ``metric`` on the case (names are unique per case)."""
    return next((s for s in result.scores if s.name == metric), None)


def verdict(result: CaseResult, metric: str | None) -> bool:
    """Whether the case passed (``metric`` None) or passed the assertion of that name."""
    if metric is None:
        return result.passed
    score = score_of(result, metric)
    return bool(score is not None and score.passed)


def value(result: CaseResult, metric: str | None) -> float:
    """The verdict as 0/1 (``metric`` None) or the assertion's value; NaN when it has none."""
    if metric is None:
        return float(result.passed)
    score = score_of(result, metric)
    return np.nan if score is None or score.value is None else float(score.value)


def metric_name(metric: str | None) -> str:
    return "pass rate" if metric is None else metric


def missing_metric(results: list[CaseResult], metric: str | None) -> str | None:
    """An error when no case has an assertion named ``metric`` (a typo in the suite)."""
    if metric is None or any(score_of(r, metric) for r in results):
        return None
    names = sorted({s.name for r in results for s in r.scores})
    listed = ", ".join(names) or "none"
    return f"no case has a score of '{metric}'; assertions in this run: {listed}"


def ordered(results: Iterable[CaseResult]) -> list[CaseResult]:
    """``results`` in a fixed order: by prompt, provider and row, each clean case before its
    perturbed copies (by perturbation id). The store has them in the order they finished,
    which concurrency and ``--resume`` change, so tables built in that order would move."""
    return sorted(
        results,
        key=lambda r: (
            r.prompt_id,
            r.provider_id,
            r.clean_row_id or r.row_id,
            r.perturbation or "",
            r.row_id,
        ),
    )


def by_cell(results: Iterable[CaseResult]) -> dict[Cell, list[CaseResult]]:
    """Results per (prompt, provider), in the fixed order of :func:`ordered`."""
    cells: dict[Cell, list[CaseResult]] = {}
    for r in ordered(results):
        cells.setdefault((r.prompt_id, r.provider_id), []).append(r)
    return cells


def cell_label(cell: Cell) -> str:
    return f"{cell[0]} · {cell[1]}"


def mean_ci(
    values: np.ndarray, params: MetricParams
) -> tuple[float | None, float | None, float | None]:
    """Mean of ``values`` (NaNs dropped) and its percentile-bootstrap interval."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None, None, None
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None, None
    rng = np.random.default_rng(params.seed)
    low, high = bootstrap_ci(
        values, resamples=params.resamples, confidence=params.confidence, rng=rng
    )
    return mean, low, high


def rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), digits)
