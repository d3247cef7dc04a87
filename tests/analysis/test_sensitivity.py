"""Prompt sensitivity: spread across a family's versions and the share of flipping rows."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from harness.analysis.sensitivity import flip_rates
from tests.analysis.factory import analyze, result, score


def test_spread_and_flips_by_hand() -> None:
    verdicts = {"a": [1, 1, 1, 0], "b": [1, 0, 1, 0], "c": [1, 1, 0, 0]}
    results = [
        result(f"r{i}", passed=bool(v), prompt_id=p, prompt_family="qa")
        for p, vs in verdicts.items()
        for i, v in enumerate(vs)
    ]
    results.append(result("r0", passed=False, prompt_id="other"))  # no family: left out
    found = analyze("prompt_sensitivity", results, max_spread=0.2, max_flip_rate=0.3)
    (family,) = found.data["families"]
    assert [v["mean"] for v in family["versions"]] == [0.75, 0.5, 0.5]
    assert (family["min"], family["max"], family["spread"]) == (0.5, 0.75, 0.25)
    assert family["std"] == pytest.approx(np.std([0.75, 0.5, 0.5], ddof=1))
    # r0 and r3 agree everywhere; r1 and r2 flip
    assert (family["n_rows"], family["flip_rate"]) == (4, 0.5)
    assert family["pairwise_flips"] == [[0, 0.25, 0.25], [0.25, 0, 0.5], [0.25, 0.5, 0]]
    assert found.flags == [
        "qa · m: pass rate spread 0.250 > 0.2",
        "qa · m: 50.0% of rows flip > 30.0%",
    ]
    assert [c.kind for c in found.charts] == ["bar", "matrix"]


def test_flip_rates_equal_brute_force_on_random_matrices() -> None:
    rng = random.Random(5)
    for _ in range(200):
        rows, k = rng.randint(0, 12), rng.randint(2, 5)
        m = np.array([[rng.random() < 0.6 for _ in range(k)] for _ in range(rows)], dtype=bool)
        m = m.reshape(rows, k)
        flip, pairwise = flip_rates(m)
        if rows == 0:
            assert flip is None
            continue
        assert flip == pytest.approx(sum(len(set(r)) > 1 for r in m.tolist()) / rows)
        for a, b in itertools.combinations(range(k), 2):
            assert pairwise[a][b] == pytest.approx(sum(r[a] != r[b] for r in m.tolist()) / rows)


def test_metric_family_filter_all_versions_and_errors() -> None:
    results = [
        result(f"r{i}", prompt_id=p, scores=[score("f1", v)])
        for p, vals in {"v1": [0.2, 0.9], "v2": [0.6, 0.7]}.items()
        for i, v in enumerate(vals)
    ]
    found = analyze("prompt_sensitivity", results, metric="f1")
    (family,) = found.data["families"]  # no family declared: every version together
    assert family["family"] == "(all)" and family["spread"] == pytest.approx(0.1)
    assert family["flip_rate"] == 0.5  # r0: 0.2 fails, 0.6 passes
    only_one = [r for r in results if r.prompt_id == "v1"]
    assert "two or more versions" in analyze("prompt_sensitivity", only_one).error
    tagged = [r.model_copy(update={"prompt_family": "x"}) for r in results]
    assert "two or more versions" in analyze("prompt_sensitivity", tagged, family="y").error


def test_versions_in_a_fixed_order_whatever_order_the_cases_finished_in() -> None:
    results = [
        result(f"r{i}", passed=(i + len(p)) % 2 == 0, prompt_id=p, prompt_family="qa")
        for p in ("v3", "v1", "v22")
        for i in range(4)
    ]
    first = analyze("prompt_sensitivity", results)
    assert first.data == analyze("prompt_sensitivity", results[::-1]).data
    assert [v["prompt_id"] for v in first.data["families"][0]["versions"]] == ["v1", "v22", "v3"]
