"""Tool-call scorers: did the model (or the application) call the right function with the
right arguments?

``tool_call`` checks one expected call: its ``function`` name, ``arguments`` equal to the
call's (``match: exact``) or contained in them (``match: subset``: every expected key there
with an equal value, nested objects alike; more arguments are fine), and/or a JSON
``schema`` the arguments validate against. It passes when any call of the case matches all
that is given. ``tool_call_f1`` scores several expected calls at once: each expected call is
paired with at most one call made (same name, arguments matching as above, or any
arguments when it gives none), the most pairs possible; the score is the F1 of precision
(the share of calls made that were expected) and recall (the share of expected calls made).

The calls are the case's ``tool_calls`` as its provider returned them: the ``openai``
provider's ``{name, arguments, arguments_raw}`` (``arguments_raw`` the text the model
wrote), an application's ``{name, arguments}`` (an object or JSON text), or OpenAI's own
``{function: {name, arguments}}``. Arguments that are not JSON match nothing, and say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import ScorerError
from harness.scorers.base import ScoreValue
from harness.scorers.case import CaseScorer, CaseView
from harness.scorers.structured import JsonSchemaScorer, json_equal

Match = Literal["exact", "subset"]


class ExpectedCall(BaseModel):
    """One call the case expects: a function name and (optionally) its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    #: None: any arguments.
    arguments: dict[str, Any] | None = None


@dataclass(frozen=True)
class Call:
    """A call the case made, its arguments parsed (``problem`` says why they could not be)."""

    name: str | None
    arguments: Any = None
    problem: str | None = None

    @property
    def label(self) -> str:
        """``name({"a": 1})``: how explanations and answers show the call."""
        args = "<not JSON>" if self.problem else json.dumps(self.arguments, ensure_ascii=False)
        return f"{self.name}({args})"


def thawed(value: Any) -> Any:
    """A read-only view's value (mappings, tuples) as plain JSON values (dicts, lists)."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thawed(v) for v in value]
    return value


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def case_calls(case: CaseView) -> list[Call]:
    """The case's tool calls, each with its name and parsed arguments."""
    return [_call(thawed(raw)) for raw in case.tool_calls or ()]


def _call(raw: Any) -> Call:
    if not isinstance(raw, dict):
        return Call(None, problem=f"a tool call is {type(raw).__name__}, not an object")
    function = raw["function"] if isinstance(raw.get("function"), dict) else raw
    name = function.get("name")
    name = name if isinstance(name, str) else None
    text = raw.get("arguments_raw", function.get("arguments"))
    if not isinstance(text, str):
        return Call(name, text)
    try:
        return Call(name, _strict_json(text))
    except ValueError as e:
        shown = text if len(text) <= 80 else text[:77] + "..."
        return Call(name, problem=f"its arguments are not JSON ({e}): {shown!r}")


def arguments_match(actual: Any, expected: Any, match: Match) -> bool:
    """``exact``: JSON-equal; ``subset``: every key of ``expected`` is in ``actual`` with a
    matching value (nested objects compared the same way; anything else JSON-equal)."""
    if match == "exact" or not isinstance(expected, dict):
        return json_equal(actual, expected)
    return isinstance(actual, dict) and all(
        k in actual and arguments_match(actual[k], v, match) for k, v in expected.items()
    )


def _mismatch(
    call: Call, name: str | None, arguments: dict[str, Any] | None, match: Match
) -> str | None:
    """Why ``call`` is not a call of ``name`` with ``arguments`` (None: it is; a None
    ``name`` or ``arguments`` is any)."""
    if name is not None and call.name != name:
        return f"calls {call.name!r}, not {name!r}"
    if arguments is None:
        return None
    if call.problem is not None:
        return call.problem
    if not arguments_match(call.arguments, arguments, match):
        want = json.dumps(arguments, ensure_ascii=False)
        return f"arguments are not {'a superset of' if match == 'subset' else 'equal to'} {want}"
    return None


def _json_value(value: Any, where: str) -> Any:
    """A parameter's or case variable's value as plain JSON values; text (a CSV column) is
    read as JSON. Text that is not JSON is a ScorerError naming ``where``."""
    value = thawed(value)
    if not isinstance(value, str):
        return value
    try:
        return _strict_json(value)
    except ValueError as e:
        raise ScorerError(f"{where} is text that is not JSON: {e}") from None


