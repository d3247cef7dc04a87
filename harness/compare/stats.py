"""Paired statistics of two sides' values on the same cases.

* The difference of means (B - A) with a paired percentile-bootstrap confidence interval:
  the pairs are resampled with replacement and the mean difference recomputed.
* A paired significance test: exact McNemar for pass/fail and 0/1 scores (a two-sided
  binomial test on the discordant pairs, ``scipy.stats.binomtest``), and the Wilcoxon
  signed-rank test for continuous scores (``scipy.stats.wilcoxon``, zero differences
  dropped; exact or permutation p-values for small samples, as scipy chooses).
* The minimum detectable difference (80 % power, two-sided alpha) and a note when the
  suite is too small to detect the observed difference, or any difference at all.
* Repeated cases (``--repeat N``): the N samples of a case are not N independent cases.
  Given ``clusters`` (a label per pair: the case it is a sample of), the bootstrap resamples
  whole cases, the test is the Wilcoxon signed-rank test on the per-case mean differences,
  and the power numbers count cases: the interval is as wide as the cases warrant, not
  sqrt(N) times narrower (clustered errors, as in Miller 2024, "Adding Error Bars to Evals").

The bootstrap is cheap on evaluation data, where most differences are tied (0 when an
output did not change; -1/0/+1 for pass/fail): each resample's counts of the frequent
difference values come from one multinomial draw, exactly as if indices were drawn.
Large samples of continuous values are handled as described in :func:`bootstrap_means`;
100k pairs x 10k resamples take well under a second either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Test = Literal["mcnemar", "wilcoxon"]

ALPHA = 0.05
POWER = 0.8
RESAMPLES = 10_000
CONFIDENCE = 0.95

#: At most this many of the most frequent difference values are drawn by multinomial...
_MAX_HEAVY = 64
#: ... and only those seen this often; rarer ones are drawn index by index.
_MIN_HEAVY_COUNT = 32
#: Index draws generated at once (bounds the bootstrap's memory to ~50 MB).
_CHUNK = 1 << 22
#: Above this many index draws, rare values are drawn by strata (see bootstrap_means).
_EXACT_DRAWS = 1 << 23
_STRATA = 32
#: Differences are rounded to this many decimals before anything else.
_DECIMALS = 12


@dataclass(frozen=True)
class PairedStats:
    """Paired comparison of one metric on the cases both sides have a value for."""

    n: int
    mean_a: float | None
    mean_b: float | None
    #: ``mean_b - mean_a``.
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    test: Test | None
    p_value: float | None
    #: Pairs where B is below / above A (McNemar's discordant pairs for pass/fail).
    n_down: int
    n_up: int
    #: The smallest difference this many cases detect with 80 % power; None when unknown.
    mde: float | None
    note: str | None = None
    #: With repeated samples: the number of cases (clusters) the pairs are samples of,
    #: which the interval, the test and ``mde`` are over; None when each pair is a case.
    n_clusters: int | None = None

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value is not None and self.p_value < alpha


def paired_stats(
    a: np.ndarray,
    b: np.ndarray,
    *,
    binary: bool | None = None,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    alpha: float = ALPHA,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> PairedStats:
    """Compare ``b`` with ``a`` pair by pair; a NaN on either side drops the pair.

    ``binary`` picks McNemar (True) or Wilcoxon (False); None decides from the values
    (McNemar when every value is 0 or 1). ``clusters`` labels each pair with the case it
    is a sample of (repeats): see the module docstring.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-d arrays of one length, got {a.shape} and {b.shape}")
    if clusters is not None and np.shape(clusters) != a.shape:
        raise ValueError(f"clusters must label every pair: {np.shape(clusters)} vs {a.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if clusters is not None:
        _, inverse = np.unique(np.asarray(clusters)[keep], return_inverse=True)
        if inverse.size and np.bincount(inverse).max() > 1:
            return _clustered_stats(a, b, inverse, resamples, confidence, alpha, seed)
    n = len(a)
    if n == 0:
        return PairedStats(0, None, None, None, None, None, None, None, 0, 0, None,
                           "no case has a value on both sides")  # fmt: skip
    # Rounded so that float noise neither breaks ties (0.9 - 0.8 vs 0.8 - 0.7, which the
    # signed-rank test and the bootstrap both use) nor counts as a change.
    d = np.round(b - a, _DECIMALS)
    if binary is None:
        binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    n_down, n_up = int((d < 0).sum()), int((d > 0).sum())
    if binary:
        test: Test = "mcnemar"
        p = mcnemar_exact(n_down, n_up)
    else:
        test = "wilcoxon"
        p = wilcoxon_p(d)
    ci_low = ci_high = None
    if n >= 2:
        rng = np.random.default_rng(seed)
        ci_low, ci_high = bootstrap_ci(d, resamples=resamples, confidence=confidence, rng=rng)
    diff = float(d.mean())
    mde = min_detectable_difference(_sd(d, a, b), n, alpha=alpha)
    return PairedStats(
        n=n,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=diff,
        ci_low=ci_low,
        ci_high=ci_high,
        test=test,
        p_value=p,
        n_down=n_down,
        n_up=n_up,
        mde=mde,
        note=power_note(n, diff, p, mde, alpha=alpha),
    )


def _clustered_stats(
    a: np.ndarray,
    b: np.ndarray,
    cluster: np.ndarray,
    resamples: int,
    confidence: float,
    alpha: float,
    seed: int,
) -> PairedStats:
    """:func:`paired_stats` over pairs grouped into clusters (``cluster``: 0..G-1 per pair)."""
    d = np.round(b - a, _DECIMALS)
    sums, sizes = np.bincount(cluster, weights=d), np.bincount(cluster)
    means = np.round(sums / sizes, _DECIMALS)  # each case's mean difference
    g = len(sizes)
    ci_low = ci_high = None
    if g >= 2:
        rng = np.random.default_rng(seed)
        ci_low, ci_high = cluster_bootstrap_ci(sums, sizes, resamples, confidence, rng)
    diff = float(d.mean())
    p = wilcoxon_p(means)
    sd = float(means.std(ddof=1)) if g >= 2 else None
    mde = min_detectable_difference(sd, g, alpha=alpha)
    return PairedStats(
        n=len(d),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=diff,
        ci_low=ci_low,
        ci_high=ci_high,
        test="wilcoxon",
        p_value=p,
        n_down=int((d < 0).sum()),
        n_up=int((d > 0).sum()),
        mde=mde,
        note=power_note(g, diff, p, mde, alpha=alpha),
        n_clusters=g,
    )


def cluster_bootstrap_ci(
    sums: np.ndarray,
    sizes: np.ndarray,
    resamples: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile interval of the mean when whole clusters are resampled with replacement:
    cluster ``i`` holds ``sizes[i]`` values summing to ``sums[i]``. A resample's mean is
    the sum of its clusters' sums over the sum of their sizes; with equal sizes that is the
    mean of cluster means, so the fast :func:`bootstrap_means` applies to those."""
    if (sizes == sizes[0]).all():
        means = bootstrap_means(sums / sizes, resamples, rng)
    else:
        g = len(sizes)
        rows = max(1, _CHUNK // g)
        parts = []
        for start in range(0, resamples, rows):
            idx = rng.integers(0, g, size=(min(rows, resamples - start), g))
            parts.append(sums[idx].sum(axis=1) / sizes[idx].sum(axis=1))
        means = np.concatenate(parts)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def mcnemar_exact(n_down: int, n_up: int) -> float:
    """Exact two-sided McNemar p-value from the two counts of discordant pairs."""
    if n_down + n_up == 0:
        return 1.0
    from scipy import stats as sps  # ~0.5 s to import: only where a test is computed

    return float(sps.binomtest(n_down, n_down + n_up, 0.5).pvalue)


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the differences (zeros dropped)."""
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return 1.0  # no case changed
    from scipy import stats as sps

    return float(sps.wilcoxon(nonzero, zero_method="wilcox").pvalue)


def bootstrap_ci(
    d: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``d`` (the paired differences)."""
    means = bootstrap_means(d, resamples, rng)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_means(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The means of ``resamples`` samples of ``len(d)`` values drawn from ``d`` with replacement.

    Each resample's number of draws of each frequent value is drawn at once (one
    multinomial per resample), which is exactly distributed as drawing indices. The
    draws that fall on the other, rarer values are drawn index by index while that
    costs at most ``_EXACT_DRAWS`` draws; beyond it (large samples of continuous
    values) those values are cut, in sorted order, into ``_STRATA`` strata whose
    counts are drawn exactly by the multinomial too, and only the sum of the draws
    inside each narrow stratum comes from its normal limit (mean ``c * mu``, variance
    ``c * sigma**2``). The strata hold a tiny share of the spread, so the interval
    matches the index-by-index bootstrap far within its own Monte Carlo error.
    """
    n = len(d)
    values, counts = np.unique(d, return_counts=True)
    order = np.argsort(counts, kind="stable")[::-1][:_MAX_HEAVY]
    heavy = np.sort(order[counts[order] >= _MIN_HEAVY_COUNT])
    light = np.ones(len(values), dtype=bool)
    light[heavy] = False
    rest = np.repeat(values[light], counts[light])  # sorted
    if len(rest) * resamples <= _EXACT_DRAWS:
        probs = np.append(counts[heavy], len(rest)) / n
        draws = rng.multinomial(n, probs, size=resamples)
        sums = draws[:, :-1] @ values[heavy]
        if len(rest):
            sums += _sum_of_draws(rest, draws[:, -1], rng)
        return sums / n
    # The values farthest from the middle (the tails, where skew lives) stay exact.
    n_exact = _EXACT_DRAWS // resamples
    far = np.argpartition(-np.abs(rest - np.median(rest)), n_exact)[:n_exact]
    near = np.ones(len(rest), dtype=bool)
    near[far] = False
    exact, middle = rest[far], rest[near]
    strata = np.array_split(middle, min(_STRATA, len(middle)))
    sizes = np.array([len(s) for s in strata])
    mu = np.array([s.mean() for s in strata])
    var = np.array([s.var() for s in strata])
    probs = np.concatenate((counts[heavy], sizes, [len(exact)])) / n
    draws = rng.multinomial(n, probs, size=resamples)
    k = draws[:, len(heavy) : -1]
    sums = draws[:, : len(heavy)] @ values[heavy] + k @ mu
    sums += np.sqrt(k @ var) * rng.standard_normal(resamples)
    sums += _sum_of_draws(exact, draws[:, -1], rng)
    return sums / n


def _sum_of_draws(pool: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each resample i, the sum of ``k[i]`` values drawn uniformly from ``pool``."""
    out = np.zeros(len(k))
    ends = np.cumsum(k)
    start = 0
    while start < len(k):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + _CHUNK, side="right")))
        kk = k[start:stop]
        if kk.any():
            values = pool[rng.integers(0, len(pool), size=int(kk.sum()))]
            offsets = np.concatenate(([0], np.cumsum(kk)[:-1]))
            some = kk > 0
            out[start:stop][some] = np.add.reduceat(values, offsets[some])
        start = stop
    return out


def min_detectable_difference(
    sd: float | None, n: int, *, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """The smallest mean difference a paired test on ``n`` cases finds with ``power``.

    The usual normal approximation: (z(1 - alpha/2) + z(power)) * sd / sqrt(n), with
    ``sd`` the standard deviation of the paired differences.
    """
    if sd is None or n < 2 or sd <= 0:
        return None
    from scipy import stats as sps

    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    return float(z * sd / math.sqrt(n))


def min_cases_for_significance(alpha: float = ALPHA) -> int:
    """Fewer paired cases than this can never give p < alpha (2 x 0.5**n is the least p)."""
    return math.ceil(math.log2(2 / alpha) - 1e-12)


def power_note(
    n: int, diff: float | None, p: float | None, mde: float | None, *, alpha: float = ALPHA
) -> str | None:
    """A warning that the suite is too small for the question, or None when it is not."""
    least = min_cases_for_significance(alpha)
    if n < least:
        return (
            f"only {n} paired case(s): with fewer than {least}, no difference can reach "
            f"p < {alpha:g}; add cases"
        )
    if p is not None and p >= alpha and mde is not None and diff is not None and abs(diff) < mde:
        return (
            f"too few cases to detect a difference this small: with n={n}, differences "
            f"under ±{mde:.3g} are likely missed (80% power, α={alpha:g})"
        )
    return None


def _sd(d: np.ndarray, a: np.ndarray, b: np.ndarray) -> float | None:
    """The spread of the differences; when none is observed, the independence bound."""
    if len(d) < 2:
        return None
    sd = float(d.std(ddof=1))
    if sd > 0:
        return sd
    bound = math.sqrt(float(a.var(ddof=1) + b.var(ddof=1)))
    return bound if bound > 0 else None
