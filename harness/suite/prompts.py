"""Prompt versions, compiled once and rendered for each case into chat messages.

A prompt version is a ``template`` (or a template ``file``) with an optional ``system``
template, or a list of ``messages``: each content a template, few-shot turns as
user/assistant pairs, and at most one ``{role: history, var: NAME}`` entry where the case's
own earlier turns go (a dataset column holding a list of ``{role, content}``; that text is
data, never a template). Every conversation is checked: at most one system message, first;
then user and assistant turns in turn, from a user message to the user message the model
answers. What the suite writes is checked when it loads (at its line); what a case's
history adds, for each case (at the case's line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from jinja2 import Template

from harness.errors import SuiteError
from harness.providers.base import Message
from harness.suite.loader import LoadedSuite
from harness.suite.schema import PromptVersion
from harness.suite.templates import TemplateRenderError, compile_template, render
from harness.suite.yaml_lines import TEXT, read_text

Role = Literal["system", "user", "assistant"]
#: The roles a case's history may hold.
HISTORY_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class _Source:
    """One message's compiled template, and where its text starts (for render errors)."""

    role: Role
    template: Template
    path: Path
    first_line: int | None
    #: How errors name it: "user template", "messages[2] (assistant)".
    label: str


@dataclass(frozen=True)
class _History:
    """Where the case's earlier turns go: the variable holding them."""

    var: str
    line: int | None


@dataclass(frozen=True)
class CompiledPrompt:
    """A prompt version ready to render: its messages' templates and history slot."""

    prompt: PromptVersion
    parts: tuple[_Source | _History, ...]
    suite_path: Path
    suite_name: str

    def render(
        self, variables: Mapping[str, Any], row_at: tuple[Path, int | None]
    ) -> tuple[Message, ...]:
        """The case's messages; a template that fails, or a history that is not a list of
        turns or breaks the turn order, is a SuiteError (``row_at``: the case's file:line)."""
        messages: list[Message] = []
        history = None
        for part in self.parts:
            if isinstance(part, _History):
                history = part
                messages += self._history(part, variables, row_at)
            else:
                text = self._text(part, variables, row_at)
                messages.append(Message(role=part.role, content=text))
        problem = None if history is None else conversation_problem([m.role for m in messages])
        if history is not None and problem is not None:
            roles = ", ".join(m.role for m in messages)
            raise SuiteError(
                f"{self._history_about(history, row_at)} makes a conversation the model "
                f"cannot answer: {problem[1]} (message {problem[0] + 1} of {len(messages)}; "
                f"roles: {roles})",
                *row_at,
            )
        return tuple(messages)

    def _about(self, row_at: tuple[Path, int | None], part: str = "") -> str:
        """Which suite, prompt (``part``: which of its messages) and case, for errors."""
        where = f"{row_at[0]}:{row_at[1]}" if row_at[1] else str(row_at[0])
        return f"suite '{self.suite_name}', prompt '{self.prompt.id}'{part}, case at {where}"

    def _text(
        self, source: _Source, variables: Mapping[str, Any], row_at: tuple[Path, int | None]
    ) -> str:
        try:
            return render(source.template, dict(variables))
        except TemplateRenderError as e:
            line = source.first_line
            if line is not None and e.line is not None:
                line += e.line - 1
            hint = ""
            if e.undefined:
                hint = (
                    f". Variables of this case: {', '.join(sorted(variables)) or '(none)'}; "
                    "add the variable to the case (or the dataset column) or fix the template"
                )
            about = self._about(row_at, f" ({source.label})")
            raise SuiteError(f"{about}: {e}{hint}", source.path, line) from None

    def _history_about(self, part: _History, row_at: tuple[Path, int | None]) -> str:
        where = f"{self.suite_path}:{part.line}" if part.line else str(self.suite_path)
        return f"{self._about(row_at)}: the history variable '{part.var}' (named at {where})"

    def _history(
        self, part: _History, variables: Mapping[str, Any], row_at: tuple[Path, int | None]
    ) -> list[Message]:
        about = self._history_about(part, row_at)
        if part.var not in variables:
            raise SuiteError(
                f"{about} is not a variable of this case (its variables: "
                f"{', '.join(sorted(variables)) or 'none'}): add the column, or fix 'var'",
                *row_at,
            )
        return history_messages(variables[part.var], about, row_at)


