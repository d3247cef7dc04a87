"""The registry: names, laziness, parameter checking, and the public namespace."""

from __future__ import annotations

import subprocess
import sys

import pytest

import harness.scorers
from harness.errors import ScorerError
from harness.scorers import Scorer, ScoreValue, available_scorers, get_scorer

NAMES = [
    "bleu", "choice", "chrf", "contains", "equals_json", "exact", "f1", "json_schema", "regex",
    "rouge1", "rouge2", "rougeL", "rougeLsum", "not_contains", "not_regex", "label",
    "icontains", "contains_any", "contains_all", "starts_with", "is_json", "contains_json",
    "levenshtein", "word_count", "length",
]  # fmt: skip
#: Scorers that call a judge or an embedder (tested in test_judge/test_rag/test_similar).
MODEL_SCORERS = [
    "answer_correctness", "answer_relevancy", "context_precision", "context_recall",
    "faithfulness", "judge", "similar",
]  # fmt: skip
REQUIRED = {
    "regex": {"pattern": r"\w+"},
    "json_schema": {"schema": {"type": "object"}},
    "not_contains": {"value": "secret"},
    "not_regex": {"pattern": r"\w+"},
    "contains_any": {"value": ["B"]},
    "contains_all": {"value": ["B"]},
    "word_count": {"max": 10},
    "length": {"max": 10},
}


def test_exported_members():
    assert harness.scorers.__all__ == ["ScoreValue", "Scorer", "available_scorers", "get_scorer"]
    for name in harness.scorers.__all__:
        assert getattr(harness.scorers, name) is not None


def test_available_scorers():
    # python: the user's own function (tested in test_python_scorer); latency and cost read
    # the whole case (tested in test_everyday), as do the tool-call scorers (test_tool_calls)
    case_scorers = ["python", "latency", "cost", "tool_call", "tool_call_f1"]
    assert available_scorers() == sorted([*NAMES, *MODEL_SCORERS, *case_scorers])


@pytest.mark.parametrize("name", NAMES)
def test_every_scorer_builds_with_defaults_and_scores(name):
    scorer = get_scorer(name, REQUIRED.get(name, {}))
    cls = type(scorer)
    assert isinstance(scorer, Scorer)
    assert cls.name == name
    assert any("version" in vars(k) for k in cls.__mro__ if k is not Scorer)
    assert scorer.version_string.startswith(f"{name}@{cls.version}")
    assert isinstance(cls.higher_is_better, bool)
    for output in ("", "The answer is B. 答案是B", '{"a": 1}'):
        result = scorer.score(output, ['{"a": 1}'], {})
        assert isinstance(result, ScoreValue)
        assert 0.0 <= result.value <= 1.0


NEED_EXPECTED = [
    "label",
    "bleu",
    "choice",
    "chrf",
    "exact",
    "f1",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
]
#: Need an expected answer only when no `value` parameter is given.
NEED_EXPECTED_WITHOUT_VALUE = ["contains", "equals_json", "icontains", "starts_with", "levenshtein"]


@pytest.mark.parametrize("name", NAMES)
def test_needs_expected_is_declared_and_enforced(name):
    scorer = get_scorer(name, REQUIRED.get(name, {}))
    assert scorer.needs_expected is (name in NEED_EXPECTED + NEED_EXPECTED_WITHOUT_VALUE)
    if name in NEED_EXPECTED_WITHOUT_VALUE:
        assert get_scorer(name, {"value": "x"}).needs_expected is False
    if scorer.needs_expected:
        with pytest.raises(ScorerError, match=f"Scorer '{name}' needs an expected answer"):
            scorer.score("B", [], {})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "rouge_l",
            "Unknown scorer 'rouge_l'. Did you mean 'rougeL'? Available: answer_correctness, ",
        ),
        ("ROUGE1", "Did you mean 'rouge1'?"),
        ("RougeLSum", "Did you mean 'rougeLsum'?"),
        ("Exact", "Did you mean 'exact'?"),
        ("blue", "Did you mean 'bleu'?"),
        ("json-schema", "Did you mean 'json_schema'?"),
        ("chrF++", "Did you mean 'chrf'?"),
    ],
)
def test_unknown_scorer_suggests_the_closest_name(name, message):
    with pytest.raises(ScorerError) as error:
        get_scorer(name, {})
    assert str(error.value).startswith(message) or message in str(error.value)


