"""Prompt templates: Jinja2's sandbox with StrictUndefined.

Suite files and dataset rows are untrusted, so templates render in the sandbox (no
attribute walks to ``__class__``/``__globals__``), and a missing variable is an error
rather than an empty string that silently changes the prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from harness.errors import SuiteError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def compile_template(source: str, path: Path, first_line: int | None) -> Template:
    """Compile ``source``; a syntax error points at its line in ``path``."""
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as e:
        line = first_line + (e.lineno or 1) - 1 if first_line else e.lineno
        raise SuiteError(f"template syntax error: {e.message}", path, line) from None


def render(template: Template, variables: dict[str, Any]) -> str:
    """Render with the case's variables; undefined names and sandbox escapes raise."""
    try:
        return template.render(**variables)
    except UndefinedError as e:
        raise TemplateRenderError(str(e.message)) from None
    except SecurityError as e:
        raise TemplateRenderError(f"refused by the template sandbox: {e}") from None


class TemplateRenderError(Exception):
    """Raised by :func:`render`; the caller adds which suite, case and prompt it was."""
