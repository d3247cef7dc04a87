"""The `label` scorer agrees case by case with the classification analysis' reading of labels."""

from __future__ import annotations

import random

from harness.analysis.labels import LabelParams, LabelReader
from harness.scorers.registry import get_scorer

SYNONYMS = {"positive": ["pos", "积极"], "negative": ["neg", "消极"]}


def test_spellings_and_synonyms() -> None:
    scorer = get_scorer("label", {"synonyms": SYNONYMS})
    assert scorer.score("  Positive. ", ["positive"], {}).value == 1.0
    assert scorer.score("ＰＯＳ！", ["positive"], {}).value == 1.0
    assert scorer.score("积极", ["Positive"], {}).value == 1.0
    wrong = scorer.score("neg", ["positive"], {})
    assert (wrong.value, wrong.answer) == (0.0, "negative")
    assert get_scorer("label", {}).score("积极", ["positive"], {}).value == 0.0


def test_agrees_with_the_analysis_reader_on_random_spellings() -> None:
    rng = random.Random(3)
    reader = LabelReader(LabelParams(synonyms=SYNONYMS))
    scorer = get_scorer("label", {"synonyms": SYNONYMS})
    forms = ["positive", "Positive!", "POS", " pos ", "积极", "negative.", "NEG", "消极", "meh"]
    for _ in range(300):
        output, expected = rng.choice(forms), rng.choice(forms[:8])
        same = reader.canonical(output) == reader.canonical(expected)
        assert scorer.score(output, [expected], {}).value == float(same)
