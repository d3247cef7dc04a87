"""``tool_call`` and ``tool_call_f1``: unit tests over read-only case views holding the
shapes providers return, bad parameters refused when built, and a multi-turn dataset of
expected calls scored end to end on an application's tool calls."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from harness.api import prepare, run_suite
from harness.errors import ScorerError, SuiteError
from harness.scorers import ScoreValue, get_scorer
from harness.scorers.case import CaseView
from tests.providers.apps import app_home

__all__ = ["app_home"]


def openai_call(name: str, arguments: str) -> dict[str, Any]:
    """A call as the openai provider stores it (``arguments`` None when not JSON)."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    return {"id": "c", "type": "function", "name": name, "arguments": parsed,
            "arguments_raw": arguments}  # fmt: skip


def view(*calls: dict[str, Any] | str, **vars: Any) -> CaseView:
    return CaseView.build(
        vars=vars,
        expected=[],
        messages=[],
        provider_id="p",
        prompt_id="q",
        row_id="r",
        tool_calls=list(calls) if calls else None,
    )


def scored(name: str, params: dict[str, Any], case: CaseView) -> ScoreValue:
    return asyncio.run(get_scorer(name, params).score_case("", case))


WEATHER_PARIS = openai_call(
    "get_weather", '{"city": "Paris", "units": {"temp": "C", "wind": "kmh"}}'
)


@pytest.mark.parametrize(
    ("params", "calls", "value", "words"),
    [
        ({"function": "get_weather"}, [WEATHER_PARIS], 1.0, []),
        ({"function": "get_time"}, [WEATHER_PARIS], 0.0, ["calls 'get_weather', not 'get_time'"]),
        (
            {"function": "get_weather", "arguments": {"city": "Paris"}},
            [WEATHER_PARIS],
            0.0,
            ['arguments are not equal to {"city": "Paris"}'],
        ),
        (
            {"function": "get_weather", "arguments": {"city": "Paris"}, "match": "subset"},
            [WEATHER_PARIS],
            1.0,
            [],
        ),
        (  # nested objects are subsets too; other values compare as JSON
            {"arguments": {"units": {"temp": "C"}}, "match": "subset"},
            [WEATHER_PARIS],
            1.0,
            [],
        ),
        (
            {"arguments": {"units": {"temp": "F"}}, "match": "subset"},
            [WEATHER_PARIS],
            0.0,
            ["not a superset of"],
        ),
        (
            {"function": "get_weather", "schema": {"required": ["city", "day"]}},
            [WEATHER_PARIS],
            0.0,
            ["arguments fail the schema", "'day' is a required property"],
        ),
        ({"schema": {"properties": {"city": {"enum": ["Paris"]}}}}, [WEATHER_PARIS], 1.0, []),
        ({"function": "get_weather"}, [], 0.0, ["no tool call was made"]),
        (
            {"function": "get_weather", "arguments": {"city": "Paris"}},
            [openai_call("get_weather", '{"city": "Paris"')],
            0.0,
            ["arguments are not JSON"],
        ),
        (
            {"schema": {"type": "object"}},
            [openai_call("get_weather", '{"x": NaN}')],
            0.0,
            ["NaN is not JSON"],
        ),
        (  # any call may match: the second one does
            {"function": "get_time"},
            [WEATHER_PARIS, openai_call("get_time", "{}")],
            1.0,
            [],
        ),
        (  # OpenAI's own shape, and an application's (arguments an object)
            {"function": "f", "arguments": {"a": 1}},
            [{"function": {"name": "f", "arguments": '{"a": 1}'}}],
            1.0,
            [],
        ),
        ({"function": "f", "arguments": {"a": 1}}, [{"name": "f", "arguments": {"a": 1}}], 1.0, []),
        (  # JSON equality: true is not 1
            {"function": "f", "arguments": {"a": 1}},
            [{"name": "f", "arguments": {"a": True}}],
            0.0,
            ["not equal"],
        ),
    ],
)  # fmt: skip
def test_tool_call(
    params: dict[str, Any], calls: list[dict[str, Any]], value: float, words: list[str]
) -> None:
    result = scored("tool_call", params, view(*calls))
    assert result.value == value, result
    for word in words:
        assert result.explanation is not None and word in result.explanation, result
    if value == 1.0:
        assert result.answer is not None and result.answer.startswith(
            calls[-1].get("name") or calls[-1]["function"]["name"]
        )


