"""The run summary, checked against a plain-Python recomputation on random result sets."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime

import pytest

from harness.analysis.summary import GroupSummary, RunSummary, summarize
from harness.providers.base import Message
from harness.results.models import CaseResult, Score

SCORERS = [("exact_match", True), ("rougeL", True), ("toxicity", False)]
TAGS = ["math", "geo", "中文", "long"]


def case(
    i: int,
    *,
    prompt_id: str = "v1",
    provider_id: str = "gpt",
    case_set: str = "main",
    scores: list[Score] | None = None,
    tags: list[str] | None = None,
    error: str | None = None,
    passed: bool = True,
    latency_s: float | None = None,
    cost_usd: float | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> CaseResult:
    return CaseResult(
        run_id="run",
        case_id=f"case-{i}",
        request_key=f"key-{i}",
        prompt_id=prompt_id,
        provider_id=provider_id,
        model=f"{provider_id}-model",
        case_set=case_set,
        row_id=f"row-{i}",
        tags=tags or [],
        messages=[Message(role="user", content=f"问题 {i}")],
        output=None if error else "答案",
        error=error,
        latency_s=latency_s,
        cost_usd=cost_usd,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        scores=scores or [],
        passed=passed,
        finished_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def score(name: str, value: float | None, higher: bool = True) -> Score:
    return Score(
        scorer=name,
        version="1",
        value=value,
        threshold=0.5,
        passed=None if value is None else value >= 0.5,
        higher_is_better=higher,
    )


def random_results(rng: random.Random) -> list[CaseResult]:
    """A run with random groups, tags, errors, scores and gaps (None) in every number."""
    results = []
    maybe = lambda make: make() if rng.random() < 0.7 else None  # noqa: E731
    for i in range(rng.randint(1, 120)):
        error = "boom" if rng.random() < 0.1 else None
        scores = [] if error else [
            score(name, maybe(lambda: round(rng.random(), 3)), higher)
            for name, higher in SCORERS
            if rng.random() < 0.8
        ]  # fmt: skip
        results.append(
            case(
                i,
                prompt_id=rng.choice(["v1", "v2", "v3"]),
                provider_id=rng.choice(["gpt", "qwen"]),
                case_set=rng.choice(["main", "main", "main", "bad-2024"]),
                scores=scores,
                tags=rng.sample(TAGS, rng.randint(0, 2)),
                error=error,
                passed=error is None and rng.random() < 0.6,
                latency_s=maybe(lambda: rng.uniform(0.01, 5)),
                cost_usd=maybe(lambda: rng.uniform(0, 0.01)),
                prompt_tokens=maybe(lambda: rng.randint(1, 500)),
                completion_tokens=maybe(lambda: rng.randint(1, 500)),
            )
        )
    return results


def p95(values: list[float]) -> float:
    """The 95th percentile, interpolating linearly between order statistics."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def expected_group(cases: list[CaseResult], headline: list[str]) -> dict:
    """The group's numbers, recomputed with loops and the statistics module."""
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    latencies = [c.latency_s for c in cases if c.latency_s is not None]
    tokens = [
        (c.prompt_tokens or 0) + (c.completion_tokens or 0)
        for c in cases
        if c.prompt_tokens is not None or c.completion_tokens is not None
    ]
    metrics = {}
    for name in headline:
        values = [
            s.value for c in cases for s in c.scores if s.scorer == name and s.value is not None
        ]
        metrics[name] = statistics.fmean(values) if values else None
    return {
        "n": len(cases),
        "n_errors": sum(c.error is not None for c in cases),
        "pass_rate": sum(c.passed for c in cases) / len(cases),
        "metrics": metrics,
        "cost_total": sum(costs) if costs else None,
        "cost_mean": statistics.fmean(costs) if costs else None,
        "latency_mean": statistics.fmean(latencies) if latencies else None,
        "latency_p95": p95(latencies) if latencies else None,
        "tokens_total": sum(tokens) if tokens else None,
    }


