"""Chat prompts, tools, tool_choice and response_format through the real SDK against the
local OpenAI-compatible server: what is sent, what comes back and is stored, what keys the
cache, and every request a provider could not send refused when the suite loads."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from harness.api import prepare, run_suite
from harness.errors import SuiteError, TransientProviderError
from harness.providers.openai_compat import parse_reply
from tests.fakeserver import FakeOpenAIServer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def write_suite(tmp_path: Path, prompts: str, provider: str = "", **files: Any) -> Path:
    """Prompt versions (YAML under ``prompts:``) x one openai provider (``BASE_URL`` is
    replaced by the server's URL) x two cases; ``files`` are written beside the suite."""
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: tools\nprompts:\n"
        + textwrap.indent(textwrap.dedent(prompts).strip(), "  ")
        + "\nproviders:\n  - id: api\n    type: openai\n    model: fake-model\n"
        "    base_url: BASE_URL\n    api_key_env: null\n    backoff: 0.01\n"
        + textwrap.indent(textwrap.dedent(provider).strip(), "    ")
        + "\ncases:\n  - {id: paris, vars: {city: Paris}}\n  - {id: rome, vars: {city: Rome}}\n"
        "defaults:\n  assert: [{type: tool_call, function: get_weather}]\n"
    )
    return suite


def run(suite: Path, server: FakeOpenAIServer) -> Any:
    with server as url:
        suite.write_text(suite.read_text().replace("BASE_URL", url))
        outcome = run_suite(suite)
        suite.write_text(suite.read_text().replace(url, "BASE_URL"))
    return outcome


PROMPT = f"""
- id: chat
  messages:
    - {{role: system, content: "You call tools."}}
    - {{role: user, content: "Weather in Oslo?"}}
    - {{role: assistant, content: "Sunny."}}
    - {{role: user, content: "Weather in {{{{ city }}}}?"}}
  tools: [{json.dumps(WEATHER)}, {json.dumps(CLOCK)}]
  tool_choice: {{type: function, function: {{name: get_weather}}}}
"""