def test_tool_call_reads_the_expected_call_from_a_case_variable() -> None:
    want = {"name": "get_weather", "arguments": {"city": "Paris"}}
    params = {"call_var": "want", "match": "subset"}
    assert scored("tool_call", params, view(WEATHER_PARIS, want=want)).value == 1.0
    # a CSV column holds it as JSON text
    assert scored("tool_call", params, view(WEATHER_PARIS, want=json.dumps(want))).value == 1.0
    assert get_scorer("tool_call", params).vars_needed() == ["want"]
    with pytest.raises(ScorerError, match=r"case variable 'want'\.name: Field required"):
        scored("tool_call", params, view(WEATHER_PARIS, want={"arguments": {}}))
    with pytest.raises(ScorerError, match="text that is not JSON"):
        scored("tool_call_f1", {"calls_var": "want"}, view(WEATHER_PARIS, want="[{"))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("tool_call", {}, "say what the call must be: function, arguments, schema or call_var"),
        ("tool_call", {"function": "f", "call_var": "v"}, "not both"),
        ("tool_call", {"function": "f", "match": "subset"}, "give arguments"),
        ("tool_call", {"schema": {"type": "objekt"}}, "invalid schema"),
        ("tool_call", {"fuction": "f"}, "Did you mean 'function'?"),
        ("tool_call", {"function": "f", "match": "some"}, "one of 'exact', 'subset'"),
        ("tool_call_f1", {}, "one of them"),
        ("tool_call_f1", {"expected_calls": [{"name": "f"}], "calls_var": "v"}, "one of them"),
        ("tool_call_f1", {"expected_calls": [{"nam": "f"}]}, "expected_calls[0].name: Field"),
        ("tool_call_f1", {"expected_calls": [{"name": "f", "args": {}}]}, "expected_calls[0].args"),
    ],
)  # fmt: skip
def test_bad_parameters_are_refused_when_built(
    name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScorerError) as info:
        get_scorer(name, params)
    assert message in str(info.value)


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


@pytest.mark.parametrize(
    ("expected", "calls", "match", "f1", "explained"),
    [
        ([call("a", x=1), call("b")], [call("a", x=1), call("b")], "exact", 1.0, "precision 2/2"),
        (
            [call("a", x=1), call("b")],
            [call("a", x=1)],
            "exact",
            2 / 3,
            "precision 1/1, recall 1/2; not called: b",
        ),
        (
            [call("a", x=1)],
            [call("a", x=1), call("a", x=1)],  # a repeat is a call not expected
            "exact",
            2 / 3,
            'precision 1/2, recall 1/1; not expected: a({"x": 1})',
        ),
        ([call("a", x=1)], [call("a", x=2)], "exact", 0.0, "precision 0/1, recall 0/1"),
        ([call("a", x=1)], [call("a", x=1, y=2)], "subset", 1.0, "precision 1/1"),
        (
            # an expected call without arguments takes any; the best pairing is found
            # (pairing the first expected call with the first call would leave one unpaired)
            [{"name": "a"}, call("a", x=1)],
            [call("a", x=1), call("a", x=2)],
            "exact",
            1.0,
            "precision 2/2, recall 2/2",
        ),
        ([], [], "exact", 1.0, "precision 0/0, recall 0/0"),
        ([], [call("a")], "exact", 0.0, "precision 0/1"),
        ([call("a")], [], "exact", 0.0, "precision 0/0, recall 0/1; not called: a"),
    ],
)  # fmt: skip
def test_tool_call_f1(
    expected: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    match: str,
    f1: float,
    explained: str,
) -> None:
    result = scored("tool_call_f1", {"expected_calls": expected, "match": match}, view(*calls))
    assert result.value == pytest.approx(f1)
    assert result.explanation is not None and result.explanation.startswith(explained), result
    assert set(result.metadata) == {"precision", "recall", "matched"}


# --- end to end: a multi-turn dataset of expected calls, scored on an app's calls -------

APP = """
import json

def answer(messages, vars):
    last = messages[-1]["content"]
    calls = [{"name": "search", "arguments": {"q": last}}]
    if "book" in last:
        calls.append({"name": "book", "arguments": json.dumps({"when": "today"})})
    return {"output": "", "tool_calls": calls}
"""


def test_a_multi_turn_dataset_scores_the_apps_tool_calls(tmp_path: Path) -> None:
    rows = [
        {
            "id": "booking",
            "turns": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
            ],
            "ask": "Please book a table",
            "calls": [
                {"name": "search", "arguments": {"q": "Please book a table"}},
                {"name": "book", "arguments": {"when": "today"}},
            ],
        },
        {
            "id": "lookup",
            "turns": [],
            "ask": "Opening hours?",
            "calls": [{"name": "search"}, {"name": "hours"}],
        },
    ]
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "dialogs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        """name: agent
prompts:
  - id: agent
    messages:
      - {role: system, content: You book tables.}
      - {role: history, var: turns}
      - {role: user, content: "{{ ask }}"}
providers:
  - {id: app, type: python, function: app:answer}
cases:
  file: dialogs.jsonl
  id: id
defaults:
  assert:
    - {type: tool_call_f1, calls_var: calls, threshold: 0.6}
    - {type: tool_call, function: search, name: searched}
"""
    )
    results = {r.row_id: r for r in run_suite(suite).results}
    booking, lookup = results["booking"], results["lookup"]
    assert [m.role for m in booking.messages] == ["system", "user", "assistant", "user"]
    assert booking.passed and booking.scores[0].value == 1.0
    f1, searched = lookup.scores
    assert f1.value == pytest.approx(2 / 3) and f1.passed
    assert f1.explanation == "precision 1/1, recall 1/2; not called: hours"
    assert (searched.name, searched.passed) == ("searched", True)

    del rows[1]["calls"]
    (tmp_path / "dialogs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SuiteError) as info:
        prepare(suite)
    assert (info.value.path, info.value.line) == (str(tmp_path / "dialogs.jsonl"), 2)
    assert "reads the case variable(s) 'calls'" in info.value.message
