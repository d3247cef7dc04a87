"""The self-contained HTML report of ``harness bench``, optionally against a reference.

Same look and guarantees as the run and comparison reports (:mod:`harness.report.page`):
one file, inline CSS, a Content-Security-Policy that forbids every request. This page has
no script at all: question texts are untrusted and only ever reach the page through
Jinja2's autoescaping; the charts are inline SVG from :mod:`harness.report.bench_svg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.bench.calibration import selective_curve
from harness.bench.compare import Flip, Flips, SubjectFlips
from harness.bench.models import BenchResult, SubjectResult
from harness.report.bench_svg import Series, coverage_chart, reliability_diagram
from harness.report.page import environment

#: Flipped questions listed per subject and direction (the JSON has all of them).
MAX_FLIPS = 200
MAX_CHARS = 1500


@dataclass
class _Row:
    key: str
    result: SubjectResult
    ref: SubjectResult | None
    flips: SubjectFlips | None


@dataclass
class _FlipList:
    key: str
    flips: SubjectFlips
    down: list[Flip]
    up: list[Flip]


def render_bench_html(
    result: BenchResult,
    *,
    reference: BenchResult | None = None,
    flips: Flips | None = None,
    title: str | None = None,
    max_flips: int = MAX_FLIPS,
) -> str:
    """The report of ``result``; with ``reference`` and ``flips``, the comparison too."""
    ref_subjects = {s.key: s for s in reference.subjects} if reference else {}
    flip_by_key = {s.key: s for s in flips.subjects} if flips else {}
    rows = [
        _Row(s.key, s, ref_subjects.get(s.key), flip_by_key.get(s.key)) for s in result.subjects
    ]
    flip_lists = [
        _FlipList(s.key, s, s.right_to_wrong[:max_flips], s.wrong_to_right[:max_flips])
        for s in (flips.subjects if flips else [])
    ]
    models = [("b", result)] if reference is None else [("a", reference), ("b", result)]
    models = [(side, r) for side, r in models if r.calibration.aurc is not None]  # has probs
    role = {"a": "reference · ", "b": "candidate · " if reference else ""}
    diagrams = [
        reliability_diagram(
            r.calibration.bins, title=f"Reliability: {role[side]}{_short(r.model.name)}", side=side
        )
        for side, r in models
    ]
    series = [_series(r, side) for side, r in models]
    template = environment().get_template("bench.html.j2")
    return template.render(
        title=title or f"Benchmark · {result.model.name}",
        result=result,
        reference=reference,
        flips=flips,
        rows=rows,
        flip_lists=flip_lists,
        diagrams=[d for d in diagrams if d],
        coverage=coverage_chart(series, title="Selective accuracy vs coverage"),
        max_flips=max_flips,
        max_chars=MAX_CHARS,
        version=__version__,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        delta=_delta,
        p=_p,
    )


def write_bench_report(result: BenchResult, path: str | Path, **kwargs: Any) -> Path:
    """Render the benchmark report and write it to ``path`` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_bench_html(result, **kwargs), encoding="utf-8")
    return out


def _series(result: BenchResult, side: str) -> Series:
    """The coverage curve of a result with probabilities (so at least one question)."""
    questions = [q for s in result.subjects for q in s.questions]
    curve = selective_curve([q.confidence for q in questions], [q.correct for q in questions])
    label = f"{_short(result.model.name)} (AURC {result.calibration.aurc:.3f})"
    return Series(label, curve.coverage, curve.accuracy, side)


def _short(name: str, limit: int = 40) -> str:
    name = name.rstrip("/")
    tail = name.rsplit("/", 1)[-1]
    return tail if len(tail) <= limit else "…" + tail[-(limit - 1) :]


def _delta(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:+.1f} pp"


def _p(x: float | None) -> str:
    if x is None:
        return "—"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"
