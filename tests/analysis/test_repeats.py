"""pass@k, pass^k and flaky cases of repeated runs, checked by brute force and by the
HumanEval paper's own (numerically stable) form of the estimator."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from harness.analysis.repeats import pass_at_k, pass_hat_k, repeat_summaries
from harness.results.models import CaseResult
from tests.ci.helpers import result


def humaneval_pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. 2021, Figure 3."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_pass_at_k_and_pass_hat_k_by_brute_force(n: int) -> None:
    for c in range(n + 1):
        samples = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            draws = list(combinations(samples, k))
            assert pass_at_k(n, c, k) == pytest.approx(sum(map(any, draws)) / len(draws))
            assert pass_hat_k(n, c, k) == pytest.approx(sum(map(all, draws)) / len(draws))
            assert pass_at_k(n, c, k) == pytest.approx(humaneval_pass_at_k(n, c, k))


def test_by_hand() -> None:
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2) / C(5,2)
    assert pass_hat_k(5, 2, 2) == pytest.approx(1 / 10)  # C(2,2) / C(5,2)
    assert pass_at_k(5, 2, 1) == pass_hat_k(5, 2, 1) == pytest.approx(0.4)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, 1, 0), (3, 1, 4), (0, 0, 1)])
def test_impossible_counts_are_refused(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= c <= n"):
        pass_at_k(n, c, k)


def sample(
    row: str, i: int, passed: bool, prompt: str = "v1", error: str | None = None
) -> CaseResult:
    r = result(row, passed=passed, prompt_id=prompt, error=error)
    return r.model_copy(update={"repeat": i, "case_id": f"{r.case_id}-{i}"})


def test_summaries_per_group_with_flaky_cases_and_errors_as_failures() -> None:
    results = [
        *(sample("a", i, True) for i in range(3)),
        *(sample("b", i, ok) for i, ok in enumerate([True, False, False])),
        *(sample("c", i, False, error="boom" if i == 0 else None) for i in range(3)),
        *(sample("a", i, i == 2, prompt="v2") for i in range(3)),
    ]
    v1, v2 = repeat_summaries(results)
    assert (v1.prompt_id, v1.k, v1.samples, len(v1.cases)) == ("v1", 3, 9, 3)
    assert v1.pass_rate == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert v1.pass_at_k == pytest.approx((1 + 1 + 0) / 3)
    assert v1.pass_hat_k == pytest.approx((1 + 0 + 0) / 3)
    assert [(c.row_id, c.passed, c.n) for c in v1.flaky] == [("b", 1, 3)]
    assert [c.row_id for c in v2.flaky] == ["a"]


def test_k_is_the_fewest_samples_of_a_case() -> None:
    results = [sample("a", i, True) for i in range(4)] + [sample("b", i, False) for i in range(2)]
    (group,) = repeat_summaries(results)
    assert group.k == 2 and group.pass_at_k == pytest.approx(0.5)


def test_a_run_without_repeats_has_no_repeat_summary() -> None:
    assert repeat_summaries([result("a"), result("b")]) == []
