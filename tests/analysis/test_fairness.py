"""The fairness analysis against fairlearn called directly, in verdict and label mode."""

from __future__ import annotations

import random

import fairlearn.metrics as fm
import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from harness.analysis.fairness import MISSING_GROUP
from tests.analysis.factory import analyze, result, score

GROUPS = ["north", "south", "east", "西部"]


def _by_group(cell: dict) -> dict[str, dict]:
    return {g["group"]: g for g in cell["groups"]}


def test_verdict_mode_equals_fairlearn_on_random_runs() -> None:
    rng = random.Random(3)
    for trial in range(25):
        groups = GROUPS[: rng.randint(2, 4)]
        n = rng.randint(2, 50)
        g = [rng.choice(groups) for _ in range(n)]
        skew = {name: rng.random() for name in groups}
        passed = [rng.random() < skew[x] for x in g]
        results = [
            result(f"r{i}", passed=p, vars={"grp": x})
            for i, (p, x) in enumerate(zip(passed, g, strict=True))
        ]
        found = analyze("fairness", results, group="grp", threshold=0.2, resamples=200)
        (cell,) = found.data["cells"]
        y_true, y_pred, sf = np.ones(n, dtype=int), np.array(passed, dtype=int), np.array(g)
        assert cell["demographic_parity_difference"] == pytest.approx(
            fm.demographic_parity_difference(y_true, y_pred, sensitive_features=sf)
        )
        ratio = fm.demographic_parity_ratio(y_true, y_pred, sensitive_features=sf)
        assert cell["demographic_parity_ratio"] == (
            None if np.isnan(ratio) else pytest.approx(ratio)
        )
        assert cell["equalized_odds_difference"] is None
        frame = fm.MetricFrame(
            metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=sf
        )
        rows = _by_group(cell)
        assert {k: v["accuracy"] for k, v in rows.items()} == pytest.approx(
            frame.by_group.to_dict()
        )
        assert {k: v["n"] for k, v in rows.items()} == {x: g.count(x) for x in set(g)}
        for row in rows.values():
            if row["accuracy_low"] is not None:
                assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
        over = cell["demographic_parity_difference"] > 0.2
        assert any("demographic parity difference" in f for f in found.flags) == over, trial


def test_label_mode_equals_fairlearn_on_random_runs() -> None:
    rng = random.Random(11)
    for _ in range(12):
        n = rng.randint(4, 60)
        g = [rng.choice(GROUPS[:3]) for _ in range(n)]
        truth = [rng.choice(["approve", "deny"]) for _ in range(n)]
        said = [
            t if rng.random() < 0.7 else rng.choice(["Approve.", "DENY", "unsure"]) for t in truth
        ]
        results = [
            result(f"r{i}", output=o, expected=[t], vars={"region": x})
            for i, (t, o, x) in enumerate(zip(truth, said, g, strict=True))
        ]
        found = analyze(
            "fairness", results, group="region", positive_label="Approve", resamples=200
        )
        (cell,) = found.data["cells"]
        y_true = np.array([t == "approve" for t in truth], dtype=int)
        y_pred = np.array([o.lower().strip(".") == "approve" for o in said], dtype=int)
        sf = np.array(g)
        for name in ("demographic_parity_difference", "demographic_parity_ratio",
                     "equalized_odds_difference"):  # fmt: skip
            reference = getattr(fm, name)(y_true, y_pred, sensitive_features=sf)
            expected = None if np.isnan(reference) else pytest.approx(reference)
            assert cell[name] == expected, name
        frame = fm.MetricFrame(
            metrics={"tpr": fm.true_positive_rate, "fpr": fm.false_positive_rate,
                     "sel": fm.selection_rate, "acc": accuracy_score},
            y_true=y_true, y_pred=y_pred, sensitive_features=sf,
        )  # fmt: skip
        for name, row in _by_group(cell).items():
            ref = frame.by_group.loc[name]
            assert row["true_positive_rate"] == pytest.approx(ref["tpr"])
            assert row["false_positive_rate"] == pytest.approx(ref["fpr"])
            assert row["selection_rate"] == pytest.approx(ref["sel"])
            assert row["accuracy"] == pytest.approx(ref["acc"])
        assert cell["accuracy_difference"] == pytest.approx(frame.difference()["acc"])


def test_flags_tables_and_chart() -> None:
    results = [result(f"a{i}", passed=True, vars={"g": "a"}) for i in range(10)]
    results += [result(f"b{i}", passed=i < 5, vars={"g": "b"}) for i in range(10)]
    found = analyze("fairness", results, group="g", threshold=0.3, min_ratio=0.8)
    assert found.flags == [
        "v1 · m: demographic parity difference 0.500 > 0.3",
        "v1 · m: demographic parity ratio 0.500 < 0.8",
    ]  # the pass rate difference is the parity difference here: not flagged twice
    disparity, per_group = found.tables
    assert disparity.flagged_rows == [0]
    assert [r[2] for r in per_group.rows] == ["a", "b"]
    (chart,) = found.charts
    assert chart.categories == ["a", "b"] and chart.values == [1.0, 0.5]
    assert chart.low[0] == chart.high[0] == 1.0 and chart.low[1] < 0.5 < chart.high[1]
    assert found.versions["fairlearn"]


def test_metric_scorer_missing_group_and_errors() -> None:
    results = [
        result("a", passed=False, vars={"g": "x"}, scores=[score("f1", 0.9)]),
        result("b", passed=False, vars={}, scores=[score("f1", 0.1)]),
    ]
    found = analyze("fairness", results, group="g", metric="f1")
    groups = {g["group"]: g["accuracy"] for g in found.data["cells"][0]["groups"]}
    assert groups == {"x": 1.0, MISSING_GROUP: 0.0}
    assert "no case has the group variable 'sex'" in analyze("fairness", results, group="sex").error
    assert (
        "no case has a score of 'rougeL'"
        in analyze("fairness", results, group="g", metric="rougeL").error
    )
