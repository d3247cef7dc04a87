"""JSON scorers: the output equals a JSON value, or validates against a JSON Schema.

Models often wrap JSON in a Markdown fence, so a ```` ```json ```` block is accepted
when the whole output is not JSON. Output that cannot be parsed scores 0 with the
parser's message: it is a wrong answer, not a harness error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue, package_version

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_UNSET: Any = object()


def parse_json_output(output: str) -> Any:
    """The JSON value of ``output`` or of its first fenced block; ``ValueError`` if neither."""
    try:
        return json.loads(output)
    except ValueError as whole_error:
        fence = _FENCE.search(output)
        if fence is None:
            raise whole_error from None
        return json.loads(fence.group(1))


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` is not ``1`` (numbers still compare by value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _parse_or_zero(output: str) -> tuple[Any, ScoreValue | None]:
    try:
        return parse_json_output(output), None
    except ValueError as e:
        return None, ScoreValue(value=0.0, explanation=f"output is not JSON: {e}")


class EqualsJsonScorer(Scorer):
    """1 when the output's JSON equals ``value`` (any JSON value, ``null`` included) or,
    without ``value``, one of the expected answers parsed as JSON. Key order and
    whitespace do not matter."""

    name = "equals_json"
    version = "1"

    def __init__(self, *, value: Any = _UNSET):
        self._value = value
        self.needs_expected = value is _UNSET

    def _targets(self, expected: Sequence[str]) -> list[Any]:
        if self._value is not _UNSET:
            return [self._value]
        targets = []
        for text in self.require_expected(expected):
            try:
                targets.append(json.loads(text))
            except ValueError as e:
                raise ScorerError(f"equals_json: expected answer {text!r} is not JSON: {e}") from e
        return targets

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        targets = self._targets(expected)
        data, failure = _parse_or_zero(output)
        if failure is not None:
            return failure
        answer = json.dumps(data, ensure_ascii=False, sort_keys=True)
        if any(json_equal(data, t) for t in targets):
            return ScoreValue(value=1.0, answer=answer)
        return ScoreValue(value=0.0, answer=answer, explanation="JSON differs from expected")


class JsonSchemaScorer(Scorer):
    """1 when the output's JSON validates against ``schema``; otherwise 0 with the
    validator's most relevant error. The schema's ``$schema`` picks the draft
    (latest supported when absent); the schema itself is checked when built."""

    name = "json_schema"
    version = "1"

    def __init__(self, *, schema: dict[str, Any]):
        declared = validator_for(schema, default=None)
        if declared is None and "$schema" in schema:
            raise ScorerError(f"json_schema: unknown $schema {schema['$schema']!r}")
        validator_class = declared or Draft202012Validator
        try:
            validator_class.check_schema(schema)
        except SchemaError as e:
            raise ScorerError(f"json_schema: invalid schema at {e.json_path}: {e.message}") from e
        self._validator = validator_class(schema)

    @property
    def version_string(self) -> str:
        return f"{super().version_string}+jsonschema-{package_version('jsonschema')}"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        data, failure = _parse_or_zero(output)
        if failure is not None:
            return failure
        return self.check(data)

    def check(self, data: Any) -> ScoreValue:
        """1 when the parsed JSON ``data`` validates; else 0 with the most relevant error."""
        try:
            error = best_match(self._validator.iter_errors(data))
        except Unresolvable as e:  # a $ref to another document: nothing is fetched
            raise ScorerError(f"json_schema: cannot resolve {e.ref!r} in the schema") from e
        if error is None:
            return ScoreValue(value=1.0)
        return ScoreValue(value=0.0, explanation=f"{error.json_path}: {error.message}")
