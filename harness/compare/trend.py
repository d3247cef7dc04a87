"""One metric across a suite's runs: per prompt x provider, each run's value with its
bootstrap interval, and each run against the one before it, paired case by case.

The numbers are the ones the rest of the harness shows: the metric is the summary's (the
suite's own clean cases: main set, no perturbed copies; a pass rate counts an errored
call as a fail, an assertion's mean is over the cases it scored), its interval the
percentile bootstrap of :mod:`~harness.compare.stats` (whole cases resampled when cases
were repeated), and a move between two runs is tested as ``harness compare`` tests it:
:func:`~harness.compare.stats.paired_stats` on the cases both runs have, keyed as
:data:`~harness.compare.join.RUN_KEY` keys them (exact McNemar for pass/fail and 0/1
values, Wilcoxon signed-rank otherwise).

Runs are read from their stored digests one case at a time (:func:`iter_records`), and
only two runs' values are held at once: a metric over 20 runs of 100k cases stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.compare.comparison import MAIN_SET
from harness.compare.records import PASS, CaseRecord, iter_records
from harness.compare.stats import (
    ALPHA,
    CONFIDENCE,
    RESAMPLES,
    PairedStats,
    bootstrap_ci,
    cluster_bootstrap_ci,
    paired_stats,
)
from harness.errors import CompareError
from harness.perturb.registry import is_perturbed  # perturbed copies: not headline cases
from harness.results.models import RunRecord
from harness.results.store import ResultStore
from harness.suite.loader import did_you_mean

#: The metric name of the case verdict's rate (what the summary calls "pass rate").
PASS_RATE = "pass_rate"

#: (prompt_id, provider_id).
Cell = tuple[str, str]
#: A case of one cell, as :data:`~harness.compare.join.RUN_KEY` pairs it: (row id, repeat).
CaseKey = tuple[str, int]


@dataclass(frozen=True)
class Change:
    """A run against the previous run of the same prompt x provider, on their shared cases."""

    stats: PairedStats
    previous: RunRecord
    #: Cases only the previous run has, and only this one (left out of the test).
    only_before: int
    only_after: int
    #: Significantly worse (a drop of a higher-is-better metric), or better.
    worse: bool
    better: bool

    def shared_note(self) -> str | None:
        """How many cases the test is over, when the two runs do not have the same cases."""
        if not self.only_before and not self.only_after:
            return None
        return (
            f"compared on {self.stats.n} shared case(s) with run {self.previous.run_id} "
            f"({self.only_before} only in that run, {self.only_after} only in this one)"
        )


@dataclass(frozen=True)
class Point:
    """The metric of one prompt x provider in one run."""

    run: RunRecord
    #: Cases with a value (samples, for repeated cases).
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    #: With repeated cases: the cases the samples are of (what the interval resamples).
    n_clusters: int | None
    #: Against the previous run that has this prompt x provider; None for the first.
    change: Change | None


@dataclass
class Series:
    prompt_id: str
    provider_id: str
    points: list[Point] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.prompt_id} · {self.provider_id}"


@dataclass
class Trend:
    suite: str
    #: ``pass_rate`` or an assertion name.
    metric: str
    higher_is_better: bool
    #: The runs covered, oldest first.
    runs: list[RunRecord]
    series: list[Series]
    confidence: float = CONFIDENCE
    alpha: float = ALPHA
    notes: list[str] = field(default_factory=list)

    @property
    def is_rate(self) -> bool:
        return self.metric == PASS_RATE

    @property
    def label(self) -> str:
        return "pass rate" if self.is_rate else self.metric

    def show(self, x: float | None, missing: str = "-") -> str:
        """A value of the metric as tables print it: a percentage for a pass rate."""
        return missing if x is None else f"{x:.1%}" if self.is_rate else f"{x:.3f}"

    def show_diff(self, x: float | None, missing: str = "-") -> str:
        """A difference of two values: percentage points for a pass rate."""
        return missing if x is None else f"{x * 100:+.1f}pp" if self.is_rate else f"{x:+.3f}"

    def worse_points(self) -> list[tuple[Series, Point]]:
        """Every point significantly worse than the one before it."""
        return [(s, p) for s in self.series for p in s.points if p.change and p.change.worse]


def suite_trend(
    store: ResultStore,
    runs: Sequence[RunRecord],
    metric: str,
    *,
    prompt: str | None = None,
    provider: str | None = None,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    alpha: float = ALPHA,
    seed: int = 0,
) -> Trend:
    """``metric`` (``pass_rate`` or an assertion name) in each of ``runs`` (one suite's,
    oldest first), per prompt x provider; ``prompt`` / ``provider``: only that one."""
    if not runs:
        raise CompareError("a trend needs at least one run")
    _check_declared(runs, "prompt", prompt, [p for r in runs for p in r.prompts])
    _check_declared(
        runs, "provider", provider, [str(p.get("id")) for r in runs for p in r.providers]
    )
    key = PASS if metric == PASS_RATE else metric
    higher: dict[str, bool] = {}
    series: dict[Cell, Series] = {}
    before: dict[Cell, tuple[RunRecord, dict[CaseKey, float]]] = {}
    for run in runs:
        cells = _read_cells(store, run, key, higher, prompt, provider)
        for cell, values in cells.items():
            change = None
            if cell in before:
                last_run, last = before[cell]
                change = _change(
                    last_run, last, values, key, higher, resamples, confidence, alpha, seed
                )
            n, mean, low, high, clusters = _estimate(values, resamples, confidence, seed)
            point = Point(run, n, mean, low, high, clusters, change)
            series.setdefault(cell, Series(*cell)).points.append(point)
            before[cell] = (run, values)
    if key != PASS and key not in higher:
        raise CompareError(
            f"unknown metric '{metric}'.{did_you_mean(metric, [PASS_RATE, *higher])} "
            f"Metrics of these {len(runs)} run(s) of suite '{runs[0].suite_name}': "
            f"{', '.join([PASS_RATE, *higher])}"
        )
    trend = Trend(
        suite=runs[0].suite_name,
        metric=metric,
        higher_is_better=key == PASS or higher.get(key, True),
        runs=list(runs),
        series=[series[c] for c in _order(series, runs)],
        confidence=confidence,
        alpha=alpha,
    )
    if not trend.series:
        trend.notes.append("these runs have no results of the suite's own cases yet")
    return trend


def _check_declared(
    runs: Sequence[RunRecord], what: str, wanted: str | None, ids: list[str]
) -> None:
    """A clear error when no run declares the prompt (provider) a trend is asked for."""
    known = list(dict.fromkeys(ids))
    if wanted is not None and wanted not in known:
        raise CompareError(
            f"no {what} '{wanted}' in these runs of suite '{runs[0].suite_name}'."
            f"{did_you_mean(wanted, known)} {what.title()}s: {', '.join(known)}"
        )


def _read_cells(
    store: ResultStore,
    run: RunRecord,
    key: str,
    higher: dict[str, bool],
    prompt: str | None,
    provider: str | None,
) -> dict[Cell, dict[CaseKey, float]]:
    """The run's value of ``key`` per headline case, per prompt x provider (NaN: no value)."""
    cells: dict[Cell, dict[CaseKey, float]] = {}
    for r in iter_records(store, run.run_id, higher):
        if not _headline_case(r):
            continue
        if (prompt is not None and r.prompt_id != prompt) or (
            provider is not None and r.provider_id != provider
        ):
            continue
        value = r.value(key)
        # the first of a repeated key wins, as in join()
        cells.setdefault((r.prompt_id, r.provider_id), {}).setdefault(
            (r.row_id, r.repeat), np.nan if value is None else value
        )
    return cells