def assert_matches(got: GroupSummary, want: dict) -> None:
    for key, value in want.items():
        actual = getattr(got, key)
        if key == "metrics":
            assert actual.keys() == value.keys()
            for name, v in value.items():
                assert_close(actual[name], v, f"{got} {name}")
        else:
            assert_close(actual, value, f"{got} {key}")


def assert_close(actual: float | None, want: float | None, where: str) -> None:
    if want is None:
        assert actual is None, where
    else:
        assert actual is not None and math.isclose(actual, want, rel_tol=1e-9, abs_tol=1e-12), (
            where,
            actual,
            want,
        )


def cell(c: CaseResult | GroupSummary) -> tuple[str, str, str]:
    return (c.case_set, c.prompt_id, c.provider_id)


@pytest.mark.parametrize("seed", range(25))
def test_groups_match_an_independent_computation(seed: int) -> None:
    results = random_results(random.Random(seed))
    summary = summarize(results)
    assert {cell(g) for g in summary.groups} == {cell(c) for c in results}
    for g in summary.groups:
        members = [c for c in results if cell(c) == cell(g)]
        assert g.tag is None
        assert_matches(g, expected_group(members, summary.headline))


@pytest.mark.parametrize("seed", range(25))
def test_tags_match_an_independent_computation(seed: int) -> None:
    results = random_results(random.Random(seed))
    summary = summarize(results)
    keys = {(*cell(c), t) for c in results for t in c.tags}
    assert {(*cell(g), g.tag) for g in summary.by_tag} == keys
    for g in summary.by_tag:
        members = [c for c in results if cell(c) == cell(g) and g.tag in c.tags]
        assert_matches(g, expected_group(members, summary.headline))


def test_headline_in_order_of_first_appearance() -> None:
    results = [
        case(0, scores=[score("rougeL", 0.5)]),
        case(1, scores=[score("toxicity", 0.1, higher=False), score("exact_match", 1.0)]),
        case(2, scores=[score("rougeL", 0.2), score("bleu", 0.3)]),
    ]
    summary = summarize(results)
    assert summary.headline == ["rougeL", "toxicity", "exact_match", "bleu"]
    assert summary.higher_is_better == {
        "rougeL": True,
        "toxicity": False,
        "exact_match": True,
        "bleu": True,
    }


def test_missing_numbers_are_none_not_zero_or_nan() -> None:
    results = [
        case(0, scores=[score("exact_match", None)], passed=False),
        case(1, error="timeout", passed=False),
        case(2, prompt_id="v2", scores=[score("rougeL", 0.0)], cost_usd=0.0, latency_s=0.0),
    ]
    summary = summarize(results)
    v1 = summary.group("main", "v1", "gpt")
    assert v1 is not None
    assert v1.metrics == {"exact_match": None, "rougeL": None}
    assert v1.cost_total is None and v1.cost_mean is None
    assert v1.latency_mean is None and v1.latency_p95 is None
    assert v1.tokens_total is None
    assert (v1.n, v1.n_errors, v1.pass_rate) == (2, 1, 0.0)
    v2 = summary.group("main", "v2", "gpt")
    assert v2 is not None
    # A measured zero stays a zero.
    assert v2.metrics == {"exact_match": None, "rougeL": 0.0}
    assert (v2.cost_total, v2.cost_mean, v2.latency_mean, v2.latency_p95) == (0.0, 0.0, 0.0, 0.0)
    assert summary.group("main", "v3", "gpt") is None
    assert summary.model_dump_json()  # JSON-safe: no NaN anywhere


def test_tokens_count_whichever_side_was_reported() -> None:
    results = [case(0, prompt_tokens=10), case(1, completion_tokens=5), case(2)]
    (group,) = summarize(results).groups
    assert group.tokens_total == 15
    assert isinstance(group.tokens_total, int)


def test_a_case_repeated_in_two_sets_counts_in_each() -> None:
    results = [case(0, passed=True), case(0, case_set="bad", passed=False)]
    summary = summarize(results)
    assert [(g.case_set, g.n, g.pass_rate) for g in summary.groups] == [
        ("main", 1, 1.0),
        ("bad", 1, 0.0),
    ]


