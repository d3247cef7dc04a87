"""equals_json and json_schema."""

from __future__ import annotations

import pytest

from harness.errors import ScorerError
from harness.scorers import get_scorer
from harness.scorers.structured import json_equal, parse_json_output


@pytest.mark.parametrize(
    ("output", "parsed"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ("42", 42),
        ("null", None),
        ('Sure:\n```json\n{"a": [true]}\n```\nDone.', {"a": [True]}),
        ('```JSON\n"x"\n```', "x"),
        ('```\n{"b": 2}\n```', {"b": 2}),
        ('```json {"c": 3}```', {"c": 3}),
        ('```json\n{"first": 1}\n```\n```json\n{"second": 2}\n```', {"first": 1}),
    ],
)
def test_parse_json_output_accepts_plain_and_fenced(output, parsed):
    assert parse_json_output(output) == parsed


@pytest.mark.parametrize("output", ["", "{a: 1}", "```json\n{oops}\n```", "The answer is 4"])
def test_parse_json_output_raises_value_error(output):
    with pytest.raises(ValueError):
        parse_json_output(output)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        ([True], [1], False),
        (None, None, True),
        (None, 0, False),
        ("1", 1, False),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ({"a": {"b": [1, {"c": False}]}}, {"a": {"b": [1.0, {"c": False}]}}, True),
    ],
)
def test_json_equal_is_json_semantics(a, b, equal):
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


@pytest.mark.parametrize(
    ("params", "output", "expected", "value"),
    [
        ({}, '{"b": 2, "a": 1}', ['{"a": 1, "b": 2}'], 1.0),
        ({}, '```json\n{"a": 1}\n```', ['{"a": 2}', '{"a": 1}'], 1.0),
        ({}, '{"a": true}', ['{"a": 1}'], 0.0),
        ({"value": {"a": [1, 2]}}, '{"a": [1, 2]}', [], 1.0),
        ({"value": {"a": [1, 2]}}, '{"a": [1, 2]}', ['{"ignored": 1}'], 1.0),
        ({"value": None}, "null", [], 1.0),
        ({"value": None}, "0", [], 0.0),
        ({"value": "北京"}, '"北京"', [], 1.0),
    ],
)
def test_equals_json(params, output, expected, value):
    assert get_scorer("equals_json", params).score(output, expected, {}).value == value


def test_equals_json_parse_failure_is_zero_with_explanation():
    result = get_scorer("equals_json", {"value": 1}).score("one", [], {})
    assert result.value == 0.0
    assert result.explanation.startswith("output is not JSON")


def test_equals_json_reports_canonical_answer():
    result = get_scorer("equals_json", {"value": 0}).score('{"b": 1, "a": "é"}', [], {})
    assert (result.value, result.answer) == (0.0, '{"a": "é", "b": 1}')


def test_equals_json_rejects_expected_that_is_not_json():
    with pytest.raises(ScorerError, match="not JSON"):
        get_scorer("equals_json", {}).score("1", ["Paris"], {})
    with pytest.raises(ScorerError, match="needs an expected answer"):
        get_scorer("equals_json", {}).score("1", [], {})


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("output", "value", "explanation"),
    [
        ('{"name": "Ann", "age": 3}', 1.0, None),
        ('```json\n{"name": "李"}\n```', 1.0, None),
        ('{"age": 3}', 0.0, "$: 'name' is a required property"),
        ('{"name": "Ann", "age": -1}', 0.0, "$.age: -1 is less than the minimum of 0"),
        ('{"name": "Ann", "age": "3"}', 0.0, "$.age: '3' is not of type 'integer'"),
        ('{"name": "Ann", "x": 1}', 0.0, "Additional properties are not allowed"),
        ("[]", 0.0, "$: [] is not of type 'object'"),
        ("name: Ann", 0.0, "output is not JSON"),
    ],
)
def test_json_schema(output, value, explanation):
    result = get_scorer("json_schema", {"schema": PERSON}).score(output, [], {})
    assert result.value == value
    if explanation is None:
        assert result.explanation is None
    else:
        assert explanation in result.explanation


def test_json_schema_honours_declared_draft():
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "maximum": 5,
        "exclusiveMaximum": True,
    }
    scorer = get_scorer("json_schema", {"schema": draft4})
    assert scorer.score("5", [], {}).value == 0.0
    assert scorer.score("4", [], {}).value == 1.0


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strnig"}, r"invalid schema at \$.type"),
        ({"properties": {"a": {"minimum": "zero"}}}, "invalid schema"),
        ({"$schema": "https://example.com/my-draft"}, "unknown \\$schema"),
    ],
)
def test_json_schema_checks_the_schema_when_built(schema, message):
    with pytest.raises(ScorerError, match=message):
        get_scorer("json_schema", {"schema": schema})


def test_json_schema_resolves_local_refs_and_refuses_remote_ones():
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/n"}}}
    result = get_scorer("json_schema", {"schema": local}).score('{"x": "s"}', [], {})
    assert result.explanation == "$.x: 's' is not of type 'integer'"
    remote = get_scorer("json_schema", {"schema": {"$ref": "https://example.com/s.json"}})
    with pytest.raises(ScorerError, match=r"cannot resolve 'https://example\.com/s\.json'"):
        remote.score("{}", [], {})


def test_json_schema_version_string_names_the_library():
    assert get_scorer("json_schema", {"schema": {}}).version_string.startswith(
        "json_schema@1+jsonschema-"
    )
