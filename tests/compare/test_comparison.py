"""compare(): every metric on every slice, regressions and fixes, and the public names."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

import harness.compare
from harness.compare import (
    ALL,
    PASS,
    CompareError,
    compare,
    from_results,
    join_prompts,
    join_runs,
)
from tests.compare.helpers import case


def _runs() -> tuple:  # type: ignore[type-arg]
    """Run B breaks rows 0-5 and fixes rows 30-31; rouge drops by 0.1 on odd rows."""
    a_cases, b_cases = [], []
    for i in range(40):
        a_pass = i < 30
        b_pass = (i >= 6 and i < 30) or i in (30, 31)
        a_cases.append(case(i, passed=a_pass, rouge=0.8, output=f"answer {i}"))
        b_cases.append(
            case(i, run_id="run-b", passed=b_pass, rouge=0.8 - 0.1 * (i % 2), output=f"reply {i}")
        )
    a_cases.append(case(100, case_set="hard", passed=False))
    b_cases.append(case(100, case_set="hard", run_id="run-b", passed=True))
    return from_results(a_cases, "run-a"), from_results(b_cases, "run-b")


def test_headline_numbers_and_regressions() -> None:
    a, b = _runs()
    c = compare(join_runs(a, b), a.higher_is_better, resamples=2000)
    assert [m.name for m in c.metrics] == [PASS, "exact", "rougeL", "toxicity"]
    assert [m.binary for m in c.metrics] == [True, True, False, False]
    assert [m.higher_is_better for m in c.metrics] == [True, True, True, False]
    s = c.stats(PASS)
    assert s is not None
    assert (s.n, s.n_down, s.n_up) == (40, 6, 2)  # the bad-case set is not in "all"
    assert s.mean_a == pytest.approx(30 / 40) and s.mean_b == pytest.approx(26 / 40)
    assert s.p_value == pytest.approx(sps.binomtest(6, 8).pvalue)
    assert [p.a.row_id for p in c.regressions] == [str(i) for i in range(6)]
    assert [p.a.row_id for p in c.fixes] == ["30", "31", "100"]
    rouge = c.stats("rougeL")
    assert rouge is not None and rouge.test == "wilcoxon"
    assert rouge.diff == pytest.approx(-0.05)
    assert rouge.ci_low <= -0.05 <= rouge.ci_high
    assert c.worse(next(r for r in c.rows if r.metric == "rougeL" and r.slice == ALL))


def test_slices_tags_sets_and_groups() -> None:
    a, b = _runs()
    c = compare(join_runs(a, b), a.higher_is_better, resamples=500)
    assert [s.name for s in c.slices] == [ALL, "tag:even", "tag:odd", "set:hard"]
    odd = c.stats("rougeL", "tag:odd")
    even = c.stats("rougeL", "tag:even")
    assert odd is not None and even is not None
    assert odd.diff == pytest.approx(-0.1) and even.diff == 0
    hard = c.stats(PASS, "set:hard")
    assert hard is not None and (hard.n, hard.n_up) == (1, 1)
    assert c.stats(PASS, "tag:nope") is None

    results = [case(i, provider=m, prompt=p) for p in ("v1", "v2") for m in ("gpt", "qwen")
               for i in range(4)]  # fmt: skip
    (within,) = join_prompts(from_results(results, "run"), "v1")
    c = compare(within, {"rougeL": True}, metrics=["rougeL"], resamples=200)
    assert [s.name for s in c.slices][:3] == [ALL, "group:v2 · gpt", "group:v2 · qwen"]
    assert [m.name for m in c.metrics] == [PASS, "rougeL"]


def test_lower_is_better_metric_direction() -> None:
    a = from_results([case(i) for i in range(30)], "A")
    worse = [case(i, run_id="B") for i in range(30)]
    for r in worse:
        r.scores[2].value = 0.4  # toxicity up from 0.1: worse
    c = compare(join_runs(a, from_results(worse, "B")), a.higher_is_better, resamples=500)
    row = next(r for r in c.rows if r.metric == "toxicity" and r.slice == ALL)
    assert row.stats.diff == pytest.approx(0.3) and c.worse(row)


def test_unknown_metric_says_what_exists() -> None:
    a, b = _runs()
    with pytest.raises(CompareError, match=r"unknown metric 'rouge_l'\. Did you mean 'rougeL'\?"):
        compare(join_runs(a, b), a.higher_is_better, metrics=["rouge_l"])


def test_metric_values_agree_with_numpy() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((2, 60))
    a = from_results([case(i, rouge=float(values[0, i])) for i in range(60)], "A")
    b = from_results([case(i, run_id="B", rouge=float(values[1, i])) for i in range(60)], "B")
    s = compare(join_runs(a, b), a.higher_is_better, resamples=500).stats("rougeL")
    assert s is not None
    assert s.diff == pytest.approx(values[1].mean() - values[0].mean())
    assert s.p_value == pytest.approx(sps.wilcoxon(values[1], values[0]).pvalue)


def test_exported_names() -> None:
    for name in harness.compare.__all__:
        assert hasattr(harness.compare, name), name
    public = {n for n in vars(harness.compare) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(harness.compare, n)).__name__ == "module"}
    assert public - modules == set(harness.compare.__all__)
