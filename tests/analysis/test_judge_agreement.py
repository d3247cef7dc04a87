"""Judge agreement equals scikit-learn's kappa and scipy's Spearman on the same labels."""

from __future__ import annotations

import asyncio
import random

import pytest
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, cohen_kappa_score

from harness.analysis.registry import get_analysis
from harness.errors import ScorerError, SuiteError
from harness.runner.context import ScoringContext
from tests.analysis.factory import case, judge_score


def analyze(results, **params):
    analysis = get_analysis("judge_agreement", "agree", {"human_var": "human"} | params)
    return asyncio.run(analysis.analyze(results, ScoringContext()))


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(5))
def test_grades_agree_with_sklearn_and_scipy(seed, weights):
    rng = random.Random(seed)
    human = [rng.randint(1, 5) for _ in range(40)]
    judge = [min(5, max(1, h + rng.choice([-1, 0, 0, 1]))) for h in human]
    results = [
        case(str(i), vars={"human": h}, scores=[judge_score(j)])
        for i, (h, j) in enumerate(zip(human, judge, strict=True))
    ]
    results.append(case("unlabelled", scores=[judge_score(3)]))  # skipped: no human label
    results.append(case("errored", vars={"human": 2}, scores=[judge_score(None, error="x")]))
    found = analyze(results, weights=weights)
    assert found.data["n"] == 40
    assert found.data["accuracy"] == pytest.approx(accuracy_score(human, judge))
    assert found.data["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(human, judge, weights=weights)
    )
    assert found.data["spearman_rho"] == pytest.approx(spearmanr(human, judge).statistic)
    assert found.data["spearman_p"] == pytest.approx(spearmanr(human, judge).pvalue)
    matrix = found.charts[0]
    assert sum(map(sum, matrix.values)) == 40
    assert found.versions["scikit-learn"] and found.versions["scipy"]


def test_pass_fail_labels_and_the_kappa_flag():
    human = ["pass", "fail", "yes", "no", "pass", "fail", "pass", "pass"]
    passed = [True, False, True, True, False, False, True, True]
    results = [
        case(str(i), vars={"human": h}, scores=[judge_score(4, passed=p)])
        for i, (h, p) in enumerate(zip(human, passed, strict=True))
    ]
    found = analyze(results, compare="pass", min_kappa=0.8)
    h = [1, 0, 1, 0, 1, 0, 1, 1]
    j = [int(p) for p in passed]
    assert found.data["cohen_kappa"] == pytest.approx(cohen_kappa_score(h, j))
    assert found.data["accuracy"] == pytest.approx(0.75)
    assert found.flags and "below 0.8" in found.flags[0]


def test_constant_labels_give_no_kappa_or_spearman_instead_of_a_warning():
    results = [case(str(i), vars={"human": 5}, scores=[judge_score(5)]) for i in range(4)]
    found = analyze(results)
    assert found.data["accuracy"] == 1.0
    assert found.data["cohen_kappa"] is None and found.data["spearman_rho"] is None
    assert "kappa is undefined" in (found.tables[0].note or "")


def test_bad_labels_and_missing_labels_are_clear_errors():
    with pytest.raises(ScorerError, match="no case has both a human label in var 'human'"):
        analyze([case("1", scores=[judge_score(3)])])
    with pytest.raises(ScorerError, match="human grade 'great' is not an integer"):
        analyze([case("1", vars={"human": "great"}, scores=[judge_score(3)])])
    with pytest.raises(ScorerError, match="human label 'meh' is not pass/fail"):
        analyze([case("1", vars={"human": "meh"}, scores=[judge_score(3)])], compare="pass")
    with pytest.raises(SuiteError, match="missing parameter 'human_var'"):
        get_analysis("judge_agreement", "a", {})


def test_two_cases_give_a_spearman_rho_without_a_nan_p_value():
    results = [
        case(str(i), vars={"human": h}, scores=[judge_score(h)]) for i, h in enumerate([2, 4])
    ]
    found = analyze(results)
    assert found.data["spearman_rho"] == pytest.approx(1.0)
    assert found.data["spearman_p"] is None  # scipy's p is NaN for n = 2


def test_undefined_kappa_is_flagged_in_words():
    results = [case(str(i), vars={"human": 5}, scores=[judge_score(5)]) for i in range(3)]
    (flag,) = analyze(results, min_kappa=0.5).flags
    assert flag.startswith("Cohen's kappa n/a (constant labels) is below 0.5")
