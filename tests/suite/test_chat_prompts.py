"""Chat prompts: ``messages:`` with few-shot turns and a case's history, rendered into
requests, and every malformed one refused when the suite loads, at its file:line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.api import prepare
from harness.cli import main
from harness.errors import SuiteError
from harness.providers.base import Message, ModelRequest

PROVIDER = """\
providers:
  - {id: stored, type: outputs, column: out}
"""
ASSERTS = """\
defaults:
  assert: [{type: contains, value: "4"}]
"""
FEW_SHOT = """\
name: chat
prompts:
  - id: few-shot
    messages:
      - {role: system, content: "You answer {{ lang }} questions."}
      - {role: user, content: "1+1?"}
      - {role: assistant, content: "2"}
      - role: user
        content: |
          {{ q }}
"""
TURNS = [
    {"role": "user", "content": "My name is Ann."},
    {"role": "assistant", "content": "Hello Ann! {{ not a template }}"},
]


def write(tmp_path: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(text))
    return suite


def messages_of(suite: Path) -> list[list[tuple[str, str]]]:
    return [[(m.role, m.content) for m in c.request.messages] for c in prepare(suite).plan.cases]


def line_of(path: Path, text: str) -> int:
    """The line of ``path`` holding ``text`` (which must be there once)."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def refused(suite: Path) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        prepare(suite)
    return info.value


def history_suite(tmp_path: Path, rows: list[dict], **extra: str) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in rows)
    prompt = """\
        name: multi-turn
        prompts:
          - id: chat
            messages:
              - {role: system, content: "Be kind."}
              - {role: history, var: turns}
              - {role: user, content: "{{ q }}"}
        """
    cases = "cases:\n  file: turns.jsonl\n  id: id\n"
    return write(tmp_path, textwrap.dedent(prompt) + PROVIDER + cases + ASSERTS, **extra, **{
        "turns.jsonl": data
    })  # fmt: skip


def test_few_shot_messages_render_each_content_as_a_template(tmp_path: Path) -> None:
    cases = "cases:\n  - {vars: {q: '2+2?', lang: math, out: '4'}}\n"
    suite = write(tmp_path, FEW_SHOT + PROVIDER + cases + ASSERTS)
    assert messages_of(suite) == [
        [
            ("system", "You answer math questions."),
            ("user", "1+1?"),
            ("assistant", "2"),
            ("user", "2+2?\n"),
        ]
    ]


def test_a_multi_turn_dataset_puts_each_rows_history_in_place(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "turns": TURNS, "q": "What is my name?", "out": "Ann"},
        {"id": "b", "turns": [], "q": "First question", "out": "4"},
    ]
    cases = prepare(history_suite(tmp_path, rows)).plan.cases
    by_row = {c.row.row_id: c.request.messages for c in cases}
    assert by_row["a"] == (
        Message(role="system", content="Be kind."),
        Message(role="user", content="My name is Ann."),
        # history text is data: never rendered as a template
        Message(role="assistant", content="Hello Ann! {{ not a template }}"),
        Message(role="user", content="What is my name?"),
    )
    assert [m.role for m in by_row["b"]] == ["system", "user"]
    # the history is part of the request, so of the cache key and case id
    assert len({c.request_key for c in cases}) == 2


def test_the_template_short_form_is_unchanged(tmp_path: Path) -> None:
    prompt = "name: s\nprompts:\n  - {id: p, system: 'Sys {{ q }}', template: 'Q {{ q }}'}\n"
    cases = "cases:\n  - {vars: {q: x, out: '4'}}\n"
    suite = write(tmp_path, prompt + PROVIDER + cases + ASSERTS)
    assert messages_of(suite) == [[("system", "Sys x"), ("user", "Q x")]]
    (case,) = prepare(suite).plan.cases
    # no tools: the request dumps as it always did, so existing cache keys stay valid
    assert set(case.request.model_dump()) == {"messages", "params"}


def test_completions_fallback_is_documented_text_exactly() -> None:
    single = ModelRequest(
        messages=(Message(role="system", content="Be brief."), Message(role="user", content="Q"))
    )
    assert single.as_prompt() == "Be brief.\n\nQ"
    conversation = ModelRequest(
        messages=(
            Message(role="system", content="Be brief."),
            Message(role="user", content="1+1?"),
            Message(role="assistant", content="2"),
            Message(role="user", content="2+2?"),
        )
    )
    assert conversation.as_prompt() == (
        "System: Be brief.\n\nUser: 1+1?\n\nAssistant: 2\n\nUser: 2+2?\n\nAssistant:"
    )


def messages_suite(tmp_path: Path, entries: str) -> Path:
    """A suite whose one prompt has the ``messages`` entries given (YAML list lines)."""
    body = textwrap.indent(textwrap.dedent(entries).strip(), "      ")
    prompt = f"name: bad\nprompts:\n  - id: p\n    messages:\n{body}\n"
    cases = "cases:\n  - {vars: {q: x, out: '4', turns: []}}\n"
    return write(tmp_path, prompt + PROVIDER + cases + ASSERTS)


