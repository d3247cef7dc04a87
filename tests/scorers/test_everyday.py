"""The everyday assertions: substrings, JSON, Levenshtein, size bounds, latency and cost.

Unit tests score strings directly (Chinese and edge cases included); bad parameters are
refused when the suite loads, at the assertion's line; two suites run end to end, one on
stored outputs (no latency or cost: an error, never a pass) and one on an app that reports
what its calls took and cost (a cached rerun keeps the original numbers).
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from harness.api import prepare, run_suite
from harness.cli import main
from harness.errors import ScorerError, SuiteError
from harness.scorers import ScoreValue, get_scorer
from harness.scorers.case import CaseView
from harness.scorers.json_found import embedded_json
from harness.scorers.limits import count_words
from tests.providers.apps import app_home, write_suite

__all__ = ["app_home"]


def score(name: str, params: dict[str, object], output: str, expected=()) -> ScoreValue:
    return get_scorer(name, params).score(output, list(expected), {})


def view(latency_s: float | None = None, cost_usd: float | None = None) -> CaseView:
    return CaseView.build(
        vars={},
        expected=[],
        messages=[],
        provider_id="p",
        prompt_id="q",
        row_id="r",
        latency_s=latency_s,
        cost_usd=cost_usd,
    )


def score_case(name: str, params: dict[str, object], case: CaseView) -> ScoreValue:
    return asyncio.run(get_scorer(name, params).score_case("out", case))


NFD_CAFE = unicodedata.normalize("NFD", "café")

# --- icontains, contains_any, contains_all, starts_with -------------------------------


@pytest.mark.parametrize(
    ("output", "value", "passes"),
    [
        ("The answer is PARIS.", "paris", True),
        ("die STRASSE", "straße", True),  # casefold, not lower(): ß ~ ss
        ("ΣΊΣΥΦΟΣ", "σίσυφος", True),  # final sigma
        (NFD_CAFE.upper(), "café", True),  # decomposed accent, other case
        ("un café noir", NFD_CAFE, True),
        (NFD_CAFE, "cafe", False),  # "e" + accent is not "e"
        ("答案是北京。", "北京", True),
        ("答案是北京。", "上海", False),
        ("ＡＢＣ", "abc", False),  # full-width is not a case
        ("", "x", False),
    ],
)
def test_icontains(output: str, value: str, passes: bool) -> None:
    result = score("icontains", {"value": value}, output)
    assert result.value == float(passes)
    assert (value in (result.explanation or "")) or not passes
    if passes:
        assert result.answer == value


def test_icontains_without_value_looks_for_any_expected_answer() -> None:
    scorer = get_scorer("icontains", {"value": None})
    assert scorer.needs_expected
    assert scorer.score("It is BEIJING", ["Shanghai", "Beijing"], {}).answer == "Beijing"
    missed = scorer.score("Tokyo", ["Shanghai", "Beijing"], {})
    assert missed.value == 0.0
    assert missed.explanation == "contains none of ['Shanghai', 'Beijing']"
    with pytest.raises(ScorerError, match="needs an expected answer"):
        scorer.score("x", [], {})
    with pytest.raises(ScorerError, match="an expected answer has an empty string"):
        scorer.score("x", ["a", ""], {})


@pytest.mark.parametrize(
    ("params", "output", "any_value", "all_value"),
    [
        ({"value": ["red", "green", "blue"]}, "red and blue", 1.0, 2 / 3),
        ({"value": ["red", "green", "blue"]}, "RED GREEN BLUE", 0.0, 0.0),
        ({"value": ["red", "green"], "case_sensitive": False}, "RED GREEN", 1.0, 1.0),
        ({"value": ["北京", "上海", "广州"]}, "北京和上海", 1.0, 2 / 3),
        ({"value": ["北京", "上海"]}, "深圳", 0.0, 0.0),
        ({"value": ["x"]}, "", 0.0, 0.0),
        ({"value": ["é"]}, NFD_CAFE, 1.0, 1.0),
    ],
)
def test_contains_any_and_all(
    params: dict[str, object], output: str, any_value: float, all_value: float
) -> None:
    assert score("contains_any", params, output).value == any_value
    assert score("contains_all", params, output).value == pytest.approx(all_value)


def test_contains_all_explains_what_is_missing() -> None:
    result = score("contains_all", {"value": ["北京", "上海", "广州"]}, "北京和上海")
    assert result.explanation == "missing ['广州']"
    assert get_scorer("contains_all", {"value": ["a"]}).passes(result.value, 1.0) is False
    assert score("contains_all", {"value": ["a", "b"]}, "ab").explanation == "contains all 2"
    assert score("contains_any", {"value": ["a", "b"]}, "xb").answer == "b"


@pytest.mark.parametrize(
    ("params", "output", "passes"),
    [
        ({"value": "Yes"}, "Yes, it is.", True),
        ({"value": "Yes"}, "\n  Yes, it is.", True),  # leading whitespace ignored
        ({"value": "Yes"}, "yes, it is.", False),
        ({"value": "Yes", "case_sensitive": False}, "YES!", True),
        ({"value": ["A", "B"]}, "B. Paris", True),
        ({"value": "答："}, "答：北京", True),
        ({"value": "答："}, "北京。答：北京", False),
        ({"value": "  Yes"}, "Yes", True),
        ({"value": "Yes"}, "", False),
    ],
)
def test_starts_with(params: dict[str, object], output: str, passes: bool) -> None:
    assert score("starts_with", params, output).value == float(passes)


def test_starts_with_expected_answers_and_its_explanation() -> None:
    assert score("starts_with", {}, " 北京是首都", ["上海", "北京"]).answer == "北京"
    result = score("starts_with", {"value": "Yes"}, "No way")
    assert result.explanation == "starts with none of ['Yes']"


# --- is_json, contains_json -----------------------------------------------------------

OBJECT_WITH_A = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("output", "passes"),
    [
        ('{"a": 1}', True),
        (" [1, 2]\n", True),
        ('"just a string"', True),
        ("42", True),
        ('{"城市": "北京"}', True),
        ("NaN", False),
        ('{"a": Infinity}', False),
        ('```json\n{"a": 1}\n```', False),  # a fence is not JSON: contains_json
        ('{"a": 1} and more', False),
        ("{'a': 1}", False),
        ("", False),
        ("[" * 100_000, False),
    ],
)
def test_is_json(output: str, passes: bool) -> None:
    result = score("is_json", {}, output)
    assert result.value == float(passes), result.explanation
    if not passes:
        assert result.explanation.startswith("output is not JSON: ")


def test_is_json_constants_say_why() -> None:
    assert score("is_json", {}, "[NaN]").explanation == "output is not JSON: NaN is not JSON"


@pytest.mark.parametrize(
    ("output", "passes", "explains"),
    [
        ('{"a": 1}', True, "output is JSON (dict), valid"),
        ('{"a": "1"}', False, "$.a: '1' is not of type 'integer'"),
        ("[1]", False, "[1] is not of type 'object'"),
        ("nope", False, "output is not JSON"),
    ],
)
def test_is_json_with_a_schema(output: str, passes: bool, explains: str) -> None:
    result = score("is_json", {"schema": OBJECT_WITH_A}, output)
    assert result.value == float(passes)
    assert explains in result.explanation


def test_is_json_schema_reads_chinese_keys() -> None:
    schema = {"type": "object", "required": ["城市"]}
    assert score("is_json", {"schema": schema}, '{"城市": "北京"}').value == 1.0
    assert "'城市' is a required property" in score("is_json", {"schema": schema}, "{}").explanation


@pytest.mark.parametrize(
    ("output", "answer"),
    [
        ('Here you go:\n```json\n{"a": 1}\n```\nThanks', '{"a": 1}'),
        ('结果如下：{"答案": "北京"}。', '{"答案": "北京"}'),
        ("{ not json } but [1, 2] is", "[1, 2]"),
        ('{"a": [1, {"b": 2}]} then {"c": 3}', '{"a": [1, {"b": 2}]}'),
        ("[1, 2", None),
        ('{"a": NaN}', None),
        ('just 42 and "text"', None),  # scalars are not looked for
        ("", None),
        ("[" * 20_000, None),
    ],
)
def test_contains_json_finds_the_first_object_or_array(output: str, answer: str | None) -> None:
    result = score("contains_json", {}, output)
    assert result.answer == answer
    assert result.value == float(answer is not None)
    if answer is None:
        assert result.explanation == "no JSON object or array in the output"


def test_contains_json_finds_a_value_inside_brackets_nested_too_deep_to_parse() -> None:
    # From the first 1000 brackets the value nests past the parser's limit; from the 1001st
    # it is [[...[1]...]], 500 deep, closed by the 500 closers.
    text = "[" * 1500 + "1" + "]" * 500
    ((value, found),) = embedded_json(text)
    assert found == text[1000:]
    depth = 0
    while isinstance(value, list):
        (value,) = value
        depth += 1
    assert (depth, value) == (500, 1)


def test_embedded_json_yields_each_value_once() -> None:
    found = list(embedded_json('a [1] b {"x": [2]} c [3'))
    assert found == [([1], "[1]"), ({"x": [2]}, '{"x": [2]}')]


def test_contains_json_with_a_schema_takes_the_first_valid_one() -> None:
    params = {"schema": OBJECT_WITH_A}
    result = score("contains_json", params, 'See [1]. Answer: {"a": 7}')
    assert (result.value, result.answer) == (1.0, '{"a": 7}')
    result = score("contains_json", params, 'See [1] and {"a": "x"}')
    assert result.value == 0.0 and result.answer == "[1]"
    assert result.explanation.startswith("no JSON in the output is valid; found JSON '[1]'")
    assert "is not of type 'object'" in result.explanation
    assert score("contains_json", params, "no json").value == 0.0


def test_json_version_names_jsonschema_only_with_a_schema() -> None:
    assert get_scorer("is_json", {"schema": None}).version_string == "is_json@1"
    assert "+jsonschema-" in get_scorer("contains_json", {"schema": {}}).version_string


# --- levenshtein ------------------------------------------------------------------------

PAIRS = [
    ("kitten", "sitting"),
    ("flaw", "lawn"),
    ("The capital is Paris", "Paris"),
    ("  Paris\n", "paris"),
    ("今天天气很好", "今天天气不错"),
    ("我爱北京天安门", "北京"),
    ("", "abc"),
    ("", ""),
    ("naïve café", "naive cafe"),
]


@pytest.mark.parametrize(("output", "target"), PAIRS)
def test_levenshtein_is_rapidfuzz_normalized_similarity(output: str, target: str) -> None:
    result = score("levenshtein", {}, output, [target])
    expected = Levenshtein.normalized_similarity(output.strip(), target.strip())
    assert result.value == expected
    assert result.metadata["distance"] == Levenshtein.distance(output.strip(), target.strip())


@pytest.mark.parametrize(
    ("output", "target", "distance", "similarity"),
    [
        ("今天天气很好", "今天天气不错", 2, 4 / 6),  # two characters replaced
        ("北京", "北京市", 1, 2 / 3),  # one inserted
        ("我爱北京天安门", "我爱北京", 3, 4 / 7),  # three deleted
        ("你好", "", 2, 0.0),
        ("中国", "中国", 0, 1.0),
    ],
)
def test_levenshtein_hand_checked_chinese(
    output: str, target: str, distance: int, similarity: float
) -> None:
    result = score("levenshtein", {"value": target}, output)
    assert result.value == pytest.approx(similarity)
    assert result.metadata == {"closest": target, "distance": distance}


def test_levenshtein_takes_the_closest_expected_answer() -> None:
    result = score("levenshtein", {}, "Beijing", ["Shanghai", "Bejing", "Peking"])
    assert result.metadata["closest"] == "Bejing"
    assert result.value == Levenshtein.normalized_similarity("Beijing", "Bejing")
    assert result.explanation == f"similarity {result.value:.3f} to 'Bejing' (distance 1)"
    scorer = get_scorer("levenshtein", {})
    assert scorer.needs_expected and scorer.default_threshold == 0.8
    assert scorer.version_string.startswith("levenshtein@1+rapidfuzz-")


def test_levenshtein_max_distance_decides_pass_on_the_absolute_distance() -> None:
    near = score("levenshtein", {"value": ["北京市", "上海"], "max_distance": 1}, "北京")
    assert near.passed is True and near.explanation == "distance 1 to '北京市' <= max 1"
    far = score("levenshtein", {"value": "kitten", "max_distance": 2}, "sitting")
    assert far.passed is False and far.explanation == "distance 3 to 'kitten' > max 2"
    assert far.value == pytest.approx(4 / 7)
    exact = score("levenshtein", {"value": "", "max_distance": 0}, "  ")
    assert exact.passed is True and exact.value == 1.0


# --- word_count, length ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("   \n\t", 0),
        ("Hello, world!", 2),
        ("don't stop-me now", 3),
        ("— … ， 。", 0),  # punctuation alone is no word
        ("你好，世界。", 4),  # one word per CJK character
        ("我爱 NLP 和 AI", 5),
        ("北京\u3000上海", 4),  # ideographic space
        ("こんにちは", 5),
        ("GPT-4o 是模型", 4),
        ("naïve café 3.14", 3),
    ],
)
def test_count_words(text: str, words: int) -> None:
    assert count_words(text) == words


@pytest.mark.parametrize(
    ("params", "output", "passes", "explanation"),
    [
        ({"max": 3}, "one two three", True, "3 words <= max 3 words"),
        ({"max": 3}, "one two three four", False, "4 words > max 3 words"),
        ({"min": 5}, "你好，世界", False, "4 words < min 5 words"),
        ({"min": 2, "max": 4}, "你好，世界", True, "4 words >= min 2 words and <= max 4 words"),
        ({"min": 0, "max": None}, "", True, "0 words >= min 0 words"),
        ({"min": 1}, "", False, "0 words < min 1 words"),
    ],
)
def test_word_count(params: dict[str, object], output: str, passes: bool, explanation: str) -> None:
    result = score("word_count", params, output)
    assert (result.value, result.explanation) == (float(passes), explanation)


@pytest.mark.parametrize(
    ("params", "output", "passes"),
    [
        ({"max": 5}, "hello", True),
        ({"max": 5}, "hello!", False),
        ({"max": 2}, "  你好\n", True),  # surrounding whitespace is not counted
        ({"min": 3}, "你好", False),
        ({"min": 1}, "", False),
        ({"max": 0}, " ", True),
        ({"min": 2, "max": 2}, "é" + "\u0301", True),  # code points, not what a reader sees
    ],
)
def test_length(params: dict[str, object], output: str, passes: bool) -> None:
    assert score("length", params, output).value == float(passes)


def test_length_explains_in_characters() -> None:
    assert score("length", {"max": 1}, "你好").explanation == "2 characters > max 1 characters"


# --- latency, cost --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "case", "passes", "explanation"),
    [
        ({"max_ms": 1000}, view(latency_s=1.234), False, "latency 1234 ms > max 1000 ms"),
        ({"max_ms": 1000}, view(latency_s=0.25), True, "latency 250 ms <= max 1000 ms"),
        ({"max_ms": 1000}, view(latency_s=1.0), True, "latency 1000 ms <= max 1000 ms"),
        ({"max_ms": 0}, view(latency_s=0.0), True, "latency 0 ms <= max 0 ms"),
        ({"max_ms": 1.5}, view(latency_s=0.0012345), True, "latency 1.2345 ms <= max 1.5 ms"),
        ({"max_usd": 0.01}, view(cost_usd=0.002), True, "cost $0.002 <= max $0.01"),
        ({"max_usd": 0.00001}, view(cost_usd=3e-05), False, "cost $0.00003 > max $0.00001"),
        ({"max_usd": 0}, view(cost_usd=0.0), True, "cost $0 <= max $0"),
    ],
)
def test_latency_and_cost(
    params: dict[str, object], case: CaseView, passes: bool, explanation: str
) -> None:
    name = "latency" if "max_ms" in params else "cost"
    result = score_case(name, params, case)
    assert (result.value, result.explanation) == (float(passes), explanation)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("latency", {"max_ms": 1000}, "latency: the case has no latency (stored outputs"),
        ("cost", {"max_usd": 1}, "cost: the case's cost is unknown"),
    ],
)
def test_unknown_latency_or_cost_is_an_error(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ScorerError, match=message.replace("(", r"\(")):
        score_case(name, params, view())


@pytest.mark.parametrize(
    ("name", "params", "threshold"),
    [
        ("icontains", {"value": "x"}, 1.0),
        ("contains_any", {"value": ["x"]}, 1.0),
        ("contains_all", {"value": ["x"]}, 1.0),
        ("starts_with", {"value": "x"}, 1.0),
        ("is_json", {}, 1.0),
        ("contains_json", {}, 1.0),
        ("levenshtein", {}, 0.8),
        ("word_count", {"max": 1}, 1.0),
        ("length", {"min": 1}, 1.0),
        ("latency", {"max_ms": 1}, 1.0),
        ("cost", {"max_usd": 1}, 1.0),
    ],
)
def test_declared_direction_range_and_threshold(
    name: str, params: dict[str, object], threshold: float
) -> None:
    scorer = get_scorer(name, params)
    assert scorer.higher_is_better is True
    assert scorer.value_range == (0.0, 1.0)
    assert scorer.default_threshold == threshold
    assert scorer.version_string.startswith(f"{name}@1")


# --- bad parameters: refused when the suite loads, at the assertion's line -------------

SUITE = """\
name: everyday
prompts:
  - id: p1
    template: "Q: {{ question }}"
