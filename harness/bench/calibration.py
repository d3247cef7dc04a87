"""Calibration of multiple-choice answers from the four answer-letter probabilities.

``probs`` is the softmax over the loglikelihoods of " A" .. " D" (one row per question),
``confidence`` its largest entry (the probability of the chosen letter), and ``correct``
whether the chosen letter is the answer.

* **ECE** (expected calibration error, Guo et al. 2017): ``n_bins`` equal-width bins of
  confidence on [0, 1], bin m holding ``(m-1)/M < conf <= m/M`` (the first bin also 0);
  ``ECE = sum_m |B_m|/n * |accuracy(B_m) - mean confidence(B_m)|``. The binning is
  scikit-learn's ``calibration_curve(strategy="uniform")``.
* **Brier score**, multi-class (Brier 1950): ``mean_i sum_k (p_ik - y_ik)^2`` with y the
  one-hot answer; 0 is perfect, 2 the worst, 0.75 a uniform guess over four letters.
  ``brier_top1`` is the binary score of the top choice, ``mean_i (conf_i - correct_i)^2``
  (scikit-learn's ``brier_score_loss(correct, confidence)``).
* **Selective accuracy / coverage**: answer only the k most confident questions
  (coverage k/n) and measure their accuracy. Questions with equal confidence are taken
  in random order, in expectation (so the curve does not depend on the input order).
  **AURC** is the area under the risk-coverage curve (risk = 1 - selective accuracy),
  ``mean_k risk(k)`` (Geifman & El-Yaniv 2017); lower is better, and ``1 - AURC`` is the
  area under the selective-accuracy curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from harness.bench.defaults import DEFAULT_BINS
from harness.bench.models import Calibration, ReliabilityBin


def softmax(logliks: ArrayLike) -> np.ndarray:
    """Row-wise softmax of loglikelihoods (one row per question)."""
    x = np.asarray(logliks, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def reliability(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int = DEFAULT_BINS
) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1]: count, accuracy and mean confidence of each."""
    conf, ok = _check(confidence, correct)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], conf, side="left")
    counts = np.bincount(ids, minlength=n_bins)
    hits = np.bincount(ids, weights=ok, minlength=n_bins)
    confs = np.bincount(ids, weights=conf, minlength=n_bins)
    return [
        ReliabilityBin(
            lower=float(edges[m]),
            upper=float(edges[m + 1]),
            count=int(counts[m]),
            accuracy=float(hits[m] / counts[m]) if counts[m] else None,
            confidence=float(confs[m] / counts[m]) if counts[m] else None,
        )
        for m in range(n_bins)
    ]


def expected_calibration_error(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int = DEFAULT_BINS
) -> float:
    bins = reliability(confidence, correct, n_bins)
    n = sum(b.count for b in bins)
    if n == 0:
        raise ValueError("ECE of no questions")
    return sum(
        b.count / n * abs(b.accuracy - b.confidence)
        for b in bins
        if b.accuracy is not None and b.confidence is not None
    )


def brier(probs: ArrayLike, labels: ArrayLike) -> float:
    """Multi-class Brier score: mean over questions of sum over classes of (p - y)^2."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or len(p) != len(y) or len(p) == 0:
        raise ValueError("brier: probs must be (n, k) and labels (n,), n > 0")
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def brier_top1(confidence: ArrayLike, correct: ArrayLike) -> float:
    conf, ok = _check(confidence, correct)
    return float(((conf - ok) ** 2).mean())


@dataclass(frozen=True)
class Curve:
    """Selective accuracy at each coverage k/n, k = 1..n (most confident first)."""

    coverage: np.ndarray
    accuracy: np.ndarray

    @property
    def aurc(self) -> float:
        return float((1.0 - self.accuracy).mean())


def selective_curve(confidence: ArrayLike, correct: ArrayLike) -> Curve:
    """The selective-accuracy / coverage curve; ties in confidence count in expectation."""
    conf, ok = _check(confidence, correct)
    n = len(conf)
    if n == 0:
        raise ValueError("selective accuracy of no questions")
    order = np.argsort(-conf, kind="stable")
    c, y = conf[order], ok[order]
    new = np.r_[True, c[1:] != c[:-1]]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, n])
    group_hits = np.add.reduceat(y, starts)
    before = np.r_[0.0, np.cumsum(group_hits)[:-1]]
    k = np.arange(1, n + 1)
    taken = k - starts[group]
    expected = before[group] + taken * group_hits[group] / sizes[group]
    return Curve(coverage=k / n, accuracy=expected / k)


def aurc(confidence: ArrayLike, correct: ArrayLike) -> float:
    return selective_curve(confidence, correct).aurc


def calibrate(
    probs: ArrayLike, labels: ArrayLike, correct: ArrayLike, n_bins: int = DEFAULT_BINS
) -> Calibration:
    """Every calibration figure of a set of questions (all None when there are none)."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1, 4)
    if len(p) == 0:
        bins = reliability(np.zeros(0), np.zeros(0), n_bins)
        return Calibration(
            n=0, ece=None, n_bins=n_bins, brier=None, brier_top1=None, aurc=None, bins=bins
        )
    conf = p.max(axis=1)
    return Calibration(
        n=len(p),
        ece=expected_calibration_error(conf, correct, n_bins),
        n_bins=n_bins,
        brier=brier(p, labels),
        brier_top1=brier_top1(conf, correct),
        aurc=aurc(conf, correct),
        bins=reliability(conf, correct, n_bins),
    )


def _check(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    ok = np.asarray(correct, dtype=np.float64).ravel()
    if conf.shape != ok.shape:
        raise ValueError(f"{len(conf)} confidences but {len(ok)} correctness flags")
    if len(conf) and (conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must lie in [0, 1]")
    return conf, ok
