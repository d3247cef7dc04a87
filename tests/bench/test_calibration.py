"""Calibration figures: hand-checked examples, and agreement with independent code
(scikit-learn where it has the same definition, plain loops where it does not)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from harness.bench.calibration import (
    aurc,
    brier,
    brier_top1,
    calibrate,
    expected_calibration_error,
    reliability,
    selective_curve,
    softmax,
)

sklearn_calibration = pytest.importorskip("sklearn.calibration")
sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _random(seed: int, n: int, ties: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 4)) * 2
    if ties:
        logits = np.round(logits)  # many identical rows: equal confidences
    probs = softmax(logits)
    labels = rng.integers(0, 4, n)
    correct = probs.argmax(axis=1) == labels
    return probs, labels, correct


# --- hand-checked -------------------------------------------------------------------


def test_softmax_matches_scipy_and_is_stable() -> None:
    x = np.array([[-11.7, -11.3, -11.5, -11.4], [1000.0, 0.0, 0.0, 0.0]])
    assert np.allclose(softmax(x), scipy_softmax(x, axis=1))
    assert np.allclose(softmax([0.0, 0.0, 0.0, 0.0]), 0.25)


def test_ece_one_question_per_bin() -> None:
    # |0 - .25| + |1 - .35| + |1 - .85| + |1 - .95| = 1.1, over 4 questions
    assert expected_calibration_error([0.25, 0.35, 0.85, 0.95], [0, 1, 1, 1]) == pytest.approx(
        0.275
    )


def test_ece_shared_bin_compares_means() -> None:
    # one bin (0.6, 0.7]: accuracy 2/3, mean confidence 0.64667
    assert expected_calibration_error([0.62, 0.68, 0.64], [1, 0, 1]) == pytest.approx(0.02)
    assert expected_calibration_error([0.62, 0.68, 0.64], [1, 0, 1], n_bins=1) == pytest.approx(
        abs(2 / 3 - 0.64667), abs=1e-5
    )


def test_ece_bin_edges_belong_to_the_lower_bin() -> None:
    bins = reliability([0.5, 0.5000001, 1.0, 0.0], [1, 1, 1, 0], n_bins=2)
    assert [b.count for b in bins] == [2, 2]
    assert bins[0].accuracy == 0.5 and bins[1].confidence == pytest.approx(0.75, abs=1e-6)


def test_perfect_calibration_has_zero_ece() -> None:
    conf = [0.75] * 4 + [0.25] * 4
    correct = [1, 1, 1, 0, 1, 0, 0, 0]  # 3/4 right at .75, 1/4 at .25
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)


def test_brier_multiclass_by_hand() -> None:
    probs = [[0.7, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]]
    # label 0: .3^2 + 3 * .1^2 = .12; label 1: .7^2 + .9^2 + .1^2 + .1^2 = 1.32
    assert brier(probs, [0, 1]) == pytest.approx((0.12 + 1.32) / 2)
    assert brier([[0.25] * 4], [2]) == pytest.approx(0.75)  # a uniform guess
    assert brier([[0, 0, 1, 0]], [2]) == 0.0 and brier([[1, 0, 0, 0]], [2]) == 2.0


def test_brier_top1_by_hand() -> None:
    assert brier_top1([0.7, 0.4], [1, 0]) == pytest.approx((0.09 + 0.16) / 2)


def test_selective_curve_and_aurc_by_hand() -> None:
    curve = selective_curve([0.6, 0.9, 0.7, 0.8], [0, 1, 1, 0])
    # most confident first: .9 right, .8 wrong, .7 right, .6 wrong
    assert np.allclose(curve.coverage, [0.25, 0.5, 0.75, 1.0])
    assert np.allclose(curve.accuracy, [1, 0.5, 2 / 3, 0.5])
    assert curve.aurc == pytest.approx((0 + 0.5 + 1 / 3 + 0.5) / 4)
    assert aurc([0.9, 0.8], [1, 1]) == 0.0 and aurc([0.9, 0.8], [0, 0]) == 1.0


def test_ties_count_in_expectation_not_input_order() -> None:
    assert aurc([0.9, 0.9], [1, 0]) == pytest.approx(0.5)
    assert aurc([0.9, 0.9], [0, 1]) == pytest.approx(0.5)
    assert np.allclose(selective_curve([0.5, 0.9, 0.9], [1, 1, 0]).accuracy, [0.5, 0.5, 2 / 3])


def test_calibrate_collects_everything_and_handles_no_questions() -> None:
    probs, labels, correct = _random(0, 50)
    c = calibrate(probs, labels, correct, n_bins=5)
    assert c.n == 50 and c.n_bins == 5 and len(c.bins) == 5
    assert sum(b.count for b in c.bins) == 50
    assert c.ece == pytest.approx(expected_calibration_error(probs.max(1), correct, 5))
    empty = calibrate(np.zeros((0, 4)), [], [], n_bins=10)
    assert empty.n == 0 and empty.ece is None and empty.brier is None and empty.aurc is None


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="3 confidences but 2"):
        expected_calibration_error([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_top1([1.5], [1])
    with pytest.raises(ValueError, match="n_bins"):
        reliability([0.5], [1], n_bins=0)


# --- against independent implementations ----------------------------------------------


@pytest.mark.parametrize(("seed", "n_bins"), [(1, 10), (2, 5), (3, 15), (4, 10)])
def test_reliability_bins_match_sklearn_calibration_curve(seed: int, n_bins: int) -> None:
    probs, _, correct = _random(seed, 300)
    conf = probs.max(axis=1)
    prob_true, prob_pred = sklearn_calibration.calibration_curve(
        correct, conf, n_bins=n_bins, strategy="uniform"
    )
    bins = [b for b in reliability(conf, correct, n_bins) if b.count]
    assert np.allclose([b.accuracy for b in bins], prob_true)
    assert np.allclose([b.confidence for b in bins], prob_pred)


@pytest.mark.parametrize("seed", range(5))
def test_ece_matches_a_plain_loop(seed: int) -> None:
    probs, _, correct = _random(seed, 200)
    conf = probs.max(axis=1)
    n_bins = 10
    total = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        members = [i for i in range(len(conf)) if (lo < conf[i] <= hi) or (m == 0 and conf[i] == 0)]
        if members:
            acc = sum(correct[i] for i in members) / len(members)
            mean = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean)
    assert expected_calibration_error(conf, correct, n_bins) == pytest.approx(total)


@pytest.mark.parametrize("seed", range(3))
def test_brier_matches_sklearn(seed: int) -> None:
    probs, labels, correct = _random(seed, 200)
    conf = probs.max(axis=1)
    assert brier_top1(conf, correct) == pytest.approx(
        sklearn_metrics.brier_score_loss(correct, conf)
    )
    onehot = np.eye(4)[labels]
    assert brier(probs, labels) == pytest.approx(((probs - onehot) ** 2).sum(axis=1).mean())
    try:  # scikit-learn >= 1.7 scores multi-class with the same convention (sum over classes)
        multi = sklearn_metrics.brier_score_loss(
            labels, probs, labels=[0, 1, 2, 3], scale_by_half=False
        )
    except TypeError:
        pytest.skip("this scikit-learn has no multi-class Brier score")
    assert brier(probs, labels) == pytest.approx(multi)


@pytest.mark.parametrize("seed", range(6))
def test_aurc_matches_the_average_over_every_tie_order(seed: int) -> None:
    """Brute force: every order of the questions that ranks confidence descending."""
    rng = np.random.default_rng(seed)
    n = 7
    conf = rng.choice([0.3, 0.5, 0.5, 0.7, 0.9], size=n)
    correct = rng.integers(0, 2, n)
    curves = []
    for order in itertools.permutations(range(n)):
        if all(conf[order[i]] >= conf[order[i + 1]] for i in range(n - 1)):
            hits = np.cumsum([correct[i] for i in order])
            curves.append(hits / np.arange(1, n + 1))
    mean = np.mean(curves, axis=0)
    curve = selective_curve(conf, correct)
    assert np.allclose(curve.accuracy, mean)
    assert curve.aurc == pytest.approx(float(np.mean(1 - mean)))
    assert math.isclose(curve.coverage[-1], 1.0)