def test_unknown_scorer_without_close_match_lists_all():
    with pytest.raises(ScorerError) as error:
        get_scorer("perplexity", {})
    available = ", ".join(available_scorers())
    assert str(error.value) == f"Unknown scorer 'perplexity'. Available: {available}"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "exact",
            {"normalise": "squad"},
            "Scorer 'exact' has no parameter 'normalise'. "
            "Did you mean 'normalize'? Accepted parameters: normalize",
        ),
        (
            "rougeL",
            {"stemmer": True},
            "Did you mean 'use_stemmer'? Accepted parameters: use_stemmer, measure",
        ),
        ("contains", {"ignorecase": True}, "Did you mean 'ignore_case'?"),
        ("bleu", {"tokenizer": "zh"}, "Did you mean 'tokenize'?"),
        ("f1", {"normalize": "squad"}, "Scorer 'f1' takes no parameters, got 'normalize'"),
        ("choice", {"letters": "ABC"}, "Accepted parameters: choices"),
    ],
)
def test_unknown_parameter_suggests_the_accepted_ones(name, params, message):
    with pytest.raises(ScorerError) as error:
        get_scorer(name, params)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "exact",
            {"normalize": "upper"},
            "parameter 'normalize' must be one of 'none', 'squad', 'lower', got 'upper'",
        ),
        (
            "rouge1",
            {"use_stemmer": "yes"},
            "parameter 'use_stemmer' must be true or false, got 'yes'",
        ),
        ("rouge1", {"use_stemmer": 1}, "must be true or false, got 1"),
        ("rouge2", {"measure": "F"}, "must be one of 'f', 'p', 'r'"),
        ("contains", {"value": 3}, "must be a string or a list of strings or null, got 3"),
        ("contains", {"value": ["a", 1]}, "must be a string or a list of strings or null"),
        ("chrf", {"word_order": True}, "parameter 'word_order' must be an integer, got True"),
        ("chrf", {"word_order": 2.0}, "must be an integer, got 2.0"),
        ("choice", {"choices": ["A", "B"]}, "parameter 'choices' must be a string"),
        ("json_schema", {"schema": "object"}, "parameter 'schema' must be a mapping, got 'object'"),
        ("regex", {"pattern": "a", "flags": None}, "parameter 'flags' must be a string, got None"),
    ],
)
def test_wrong_parameter_types_say_what_was_expected(name, params, message):
    with pytest.raises(ScorerError) as error:
        get_scorer(name, params)
    assert message in str(error.value)


@pytest.mark.parametrize(("name", "missing"), [("regex", "pattern"), ("json_schema", "schema")])
def test_missing_required_parameter(name, missing):
    with pytest.raises(ScorerError, match=f"Scorer '{name}' needs parameter\\(s\\): {missing}"):
        get_scorer(name, {})


def test_parameters_must_be_a_mapping():
    with pytest.raises(ScorerError, match="parameters must be a mapping"):
        get_scorer("exact", ["squad"])  # type: ignore[arg-type]


def test_scorer_modules_load_only_when_used():
    code = (
        "import sys\n"
        "from harness.scorers import get_scorer\n"
        "get_scorer('exact', {})\n"
        "heavy = {'rouge_score', 'nltk', 'sacrebleu', 'jsonschema', 'harness.scorers.structured'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
        "get_scorer('json_schema', {'schema': {}})\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "['harness.scorers.structured', 'jsonschema']"]