providers:
  - type: outputs
    id: stored
    column: out
cases:
  - id: c1
    vars: {question: "2+2?", out: "4"}
    expected: "4"
    assert:
      - type: exact
      - ASSERTION
"""


@pytest.mark.parametrize(
    ("assertion", "words"),
    [
        ("{type: contains_any, value: red}", ["'value' must be a list of strings", "'red'"]),
        ("{type: contains_all, value: [a, 1]}", ["'value' must be a list of strings"]),
        ("{type: contains_any, value: []}", ["contains_any: 'value' is an empty list"]),
        ("{type: contains_all, value: [a, '']}", ["'value' has an empty string"]),
        ("{type: starts_with, value: '  '}", ["starts_with: 'value' has an empty string"]),
        ("{type: starts_with, case_sensitive: 'no'}", ["must be true or false, got 'no'"]),
        ("{type: icontains, value: [a, b]}", ["'value' must be a string or null"]),
        ("{type: icontains, value: ''}", ["icontains: 'value' has an empty string"]),
        ("{type: icontains, ignore_case: true}", ["no parameter 'ignore_case'", "value"]),
        ("{type: word_count, maximum: 3}", ["no parameter 'maximum'", "Did you mean 'max'?"]),
        ("{type: word_count}", ["word_count: give 'min', 'max' or both"]),
        ("{type: word_count, min: null, max: null}", ["give 'min', 'max' or both"]),
        ("{type: length, min: 10, max: 5}", ["length: 'min' (10) is more than 'max' (5)"]),
        ("{type: length, min: -1}", ["length: 'min' must be 0 or more, got -1"]),
        ("{type: length, max: 2.5}", ["'max' must be an integer or null, got 2.5"]),
        ("{type: latency}", ["Scorer 'latency' needs parameter(s): max_ms"]),
        ("{type: latency, max_ms: -1}", ["latency: 'max_ms' must be a finite number, 0 or"]),
        ("{type: latency, max_ms: .nan}", ["'max_ms' must be a finite number", "nan"]),
        ("{type: latency, max_ms: '1s'}", ["'max_ms' must be a number, got '1s'"]),
        ("{type: latency, max: 1000}", ["no parameter 'max'", "Did you mean 'max_ms'?"]),
        ("{type: cost, max_usd: -0.5}", ["cost: 'max_usd' must be a finite number"]),
        ("{type: cost, max_usd: true}", ["'max_usd' must be a number, got True"]),
        ("{type: is_json, schema: [1]}", ["'schema' must be a mapping or null, got [1]"]),
        ("{type: contains_json, schema: object}", ["'schema' must be a mapping or null"]),
        ("{type: is_json, schema: {type: objekt}}", ["is_json: bad 'schema': invalid schema"]),
        ("{type: is_json, shema: {}}", ["no parameter 'shema'", "Did you mean 'schema'?"]),
        ("{type: levenshtein, max_distance: -1}", ["'max_distance' must be 0 or more, got -1"]),
        ("{type: levenshtein, max_distance: 1.5}", ["'max_distance' must be an integer"]),
        ("{type: levenshtein, value: []}", ["levenshtein: 'value' is an empty list"]),
    ],
)
def test_bad_parameters_fail_at_the_assertion_line(
    tmp_path: Path, assertion: str, words: list[str]
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("ASSERTION", assertion))
    with pytest.raises(SuiteError) as info:
        prepare(suite)
    err = info.value
    lines = suite.read_text().splitlines()
    assert err.line == lines.index(f"      - {assertion}") + 1, str(err)
    assert str(err).startswith(f"{suite}:{err.line}: ")
    for word in words:
        assert word in err.message, err.message


def test_cli_validate_rejects_min_above_max(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("ASSERTION", "{type: word_count, min: 9, max: 3}"))
    assert main(["validate", str(suite)]) == 2
    captured = capsys.readouterr()
    assert "'min' (9) is more than 'max' (3)" in " ".join(captured.err.split())
    assert "Traceback" not in captured.err + captured.out


# --- end to end -----------------------------------------------------------------------

OUTPUTS_SUITE = r"""
name: everyday-e2e
prompts: [{id: p, template: "{{ q }}"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - id: json
    vars: {q: a, out: "Sure! ```json\n{\"city\": \"北京\", \"n\": 2}\n``` Hope it helps."}
    expected: "北京"
    assert:
      - {type: contains_json, schema: {type: object, required: [city]}}
      - {type: is_json}
  - id: plain
    vars: {q: b, out: "BEIJING is the capital"}
    expected: "Beijing"
  - id: chinese
    vars: {q: c, out: "北京市"}
    expected: "北京"
defaults:
  assert:
    - {type: icontains}
    - {type: levenshtein, max_distance: 1}
    - {type: word_count, max: 5}
    - {type: contains_any, value: ["北京", "Beijing"], case_sensitive: false}
"""


def test_everyday_assertions_on_stored_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(OUTPUTS_SUITE)
    results = {r.row_id: r for r in run_suite(suite).results}
    verdicts = {
        row: {s.scorer: (s.value, s.passed) for s in r.scores} for row, r in results.items()
    }
    similarity = Levenshtein.normalized_similarity
    assert verdicts["json"] == {
        "icontains": (1.0, True),
        "levenshtein": (
            similarity('Sure! ```json\n{"city": "北京", "n": 2}\n``` Hope it helps.', "北京"),
            False,
        ),
        "word_count": (0.0, False),  # 10 words: 北 and 京 are two
        "contains_any": (1.0, True),
        "contains_json": (1.0, True),
        "is_json": (0.0, False),  # fenced, with prose around
    }
    assert verdicts["plain"] == {
        "icontains": (1.0, True),
        "levenshtein": (similarity("BEIJING is the capital", "Beijing"), False),
        "word_count": (1.0, True),
        "contains_any": (1.0, True),
    }
    assert verdicts["chinese"] == {
        "icontains": (1.0, True),
        "levenshtein": (pytest.approx(2 / 3), True),  # one edit from 北京
        "word_count": (1.0, True),
        "contains_any": (1.0, True),
    }
    assert {row: r.passed for row, r in results.items()} == {
        "json": False,
        "plain": False,
        "chinese": True,
    }
    json_score = {s.scorer: s for s in results["json"].scores}["contains_json"]
    assert json.loads(json_score.answer) == {"city": "北京", "n": 2}


def test_stored_outputs_have_no_latency_or_cost_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    suite = tmp_path / "suite.yaml"
    text = OUTPUTS_SUITE.split("defaults:")[0]
    suite.write_text(
        text + "defaults:\n  assert:\n    - {type: latency, max_ms: 100000}\n"
        "    - {type: cost, max_usd: 100}\n"
    )
    for result in run_suite(suite).results:
        by_name = {s.scorer: s for s in result.scores}
        latency, cost = by_name["latency"], by_name["cost"]
        assert latency.value is None and not latency.passed
        assert "the case has no latency (stored outputs were never timed" in latency.error
        assert cost.value is None and not cost.passed
        assert "the case's cost is unknown" in cost.error
        assert not result.passed


APP = """
def answer(messages, vars):
    return {"output": "A: " + vars["q"], "latency_s": float(vars["q"]) / 1000,
            "cost_usd": float(vars["q"]) / 1e6}
"""


@pytest.mark.usefixtures("app_home")
def test_latency_and_cost_of_an_app_and_of_its_cached_answers(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    suite = write_suite(
        tmp_path,
        "- {id: app, type: python, function: 'app:answer'}",
        ["250", "1500"],
        asserts="    - {type: latency, max_ms: 1000}\n    - {type: cost, max_usd: 0.001}\n"
        "    - {type: starts_with, value: 'a:', case_sensitive: false}",
    )
    STARTS = "starts with 'a:'"
    for attempt in ("fresh", "cached"):
        outcome = run_suite(suite)
        results = {r.row_id: r for r in outcome.results}
        assert {r.cached for r in results.values()} == {attempt == "cached"}
        explained = {row: [s.explanation for s in r.scores] for row, r in results.items()}
        assert explained == {
            "q0": ["latency 250 ms <= max 1000 ms", "cost $0.00025 <= max $0.001", STARTS],
            "q1": ["latency 1500 ms > max 1000 ms", "cost $0.0015 > max $0.001", STARTS],
        }
        assert [results[r].passed for r in ("q0", "q1")] == [True, False]
