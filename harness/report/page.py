"""What every report page shares: the Jinja2 environment, number formats, the CSP hash,
and the JSON island that carries untrusted data into a page.

Kept apart from the reports themselves so that rendering one needs neither pandas nor
the other's code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from collections.abc import Hashable, Iterable
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from harness.jsontext import utf8_safe

MISSING = "—"


def json_island(data: Any) -> Markup:
    """``data`` as JSON safe to inline in a ``<script type="application/json">`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # With no <, > or & left, no text can close the element or open a comment.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # A lone surrogate (valid JSON, not encodable as UTF-8) travels as its JSON escape.
    return Markup(utf8_safe(text))


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


@functools.cache
def environment() -> Environment:
    """The reports' Jinja2 environment: autoescaping, with the number filters and csp_hash."""
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
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
