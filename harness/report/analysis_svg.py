"""Inline SVG for run-level analyses: bars with intervals, and heatmaps (confusion matrices).

Like :mod:`harness.report.svg`: no script, no network, every label escaped, colours from
the page's CSS classes.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from harness.analysis.base import BarChart, MatrixChart


def _f(x: float) -> str:
    return f"{x:.1f}"


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(chart: BarChart) -> Markup:
    """Horizontal bars, one per category, with whiskers for the interval where given."""
    label_w, plot_w, row_h, top = 200, 360, 22, 26
    n = len(chart.categories)
    height = top + row_h * n + 24
    values = [v for v in (*chart.values, *(chart.low or []), *(chart.high or [])) if v is not None]
    lo = min([0.0, *values, *([chart.reference] if chart.reference is not None else [])])
    hi = max([0.0, *values, *([chart.reference] if chart.reference is not None else [])])
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return label_w + (v - lo) / span * plot_w

    width = label_w + plot_w + 70
    parts = [
        f'<svg class="chart bars" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{escape(chart.title)}">',
        f'<text class="ch-title" x="0" y="14">{escape(chart.title)}</text>',
        f'<line class="ch-axis" x1="{_f(x(0))}" x2="{_f(x(0))}" y1="{top - 4}" '
        f'y2="{height - 20}"/>',
    ]
    for i, (label, value) in enumerate(zip(chart.categories, chart.values, strict=True)):
        y = top + i * row_h
        parts.append(
            f'<text class="ch-label" x="{label_w - 8}" y="{_f(y + 15)}" text-anchor="end">'
            f"{escape(_short(label))}<title>{escape(label)}</title></text>"
        )
        if value is None:
            parts.append(f'<text class="ch-tick" x="{_f(x(0) + 4)}" y="{_f(y + 15)}">n/a</text>')
            continue
        left, right = sorted((x(0), x(value)))
        parts.append(
            f'<rect class="ch-a" x="{_f(left)}" y="{_f(y + 4)}" width="{_f(max(right - left, 1))}"'
            f' height="{row_h - 8}"><title>{escape(label)}: {value:.4g}</title></rect>'
        )
        low = chart.low[i] if chart.low else None
        high = chart.high[i] if chart.high else None
        if low is not None and high is not None:
            mid = _f(y + row_h / 2)
            parts.append(
                f'<line class="ch-axis whisker" x1="{_f(x(low))}" x2="{_f(x(high))}" '
                f'y1="{mid}" y2="{mid}" stroke-width="1.5"/>'
            )
        parts.append(
            f'<text class="ch-value" x="{_f(label_w + plot_w + 6)}" y="{_f(y + 15)}">'
            f"{value:.3g}</text>"
        )
    if chart.reference is not None:
        rx = _f(x(chart.reference))
        parts.append(
            f'<line class="ch-bad" x1="{rx}" x2="{rx}" y1="{top - 4}" y2="{height - 20}" '
            f'stroke-dasharray="4 3"/>'
        )
    parts += [
        f'<text class="ch-tick" x="{label_w}" y="{height - 6}">{lo:.3g}</text>',
        f'<text class="ch-tick" x="{label_w + plot_w}" y="{height - 6}" text-anchor="end">'
        f"{hi:.3g} {escape(chart.unit)}</text>",
        "</svg>",
    ]
    return Markup("".join(parts))


def matrix_chart(chart: MatrixChart) -> Markup:
    """A heatmap: each cell's shade is its share of the largest value, its number printed."""
    cell, label_w, top = 40, 140, 44
    cols, rows = len(chart.col_labels), len(chart.row_labels)
    width, height = label_w + cell * cols + 10, top + cell * rows + 10
    peak = max((v for row in chart.values for v in row), default=0.0) or 1.0
    parts = [
        f'<svg class="chart matrix" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{escape(chart.title)}">',
        f'<text class="ch-title" x="0" y="14">{escape(chart.title)}</text>',
        f'<text class="ch-tick" x="{label_w}" y="28">{escape(chart.col_title)}</text>',
        f'<text class="ch-tick" x="0" y="28">{escape(chart.row_title)}</text>',
    ]
    for j, label in enumerate(chart.col_labels):
        parts.append(
            f'<text class="ch-label" x="{_f(label_w + j * cell + cell / 2)}" y="{top - 4}" '
            f'text-anchor="middle">{escape(_short(label, 6))}<title>{escape(label)}</title></text>'
        )
    for i, (label, row) in enumerate(zip(chart.row_labels, chart.values, strict=True)):
        y = top + i * cell
        parts.append(
            f'<text class="ch-label" x="{label_w - 6}" y="{_f(y + cell / 2 + 4)}" '
            f'text-anchor="end">{escape(_short(label, 18))}<title>{escape(label)}</title></text>'
        )
        for j, value in enumerate(row):
            parts.append(
                f'<rect class="ch-a" x="{label_w + j * cell}" y="{y}" width="{cell - 2}" '
                f'height="{cell - 2}" fill-opacity="{0.08 + 0.85 * value / peak:.2f}">'
                f"<title>{escape(label)} → {escape(chart.col_labels[j])}: {value:g}</title></rect>"
                f'<text class="ch-value" x="{_f(label_w + j * cell + cell / 2 - 1)}" '
                f'y="{_f(y + cell / 2 + 4)}" text-anchor="middle">{value:g}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
