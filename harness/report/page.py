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
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

MISSING = "—"


def json_island(data: Any) -> Markup:
    """``data`` as JSON safe to inline in a ``<script type="application/json">`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # With no <, > or & left, no text can close the element or open a comment.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


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