def _headline_case(r: CaseRecord) -> bool:
    """A case of the suite's own set, not a perturbed copy: the summary's headline cells."""
    return r.case_set == MAIN_SET and not is_perturbed(r.tags)


def _estimate(
    values: dict[CaseKey, float], resamples: int, confidence: float, seed: int
) -> tuple[int, float | None, float | None, float | None, int | None]:
    """(n, mean, CI low, CI high, cases) of the values; repeated cases resampled whole."""
    keys = [k for k, v in values.items() if not np.isnan(v)]
    v = np.array([values[k] for k in keys], dtype=np.float64)
    if not len(v):
        return 0, None, None, None, None
    rng = np.random.default_rng(seed)
    repeated = any(repeat for _, repeat in keys)
    if not repeated:
        low, high = (
            (None, None)
            if len(v) < 2
            else bootstrap_ci(v, resamples=resamples, confidence=confidence, rng=rng)
        )
        return len(v), float(v.mean()), low, high, None
    _, case = np.unique([row for row, _ in keys], return_inverse=True)
    sums, sizes = np.bincount(case, weights=v), np.bincount(case)
    low = high = None
    if len(sizes) >= 2:
        low, high = cluster_bootstrap_ci(sums, sizes, resamples, confidence, rng)
    return len(v), float(v.mean()), low, high, len(sizes)


def _change(
    previous: RunRecord,
    before: dict[CaseKey, float],
    after: dict[CaseKey, float],
    key: str,
    higher: dict[str, bool],
    resamples: int,
    confidence: float,
    alpha: float,
    seed: int,
) -> Change:
    shared = [k for k in before if k in after]
    a = np.array([before[k] for k in shared], dtype=np.float64)
    b = np.array([after[k] for k in shared], dtype=np.float64)
    clusters = None
    if any(repeat for _, repeat in shared):
        _, clusters = np.unique([row for row, _ in shared], return_inverse=True)
    stats = paired_stats(
        a,
        b,
        binary=True if key == PASS else None,  # None: McNemar when every value is 0/1
        resamples=resamples,
        confidence=confidence,
        alpha=alpha,
        seed=seed,
        clusters=clusters,
    )
    moved = stats.significant(alpha) and stats.diff is not None and stats.diff != 0
    down = stats.diff is not None and (stats.diff < 0) == (key == PASS or higher.get(key, True))
    return Change(
        stats,
        previous,
        only_before=len(before) - len(shared),
        only_after=len(after) - len(shared),
        worse=moved and down,
        better=moved and not down,
    )


def _order(series: dict[Cell, Series], runs: Sequence[RunRecord]) -> list[Cell]:
    """The cells in the order the newest runs declare their prompts x providers; any other
    (a prompt since removed) after them, by name."""
    declared = [
        (p, str(v.get("id"))) for r in reversed(runs) for p in r.prompts for v in r.providers
    ]
    ordered = [c for c in dict.fromkeys(declared) if c in series]
    return ordered + sorted(c for c in series if c not in ordered)