def test_messages_tools_tool_choice_and_response_format_are_sent_as_written(
    tmp_path: Path,
) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True},
    }
    provider = f"params: {{temperature: 0, response_format: {json.dumps(response_format)}}}"
    server = FakeOpenAIServer()
    outcome = run(write_suite(tmp_path, PROMPT, provider), server)
    assert all(r.passed for r in outcome.results), [r.scores for r in outcome.results]
    bodies = {r.body["messages"][-1]["content"]: r.body for r in server.requests}
    assert bodies["Weather in Paris?"] == {
        "model": "fake-model",
        "temperature": 0.0,
        "response_format": response_format,
        "messages": [
            {"role": "system", "content": "You call tools."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": "Sunny."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
        "tools": [WEATHER, CLOCK],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }


def test_a_providers_response_format_merges_over_the_default_params(tmp_path: Path) -> None:
    provider = "params: {response_format: {type: json_object}}"
    suite = write_suite(tmp_path, "- {id: p, template: 'Weather in {{ city }}?'}", provider)
    suite.write_text(suite.read_text().replace("defaults:\n", "defaults:\n  params: {seed: 3}\n"))
    server = FakeOpenAIServer()
    run(suite, server)
    assert len(server.requests) == 2
    for request in server.requests:
        assert request.body["response_format"] == {"type": "json_object"}
        assert request.body["seed"] == 3


def test_returned_tool_calls_are_stored_with_the_output(tmp_path: Path) -> None:
    def caller(body: dict[str, Any]) -> list[dict[str, Any]]:
        city = body["messages"][-1]["content"].split()[-1].rstrip("?")
        if city == "Rome":  # a model writing broken JSON: kept as written, matches nothing
            return [{"name": "get_weather", "arguments": '{"city": "Rome"'}]
        return [
            {"name": "get_weather", "arguments": {"city": city}},
            {"name": "get_time", "arguments": "{}"},
        ]

    prompts = "- {id: p, template: 'Weather in {{ city }}?', tools: [" + json.dumps(WEATHER) + "]}"
    suite = write_suite(tmp_path, prompts)
    suite.write_text(
        suite.read_text().replace(
            "  assert: [{type: tool_call, function: get_weather}]\n",
            "  assert:\n    - {type: tool_call, function: get_weather, arguments: {city: Paris}}\n",
        )
    )
    outcome = run(suite, FakeOpenAIServer(tool_caller=caller))
    by_id = {r.row_id: r for r in outcome.results}
    paris, rome = by_id["paris"], by_id["rome"]
    assert paris.output == ""
    assert paris.tool_calls == [
        {
            "id": "call_0",
            "type": "function",
            "name": "get_weather",
            "arguments": {"city": "Paris"},
            "arguments_raw": '{"city": "Paris"}',
        },
        {
            "id": "call_1",
            "type": "function",
            "name": "get_time",
            "arguments": {},
            "arguments_raw": "{}",
        },
    ]
    assert paris.passed
    assert rome.tool_calls is not None
    (call,) = rome.tool_calls
    assert (call["arguments"], call["arguments_raw"]) == (None, '{"city": "Rome"')
    (score,) = rome.scores
    assert score.passed is False and score.error is None
    assert score.explanation is not None and "arguments are not JSON" in score.explanation


def test_tools_are_part_of_the_request_identity(tmp_path: Path) -> None:
    tools = json.dumps([WEATHER])
    prompts = f"""
    - {{id: a, template: 'Weather in {{{{ city }}}}?'}}
    - {{id: b, template: 'Weather in {{{{ city }}}}?', tools: {tools}}}
    - {{id: c, template: 'Weather in {{{{ city }}}}?', tools: {tools}, tool_choice: required}}
    """
    suite = write_suite(tmp_path, prompts)
    suite.write_text(suite.read_text().replace("BASE_URL", "http://127.0.0.1:9/v1"))
    cases = prepare(suite).plan.cases
    assert len({c.request_key for c in cases}) == 6  # same messages: the tools tell them apart
    assert len({c.case_id for c in cases}) == 6
    with_tools = next(c for c in cases if c.prompt_id == "b")
    assert (with_tools.request.tools, with_tools.request.tool_choice) == ((WEATHER,), None)


def test_a_second_run_answers_tool_calls_from_the_cache(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, PROMPT)
    server = FakeOpenAIServer()
    with server as url:
        suite.write_text(suite.read_text().replace("BASE_URL", url))
        first = run_suite(suite)
        second = run_suite(suite)
    assert len(server.requests) == 2
    assert all(r.cached for r in second.results)
    assert [r.tool_calls for r in second.results] == [r.tool_calls for r in first.results]
    assert all(r.passed for r in second.results)


def test_provider_tools_apply_unless_the_prompt_has_its_own(tmp_path: Path) -> None:
    prompts = """
    - {id: inherits, template: 'Weather in {{ city }}?'}
    - id: own
      template: 'Time in {{ city }}?'
      tools_file: clock.yaml
    """
    provider = "tools_file: tools.json\ntool_choice: required"
    suite = write_suite(
        tmp_path,
        prompts,
        provider,
        **{
            "tools.json": [WEATHER],
            "clock.yaml": "- type: function\n  function: {name: get_time}\n",
        },
    )
    server = FakeOpenAIServer()
    run(suite, server)
    sent = {r.body["messages"][-1]["content"]: r.body for r in server.requests}
    assert sent["Weather in Paris?"]["tools"] == [WEATHER]
    assert sent["Weather in Paris?"]["tool_choice"] == "required"
    # the prompt version's tools replace the provider's, tool_choice with them
    assert sent["Time in Paris?"]["tools"] == [CLOCK]
    assert "tool_choice" not in sent["Time in Paris?"]


def test_completions_endpoint_sends_the_documented_transcript(tmp_path: Path) -> None:
    prompt = PROMPT.split("  tools:")[0]
    suite = write_suite(tmp_path, prompt, "endpoint: completions")
    server = FakeOpenAIServer()
    run(suite, server)
    prompts = sorted(r.body["prompt"] for r in server.requests)
    assert prompts[0] == (
        "System: You call tools.\n\nUser: Weather in Oslo?\n\nAssistant: Sunny.\n\n"
        "User: Weather in Paris?\n\nAssistant:"
    )


def test_a_tool_call_without_a_function_is_a_malformed_reply() -> None:
    reply = ChatCompletion.construct(
        choices=[
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "tool_calls": [{"id": "x", "type": "function"}]},
            }
        ]
    )
    with pytest.raises(TransientProviderError, match="a tool call without a function name"):
        parse_reply(reply, "chat")


# --- refused when the suite loads ----------------------------------------------------------


def refused(suite: Path) -> SuiteError:
    suite.write_text(suite.read_text().replace("BASE_URL", "http://127.0.0.1:9/v1"))
    with pytest.raises(SuiteError) as info:
        prepare(suite)
    return info.value


def line_of(path: Path, text: str) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


