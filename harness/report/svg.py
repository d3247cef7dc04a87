"""Small inline SVG charts for the reports: no library, no script, no network.

Every label is escaped; colours come from CSS classes (``ch-a``, ``ch-b``, ``ch-good``,
``ch-bad``, ``ch-flat``, ``ch-axis``) so the page's light and dark themes apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot: a difference and its confidence interval."""

    label: str
    diff: float
    low: float | None
    high: float | None
    #: "good", "bad" or "flat" (not significant): the colour of the mark.
    tone: str
    note: str = ""


def _f(x: float) -> str:
    return f"{x:.1f}"


def ci_strip(diff: float, low: float | None, high: float | None, tone: str, span: float) -> Markup:
    """A one-line chart of a difference with its interval on [-span, span], zero marked."""
    width, height = 120, 16
    span = span or 1.0

    def x(v: float) -> float:
        return width / 2 + max(-1.0, min(1.0, v / span)) * (width / 2 - 4)

    parts = [
        f'<svg class="chart strip" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="difference {diff:+.3g}">',
        f'<line class="ch-axis" x1="{_f(x(0))}" x2="{_f(x(0))}" y1="1" y2="{height - 1}"/>',
    ]
    if low is not None and high is not None:
        parts.append(
            f'<line class="ch-{tone}" x1="{_f(x(low))}" x2="{_f(x(high))}" y1="8" y2="8" '
            f'stroke-width="2"/>'
        )
    parts.append(f'<circle class="ch-{tone} fill" cx="{_f(x(diff))}" cy="8" r="3.5"/></svg>')
    return Markup("".join(parts))


def forest(rows: list[Interval], *, title: str) -> Markup:
    """Differences with their intervals, one row per slice, on a shared axis around zero."""
    if not rows:
        return Markup("")
    label_w, plot_w, row_h, top = 220, 420, 22, 26
    height = top + row_h * len(rows) + 22
    extent = max(abs(v) for r in rows for v in (r.diff, r.low or 0.0, r.high or 0.0)) or 1.0
    extent *= 1.1

    def x(v: float) -> float:
        return label_w + plot_w / 2 + v / extent * (plot_w / 2)

    parts = [
        f'<svg class="chart forest" width="{label_w + plot_w + 90}" height="{height}" '
        f'viewBox="0 0 {label_w + plot_w + 90} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text class="ch-title" x="0" y="14">{escape(title)}</text>',
        f'<line class="ch-axis" x1="{_f(x(0))}" x2="{_f(x(0))}" y1="{top - 6}" '
        f'y2="{height - 18}"/>',
    ]
    for tick in (-extent / 1.1, extent / 1.1):
        parts.append(
            f'<text class="ch-tick" x="{_f(x(tick))}" y="{height - 4}" '
            f'text-anchor="middle">{tick:+.3g}</text>'
        )
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h / 2
        label = r.label if len(r.label) <= 32 else r.label[:31] + "…"
        parts.append(
            f'<text class="ch-label" x="{label_w - 8}" y="{_f(y + 4)}" '
            f'text-anchor="end">{escape(label)}<title>{escape(r.label)}</title></text>'
        )
        if r.low is not None and r.high is not None:
            parts.append(
                f'<line class="ch-{r.tone}" x1="{_f(x(r.low))}" x2="{_f(x(r.high))}" '
                f'y1="{_f(y)}" y2="{_f(y)}" stroke-width="2"/>'
            )
        parts.append(f'<circle class="ch-{r.tone} fill" cx="{_f(x(r.diff))}" cy="{_f(y)}" r="4"/>')
        parts.append(
            f'<text class="ch-value" x="{label_w + plot_w + 6}" y="{_f(y + 4)}">'
            f"{r.diff:+.3g}{escape(r.note)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histograms(a: np.ndarray, b: np.ndarray, *, title: str, label_a: str, label_b: str) -> Markup:
    """The distributions of A's and B's values as side-by-side bars on 20 shared bins."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) and not len(b):
        return Markup("")
    both = np.concatenate((a, b))
    low, high = float(both.min()), float(both.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, 21)
    ca = np.histogram(a, edges)[0] / max(len(a), 1)
    cb = np.histogram(b, edges)[0] / max(len(b), 1)
    width, height, left, top, plot_h = 400, 170, 34, 24, 110
    bar = (width - left - 6) / 20
    peak = max(float(ca.max()), float(cb.max())) or 1.0
    parts = [
        f'<svg class="chart hist" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{escape(title)}">',
        f'<text class="ch-title" x="0" y="14">{escape(title)}</text>',
        f'<line class="ch-axis" x1="{left}" x2="{width - 6}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/>',
        f'<text class="ch-tick" x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:.0%}</text>',
    ]
    for offset, (side, counts) in enumerate((("a", ca), ("b", cb))):
        for i, c in enumerate(counts):
            if c <= 0:
                continue
            h = c / peak * plot_h
            x = left + i * bar + 1 + offset * (bar - 2) / 2
            parts.append(
                f'<rect class="ch-{side}" x="{_f(x)}" y="{_f(top + plot_h - h)}" '
                f'width="{_f((bar - 2) / 2)}" height="{_f(h)}"><title>{side.upper()}: '
                f"{edges[i]:.3g}–{edges[i + 1]:.3g}: {c:.1%}</title></rect>"
            )
    y = top + plot_h + 14
    parts += [
        f'<text class="ch-tick" x="{left}" y="{y}">{low:.3g}</text>',
        f'<text class="ch-tick" x="{width - 6}" y="{y}" text-anchor="end">{high:.3g}</text>',
        f'<rect class="ch-a" x="{left}" y="{y + 8}" width="10" height="10"/>',
        f'<text class="ch-label" x="{left + 14}" y="{y + 17}">{escape(_short(label_a))}</text>',
        f'<rect class="ch-b" x="{left + 180}" y="{y + 8}" width="10" height="10"/>',
        f'<text class="ch-label" x="{left + 194}" y="{y + 17}">{escape(_short(label_b))}</text>',
        "</svg>",
    ]
    return Markup("".join(parts))


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
