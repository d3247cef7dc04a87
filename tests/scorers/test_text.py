"""exact / f1 / contains / regex, with EM and F1 checked against the official SQuAD script."""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from pathlib import Path

import pytest

from harness.errors import ScorerError
from harness.scorers import get_scorer

SQUAD = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "datasets"
    / "squad"
    / "squad_v1.1_dev_first60.jsonl"
)


# --- Reference: the official SQuAD v1.1 evaluation script (evaluate-v1.1.py from
# https://rajpurkar.github.io/SQuAD-explorer/), functions copied verbatim. ---
# fmt: off
def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)
# fmt: on
# --- end of the official script ---

F1 = get_scorer("f1", {})
EM = get_scorer("exact", {"normalize": "squad"})


def assert_matches_official(prediction: str, ground_truths: list[str]) -> None:
    f1 = F1.score(prediction, ground_truths, {}).value
    em = EM.score(prediction, ground_truths, {}).value
    assert f1 == metric_max_over_ground_truths(f1_score, prediction, ground_truths), prediction
    assert em == float(metric_max_over_ground_truths(exact_match_score, prediction, ground_truths))


def _perturbations(row: dict, rng: random.Random) -> list[str]:
    """Predictions a reader model might give: answers edited, context windows, sentences."""
    context = row["context"]
    words = context.split()
    predictions = [""]
    for answer, start in zip(row["answers"], row["answer_starts"], strict=True):
        tokens = answer.split()
        predictions += [
            answer,
            answer.upper(),
            f"The {answer}.",
            f"an {answer.lower()}!",
            f"  {answer}\n",
            " ".join(tokens[: max(1, len(tokens) // 2)]),
            " ".join(tokens[1:]),
            answer.replace(" ", "-"),
            answer.replace(" ", ", "),
            f"{answer} ({rng.choice(words)})",
            context[max(0, start - rng.randint(0, 40)) : start + len(answer) + rng.randint(0, 40)],
        ]
    predictions += [s for s in re.split(r"(?<=\.) ", context) if rng.random() < 0.5]
    for _ in range(5):
        i = rng.randrange(len(words))
        predictions.append(" ".join(words[i : i + rng.randint(1, 8)]))
    return predictions


def test_f1_and_em_equal_official_script_on_squad_rows():
    if not SQUAD.exists():
        pytest.skip(f"{SQUAD} not present")
    rng = random.Random(1)
    rows = [json.loads(line) for line in SQUAD.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 60
    checked = 0
    for row in rows:
        for prediction in _perturbations(row, rng):
            assert_matches_official(prediction, row["answers"])
            checked += 1
    assert checked > 1500


_WORDS = [
    "a", "an", "the", "The", "A", "AN", "them", "theory", "and", "Denver", "broncos", "BRONCOS",
    "café", "naïve", "über", "50", "24–10", "Levi's", "U.S.", "(NFL)", "—", "“quoted”", "e-mail",
    "x", "the.", "a,", "ananas", "1,000", "3.14", "$5", "今天", "天气", "l'été", "ÀÉÎ", "ß",
]  # fmt: skip


def _generated(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(0, 7))
    glue = [rng.choice([" ", " ", "  ", "\t", "\n", "", ", ", ". ", "!", " - "]) for _ in words]
    return "".join(w + g for w, g in zip(words, glue, strict=True))


def test_f1_and_em_equal_official_script_on_generated_strings():
    rng = random.Random(7)
    for _ in range(3000):
        truths = [_generated(rng) for _ in range(rng.randint(1, 3))]
        prediction = rng.choice([_generated(rng), truths[0].swapcase(), f"the {truths[-1]}!"])
        assert_matches_official(prediction, truths)


@pytest.mark.parametrize(
    ("prediction", "truths"),
    [
        ("", [""]),
        ("", ["Denver"]),
        ("the", ["a"]),
        ("The Broncos!", ["broncos"]),
        ("Denver Denver", ["Denver"]),
        ("a an the", ["the the"]),
        ("Broncos", ["Denver Broncos", "the Broncos", "Broncos."]),
    ],
)
def test_f1_and_em_edge_cases(prediction, truths):
    assert_matches_official(prediction, truths)


def test_f1_reports_best_expected_and_normalized_answer():
    result = F1.score("The Denver Broncos!", ["Carolina", "Denver Broncos"], {})
    assert result.value == 1.0
    assert result.answer == "denver broncos"
    assert result.metadata["best_expected"] == "Denver Broncos"
    assert F1.default_threshold == 0.5


@pytest.mark.parametrize(
    ("normalize", "output", "expected", "value"),
    [
        ("none", "  Paris \n", ["Paris"], 1.0),
        ("none", "paris", ["Paris"], 0.0),
        ("none", "Paris.", ["Paris"], 0.0),
        ("lower", " PARIS ", ["London", "paris"], 1.0),
        ("lower", "Paris.", ["paris"], 0.0),
        ("squad", "The Paris!", ["paris"], 1.0),
        ("squad", "Paris France", ["Paris"], 0.0),
    ],
)
def test_exact_normalizations(normalize, output, expected, value):
    result = get_scorer("exact", {"normalize": normalize}).score(output, expected, {})
    assert result.value == value
    assert (result.explanation is None) == (value == 1.0)


def test_exact_defaults_to_strip_only():
    assert get_scorer("exact", {}).score(" Yes ", ["yes"], {}).value == 0.0


def test_scorers_that_need_expected_refuse_to_score_without_it():
    with pytest.raises(ScorerError, match="needs an expected answer"):
        F1.score("x", [], {})
    with pytest.raises(ScorerError, match="needs an expected answer"):
        get_scorer("contains", {}).score("x", [], {})


@pytest.mark.parametrize(
    ("params", "output", "expected", "value"),
    [
        ({"value": "Paris"}, "It is Paris.", [], 1.0),
        ({"value": "paris"}, "It is Paris.", [], 0.0),
        ({"value": "paris", "ignore_case": True}, "It is PARIS.", [], 1.0),
        ({"value": ["Paris", "France"]}, "Paris, France", [], 1.0),
        ({"value": ["Paris", "Texas"]}, "Paris, France", [], 0.0),
        ({"value": "ß", "ignore_case": True}, "STRASSE", [], 1.0),
        ({}, "The capital is Paris.", ["London", "Paris"], 1.0),
        ({}, "The capital is paris.", ["Paris"], 0.0),
        ({"ignore_case": True}, "The capital is paris.", ["Paris"], 1.0),
        ({}, "北京是首都", ["北京"], 1.0),
    ],
)
def test_contains(params, output, expected, value):
    assert get_scorer("contains", params).score(output, expected, {}).value == value


def test_contains_explains_what_is_missing():
    result = get_scorer("contains", {"value": ["a", "zz"]}).score("abc", [], {})
    assert "zz" in result.explanation


@pytest.mark.parametrize(
    ("params", "output", "value", "answer"),
    [
        ({"pattern": r"\d{4}"}, "in 2016 it", 1.0, "2016"),
        ({"pattern": r"^yes$"}, "YES", 0.0, None),
        ({"pattern": r"^yes$", "flags": "i"}, "YES", 1.0, "YES"),
        ({"pattern": r"^b$", "flags": "m"}, "a\nb\nc", 1.0, "b"),
        ({"pattern": r"a.b", "flags": "s"}, "a\nb", 1.0, "a\nb"),
        ({"pattern": r"a . b", "flags": "xi"}, "A\tB", 1.0, "A\tB"),
    ],
)
def test_regex(params, output, value, answer):
    result = get_scorer("regex", params).score(output, [], {})
    assert (result.value, result.answer) == (value, answer)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pattern": "("}, "invalid pattern"),
        ({"pattern": "a", "flags": "iq"}, "unknown flag"),
    ],
)
def test_regex_rejects_bad_config_when_built(params, message):
    with pytest.raises(ScorerError, match=message):
        get_scorer("regex", params)
