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
    """Render with the case's variables; undefined names, sandbox escapes and any other
    error of the template's own code raise :class:`TemplateRenderError`."""
    try:
        return template.render(**variables)
    except UndefinedError as e:
        raise TemplateRenderError(str(e.message), _line_of(e), undefined=True) from None
    except SecurityError as e:
        raise TemplateRenderError(
            f"refused by the template sandbox: {str(e).rstrip('.')}", _line_of(e)
        ) from None
    except Exception as e:  # the template's code is the suite author's: 1/0, bad filters...
        raise TemplateRenderError(f"{type(e).__name__}: {e}", _line_of(e)) from None


def _line_of(exc: BaseException) -> int | None:
    """The template line that raised (Jinja adds a ``<template>`` frame to the traceback)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class TemplateRenderError(Exception):
    """Raised by :func:`render`; the caller adds which suite, case and prompt it was.

    ``line`` is the line inside the template; ``undefined`` marks a missing variable.
    """

    def __init__(self, message: str, line: int | None = None, *, undefined: bool = False):
        super().__init__(message)
        self.line = line
        self.undefined = undefined