def history_messages(value: Any, about: str, at: tuple[Path, int | None]) -> list[Message]:
    """A case's history value as messages; anything but a list of ``{role, content}``
    (role user or assistant, content text) is a SuiteError at ``at``."""
    shape = "a list of {role, content} turns (a JSONL or YAML list; role user or assistant)"
    if not isinstance(value, list):
        raise SuiteError(f"{about} must hold {shape}, got {_kind(value)}", *at)
    messages = []
    for i, turn in enumerate(value, 1):
        if not isinstance(turn, dict) or set(turn) != {"role", "content"}:
            got = f"keys {', '.join(map(str, turn))}" if isinstance(turn, dict) else _kind(turn)
            raise SuiteError(f"{about}: turn {i} must be {{role, content}}, got {got}", *at)
        role, content = turn["role"], turn["content"]
        if role not in HISTORY_ROLES:
            raise SuiteError(
                f"{about}: turn {i} has role {role!r}; history turns are user or assistant "
                "(a system message belongs in the prompt's messages)",
                *at,
            )
        if not isinstance(content, str):
            raise SuiteError(f"{about}: turn {i}'s content must be text, got {_kind(content)}", *at)
        messages.append(Message(role=cast(Role, role), content=content))
    return messages


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if value is None:
        return "nothing"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def conversation_problem(roles: Sequence[str]) -> tuple[int, str] | None:
    """What is first wrong with a conversation of ``roles`` (its index, what), or None.

    At most one system message, first; then user and assistant in turn, starting and
    ending with user. ``history`` stands for turns not known yet: it may sit anywhere
    after the system message (each case's history is checked once it is in place)."""
    body = roles[1:] if roles and roles[0] == "system" else roles
    offset = len(roles) - len(body)
    if not body:
        return 0, "there is no user message for the model to answer"
    for i, role in enumerate(body):
        at = i + offset
        if role == "system":
            return at, "a system message may only come first (one, before every other message)"
        if role == "history" and "history" in body[:i]:
            return at, "a prompt takes one history entry"
        if i == 0 and role == "assistant":
            return at, "the conversation starts with an assistant message: start it with a user one"
        if i > 0 and role == body[i - 1] and role != "history":
            return at, f"two {role} messages in a row: user and assistant turns alternate"
    if body[-1] == "assistant":
        return len(roles) - 1, (
            "the conversation ends with an assistant message: end it with the user message "
            "the model answers"
        )
    return None


def compile_prompt(loaded: LoadedSuite, index: int) -> CompiledPrompt:
    """The prompt version at ``index``, its templates compiled and its turn order checked;
    errors point at the line in the suite (or the template file)."""
    prompt = loaded.suite.prompts[index]
    at = ("prompts", index)
    parts: list[_Source | _History] = []
    if prompt.messages is None:
        if prompt.system is not None:
            parts.append(_inline(loaded, "system", prompt.system, "system template", *at, "system"))
        parts.append(_user_template(loaded, prompt, index))
    else:
        for j, message in enumerate(prompt.messages):
            if message.role == "history":
                assert message.var is not None  # guaranteed by PromptMessage's validator
                parts.append(_History(message.var, loaded.line(*at, "messages", j)))
            else:
                assert message.content is not None
                label = f"messages[{j}] ({message.role})"
                parts.append(
                    _inline(
                        loaded, message.role, message.content, label, *at, "messages", j, "content"
                    )
                )
        roles = [m.role for m in prompt.messages]
        problem = conversation_problem(roles)
        if problem is not None:
            raise loaded.error(
                f"prompt '{prompt.id}': {problem[1]} (roles: {', '.join(roles)})",
                *at,
                "messages",
                problem[0],
            )
    return CompiledPrompt(prompt, tuple(parts), loaded.path, loaded.suite.name)


def _inline(loaded: LoadedSuite, role: Role, text: str, label: str, *loc: str | int) -> _Source:
    line = loaded.line(*loc, TEXT)
    return _Source(role, compile_template(text, loaded.path, line), loaded.path, line, label)


def _user_template(loaded: LoadedSuite, prompt: PromptVersion, index: int) -> _Source:
    if prompt.file is None:
        assert prompt.template is not None  # guaranteed by PromptVersion's validator
        return _inline(
            loaded, "user", prompt.template, "user template", "prompts", index, "template"
        )
    path = loaded.resolve(prompt.file)
    if not path.is_file():
        raise loaded.error(f"template file not found: {path}", "prompts", index, "file")
    template = compile_template(read_text(path, "template file"), path, 1)
    return _Source("user", template, path, 1, "user template")
