"""What every report page shares: the Jinja2 environment, number formats, the CSP hash,
and the JSON island that carries untrusted data into a page.

Kept apart from the reports themselves so that rendering one needs neither pandas nor
the other's code.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import math
from collections.abc import Hashable, Iterable
from typing import Any

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader
from jinja2.bccache import Bucket
from markupsafe import Markup

from harness import __version__
from harness.jsontext import utf8_safe

MISSING = "—"


def json_island(data: Any) -> Markup:
    """``data`` as JSON safe to inline in a ``<script type="application/json">`` element;
    a member of ``data`` that is :class:`Written` goes in as it was written."""
    if isinstance(data, dict) and any(isinstance(v, Written) for v in data.values()):
        text = "{" + ",".join(f"{json_text(k)}:{_member(v)}" for k, v in data.items()) + "}"
    else:
        text = json_text(data)
    # With no <, > or & left, no text can close the element or open a comment.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # A lone surrogate (valid JSON, not encodable as UTF-8) travels as its JSON escape.
    return Markup(utf8_safe(text))


def json_text(data: Any) -> str:
    """``data`` as the islands write it: compact JSON, non-ASCII text as it is."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class Written:
    """A list whose items are already JSON text (:func:`json_text`): the case table writes
    each case's texts once, to measure them, and the island takes that text as it is."""

    def __init__(self, items: list[str]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def values(self) -> list[Any]:
        """The items as values again."""
        return [json.loads(item) for item in self.items]


def _member(value: Any) -> str:
    return "[" + ",".join(value.items) + "]" if isinstance(value, Written) else json_text(value)


class Strings:
    """Repeated values (prompt ids, tags, ...) as small integers, one table per kind.

    A 100k-case island names a few dozen distinct values: each is written once, in
    ``tables()``, and the columns carry its index.
    """

    def __init__(self, *kinds: str) -> None:
        self._tables: dict[str, dict[Hashable, int]] = {k: {} for k in kinds}

    def codes(self, kind: str, values: Iterable[Hashable]) -> list[int]:
        table = self._tables[kind]
        return [table.setdefault(v, len(table)) for v in values]

    def code(self, kind: str, value: Hashable) -> int:
        table = self._tables[kind]
        return table.setdefault(value, len(table))

    def tables(self) -> dict[str, list[Hashable]]:
        return {k: list(t) for k, t in self._tables.items()}


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, the cut marked."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + " …"


def rounded(x: float | None, digits: int = 4) -> float | None:
    """A number as the page needs it: rounded, and None (JSON null) for missing or NaN."""
    if x is None or math.isnan(x):
        return None
    return round(x, digits)


#: How the reports' templates are compiled (part of the compiled templates' cache key).
_OPTIONS = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True}


@functools.cache
def environment() -> Environment:
    """The reports' Jinja2 environment: autoescaping, with the number filters and csp_hash."""
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        bytecode_cache=_bytecode_cache(),
        **_OPTIONS,
    )
    env.filters.update(
        pct=lambda x: pct(x) or MISSING,
        num=lambda x: num(x) or MISSING,
        usd=lambda x: usd(x) or MISSING,
        seconds=lambda x: seconds(x) or MISSING,
        p=lambda x: p_value(x) or MISSING,
        g=lambda x: MISSING if x is None else f"{x:.4g}",
        csp_hash=csp_hash,
    )
    return env


class _KeptTemplates(FileSystemBytecodeCache):
    """The templates compiled once, kept between runs (compiling the run report's took
    ~0.1 s of every `harness run`): in Jinja's own per-user folder in the temp dir, which it
    refuses unless it is the user's alone (mode 0700). A cache that cannot be written (a
    read-only or full disk) never fails a report: the template is compiled as before."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)

    def load_bytecode(self, bucket: Bucket) -> None:
        """A cache file that does not read back (cut short, corrupt) is a miss."""
        try:
            super().load_bytecode(bucket)
        except Exception:  # marshal and pickle raise what they like on bad bytes
            bucket.reset()


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    """Jinja keys a compiled template by its file and source, and checks only Python's
    version: the options, Jinja's version and harness's compile it too."""
    made_by = json.dumps([_OPTIONS, jinja2.__version__, __version__], sort_keys=True)
    options = hashlib.sha256(made_by.encode()).hexdigest()[:12]
    try:
        return _KeptTemplates(pattern=f"__harness_report_{options}_%s.cache")
    except (OSError, RuntimeError):  # no usable temp dir, or one that is not ours alone
        return None


def csp_hash(script: str) -> Markup:
    """The CSP source allowing exactly this inline script and no other."""
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return Markup(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")


def pct(x: float | None) -> str | None:
    return None if x is None else f"{x:.1%}"


def num(x: float | None) -> str | None:
    return None if x is None else f"{x:.3f}"


def usd(x: float | None) -> str | None:
    return None if x is None else f"${x:.4f}"


def seconds(x: float | None) -> str | None:
    return None if x is None else f"{x:.3f} s"


def p_value(p: float | None) -> str | None:
    return None if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")
