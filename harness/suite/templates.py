"""Prompt templates: Jinja2's sandbox with StrictUndefined.

Suite files and dataset rows are untrusted, so templates render in the sandbox (no
attribute walks to ``__class__``/``__globals__``; no value, rendered text or render time
past the limits of :mod:`harness.suite.sandbox`), and a missing variable is an error
rather than an empty string that silently changes the prompt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, UndefinedError
from jinja2.sandbox import SecurityError

from harness.errors import SuiteError
from harness.suite import sandbox
from harness.suite.sandbox import BoundedSandbox, TemplateLimitError

_ENV = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def compile_template(source: str, path: Path, first_line: int | None) -> Template:
    """Compile ``source``; a syntax error points at its line in ``path``."""
    try:
        return _ENV.compile_bounded(source)
    except TemplateSyntaxError as e:
        line = first_line + (e.lineno or 1) - 1 if first_line else e.lineno
        raise SuiteError(f"template syntax error: {e.message}", path, line) from None


def render(template: Template, variables: dict[str, Any]) -> str:
    """Render with the case's variables; undefined names, sandbox escapes and any other
    error of the template's own code (a size or time limit too) raise
    :class:`TemplateRenderError`."""
    with _render_errors(), sandbox.deadline(sandbox.RENDER_SECONDS):
        return template.render(**variables)


#: The variable a compiled expression leaves its value in.
_RESULT = "result"


def compile_expression(source: str, path: Path, line: int | None, what: str) -> Template:
    """Compile one Jinja expression (``output | from_json | attr('answer')``) in the same
    bounded sandbox as prompt templates; anything but one expression is a SuiteError
    naming ``what`` at ``path:line``."""
    try:
        _ENV.compile_expression(source)  # exactly one expression, nothing after it
        return _ENV.compile_bounded(f"{{% set {_RESULT} = ({source}\n) %}}")
    except TemplateSyntaxError as e:
        raise SuiteError(f"{what} does not compile: {e.message}", path, line) from None


def evaluate(expression: Template, variables: dict[str, Any]) -> Any:
    """The value of a :func:`compile_expression` expression; its errors (an undefined
    name included) raise :class:`TemplateRenderError`, as :func:`render`'s do."""
    with _render_errors(), sandbox.deadline(sandbox.RENDER_SECONDS):
        value = getattr(expression.make_module(variables), _RESULT)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return value


def _from_json(text: str) -> Any:
    """The ``from_json`` filter: JSON text (a model's reply) as values."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"from_json: not JSON ({e})") from None


_ENV.filters["from_json"] = _from_json


@contextmanager
def _render_errors() -> Iterator[None]:
    """A template's own errors as :class:`TemplateRenderError`, with the line that raised."""
    try:
        yield
    except UndefinedError as e:
        raise TemplateRenderError(str(e.message), _line_of(e), undefined=True) from None
    except TemplateLimitError as e:
        raise TemplateRenderError(f"stopped by the template sandbox: {e}", _line_of(e)) from None
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
