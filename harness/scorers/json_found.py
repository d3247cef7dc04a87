"""``is_json`` (the whole output is JSON) and ``contains_json`` (a JSON object or array
sits somewhere in it: a ```` ```json ```` fence, a sentence), each with an optional JSON
Schema the value must satisfy.

Strict JSON (RFC 8259): Python's parser also takes ``NaN`` and ``Infinity``, which no other
JSON parser does, so they are refused here. Output that is not JSON scores 0 with the
parser's message: a wrong answer, not a harness error.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue, package_version
from harness.scorers.structured import JsonSchemaScorer

_OPENER = re.compile(r"[\[{]")
_OPENER_RUN = re.compile(r"(?:[\[{]\s*)+")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def parse_strict(text: str) -> Any:
    """The JSON value of all of ``text`` (surrounding whitespace allowed), or ``ValueError``."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def embedded_json(text: str) -> Iterator[tuple[Any, str]]:
    """Each JSON object or array in ``text``, left to right, as (value, its text): scanning
    from every ``{`` or ``[`` with ``raw_decode``; a match's inside is not searched again."""
    position = 0
    while (opener := _OPENER.search(text, position)) is not None:
        try:
            value, end = _DECODER.raw_decode(text, opener.start())
        except ValueError:
            position = opener.start() + 1
            continue
        except RecursionError:
            position = _past_too_deep(text, opener.start())
            continue
        yield value, text[opener.start() : end]
        position = end


def _past_too_deep(text: str, start: int) -> int:
    """Where to look next after the brackets at ``start`` nested deeper than the parser can go.

    A start with a recursion limit's worth of brackets still ahead in the same run nests as
    deep and fails too, so it is skipped: a long run of ``[`` costs one try per bracket near
    its end, not one per bracket (which would take seconds on a few kilobytes)."""
    run = _OPENER_RUN.match(text, start)
    assert run is not None  # ``start`` holds an opener
    openers = [m.start() for m in _OPENER.finditer(text, start, run.end())]
    skip = max(1, len(openers) - sys.getrecursionlimit() + 1)
    return openers[skip] if skip < len(openers) else run.end()


class _JsonScorer(Scorer):
    version = "1"

    def __init__(self, *, schema: dict[str, Any] | None = None):
        self._schema: JsonSchemaScorer | None = None
        if schema is not None:
            try:
                self._schema = JsonSchemaScorer(schema=schema)
            except ScorerError as e:
                detail = str(e).removeprefix(f"{JsonSchemaScorer.name}: ")
                raise ScorerError(f"{self.name}: bad 'schema': {detail}") from None

    @property
    def version_string(self) -> str:
        if self._schema is None:
            return super().version_string
        return f"{super().version_string}+jsonschema-{package_version('jsonschema')}"

    def _verdict(self, data: Any, answer: str, found: str) -> ScoreValue:
        """1 when ``data`` satisfies the schema (if any); ``found`` says what was parsed."""
        if self._schema is None:
            return ScoreValue(value=1.0, answer=answer, explanation=found)
        checked = self._schema.check(data)
        if checked.value:
            return ScoreValue(value=1.0, answer=answer, explanation=f"{found}, valid")
        return ScoreValue(
            value=0.0, answer=answer, explanation=f"{found}, not valid: {checked.explanation}"
        )


class IsJsonScorer(_JsonScorer):
    """1 when the whole output (give or take surrounding whitespace) is one JSON value, and
    satisfies ``schema`` when given. A fenced block is not JSON: use ``contains_json``."""

    name = "is_json"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        try:
            data = parse_strict(output)
        except ValueError as e:
            return ScoreValue(value=0.0, explanation=f"output is not JSON: {e}")
        return self._verdict(data, output.strip(), f"output is JSON ({type(data).__name__})")


class ContainsJsonScorer(_JsonScorer):
    """1 when a JSON object or array is embedded in the output; with ``schema``, when one of
    them satisfies it (the first such is the answer)."""

    name = "contains_json"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        first: ScoreValue | None = None
        for data, text in embedded_json(output):
            verdict = self._verdict(data, text, f"found JSON {_preview(text)}")
            if verdict.value:
                return verdict
            first = first or verdict
        if first is not None:
            return first.model_copy(
                update={"explanation": f"no JSON in the output is valid; {first.explanation}"}
            )
        return ScoreValue(value=0.0, explanation="no JSON object or array in the output")


def _preview(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")
