"""Inline SVG charts of the benchmark report: a reliability diagram and the
selective-accuracy / coverage curve.

Same conventions as :mod:`harness.report.svg`: no library, no script, every label
escaped, colours from the report's CSS classes (``ch-a`` reference, ``ch-b`` candidate,
``ch-axis``, ``ch-bad``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

from harness.bench.models import ReliabilityBin

_W, _H, _LEFT, _TOP, _PLOT = 300, 290, 40, 26, 220
#: Most points drawn per curve (a long curve is sampled evenly; the ends are kept).
MAX_POINTS = 400


@dataclass(frozen=True)
class Series:
    """One line of the coverage chart."""

    label: str
    coverage: np.ndarray
    accuracy: np.ndarray
    #: "a" (reference, grey) or "b" (candidate, blue).
    side: str


def _x(v: float) -> str:
    return f"{_LEFT + v * _PLOT:.1f}"


def _y(v: float) -> str:
    return f"{_TOP + (1 - v) * _PLOT:.1f}"


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    bottom = _TOP + _PLOT
    parts = [
        f'<svg class="chart bench" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text class="ch-title" x="0" y="14">{escape(title)}</text>',
        f'<rect class="ch-frame" x="{_LEFT}" y="{_TOP}" width="{_PLOT}" height="{_PLOT}"/>',
    ]
    for v in (0.0, 0.5, 1.0):
        parts += [
            f'<text class="ch-tick" x="{_x(v)}" y="{bottom + 14}" '
            f'text-anchor="middle">{v:g}</text>',
            f'<text class="ch-tick" x="{_LEFT - 4}" y="{float(_y(v)) + 4:.1f}" '
            f'text-anchor="end">{v:g}</text>',
        ]
    parts += [
        f'<text class="ch-label" x="{_x(0.5)}" y="{bottom + 30}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text class="ch-label" x="12" y="{_y(0.5)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_y(0.5)})">{escape(y_label)}</text>',
    ]
    return parts


def reliability_diagram(bins: list[ReliabilityBin], *, title: str, side: str = "b") -> Markup:
    """Accuracy per confidence bin as bars, the gap to the bin's mean confidence shaded,
    and the diagonal of perfect calibration."""
    if not any(b.count for b in bins):
        return Markup("")
    parts = _frame(title, "confidence", "accuracy")
    parts.append(
        f'<line class="ch-axis dashed" x1="{_x(0)}" y1="{_y(0)}" x2="{_x(1)}" y2="{_y(1)}"/>'
    )
    total = sum(b.count for b in bins)
    for b in bins:
        if b.accuracy is None or b.confidence is None:
            continue
        x0, width = float(_x(b.lower)) + 1, (b.upper - b.lower) * _PLOT - 2
        tip = escape(
            f"{b.lower:.2f}–{b.upper:.2f}: {b.count} questions ({b.count / total:.0%}), "
            f"accuracy {b.accuracy:.1%}, mean confidence {b.confidence:.1%}"
        )
        parts.append(
            f'<rect class="ch-{side}" x="{x0:.1f}" y="{_y(b.accuracy)}" width="{width:.1f}" '
            f'height="{b.accuracy * _PLOT:.1f}"><title>{tip}</title></rect>'
        )
        low, high = sorted((b.accuracy, b.confidence))
        parts.append(
            f'<rect class="ch-gap" x="{x0:.1f}" y="{_y(high)}" width="{width:.1f}" '
            f'height="{(high - low) * _PLOT:.1f}"><title>{tip}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def coverage_chart(series: list[Series], *, title: str) -> Markup:
    """Selective accuracy against coverage (most confident questions first), one line each."""
    series = [s for s in series if len(s.coverage)]
    if not series:
        return Markup("")
    parts = _frame(title, "coverage", "selective accuracy")
    for s in series:
        keep = np.unique(np.linspace(0, len(s.coverage) - 1, MAX_POINTS).round().astype(int))
        points = " ".join(f"{_x(s.coverage[i])},{_y(s.accuracy[i])}" for i in keep)
        parts.append(
            f'<polyline class="ch-{s.side} line" points="{points}" fill="none">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
    for i, s in enumerate(series):
        y = _TOP + 8 + i * 14
        parts += [
            f'<line class="ch-{s.side} line" x1="{_LEFT + 8}" x2="{_LEFT + 22}" '
            f'y1="{y}" y2="{y}"/>',
            f'<text class="ch-label" x="{_LEFT + 26}" y="{y + 4}">{escape(_short(s.label))}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(text: str, limit: int = 44) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
