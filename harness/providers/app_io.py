"""What an application under test is given, and how its reply becomes a :class:`Generation`.

The ``http`` and ``exec`` providers fill sandboxed Jinja templates (the same environment
and rules as prompts) with ``prompt`` (the last user message), ``messages`` and ``vars``,
and pick the output, contexts, tool calls and token counts out of a JSON reply with
JMESPath expressions compiled when the suite loads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jmespath
import jmespath.exceptions
from jinja2 import Template

from harness.errors import (
    PermanentProviderError,
    SuiteError,
    SuiteKeyError,
    TransientProviderError,
)
from harness.providers.base import Generation, ModelRequest
from harness.suite.schema import ResponsePaths
from harness.suite.templates import TemplateRenderError, compile_template, render

#: Characters of a reply shown in an error about it.
PREVIEW = 200


def app_inputs(request: ModelRequest) -> dict[str, Any]:
    """``messages`` (role/content dicts), ``prompt`` (the last user message) and the case's
    ``vars``: what an application's templates and functions see."""
    messages = [m.model_dump() for m in request.messages]
    users = [m["content"] for m in messages if m["role"] == "user"]
    return {
        "messages": messages,
        "prompt": users[-1] if users else "",
        "vars": dict(request.metadata.get("vars", {})),
    }


def compile_app_template(source: str, *key: str | int) -> Template:
    """A sandboxed template from the provider's ``key``; a syntax error points at that key."""
    try:
        return compile_template(source, Path("<template>"), None)
    except SuiteError as e:
        raise SuiteKeyError(e.message, *key) from None


def render_app(template: Template, inputs: dict[str, Any], what: str) -> str:
    """``template`` filled with ``inputs``; a failure fails this case (it would every time)."""
    try:
        return render(template, inputs)
    except TemplateRenderError as e:
        at = f" (line {e.line})" if e.line else ""
        raise PermanentProviderError(f"rendering the {what}{at}: {e}") from None


def preview(text: str) -> str:
    """The start of ``text``, for an error message."""
    return text if len(text) <= PREVIEW else text[:PREVIEW] + "..."


class ReplyPicker:
    """Turns a reply body into a Generation: the whole body, or the parts JMESPath picks."""

    def __init__(self, paths: ResponsePaths) -> None:
        self._paths = {}
        for name, source in paths.model_dump(exclude_none=True).items():
            try:
                self._paths[name] = jmespath.compile(source)
            except jmespath.exceptions.JMESPathError as e:
                message = str(e).splitlines()[0]
                raise SuiteKeyError(
                    f"response.{name}: {source!r} is not a JMESPath expression ({message})",
                    "response",
                    name,
                ) from None

    def generation(self, body: str) -> Generation:
        """The Generation in ``body``; a path that matches nothing fails the case, naming it."""
        if "output" not in self._paths:
            return Generation(text=body)
        try:
            data = json.loads(body)
        except json.JSONDecodeError as e:
            # like a model server's broken reply: worth one more try
            raise TransientProviderError(
                f"malformed response: not JSON ({e.msg}): {preview(body)}"
            ) from None
        found = {name: self._pick(name, data, body) for name in self._paths}
        return Generation(
            text=_text(found["output"]),
            contexts=_strings(found.get("contexts"), self._source("contexts")),
            tool_calls=_objects(found.get("tool_calls"), self._source("tool_calls")),
            prompt_tokens=_count(found.get("prompt_tokens"), self._source("prompt_tokens")),
            completion_tokens=_count(
                found.get("completion_tokens"), self._source("completion_tokens")
            ),
        )

    @property
    def picks_contexts(self) -> bool:
        """Whether a reply's contexts are picked (``response.contexts``)."""
        return "contexts" in self._paths

    def identity(self) -> str:
        """The paths, for the cache key: another path picks another output."""
        return json.dumps({k: v.expression for k, v in self._paths.items()}, sort_keys=True)

    def _source(self, name: str) -> str:
        return self._paths[name].expression if name in self._paths else ""

    def _pick(self, name: str, data: Any, body: str) -> Any:
        value = self._paths[name].search(data)
        if value is None:
            raise PermanentProviderError(
                f"response path {name} {self._paths[name].expression!r} matched nothing in the "
                f"reply: {preview(body)}"
            )
        return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _strings(value: Any, path: str) -> list[str] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise PermanentProviderError(
            f"response path contexts {path!r} must give a list of strings, got "
            f"{preview(json.dumps(value, ensure_ascii=False))}"
        )
    return value


def _objects(value: Any, path: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        raise PermanentProviderError(
            f"response path tool_calls {path!r} must give a list of objects, got "
            f"{preview(json.dumps(value, ensure_ascii=False))}"
        )
    return value


def _count(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PermanentProviderError(
            f"response path {path!r} must give a token count (a whole number), got {value!r}"
        )
    return value
