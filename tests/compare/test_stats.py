"""Paired statistics, checked against scipy, brute force and hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.compare.stats import (
    bootstrap_ci,
    bootstrap_means,
    mcnemar_exact,
    min_cases_for_significance,
    min_detectable_difference,
    paired_stats,
    power_note,
    wilcoxon_p,
)

# --- McNemar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "up", "p"),
    [
        (0, 0, 1.0),
        (0, 5, 2 / 32),  # the smallest p with 5 discordant pairs: not significant
        (6, 0, 2 / 64),  # 6 all one way: significant
        (3, 10, 2 * (1 + 13 + 78 + 286) / 8192),
        (5, 5, 1.0),
        (1, 0, 1.0),
    ],
)
def test_mcnemar_by_hand(down: int, up: int, p: float) -> None:
    assert mcnemar_exact(down, up) == pytest.approx(p, rel=1e-12)


def test_mcnemar_matches_the_binomial_cdf() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        down, up = (int(x) for x in rng.integers(0, 60, size=2))
        n = down + up
        if n == 0:
            continue
        expected = min(1.0, 2 * sps.binom.cdf(min(down, up), n, 0.5))
        assert mcnemar_exact(down, up) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_pass_fail_arrays_use_mcnemar_on_the_discordant_pairs() -> None:
    rng = np.random.default_rng(2)
    for _ in range(100):
        n = int(rng.integers(1, 200))
        a = (rng.random(n) < rng.random()).astype(float)
        b = (rng.random(n) < rng.random()).astype(float)
        s = paired_stats(a, b, resamples=200)
        down = int(((a == 1) & (b == 0)).sum())
        up = int(((a == 0) & (b == 1)).sum())
        assert (s.test, s.n_down, s.n_up, s.n) == ("mcnemar", down, up, n)
        if down + up:
            assert s.p_value == pytest.approx(sps.binomtest(down, down + up).pvalue, rel=1e-12)
        assert s.diff == pytest.approx(b.mean() - a.mean())


# --- Wilcoxon ------------------------------------------------------------------------------


def _signed_rank_exact(d: np.ndarray) -> float:
    """Brute force: every sign assignment of the ranks of |d| (zeros dropped), two-sided."""
    d = d[d != 0]
    ranks = sps.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    total = ranks.sum()
    signs = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1  # every sign vector
    stats = signs @ ranks
    mean = total / 2
    extreme = np.abs(stats - mean) >= abs(observed - mean) - 1e-9
    return float(extreme.mean())


def test_wilcoxon_matches_brute_force_on_small_samples() -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(1, 11))
        d = np.round(rng.normal(size=n), 1)  # rounding makes ties and zeros
        if not (d != 0).any():
            continue
        assert wilcoxon_p(d) == pytest.approx(_signed_rank_exact(d), rel=1e-9)


def test_wilcoxon_matches_scipy_on_continuous_scores() -> None:
    rng = np.random.default_rng(4)
    for _ in range(100):
        n = int(rng.integers(2, 400))
        a = rng.random(n)
        b = np.clip(a + rng.normal(rng.normal(0, 0.05), 0.2, n), 0, 1)
        s = paired_stats(a, b, resamples=200)
        assert s.test == "wilcoxon"
        assert s.p_value == pytest.approx(sps.wilcoxon(b, a).pvalue, rel=1e-9)


def test_no_change_means_p_one() -> None:
    assert wilcoxon_p(np.zeros(20)) == 1.0


# --- the bootstrap -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_bootstrap_ci_matches_scipy_percentile_bootstrap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    kind = seed % 4
    if kind == 0:
        d = rng.normal(0.1, 1, n)
    elif kind == 1:
        d = rng.lognormal(0, 1, n)  # skewed
    elif kind == 2:
        d = rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], n)  # pass/fail differences
    else:
        d = np.where(rng.random(n) < 0.7, 0.0, rng.random(n) - rng.random(n))  # mostly unchanged
    low, high = bootstrap_ci(d, resamples=20_000, rng=np.random.default_rng(seed + 100))
    ref = sps.bootstrap(
        (d,), np.mean, method="percentile", n_resamples=20_000, rng=seed + 200
    ).confidence_interval
    se = d.std() / math.sqrt(n)
    # Monte Carlo error of a 2.5 % quantile with 20k resamples is ~0.02 se; allow 0.15.
    assert low == pytest.approx(ref.low, abs=0.15 * se)
    assert high == pytest.approx(ref.high, abs=0.15 * se)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n: rng.normal(0, 1, n),
        lambda rng, n: rng.lognormal(0, 1.5, n),
        lambda rng, n: np.where(rng.random(n) < 0.6, 0.0, rng.standard_t(3, n)),
        lambda rng, n: rng.choice([-1.0, 0.0, 1.0], n, p=[0.1, 0.8, 0.1]),
    ],
    ids=["normal", "lognormal", "ties-and-heavy-tails", "pass-fail"],
)
def test_bootstrap_distribution_matches_index_resampling(make) -> None:  # type: ignore[no-untyped-def]
    """Large samples take the multinomial and strata path: same distribution as naive."""
    rng = np.random.default_rng(7)
    n, resamples = 20_000, 4_000
    d = make(rng, n)
    ours = bootstrap_means(d, resamples, np.random.default_rng(8))
    naive_rng = np.random.default_rng(9)
    naive = np.concatenate(
        [d[naive_rng.integers(0, n, (200, n))].mean(axis=1) for _ in range(resamples // 200)]
    )
    spread = naive.std()
    assert ours.mean() == pytest.approx(d.mean(), abs=0.1 * spread)
    assert ours.std() == pytest.approx(spread, rel=0.06)
    qs = [0.025, 0.25, 0.5, 0.75, 0.975]
    np.testing.assert_allclose(np.quantile(ours, qs), np.quantile(naive, qs), atol=0.12 * spread)


def test_bootstrap_is_reproducible_and_seeded() -> None:
    d = np.random.default_rng(0).normal(size=300)
    first = bootstrap_ci(d, rng=np.random.default_rng(1))
    assert bootstrap_ci(d, rng=np.random.default_rng(1)) == first
    assert bootstrap_ci(d, rng=np.random.default_rng(2)) != first
    a, b = np.zeros(300), d
    assert paired_stats(a, b, seed=5) == paired_stats(a, b, seed=5)


def test_hundred_thousand_pairs_resampled_ten_thousand_times_quickly() -> None:
    import time

    rng = np.random.default_rng(0)
    a = rng.random(100_000)
    b = np.where(rng.random(100_000) < 0.3, rng.random(100_000), a)
    started = time.perf_counter()
    s = paired_stats(a, b, resamples=10_000)
    assert time.perf_counter() - started < 5
    assert s.ci_low < s.diff < s.ci_high


# --- edge cases ----------------------------------------------------------------------------


def test_no_pairs() -> None:
    s = paired_stats(np.array([]), np.array([]))
    assert (s.n, s.diff, s.ci_low, s.p_value, s.mde) == (0, None, None, None, None)
    assert "no case" in (s.note or "")


def test_missing_values_drop_the_pair() -> None:
    s = paired_stats(np.array([1.0, np.nan, 0.0, 1.0]), np.array([0.0, 1.0, np.nan, 1.0]))
    assert (s.n, s.mean_a, s.mean_b, s.n_down) == (2, 1.0, 0.5, 1)


def test_one_pair_has_no_interval() -> None:
    s = paired_stats(np.array([0.2]), np.array([0.7]))
    assert s.n == 1 and s.diff == pytest.approx(0.5)
    assert (s.ci_low, s.ci_high, s.mde) == (None, None, None)
    assert s.p_value == 1.0
    assert "only 1 paired case" in (s.note or "")


def test_identical_runs() -> None:
    a = np.random.default_rng(0).random(500)
    s = paired_stats(a, a.copy())
    assert (s.diff, s.ci_low, s.ci_high, s.p_value, s.n_down, s.n_up) == (0, 0, 0, 1.0, 0, 0)
    assert s.mde is not None and s.mde > 0  # from the spread of the scores themselves


def test_all_differences_tied() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    s = paired_stats(a, a + 0.3)
    assert s.diff == pytest.approx(0.3)
    assert s.ci_low == pytest.approx(0.3) and s.ci_high == pytest.approx(0.3)
    assert s.p_value == pytest.approx(2 / 32)  # 5 equal positive ranks, exact


def test_constant_values_everywhere() -> None:
    s = paired_stats(np.ones(10), np.ones(10))
    assert (s.diff, s.p_value, s.mde) == (0, 1.0, None)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="one length"):
        paired_stats(np.zeros(3), np.zeros(4))


def test_binary_is_detected_or_forced() -> None:
    a, b = np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0])
    assert paired_stats(a, b).test == "mcnemar"
    assert paired_stats(a, b, binary=False).test == "wilcoxon"
    assert paired_stats(a + 0.5, b).test == "wilcoxon"


# --- power ---------------------------------------------------------------------------------


def test_min_detectable_difference_formula() -> None:
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert min_detectable_difference(0.5, 100) == pytest.approx(z * 0.05)
    assert min_detectable_difference(0.5, 100, alpha=0.01, power=0.9) == pytest.approx(
        (sps.norm.ppf(0.995) + sps.norm.ppf(0.9)) * 0.05
    )
    assert min_detectable_difference(0.0, 100) is None
    assert min_detectable_difference(1.0, 1) is None


def test_fewest_cases_that_can_be_significant() -> None:
    least = min_cases_for_significance(0.05)
    assert least == 6
    assert mcnemar_exact(0, least) < 0.05 <= mcnemar_exact(0, least - 1)
    assert min_cases_for_significance(0.01) == 8
    assert mcnemar_exact(0, 8) < 0.01 <= mcnemar_exact(0, 7)


def test_power_notes() -> None:
    assert "no difference can reach" in (power_note(5, 0.4, 0.06, None) or "")
    assert "too few cases" in (power_note(40, 0.02, 0.5, 0.1) or "")
    assert power_note(40, 0.2, 0.5, 0.1) is None  # big enough to see; just not there
    assert power_note(40, 0.02, 0.01, 0.1) is None  # significant anyway


def test_small_suite_gets_a_note_and_large_one_does_not() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random(20) < 0.8).astype(float)
    b = a.copy()
    b[0] = 1 - b[0]
    small = paired_stats(a, b)
    assert small.note is not None and "too few" in small.note
    a = (rng.random(20_000) < 0.8).astype(float)
    b = np.where(rng.random(20_000) < 0.1, 0.0, a)
    assert paired_stats(a, b).note is None


def test_float_noise_is_neither_a_change_nor_a_broken_tie() -> None:
    a = np.array([0.7, 0.8, 0.3, 0.2, 0.1, 0.6])
    b = np.array([0.8, 0.9, 0.4, 0.3, 0.1 + 0.2 - 0.2, 0.7])  # +0.1 five times, 0.1 kept
    assert (b - a)[0] != (b - a)[1] and (b - a)[4] != 0  # as floats
    s = paired_stats(a, b)
    assert (s.n_up, s.n_down) == (5, 0)
    assert s.p_value == pytest.approx(2 / 32)  # five tied positive ranks, exactly