@pytest.mark.parametrize(
    ("prompt", "provider", "at", "words"),
    [
        (
            "- {id: p, template: x, tools: [" + json.dumps(WEATHER) + "]}",
            "endpoint: completions",
            "tools:",
            ["prompt 'p' offers tools", "endpoint completions", "would not send it"],
        ),
        (
            "- {id: p, template: x}",
            "endpoint: completions\ntools: [" + json.dumps(CLOCK) + "]",
            "tools: [",
            ["provider 'api' offers tools"],
        ),
        (
            "- {id: p, template: x, tools: [" + json.dumps(CLOCK) + "], "
            "tool_choice: {type: function, function: {name: get_weather}}}",
            "",
            "tool_choice",
            ["tool_choice names 'get_weather'", "not one of its tools (get_time)"],
        ),
        (
            "- {id: p, template: x, tool_choice: auto}",
            "",
            "tool_choice",
            ["'tool_choice' needs 'tools'"],
        ),
        (
            "- {id: p, template: x, tools: [" + json.dumps(CLOCK) + ", " + json.dumps(CLOCK) + "]}",
            "",
            "tools:",
            ["get_time appear more than once"],
        ),
        ("- {id: p, template: x, tools: []}", "", "tools:", ["holds no tool"]),
        (
            "- id: p\n  template: x\n  tools:\n    - type: function\n"
            "      function: {name: 'bad name'}",
            "",
            "bad name",
            ["function.name", "should match pattern"],
        ),
        (
            "- id: p\n  template: x\n  tools:\n    - type: function\n      function:\n"
            "        name: f\n        parameters: {type: objekt}",
            "",
            "objekt",
            ["not a valid JSON Schema at $.type"],
        ),
        (
            "- {id: p, template: x, tools: [" + json.dumps(CLOCK) + "], tools_file: t.json}",
            "",
            "tools_file",
            ["'tools' (inline) or 'tools_file', not both"],
        ),
        ("- {id: p, template: x, tools_file: missing.json}", "", "tools_file", ["not found"]),
        (
            "- {id: p, template: x}",
            "params:\n  response_format: {type: json_schema}",
            "response_format",
            ["give 'json_schema: {name, schema}'"],
        ),
        (
            "- {id: p, template: x}",
            "params:\n  response_format:\n    type: json_schema\n"
            "    json_schema: {name: a, schema: {type: 3}}",
            "json_schema:",
            ["not a valid JSON Schema"],
        ),
        (
            "- {id: p, template: x}",
            "params: {response_format: {type: yaml}}",
            "response_format",
            ["'text', 'json_object' or 'json_schema'"],
        ),
    ],
    ids=[
        "tools-to-completions", "provider-tools-to-completions", "choice-names-no-tool",
        "choice-without-tools", "duplicate-names", "empty-tools", "bad-function-name",
        "bad-parameters-schema", "tools-and-file", "missing-file", "json-schema-missing",
        "json-schema-invalid", "unknown-format",
    ],
)  # fmt: skip
def test_bad_tool_settings_fail_at_their_line(
    tmp_path: Path, prompt: str, provider: str, at: str, words: list[str]
) -> None:
    suite = write_suite(tmp_path, prompt, provider)
    error = refused(suite)
    assert (error.path, error.line) == (str(suite), line_of(suite, at)), str(error)
    for word in words:
        assert word in error.message, error.message


def test_an_error_in_a_tools_file_points_into_that_file(tmp_path: Path) -> None:
    tools = "- type: function\n  function:\n    name: ok\n- type: function\n  function:\n"
    tools += "    nam: typo\n"
    suite = write_suite(tmp_path, "- {id: p, template: x, tools_file: t.yaml}", **{"t.yaml": tools})
    error = refused(suite)
    assert (error.path, error.line) == (str(tmp_path / "t.yaml"), 6), str(error)
    assert "unknown key 'nam'" in error.message and "Did you mean 'name'?" in error.message
    (tmp_path / "t.yaml").write_text("{tools: []}\n")
    error = refused(suite)
    assert (error.path, error.line) == (str(tmp_path / "t.yaml"), 1)
    assert "a tools file holds a list of tools" in error.message


def test_tools_or_response_format_for_a_provider_that_drops_them_are_refused(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: s\nprompts:\n  - id: p\n    template: x\n"
        f"    tools: [{json.dumps(CLOCK)}]\n"
        "providers:\n  - {id: stored, type: outputs, column: out}\n"
        "cases:\n  - {vars: {out: a}}\ndefaults:\n  assert: [{type: contains, value: a}]\n"
    )
    error = refused(suite)
    assert error.line == 5 and "provider 'stored' (type outputs) would not send it" in str(error)
    judge = (
        "judges:\n  - id: grader\n    type: openai\n    model: m\n    api_key_env: null\n"
        f"    tools: [{json.dumps(CLOCK)}]\n"
    )
    suite.write_text(
        suite.read_text().replace(f"    tools: [{json.dumps(CLOCK)}]\n", "", 1) + judge
    )
    error = refused(suite)
    assert "judge 'grader'" in error.message and error.line == line_of(suite, "tools:")