def test_empty_run() -> None:
    assert summarize([]) == RunSummary(groups=[], by_tag=[], headline=[])


def test_scoring_errors_are_counted_apart_from_call_errors() -> None:
    broken = Score(
        scorer="judge",
        version="judge@1",
        value=None,
        threshold=0.5,
        passed=False,
        error="VerdictError: unparseable",
    )
    fine = Score(scorer="judge", version="judge@1", value=1.0, threshold=0.5, passed=True)
    results = [case(i, scores=[broken if i % 3 == 0 else fine]) for i in range(6)]
    (group,) = summarize(results).groups
    assert (group.n_errors, group.n_score_errors) == (0, 2)


def test_headline_cells_leave_perturbed_copies_to_the_tag_rows() -> None:
    results = [case(i, passed=True) for i in range(4)]
    for i in range(4):
        copy = case(10 + i, passed=False, tags=["perturbed:typo"])
        results.append(copy.model_copy(update={"perturbation": "typo", "clean_row_id": f"row-{i}"}))
    summary = summarize(results)
    (group,) = summary.groups
    assert (group.n, group.pass_rate) == (4, 1.0)
    (tagged,) = summary.by_tag
    assert (tagged.tag, tagged.n, tagged.pass_rate) == ("perturbed:typo", 4, 0.0)


def test_numbers_match_pandas_groupby() -> None:
    """The running sums give pandas' groupby numbers (what the summary computed before):
    exactly for counts and token totals, to the last bits for compensated means."""
    import pandas as pd

    rng = random.Random(7)
    latencies = [rng.uniform(0, 3) * 10 ** rng.randint(-3, 2) for _ in range(500)]
    costs = [rng.random() / 1000 for _ in latencies]
    results = [
        case(i, latency_s=x, cost_usd=c, prompt_tokens=i, completion_tokens=2 * i)
        for i, (x, c) in enumerate(zip(latencies, costs, strict=True))
    ]
    (group,) = summarize(results).groups
    by = [0] * len(latencies)
    assert group.latency_mean == pytest.approx(pd.Series(latencies).groupby(by).mean()[0], 1e-14)
    assert group.cost_total == pytest.approx(pd.Series(costs).groupby(by).sum()[0], 1e-14)
    assert group.latency_p95 == pd.Series(latencies).groupby(by).quantile(0.95)[0]
    assert group.tokens_total == 3 * sum(range(500))
    # compensated: 1e16 and 1.0 do not lose the 1.0 as a plain running sum does
    (big,) = summarize([case(i, latency_s=x) for i, x in enumerate([1e16, 1.0, 1.0])]).groups
    assert big.latency_mean == (1e16 + 2) / 3


def test_summary_imports_no_pandas() -> None:
    """Importing pandas cost ~0.5 s of every `harness run`; the summary does without it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from harness.analysis.summary import summarize\n"
        "summarize([])\n"
        "print('pandas' in sys.modules)\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_the_quantile_is_numpys_to_the_last_bit() -> None:
    """The p95 is computed without numpy (its import cost every run ~0.17 s) and must be
    numpy.quantile's linear quantile exactly: ties, integers, tiny and huge spreads, any q."""
    import numpy as np

    from harness.analysis.summary import _quantile

    rng = np.random.default_rng(7)
    for trial in range(3000):
        n = int(rng.integers(1, 60))
        kind = trial % 4
        if kind == 0:
            values = rng.exponential(0.3, n).tolist()
        elif kind == 1:
            values = rng.integers(0, 5, n).astype(float).tolist()  # ties
        elif kind == 2:
            values = (rng.normal(0, 1, n) * 10.0 ** rng.integers(-12, 12)).tolist()
        else:
            values = rng.integers(0, 1000, n).tolist()  # ints
        q = 0.95 if trial % 3 else float(rng.random())
        assert _quantile(values, q) == float(np.quantile(values, q)), (values, q)
    assert _quantile([], 0.95) is None
