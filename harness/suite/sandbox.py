"""Jinja2's sandbox, bounded: a template cannot exhaust memory or run for ever.

``SandboxedEnvironment`` stops attribute walks to ``__globals__`` but not
``{{ 'a' * 10**9 }}``, ``{{ '%999999999d' % 1 }}``, ``{{ 'x'|center(10**9) }}``,
``{{ 10 ** 10 ** 10 }}`` or nested loops of 100000 items each. Here:

* every value that reaches an operator, a call, a filter, a test, a comparison, a ``~``
  or the output is measured (:func:`text_size`: the length its text could have, shared
  sub-lists counted each time, without building it) and refused past :data:`MAX_TEXT`;
* the operations that make big values out of small ones (``*``, ``**``, ``%`` and
  ``format`` widths, ``center``/``ljust``/``rjust``/``zfill``/``indent``/``replace``/
  ``join``/``wordwrap``/``batch``/``slice``/``sum``/``tojson``/``urlize``, ``lipsum``)
  check the size of their result *before* computing it;
* the rendered text (and every ``{% set %}`` block or macro body) stops at MAX_TEXT;
* every loop iteration and every call checks a deadline of :data:`RENDER_SECONDS`.

A limit raises :class:`TemplateLimitError` (a ``SecurityError``), which the caller turns
into a SuiteError naming the suite, prompt and case.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import re
import string
import time
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import Template, nodes
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import Namespace, generate_lorem_ipsum, pass_context
from jinja2.visitor import NodeTransformer

#: Characters of text (or items of a list) one value, and one rendered template, may have:
#: about a million tokens, more than the largest context windows.
MAX_TEXT = 4_000_000
#: Bits of an integer: ``10 ** 10 ** 10`` would take gigabytes (and minutes) to compute.
MAX_INT_BITS = 65_536
#: Seconds one template may take to render.
RENDER_SECONDS = 3.0
#: Nesting of lists and mappings that :func:`text_size` follows (str() of deeper ones fails).
_MAX_DEPTH = 250
#: Element copies ``|sum`` of lists may make (it is quadratic in the number of lists).
_MAX_WORK = 50_000_000

_LOOP_FILTER = "harness.loop"
_CHECK_FILTER = "harness.checked"
_DEADLINE: ContextVar[float] = ContextVar("template_deadline", default=math.inf)


class TemplateLimitError(SecurityError):
    """A template went past one of the sandbox's size or time limits."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Rendering inside this block stops with TemplateLimitError after ``seconds``."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _tick() -> None:
    if time.monotonic() > _DEADLINE.get():
        raise TemplateLimitError(
            f"rendering took longer than {RENDER_SECONDS:g} s (a loop over too many items?)"
        )


def _refuse_size(size: int, what: str) -> None:
    if size > MAX_TEXT:
        shown = f"{size:,}" if size < 10**15 else "more than 10^15"
        raise TemplateLimitError(
            f"{what} would be {shown} characters (or items) long, over the limit of {MAX_TEXT:,}"
        )


def text_size(value: Any, limit: int = MAX_TEXT) -> int:
    """An upper bound of ``len(str(value))`` and of what joining its items can make, counted
    without building the text; stops counting past ``limit``."""
    memo: dict[int, int] = {}

    def size(v: Any, depth: int) -> int:
        if isinstance(v, str):
            return len(v)
        if isinstance(v, bytes | bytearray):
            return 4 * len(v)
        if isinstance(v, bool | float | types.NoneType | Undefined | Context):
            return 32
        if isinstance(v, int):
            return v.bit_length() // 3 + 2
        if isinstance(v, range):
            return len(v) * (len(str(max(abs(v.start), abs(v.stop)))) + 3)
        if isinstance(v, Namespace):
            v = v._Namespace__attrs  # type: ignore[attr-defined]
        if not isinstance(v, Collection):
            return 64
        if id(v) in memo:
            return memo[id(v)]
        if depth > _MAX_DEPTH:
            raise TemplateLimitError(f"a value is nested more than {_MAX_DEPTH} levels deep")
        total = 2 + 3 * len(v)  # every item prints as at least one character and ", "
        if total > limit:
            return total
        memo[id(v)] = 5  # a list that holds itself prints as [...]
        items: Iterable[Any] = (x for kv in v.items() for x in kv) if isinstance(v, Mapping) else v
        for item in items:  # the common scalars inline: lists of 100000 items are not rare
            kind = type(item)
            if kind is str:
                total += len(item)
            elif kind is int:
                total += item.bit_length() // 3 + 2
            elif kind is float or kind is bool or item is None:
                total += 32
            else:
                total += size(item, depth + 1)
            if total > limit:
                break
        memo[id(v)] = total
        return total

    return size(value, 0)