@pytest.mark.parametrize(
    ("entries", "at", "words"),
    [
        ("[]", "messages:", ["messages is empty"]),
        ("- {role: tool, content: x}", "role: tool", ["role", "'system', 'user', 'assistant'"]),
        ("- {role: user}", "role: user", ["needs 'content'"]),
        ("- {role: history, content: x}", "role: history", ["{role: history, var: turns}"]),
        (
            "- {role: user, content: a}\n- {role: system, content: b}",
            "role: system",
            ["a system message may only come first"],
        ),
        (
            "- {role: user, content: a}\n- {role: user, content: b}",
            "content: b",
            ["two user messages in a row"],
        ),
        (
            "- {role: assistant, content: a}\n- {role: user, content: b}",
            "content: a",
            ["starts with an assistant message"],
        ),
        (
            "- {role: user, content: a}\n- {role: assistant, content: b}",
            "content: b",
            ["ends with an assistant message"],
        ),
        ("- {role: system, content: a}", "content: a", ["no user message"]),
        (
            "- {role: history, var: turns}\n- {role: history, var: turns}\n"
            "- {role: user, content: b}",
            None,
            ["one history entry"],
        ),
        ("- {role: user, content: '{{ q '}", "content: '{{ q '", ["template syntax error"]),
        ("- {role: user, content: '{{ nope }}'}", "content: '{{ nope }}'", ["'nope' is undefined"]),
    ],
    ids=[
        "empty", "unknown-role", "no-content", "history-with-content", "late-system",
        "two-users", "starts-assistant", "ends-assistant", "no-user", "two-histories",
        "syntax", "undefined",
    ],
)  # fmt: skip
def test_bad_messages_fail_at_their_line(
    tmp_path: Path, entries: str, at: str | None, words: list[str]
) -> None:
    suite = messages_suite(tmp_path, entries)
    error = refused(suite)
    assert error.path == str(suite)
    if at is None:  # the second of two identical history entries
        lines = suite.read_text().splitlines()
        expected = [i for i, t in enumerate(lines, 1) if "role: history" in t][1]
    else:
        expected = line_of(suite, at)
    assert error.line == expected, str(error)
    for word in words:
        assert word in error.message, error.message


def test_messages_with_template_or_system_is_refused(tmp_path: Path) -> None:
    both = messages_suite(tmp_path, "- {role: user, content: a}").read_text()
    suite = write(tmp_path, both.replace("  - id: p\n", "  - id: p\n    template: x\n"))
    error = refused(suite)
    assert "exactly one of 'template'" in error.message and "both template and messages" in (
        error.message
    )
    suite = write(tmp_path, both.replace("  - id: p\n", "  - id: p\n    system: x\n"))
    assert "write the system prompt as their first entry" in refused(suite).message


@pytest.mark.parametrize(
    ("turns", "words"),
    [
        ("hello", ["must hold a list of {role, content} turns", "the text 'hello'"]),
        (None, ["must hold a list", "got nothing"]),
        ([{"role": "user"}], ["turn 1 must be {role, content}", "keys role"]),
        (["hi"], ["turn 1 must be {role, content}", "the text 'hi'"]),
        ([{"role": "tool", "content": "x"}], ["turn 1 has role 'tool'", "user or assistant"]),
        ([{"role": "user", "content": 3}], ["turn 1's content must be text", "an int"]),
        ([{"role": "user", "content": "a"}], ["two user messages", "roles: system, user, user"]),
        ([{"role": "assistant", "content": "a"}], ["starts with an assistant message"]),
    ],
    ids=[
        "text", "null", "no-content", "not-a-turn", "tool-role", "number", "two-users",
        "starts-assistant",
    ],
)  # fmt: skip
def test_a_bad_history_fails_at_its_row(tmp_path: Path, turns: object, words: list[str]) -> None:
    rows = [
        {"id": "ok", "turns": TURNS, "q": "fine", "out": "4"},
        {"id": "bad", "turns": turns, "q": "next", "out": "4"},
    ]
    error = refused(history_suite(tmp_path, rows))
    assert (error.path, error.line) == (str(tmp_path / "turns.jsonl"), 2), str(error)
    assert "history variable 'turns'" in error.message
    assert f"{tmp_path / 'suite.yaml'}:6" in error.message  # where the history entry is
    for word in words:
        assert word in error.message, error.message


def test_a_row_without_the_history_variable_names_it(tmp_path: Path) -> None:
    rows = [{"id": "a", "q": "x", "out": "4"}]
    error = refused(history_suite(tmp_path, rows))
    assert (error.path, error.line) == (str(tmp_path / "turns.jsonl"), 1)
    assert "is not a variable of this case (its variables: id, out, q)" in error.message


def test_validate_reports_a_bad_history_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = history_suite(tmp_path, [{"id": "a", "turns": "oops", "q": "x", "out": "4"}])
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'turns.jsonl'}:1:" in err and "Traceback" not in err
