"""The shipped example suites run offline end to end and store their analyses."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import run_suite
from harness.results.store import ResultStore

SUITES = Path(__file__).resolve().parents[2] / "suites"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ResultStore:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return ResultStore(tmp_path / "home" / "results.db")


def _run(name: str, store: ResultStore) -> dict:
    outcome = run_suite(SUITES / name, store=store)
    assert outcome.stats.errors == 0
    found = {a.id: a for a in store.analyses(outcome.run.run_id)}
    assert all(a.error is None for a in found.values()), {k: a.error for k, a in found.items()}
    return found


def test_classification_suite(store: ResultStore) -> None:
    (cell,) = _run("classification.yaml", store)["classification"].data["cells"]
    assert cell["n"] == 24 and cell["matrix_labels"][:3] == ["positive", "negative", "neutral"]
    assert 0.6 < cell["averaged"]["f1_macro"] < 0.9  # synonyms and full-width forms counted
    assert sum(map(sum, cell["confusion"])) == 24


def test_fairness_suite(store: ResultStore) -> None:
    found = _run("fairness.yaml", store)
    verdict, label = found["fairness-pass-rate"], found["fairness-complaints"]
    groups = {g["group"]: g["accuracy"] for g in verdict.data["cells"][0]["groups"]}
    assert groups == {"mainland": 1.0, "taiwan": pytest.approx(4 / 6), "hongkong": 0.5}
    assert verdict.flags and label.data["cells"][0]["equalized_odds_difference"] > 0.2


def test_robustness_suite_pairs_perturbed_and_paraphrased_cases(store: ResultStore) -> None:
    found = _run("robustness.yaml", store)
    drops = {(d["prompt_id"], d["perturbation"]): d for d in found["robustness"].data["drops"]}
    # v1 passes 7 of 8 clean questions; under typos e2 and z1 also fail: PDR = 1 - 5/7
    assert drops[("v1", "typo")]["pdr"] == pytest.approx(1 - 5 / 7)
    assert drops[("v1", "whitespace")]["pdr"] == 0.0
    assert drops[("v1", "overall")]["n"] == 6 * 8
    assert drops[("v1", "paraphrase:v1-terse")]["pdr"] == pytest.approx(1 - 5 / 7)
    (family,) = found["prompt_sensitivity"].data["families"]
    assert (family["min"], family["max"]) == (5 / 8, 7 / 8) and family["flip_rate"] == 3 / 8


def test_redteam_suite(store: ResultStore) -> None:
    rates = _run("redteam.yaml", store)["attack_success"].data["rates"]
    by = {(r["variable"], r["value"]): r for r in rates}
    assert by[("overall", "(all)")]["n"] == 24
    assert {v for k, v in by if k == "category"} == {"prompt_leak", "prompt_injection", "jailbreak"}
    assert 0 < by[("overall", "(all)")]["asr"] < 1