def _check(*values: Any) -> None:
    for value in values:
        if type(value) is not str or len(value) > MAX_TEXT:
            _refuse_size(text_size(value), "a value")


def _ints(args: Any) -> list[int]:
    """The integers among format arguments: a tuple, a mapping, or one value."""
    if isinstance(args, Mapping):
        values = list(args.values())
    else:
        values = list(args) if isinstance(args, tuple | list) else [args]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


_PERCENT = re.compile(r"%%|%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_widths(widths: Iterable[str], nested: bool, args: Any) -> None:
    """Widths and precisions of a format string (and, where they come from the arguments,
    every integer argument) must stay under the limit."""
    for width in widths:
        if len(width) > len(str(MAX_TEXT)) or int(width) > MAX_TEXT:
            shown = width if len(width) <= 15 else f"{width[:15]}..."
            raise TemplateLimitError(f"a format width of {shown} is over the limit of {MAX_TEXT}")
    if nested:
        for n in _ints(args):
            _refuse_size(n, "a format width taken from the arguments")


def _check_percent(fmt: str, args: Any) -> None:
    fields = [g for m in _PERCENT.finditer(fmt) for g in m.groups() if g]
    _check_widths([g for g in fields if g != "*"], "*" in fields, args)


def _check_format(fmt: str, args: Any) -> None:
    specs = [spec for _, field, spec, _ in _parse_format(fmt) if field is not None and spec]
    widths = [w for spec in specs for w in _DIGITS.findall(spec)]
    _check_widths(widths, any("{" in spec for spec in specs), args)


def _parse_format(fmt: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(fmt))
    except ValueError:
        return []  # str.format itself reports the malformed string


def _check_binop(operator: str, left: Any, right: Any) -> None:
    numbers = int | float
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimitError(f"a product of more than {MAX_INT_BITS} bits (the limit)")
        elif isinstance(right, int) and not isinstance(left, numbers):
            _refuse_size(text_size(left) * right, "a repeated value")
        elif isinstance(left, int) and not isinstance(right, numbers):
            _refuse_size(text_size(right) * left, "a repeated value")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left) > 1 and (abs(left).bit_length() - 1) * right > MAX_INT_BITS:
            raise TemplateLimitError(f"a power of more than {MAX_INT_BITS} bits (the limit)")
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)


def _check_str_method(name: str, text: str, args: tuple[Any, ...]) -> None:
    """Bound str methods that make long text out of short (``join`` gets a list)."""
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _refuse_size(args[0], f"str.{name}()'s width")
    elif name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        _refuse_size(len(text) + text.count("\t") * tab, "str.expandtabs()'s text")
    elif name == "join" and args:
        _refuse_size(_joined(args[0], text), "str.join()'s text")
    elif name == "replace" and len(args) >= 2:
        _refuse_size(_replaced(text, *args[:3]), "str.replace()'s text")


def _joined(items: list[Any], separator: str) -> int:
    return sum(text_size(x) for x in items) + len(separator) * max(len(items) - 1, 0)


def _replaced(text: str, old: Any, new: Any, count: Any = None) -> int:
    hits = text.count(str(old))
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(str(new)) - len(str(old)))


