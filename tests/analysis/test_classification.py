"""The classification analysis against scikit-learn called directly, and label normalisation."""

from __future__ import annotations

import random
import warnings

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from harness.analysis.labels import NO_OUTPUT, OTHER, LabelParams, LabelReader
from harness.errors import SuiteError
from tests.analysis.factory import analyze, result, score

LABELS = ["positive", "negative", "neutral", "mixed"]
#: How a model may spell each label; every spelling normalises to the label.
SPELLINGS = {
    "positive": [
        "positive",
        "Positive.",
        " POSITIVE ",
        "pos",
        "积极",
        "ＰＯＳＩＴＩＶＥ",
        "**positive**",
    ],
    "negative": ["negative", "Negative!", "neg", "消极", "negative\n"],
    "neutral": ["neutral", "Neutral", "中性", "neutral。"],
    "mixed": ["mixed", "MIXED", "混合"],
}
SYNONYMS = {"positive": ["pos", "积极"], "negative": ["neg", "消极"], "neutral": ["中性"],
            "mixed": ["混合"]}  # fmt: skip
AVERAGES = ("macro", "micro", "weighted")


def test_metrics_equal_sklearn_on_random_runs() -> None:
    rng = random.Random(7)
    for trial in range(60):
        labels = LABELS[: rng.randint(2, 4)]
        n = rng.randint(1, 40)
        truth = [rng.choice(labels) for _ in range(n)]
        pred = [t if rng.random() < 0.6 else rng.choice([*labels, OTHER]) for t in truth]
        spoken = [rng.choice(SPELLINGS[p]) if p != OTHER else "no idea" for p in pred]
        results = [
            result(f"r{i}", output=o, expected=[rng.choice(SPELLINGS[t])])
            for i, (t, o) in enumerate(zip(truth, spoken, strict=True))
        ]
        declared = labels if trial % 2 else None
        if declared is None:  # the label set is then the true labels: others are (other)
            pred = [p if p in truth else OTHER for p in pred]
        found = analyze("classification", results, synonyms=SYNONYMS, labels=declared)
        assert found.error is None, found.error
        (cell,) = found.data["cells"]
        known = labels if declared else sorted(set(truth))
        assert cell["accuracy"] == pytest.approx(accuracy_score(truth, pred))
        for average in AVERAGES:
            expected = precision_recall_fscore_support(
                truth, pred, labels=known, average=average, zero_division=0.0
            )
            got = [cell["averaged"][f"{m}_{average}"] for m in ("precision", "recall", "f1")]
            assert got == pytest.approx(list(expected[:3])), (trial, average)
        matrix_labels = known + ([OTHER] if OTHER in pred else [])
        assert cell["matrix_labels"] == matrix_labels
        with warnings.catch_warnings():  # a 1 x 1 matrix warns even with every label passed
            warnings.simplefilter("ignore", UserWarning)
            reference = confusion_matrix(truth, pred, labels=matrix_labels)
        assert cell["confusion"] == reference.tolist()
        p, r, f, s = precision_recall_fscore_support(
            truth, pred, labels=known, average=None, zero_division=0.0
        )
        for i, label in enumerate(known):
            assert cell["per_label"][label] == pytest.approx(
                {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
            )


def test_normalisation_case_whitespace_width_punctuation_and_synonyms() -> None:
    reader = LabelReader(
        LabelParams(labels=["Positive", "Negative"], synonyms={"Positive": ["积极"]})
    )
    known = reader.label_set([])
    assert known == ["Positive", "Negative"]
    for raw in ["positive", "  POSITIVE\n", "Positive.", "ＰＯＳＩＴＩＶＥ", "积极", "「积极」"]:
        assert reader.predicted_label(result("x", output=raw), known) == "Positive", raw
    assert reader.predicted_label(result("x", output="maybe"), known) == OTHER
    assert reader.predicted_label(result("x", output=None, error="boom"), known) == NO_OUTPUT
    strict = LabelReader(LabelParams(lowercase=False, strip_punctuation=False, nfkc=False))
    assert strict.normalize(" Positive. ") == "Positive."


def test_one_cell_per_prompt_and_provider_with_its_confusion_matrix() -> None:
    results = [
        result("a", output="yes", expected=["yes"], prompt_id="v1"),
        result("b", output="no", expected=["yes"], prompt_id="v1"),
        result("a", output="yes", expected=["yes"], prompt_id="v2"),
        result("b", output=None, expected=["yes"], prompt_id="v2", error="timeout"),
        result("c", output="no", expected=["no"], prompt_id="v2"),
    ]
    found = analyze("classification", results, min_macro_f1=0.9)
    cells = {c["prompt_id"]: c for c in found.data["cells"]}
    assert cells["v1"]["confusion"] == [[0, 0], [1, 1]]  # labels: no, yes (rows: true)
    assert cells["v2"]["matrix_labels"] == ["no", "yes", NO_OUTPUT]
    assert cells["v2"]["confusion"] == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert [c.title for c in found.charts] == [
        "Macro F1 per prompt version × provider",
        "Confusion matrix: v1 · m",
        "Confusion matrix: v2 · m",
    ]
    assert found.charts[1].values == [[0.0, 0.0], [1.0, 1.0]]
    assert found.flags and all("macro F1" in f for f in found.flags)
    assert found.tables[0].flagged_rows == [0, 1]
    assert found.versions["scikit-learn"]


def test_labels_from_a_scorer_answer_and_a_case_variable() -> None:
    choice = score("choice", 1.0, answer="B")
    results = [
        result("a", output="The answer is B", vars={"gold": "b"}, scores=[choice]),
        result("b", output="I pick C", vars={"gold": "c"}, scores=[score("choice", 0, answer="C")]),
    ]
    found = analyze("classification", results, answer_of="choice", label_var="gold")
    assert found.data["cells"][0]["accuracy"] == 1.0


def test_perturbed_copies_are_left_out_and_no_label_is_an_error() -> None:
    results = [
        result("a", output="yes", expected=["yes"]),
        result("a~typo", output="no", expected=["yes"], clean_row_id="a", perturbation="typo"),
    ]
    assert analyze("classification", results).data["cells"][0]["n"] == 1
    assert "no case has a true label" in (analyze("classification", [result("a")]).error or "")


def test_bad_parameters_are_suite_errors() -> None:
    with pytest.raises(SuiteError, match="min_macro_f1"):
        analyze("classification", [], min_macro_f1="high")
    with pytest.raises(SuiteError, match="labelz"):
        analyze("classification", [], labelz=["a"])


def test_a_true_label_missing_from_labels_is_an_error() -> None:
    results = [
        result("a", output="yes", expected=["yes"]),
        result("b", output="x", expected=["mixed"]),
    ]
    found = analyze("classification", results, labels=["yes", "no"])
    assert (
        found.error
        == "true label(s) 'mixed' not in labels (yes, no): add them, or map them with synonyms"
    )
