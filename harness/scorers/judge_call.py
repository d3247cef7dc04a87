"""Calling a judge through the scoring context, and reading JSON out of what it says.

Shared by the rubric judge, the ragas scorers and the pairwise analysis, so that every
judge call gets the judge's own sampling params, JSON mode where the provider has it,
and the same strict reading of its reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.errors import ScorerError
from harness.providers.base import Message, ModelRequest

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext

#: Judges are asked for a deterministic verdict unless their config says otherwise.
_DEFAULT_PARAMS: dict[str, Any] = {"temperature": 0}
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n\s*```", re.DOTALL | re.IGNORECASE)


def supports_json_mode(ctx: ScoringContext, judge: str | None) -> bool:
    """Whether the judge takes OpenAI's ``response_format: json_object`` (OpenAI-compatible)."""
    config = ctx.judges[ctx.judge_id(judge)].config
    return getattr(config, "type", None) == "openai"


def judge_request(
    ctx: ScoringContext,
    judge: str | None,
    messages: list[Message],
    *,
    json_mode: bool | None = None,
    default_max_tokens: int | None = None,
    **params: Any,
) -> ModelRequest:
    """A request for ``judge``: its configured params over a temperature of 0 and
    ``default_max_tokens`` (so a judge configured with its own max_tokens keeps them), then
    ``params`` (None values skipped); ``json_mode`` None means on wherever the provider
    supports it."""
    config = ctx.judges[ctx.judge_id(judge)].config
    merged = dict(_DEFAULT_PARAMS)
    if default_max_tokens is not None:
        merged["max_tokens"] = default_max_tokens
    configured = getattr(config, "params", None)
    if configured is not None:
        merged |= configured.model_dump(exclude_none=True)
    merged |= {k: v for k, v in params.items() if v is not None}
    if json_mode is None:
        json_mode = supports_json_mode(ctx, judge)
    if json_mode:
        extra = dict(merged.get("extra_body") or {})
        extra["response_format"] = {"type": "json_object"}
        merged["extra_body"] = extra
    return ModelRequest(messages=tuple(messages), params=merged)


def case_var(vars: Mapping[str, Any], name: str) -> Any:
    """The case var ``name``, or a ScorerError listing the vars the case has."""
    if name not in vars:
        known = ", ".join(sorted(vars)) or "none"
        raise ScorerError(f"the case has no var {name!r} (its vars: {known})")
    return vars[name]


def case_contexts(vars: Mapping[str, Any], name: str) -> list[str]:
    """The case's retrieved passages, from its var ``name``."""
    return passages(case_var(vars, name), f"var {name!r}")


def passages(value: Any, what: str) -> list[str]:
    """Retrieved passages: a list of strings (a tuple in a read-only case view; one string is
    one passage), blank ones dropped. ``what`` says where they come from, for errors."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise ScorerError(f"{what} must be a list of passages (strings), got {value!r}")
    found = [c for c in value if c.strip()]
    if not found:
        raise ScorerError(f"the case has no contexts: {what} is empty")
    return found


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object the reply holds: the whole reply, a fenced ```json block, or the one
    ``{...}`` span that parses; None when there is none (or several different ones)."""
    stripped = text.strip()
    candidates = [stripped, *_FENCE.findall(text)]
    for candidate in candidates:
        found = _loads_object(candidate)
        if found is not None:
            return found
    spans = {s for s in (_balanced_span(text, i) for i, c in enumerate(text) if c == "{") if s}
    objects = [o for o in map(_loads_object, spans) if o is not None]
    # Keep the outermost objects only: an object nested in another is part of it.
    outer = [o for o in objects if not any(o is not p and _contains(p, o) for p in objects)]
    unique = {json.dumps(o, sort_keys=True): o for o in outer}
    return next(iter(unique.values())) if len(unique) == 1 else None


def reply_preview(text: str, limit: int = 200) -> str:
    """The judge's reply on one line, cut at ``limit`` characters, quoted: for error messages."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "...")


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _balanced_span(text: str, start: int) -> str | None:
    """The ``{...}`` starting at ``start`` with balanced braces (strings respected)."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _contains(outer: Any, inner: Any) -> bool:
    if isinstance(outer, dict):
        return any(v == inner or _contains(v, inner) for v in outer.values())
    if isinstance(outer, list):
        return any(v == inner or _contains(v, inner) for v in outer)
    return False