def _bounded_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that stops once the text passes the limit (``indent`` multiplies it)."""
    parts, total = [], 0
    for chunk in json.JSONEncoder(**kwargs).iterencode(obj):
        total += len(chunk)
        _refuse_size(total, "tojson's text")
        parts.append(chunk)
    return "".join(parts)


# --- filters -----------------------------------------------------------------------------

FilterCheck = Callable[[dict[str, Any]], None]


def _f_center(a: dict[str, Any]) -> None:
    _refuse_size(a["width"] if isinstance(a["width"], int) else 0, "center's width")


def _f_indent(a: dict[str, Any]) -> None:
    text, width = str(a["s"]), a["width"]
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _refuse_size(len(text) + (text.count("\n") + 1) * step, "indent's text")


def _f_replace(a: dict[str, Any]) -> None:
    _refuse_size(_replaced(str(a["s"]), a["old"], a["new"], a["count"]), "replace's text")


def _f_join(a: dict[str, Any]) -> None:
    a["value"] = list(a["value"])
    items = a["value"]
    if a["attribute"] is not None:
        getter = make_attrgetter(a["eval_ctx"].environment, a["attribute"])
        items = [getter(x) for x in items]
    _refuse_size(_joined(items, str(a["d"])), "join's text")


def _f_wordwrap(a: dict[str, Any]) -> None:
    if a["wrapstring"] is not None:
        text = str(a["s"])
        _refuse_size(len(text) * (1 + len(str(a["wrapstring"]))), "wordwrap's text")


def _f_format(a: dict[str, Any]) -> None:
    _check_percent(str(a["value"]), a["kwargs"] or a["args"])


def _f_count(name: str, key: str) -> FilterCheck:
    def check(a: dict[str, Any]) -> None:
        if isinstance(a[key], int):
            _refuse_size(a[key], f"{name}'s {key}")

    return check


def _f_urlize(a: dict[str, Any]) -> None:
    text = str(a["value"])
    extra = len(str(a["target"] or "")) + len(str(a["rel"] or "")) + 40
    _refuse_size(3 * len(text) + (len(text) // 4 + 1) * extra, "urlize's text")


def _f_sum(a: dict[str, Any]) -> None:
    if isinstance(a["start"], int | float):
        return
    a["iterable"] = list(a["iterable"])
    total = text_size(a["start"]) + sum(text_size(x) for x in a["iterable"])
    _refuse_size(total, "sum's result")
    if total * len(a["iterable"]) > _MAX_WORK:
        raise TemplateLimitError(
            f"summing {len(a['iterable'])} lists copies too much: join them with |join "
            "or loop over them instead"
        )


_FILTER_CHECKS: dict[str, FilterCheck] = {
    "center": _f_center,
    "indent": _f_indent,
    "replace": _f_replace,
    "join": _f_join,
    "wordwrap": _f_wordwrap,
    "format": _f_format,
    "batch": _f_count("batch", "linecount"),
    "slice": _f_count("slice", "slices"),
    "urlize": _f_urlize,
    "sum": _f_sum,
}


def _guard(func: Callable[..., Any], check: FilterCheck | None) -> Callable[..., Any]:
    """``func`` (a filter or test) behind the deadline, the size check of its arguments and,
    for the ones that can make big values, a check of the result's size first."""
    if getattr(func, "jinja_async_variant", False):
        func = inspect.unwrap(func)  # the sync function: its signature is the real one
    signature = inspect.signature(func) if check is not None else None

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        _check(*args, *kwargs.values())
        if check is None or signature is None:
            return func(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        check(bound.arguments)
        return func(*bound.args, **bound.kwargs)

    return guarded


@pass_context
def _loop_items(context: Context, iterable: Any) -> Iterator[Any]:
    """What a ``{% for %}`` loops over, one deadline check per item."""
    for item in iterable:
        _tick()
        yield item


@pass_context
def _checked(context: Context, value: Any) -> Any:
    _tick()
    _check(value)
    return value


class _Bounds(NodeTransformer):
    """Routes loops, ``~`` and comparisons (which call no hook of the sandbox) through the
    checks above."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, _LOOP_FILTER)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_filter(n, _CHECK_FILTER) for n in node.nodes]
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = _filter(node.expr, _CHECK_FILTER)
        for operand in node.ops:
            operand.expr = _filter(operand.expr, _CHECK_FILTER)
        return node


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class BoundedSandbox(SandboxedEnvironment):
    """A SandboxedEnvironment whose templates stay within MAX_TEXT and RENDER_SECONDS."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_checked_output, **options)
        self.filters = {n: _guard(f, _FILTER_CHECKS.get(n)) for n, f in self.filters.items()}
        self.filters |= {_LOOP_FILTER: _loop_items, _CHECK_FILTER: _checked}
        self.tests = {n: _guard(f, None) for n, f in self.tests.items()}
        self.policies["json.dumps_function"] = _bounded_dumps

    def compile_bounded(self, source: str) -> Template:
        """Like ``from_string``, with loops, ``~`` and comparisons routed through the checks."""
        tree = _Bounds().visit(self.parse(source))
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check(left, right)
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        _check(*args, *kwargs.values())
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType):
            if obj.__name__ == "join" and args:
                args = (list(args[0]), *args[1:])
            _check_str_method(obj.__name__, owner, args)
        elif obj is generate_lorem_ipsum:
            bound = inspect.signature(obj).bind(*args, **kwargs)
            bound.apply_defaults()
            words = bound.arguments["n"] * bound.arguments["max"]
            _refuse_size(words * 12 if isinstance(words, int) else 0, "lipsum's text")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(owner, Collection) and not isinstance(owner, str):
            _check(owner)  # list.extend, dict.update... grew it
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"

        @functools.wraps(wrapped)
        def checked(*args: Any, **kwargs: Any) -> str:
            _check(*args, *kwargs.values())
            _check_format(text, args[0] if is_map and args else {**dict(enumerate(args)), **kwargs})
            return wrapped(*args, **kwargs)

        return checked

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """The rendered text, a ``{% set %}`` block or a macro's body: stops at MAX_TEXT."""
        out, total = [], 0
        for part in parts:  # no deadline check: loops and calls make the parts, and check it
            total += len(part)
            if total > MAX_TEXT:
                _refuse_size(total, "the rendered text")
            out.append(part)
        return "".join(out)


def _checked_output(value: Any) -> Any:
    _check(value)
    return value
