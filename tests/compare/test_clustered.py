"""Repeated cases in comparisons: the N samples of a case are one cluster, and the bootstrap
resamples cases, not samples (the naive interval is about sqrt(N) times too narrow)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from harness.compare import compare, from_results, join_runs
from harness.compare.baseline import baseline_from, load_baseline, write_baseline
from harness.compare.records import PASS, from_store
from harness.compare.stats import bootstrap_ci, cluster_bootstrap_ci, paired_stats
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore
from tests.compare.helpers import T0, case


def correlated(rows: int, samples: int, seed: int = 3) -> tuple[np.ndarray, ...]:
    """Pass/fail of A and B where each row's samples all agree: a row is hard or easy."""
    rng = np.random.default_rng(seed)
    a_row = (rng.random(rows) < 0.5).astype(float)
    b_row = (rng.random(rows) < 0.7).astype(float)
    a, b = np.repeat(a_row, samples), np.repeat(b_row, samples)
    return a, b, np.repeat(np.arange(rows), samples)


def test_resampling_cases_widens_the_interval_of_correlated_samples() -> None:
    a, b, clusters = correlated(rows=40, samples=5)
    naive = paired_stats(a, b, resamples=4000)
    clustered = paired_stats(a, b, resamples=4000, clusters=clusters)
    assert clustered.diff == naive.diff and clustered.n == naive.n == 200
    assert (clustered.n_clusters, naive.n_clusters) == (40, None)
    ratio = (clustered.ci_high - clustered.ci_low) / (naive.ci_high - naive.ci_low)
    assert ratio == pytest.approx(np.sqrt(5), rel=0.15)
    # with equal clusters, resampling cases is the bootstrap of the per-case means
    per_case = (b - a).reshape(40, 5).mean(axis=1)
    rng = np.random.default_rng(0)
    assert (clustered.ci_low, clustered.ci_high) == bootstrap_ci(per_case, resamples=4000, rng=rng)
    # and the test is over the 40 cases, not the 200 samples
    assert clustered.test == "wilcoxon" and clustered.p_value > naive.p_value


def test_unequal_clusters_match_resampling_them_one_by_one() -> None:
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 6, size=30)
    d = [rng.normal(rng.normal(0.1, 0.5), 0.2, size=k) for k in sizes]
    sums = np.array([x.sum() for x in d])
    low, high = cluster_bootstrap_ci(sums, sizes, 20_000, 0.95, np.random.default_rng(1))
    brute = []
    draw = np.random.default_rng(2)
    for _ in range(20_000):
        pick = draw.integers(0, 30, size=30)
        brute.append(sums[pick].sum() / sizes[pick].sum())
    assert (low, high) == pytest.approx(tuple(np.quantile(brute, [0.025, 0.975])), abs=0.02)


def test_clusters_of_one_change_nothing() -> None:
    a, b, _ = correlated(rows=50, samples=1)
    assert paired_stats(a, b, clusters=np.arange(50)) == paired_stats(a, b)


def test_clusters_must_label_every_pair() -> None:
    with pytest.raises(ValueError, match="clusters must label every pair"):
        paired_stats(np.zeros(3), np.ones(3), clusters=np.arange(2))


def repeated_run(run_id: str, passes: list[list[bool]]) -> list[CaseResult]:
    """``passes[row][i]``: whether sample i of the row passed."""
    return [
        case(row, passed=ok, run_id=run_id).model_copy(
            update={"repeat": i, "case_id": f"{run_id}-{row}-{i}"}
        )
        for row, samples in enumerate(passes)
        for i, ok in enumerate(samples)
    ]


def test_comparing_repeated_runs_pairs_samples_and_resamples_cases() -> None:
    rng = np.random.default_rng(7)
    rows = 30
    a_rows, b_rows = rng.random(rows) < 0.4, rng.random(rows) < 0.8
    a = repeated_run("run-a", [[bool(x)] * 4 for x in a_rows])
    b = repeated_run("run-b", [[bool(x)] * 4 for x in b_rows])
    joined = join_runs(from_results(a, "run-a"), from_results(b, "run-b"))
    assert len(joined.pairs) == 120 and not joined.duplicates  # sample i with sample i
    s = compare(joined, {"exact": True}, resamples=2000).stats(PASS)
    assert s is not None and (s.n, s.n_clusters) == (120, 30)
    # the same outcomes as 120 independent cases give a narrower, wrong interval
    flat = [r.model_copy(update={"repeat": 0, "row_id": r.case_id[6:]}) for r in a]
    flat_b = [r.model_copy(update={"repeat": 0, "row_id": r.case_id[6:]}) for r in b]
    naive = compare(
        join_runs(from_results(flat, "run-a"), from_results(flat_b, "run-b")),
        {"exact": True},
        resamples=2000,
    ).stats(PASS)
    assert naive is not None and naive.n_clusters is None and naive.diff == s.diff
    assert (s.ci_high - s.ci_low) > 1.5 * (naive.ci_high - naive.ci_low)


def test_digests_and_baselines_stored_before_repeats_read_as_repeat_0(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    store.save_run(RunRecord(run_id="old", suite_name="s", suite_path="s.yaml", suite_hash="h",
                             created_at=T0, harness_version="0"))  # fmt: skip
    store.add_result(case(1, run_id="old").model_copy(update={"repeat": 2}))
    (packed,) = [d for _, d in store.iter_digests("old")]
    assert packed[-1] == 2
    with sqlite3.connect(store.path) as db:  # as an earlier version wrote it: no repeat slot
        db.execute("UPDATE results SET digest = ?", (json.dumps(packed[:-1]),))
    (record,) = from_store(store, "old").records
    assert record.repeat == 0 and record.row_id == "1"
    baseline = baseline_from(from_results([case(1)], "r", store.get_run("old").model_copy(
        update={"status": "complete"})))  # fmt: skip
    path = write_baseline(baseline, tmp_path / "b.json")
    assert '"repeat"' not in path.read_text()  # a suite run once: its baseline file unchanged
    assert load_baseline(path).cases[0].repeat == 0
