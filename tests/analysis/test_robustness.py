"""PDR by hand, paired with the clean case; CIs from scipy's paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.outcomes import MetricParams
from harness.analysis.robustness import pdr, pdr_ci
from harness.compare.stats import paired_stats
from tests.analysis.factory import analyze, result, score


def _pair(row: str, clean: bool, perturbed: bool, name: str = "typo", **kw: object) -> list:
    return [
        result(row, passed=clean, **kw),
        result(f"{row}~{name}", passed=perturbed, clean_row_id=row, perturbation=name, **kw),
    ]


def _drops(found) -> dict[tuple[str, str], dict]:
    return {(d["prompt_id"], d["perturbation"]): d for d in found.data["drops"]}


def test_pdr_by_hand_per_perturbation_and_overall() -> None:
    # typo: clean 4/4 pass, perturbed 2/4 -> PDR 1 - 0.5/1 = 0.5
    # upper: clean 4/4, perturbed 3/4 -> PDR 0.25; overall: 1 - 5/8 = 0.375
    results = []
    for i, (typo, upper) in enumerate([(True, True), (False, True), (True, False), (False, True)]):
        results += _pair(f"r{i}", True, typo)
        results.append(
            result(f"r{i}~upper", passed=upper, clean_row_id=f"r{i}", perturbation="upper")
        )
    found = analyze("robustness", results, max_pdr=0.3, resamples=500)
    drops = _drops(found)
    assert drops[("v1", "typo")]["pdr"] == pytest.approx(0.5)
    assert drops[("v1", "upper")]["pdr"] == pytest.approx(0.25)
    assert drops[("v1", "overall")]["pdr"] == pytest.approx(0.375)
    assert drops[("v1", "overall")]["n"] == 8
    typo = drops[("v1", "typo")]
    assert (typo["n_down"], typo["n_up"], typo["test"]) == (2, 0, "mcnemar")
    assert typo["pdr_low"] <= 0.5 <= typo["pdr_high"]
    assert found.flags == [
        "v1 · m: PDR under typo 0.500 > 0.3",
        "v1 · m: PDR under overall 0.375 > 0.3",
    ]
    assert found.tables[0].flagged_rows == [0, 2]
    assert found.charts[0].categories == ["v1 · m · typo", "v1 · m · upper", "v1 · m · overall"]
    worse = found.tables[1]
    assert sorted(r[2] for r in worse.rows) == ["r1", "r2", "r3"]


def test_pdr_of_a_continuous_scorer_and_the_paired_difference() -> None:
    clean = [0.6, 0.8, 0.5, 1.0, 0.2]
    perturbed = [0.3, 0.8, 0.4, 0.5, 0.2]
    results = []
    for i, (c, q) in enumerate(zip(clean, perturbed, strict=True)):
        results.append(result(f"r{i}", scores=[score("f1", c)]))
        results.append(
            result(f"r{i}~ws", scores=[score("f1", q)], clean_row_id=f"r{i}", perturbation="ws")
        )
    results.append(
        result("r9~ws", scores=[score("f1", 0.0)], clean_row_id="gone", perturbation="ws")
    )
    found = analyze("robustness", results, metric="f1", resamples=500)
    d = _drops(found)[("v1", "ws")]
    assert d["pdr"] == pytest.approx(1 - sum(perturbed) / sum(clean))
    reference = paired_stats(np.array(clean), np.array(perturbed), resamples=500)
    assert (d["n"], d["diff"], d["diff_low"], d["p_value"], d["test"]) == (
        5, pytest.approx(reference.diff), pytest.approx(reference.ci_low),
        pytest.approx(reference.p_value), "wilcoxon",
    )  # fmt: skip


def test_pdr_interval_and_undefined_cases() -> None:
    params = MetricParams(resamples=2000)
    assert pdr(np.zeros(3), np.zeros(3)) is None
    assert pdr_ci(np.zeros(3), np.ones(3), params) == (None, None)
    assert pdr_ci(np.ones(4), np.ones(4), params) == (0.0, 0.0)
    rng = np.random.default_rng(1)
    c = (rng.random(200) < 0.8).astype(float)
    q = c * (rng.random(200) < 0.7)
    low, high = pdr_ci(c, q, params)
    assert low < pdr(c, q) < high and low > 0 and high < 0.5
    # a clean mean of 0 in some resamples leaves those out instead of warning
    low, high = pdr_ci(np.array([1.0, 0, 0, 0, 0, 0]), np.zeros(6), params)
    assert low == high == 1.0


def test_paraphrases_pair_with_the_family_first_version() -> None:
    results = []
    for i in range(4):
        results.append(result(f"r{i}", passed=True, prompt_family="qa"))
        results.append(result(f"r{i}", passed=i < 3, prompt_id="v2", prompt_family="qa"))
    found = analyze("robustness", results)
    assert _drops(found)[("v1", "paraphrase:v2")]["pdr"] == pytest.approx(0.25)
    assert analyze("robustness", results, paraphrases=False).error.startswith("no perturbed case")


def test_overall_resamples_clean_cases_not_pairs_that_share_one() -> None:
    # 6 perturbations of 5 rows: the overall interval must not shrink as if 30 pairs were
    # independent; it is the interval of each clean case against its perturbed mean.
    names = [f"p{k}" for k in range(6)]
    results = []
    for i, broke in enumerate([True, False, True, False, False]):
        results.append(result(f"r{i}", passed=True))
        results += [
            result(f"r{i}~{n}", passed=not broke, clean_row_id=f"r{i}", perturbation=n)
            for n in names
        ]
    overall = _drops(analyze("robustness", results, resamples=500))[("v1", "overall")]
    assert (overall["n"], overall["cases"], overall["pdr"]) == (30, 5, pytest.approx(0.4))
    per_case = paired_stats(np.ones(5), np.array([0.0, 1, 0, 1, 1]), resamples=500)
    assert overall["diff_low"] == pytest.approx(per_case.ci_low)
    assert overall["p_value"] == pytest.approx(per_case.p_value)
    low, high = pdr_ci(np.ones(5), np.array([0.0, 1, 0, 1, 1]), MetricParams(resamples=500))
    assert (overall["pdr_low"], overall["pdr_high"]) == (pytest.approx(low), pytest.approx(high))


def test_rows_in_a_fixed_order_whatever_order_the_cases_finished_in() -> None:
    results = []
    for i in range(3):
        for p in ("v2", "v1"):
            results += _pair(f"r{i}", True, i > 0, "zz", prompt_id=p, prompt_family="qa")
            results += _pair(f"r{i}", True, i > 1, "aa", prompt_id=p, prompt_family="qa")
    first = analyze("robustness", results, resamples=200)
    again = analyze("robustness", results[::-1], resamples=200)
    assert first.tables == again.tables and first.data == again.data
    order = [(d["prompt_id"], d["perturbation"]) for d in first.data["drops"]]
    assert order == [
        ("v1", "aa"), ("v1", "zz"), ("v1", "paraphrase:v2"), ("v1", "overall"),
        ("v2", "aa"), ("v2", "zz"), ("v2", "overall"),
    ]  # fmt: skip


def test_a_reference_outside_its_family_is_an_error() -> None:
    results = [
        result("r0", prompt_family="qa"),
        result("r0", prompt_id="v2", prompt_family="qa"),
        result("r0", prompt_id="x", prompt_family="other"),
    ]
    found = analyze("robustness", results, references={"qa": "x"})
    assert found.error == "references: prompt version 'x' is not in family 'qa' (its family: other)"