def _expected_calls(value: Any, where: str) -> list[ExpectedCall]:
    """Expected calls: a list of ``{name, arguments}`` (or its JSON text); anything else is
    a ScorerError naming ``where``."""
    value = _json_value(value, where)
    if not isinstance(value, list):
        raise ScorerError(f"{where} must be a list of {{name, arguments}}, got {value!r}")
    return [_expected_call(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _expected_call(value: Any, where: str) -> ExpectedCall:
    try:
        return ExpectedCall.model_validate(value)
    except ValidationError as e:
        first = e.errors()[0]
        at = ".".join(map(str, first["loc"]))
        raise ScorerError(
            f"{where}{'.' + at if at else ''}: {first['msg']} (an expected call is "
            "{name, arguments}, arguments optional)"
        ) from None


class ToolCallScorer(CaseScorer):
    """1 when some tool call of the case is of the expected ``function``, with ``arguments``
    (per ``match``) and arguments valid against ``schema``, each where given; else 0 with why
    each call missed. ``call_var``: a case variable holding the expected ``{name,
    arguments}`` (per-row expectations of a dataset) instead of ``function``/``arguments``.
    (``name`` is every assertion's own label, so the function is ``function``.)"""

    name = "tool_call"
    version = "1"

    def __init__(
        self,
        *,
        function: str | None = None,
        arguments: dict[str, Any] | None = None,
        match: Match | None = None,
        schema: dict[str, Any] | None = None,
        call_var: str | None = None,
    ) -> None:
        if call_var is not None and (function is not None or arguments is not None):
            raise ScorerError(
                "tool_call: give the expected call inline (function, arguments) or in a case "
                "variable (call_var), not both"
            )
        if function is None and arguments is None and schema is None and call_var is None:
            raise ScorerError(
                "tool_call: say what the call must be: function, arguments, schema or call_var"
            )
        if match is not None and arguments is None and call_var is None:
            raise ScorerError("tool_call: 'match' says how 'arguments' compare: give arguments")
        self.call_var = call_var
        self._function = function
        self._arguments = arguments
        self.match: Match = match or "exact"
        try:
            self._schema = None if schema is None else JsonSchemaScorer(schema=schema)
        except ScorerError as e:
            raise ScorerError(f"tool_call: 'schema': {e}".replace("json_schema: ", "")) from None

    @property
    def version_string(self) -> str:
        if self._schema is None:
            return super().version_string
        return f"{super().version_string}+{self._schema.version_string.partition('+')[2]}"

    def vars_needed(self) -> list[str]:
        return [self.call_var] if self.call_var is not None else []

    def _expected(self, case: CaseView) -> tuple[str | None, dict[str, Any] | None]:
        """The expected name and arguments (None: any)."""
        if self.call_var is None:
            return self._function, self._arguments
        where = f"case variable {self.call_var!r}"
        expected = _expected_call(_json_value(case.vars[self.call_var], where), where)
        return expected.name, expected.arguments

    def _why_not(
        self, call: Call, name: str | None, arguments: dict[str, Any] | None
    ) -> str | None:
        missed = _mismatch(call, name, arguments, self.match)
        if missed is not None or self._schema is None:
            return missed
        if call.problem is not None:
            return call.problem
        checked = self._schema.check(call.arguments)
        return None if checked.value == 1.0 else f"arguments fail the schema: {checked.explanation}"

    async def score_case(self, output: str, case: CaseView) -> ScoreValue:
        name, arguments = self._expected(case)
        calls = case_calls(case)
        if not calls:
            return ScoreValue(value=0.0, explanation="no tool call was made")
        misses = []
        for call in calls:
            why = self._why_not(call, name, arguments)
            if why is None:
                return ScoreValue(value=1.0, answer=call.label)
            misses.append(f"{call.label}: {why}")
        return ScoreValue(
            value=0.0,
            answer="; ".join(c.label for c in calls),
            explanation="no call matched: " + "; ".join(misses),
        )


class ToolCallF1Scorer(CaseScorer):
    """F1 of the calls made against ``expected_calls`` (or the case variable ``calls_var``),
    pairing each expected call with at most one call made (name, and arguments per
    ``match`` where the expected call gives them). No call expected and none made is 1."""

    name = "tool_call_f1"
    version = "1"

    def __init__(
        self,
        *,
        expected_calls: list[dict[str, Any]] | None = None,
        calls_var: str | None = None,
        match: Match = "exact",
    ) -> None:
        if (expected_calls is None) == (calls_var is None):
            raise ScorerError(
                "tool_call_f1: give the expected calls inline (expected_calls) or in a case "
                "variable (calls_var), one of them"
            )
        self.calls_var = calls_var
        self.match = match
        self._expected = (
            None if expected_calls is None else _expected_calls(expected_calls, "expected_calls")
        )

    def vars_needed(self) -> list[str]:
        return [self.calls_var] if self.calls_var is not None else []

    async def score_case(self, output: str, case: CaseView) -> ScoreValue:
        expected = self._expected
        if expected is None:
            assert self.calls_var is not None
            expected = _expected_calls(
                case.vars[self.calls_var], f"case variable {self.calls_var!r}"
            )
        calls = case_calls(case)
        pairs = _best_pairs(calls, expected, self.match)
        made, wanted, hit = len(calls), len(expected), len(pairs)
        precision = hit / made if made else float(not wanted)
        recall = hit / wanted if wanted else float(not made)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        explanation = f"precision {hit}/{made}, recall {hit}/{wanted}"
        paired_calls, paired_expected = {c for c, _ in pairs}, {e for _, e in pairs}
        missing = [e.name for i, e in enumerate(expected) if i not in paired_expected]
        extra = [c.label for i, c in enumerate(calls) if i not in paired_calls]
        if missing:
            explanation += f"; not called: {', '.join(missing)}"
        if extra:
            explanation += f"; not expected: {'; '.join(extra)}"
        return ScoreValue(
            value=f1,
            answer="; ".join(c.label for c in calls) or None,
            explanation=explanation,
            metadata={"precision": precision, "recall": recall, "matched": hit},
        )


def _best_pairs(
    calls: Sequence[Call], expected: Sequence[ExpectedCall], match: Match
) -> list[tuple[int, int]]:
    """The most (call, expected call) pairs that match, each used once (a maximum bipartite
    matching, by scipy's assignment solver)."""
    if not calls or not expected:
        return []
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    fits = np.array(
        [[_mismatch(c, e.name, e.arguments, match) is None for e in expected] for c in calls]
    )
    rows, cols = linear_sum_assignment(fits, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if fits[r, c]]
