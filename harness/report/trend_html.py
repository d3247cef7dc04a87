"""The self-contained HTML page of ``harness trend``: per prompt x provider, a line chart of
the metric over the suite's runs (each point with its confidence interval, significant
drops marked) and the numbers behind it.

Same guarantees as the other reports (:mod:`harness.report.page`): one file, inline CSS, a
Content-Security-Policy that forbids every request and every script. Suite names, run ids,
prompt, provider and assertion names reach the page only through Jinja2's autoescaping,
or :func:`markupsafe.escape` in the SVG.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from markupsafe import Markup, escape

from harness import __version__
from harness.compare.trend import Point, Series, Trend
from harness.report.page import MISSING, environment

_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 240, 56, 16, 28, 40
#: Run dates written under the x axis at most (evenly picked; every point has a tooltip).
_MAX_TICKS = 8


def render_trend_html(trend: Trend) -> str:
    template = environment().get_template("trend.html.j2")
    return template.render(
        title=f"Trend · {trend.suite} · {trend.label}",
        trend=trend,
        charts={s.label: trend_chart(s, trend) for s in trend.series},
        value=lambda x: trend.show(x, MISSING),
        diff=lambda x: trend.show_diff(x, MISSING),
        version=__version__,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
    )


def write_trend_report(trend: Trend, path: str | Path) -> Path:
    """Render the trend page and write it to ``path`` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_trend_html(trend), encoding="utf-8")
    return out


def trend_chart(series: Series, trend: Trend) -> Markup:
    """The series over the trend's runs (x: the run's place, oldest left), its points
    joined by a line, each with its interval; a significantly worse point is drawn red."""
    points = [(p, p.mean) for p in series.points if p.mean is not None]
    if not points:
        return Markup("")
    low, high = _range([p for p, _ in points], trend.is_rate)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    place = {r.run_id: i for i, r in enumerate(trend.runs)}
    step = plot_w / max(1, len(trend.runs) - 1)

    def at(i: int) -> float:
        return _LEFT + i * step if len(trend.runs) > 1 else _LEFT + plot_w / 2

    def x(p: Point) -> float:
        return at(place[p.run.run_id])

    def y(v: float) -> float:
        return _TOP + (high - v) / (high - low) * plot_h

    title = f"{series.label}: {trend.label}"
    parts = [
        f'<svg class="chart trend" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text class="ch-title" x="0" y="14">{escape(title)}</text>',
        f'<rect class="ch-frame" x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for v in (low, (low + high) / 2, high):
        parts.append(
            f'<text class="ch-tick" x="{_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{escape(trend.show(v))}</text>"
        )
    every = max(1, -(-len(trend.runs) // _MAX_TICKS))
    for i, run in enumerate(trend.runs):
        if i % every == 0 or i == len(trend.runs) - 1:
            parts.append(
                f'<text class="ch-tick" x="{at(i):.1f}" y="{_H - _BOTTOM + 16}" '
                f'text-anchor="middle">{run.created_at:%m-%d %H:%M}</text>'
            )
    line = " ".join(f"{x(p):.1f},{y(mean):.1f}" for p, mean in points)
    parts.append(f'<polyline class="ch-b line" points="{line}"/>')
    for p, mean in points:
        px, tone = x(p), "bad" if p.change and p.change.worse else "b"
        if p.ci_low is not None and p.ci_high is not None:
            top, bottom = y(p.ci_high), y(p.ci_low)
            parts += [
                f'<line class="ch-{tone} ci" x1="{px:.1f}" x2="{px:.1f}" y1="{top:.1f}" '
                f'y2="{bottom:.1f}"/>',
                *(
                    f'<line class="ch-{tone} ci" x1="{px - 4:.1f}" x2="{px + 4:.1f}" '
                    f'y1="{cap:.1f}" y2="{cap:.1f}"/>'
                    for cap in (top, bottom)
                ),
            ]
        radius = 5.5 if tone == "bad" else 3.5
        parts.append(
            f'<circle class="ch-{tone} fill" cx="{px:.1f}" cy="{y(mean):.1f}" r="{radius}">'
            f"<title>{escape(_tooltip(p, trend))}</title></circle>"
        )
        if tone == "bad":  # the mark sits under the interval, inside the frame
            below = min(y(p.ci_low if p.ci_low is not None else mean) + 16, _TOP + plot_h - 3)
            parts.append(
                f'<text class="ch-bad-label" x="{px:.1f}" y="{below:.1f}" '
                f'text-anchor="middle">{"▼" if trend.higher_is_better else "▲"}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _range(points: list[Point], rate: bool) -> tuple[float, float]:
    """The y axis: 0 to 100 % for a pass rate, else the values and intervals padded a little."""
    if rate:
        return 0.0, 1.0
    values = [v for p in points for v in (p.mean, p.ci_low, p.ci_high) if v is not None]
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or 0.5
    return low - pad, high + pad


def _tooltip(p: Point, trend: Trend) -> str:
    text = f"run {p.run.run_id} ({p.run.created_at:%Y-%m-%d %H:%M} UTC): "
    text += f"{trend.label} {trend.show(p.mean)}, n={p.n}"
    if p.ci_low is not None:
        text += f", {trend.confidence:.0%} CI {trend.show(p.ci_low)} – {trend.show(p.ci_high)}"
    if p.change is not None:
        s = p.change.stats
        text += f"; vs previous {trend.show_diff(s.diff)}"
        if s.p_value is not None:
            text += f" (p={s.p_value:.3g}, {s.test})"
        if p.change.worse:
            text += ": significantly worse"
    return text
