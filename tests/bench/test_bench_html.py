"""The benchmark HTML report and its charts, on results built without a model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import harness.bench
from harness.bench.compare import flips
from harness.bench.models import ReliabilityBin
from harness.report.bench_html import render_bench_html, write_bench_report
from harness.report.bench_svg import Series, coverage_chart, reliability_diagram
from tests.bench.helpers import question, result, subject

EVIL = '<script>alert("x")</script> & 答案'


def _pair() -> tuple[harness.bench.BenchResult, harness.bench.BenchResult]:
    qs_ref = [
        question(0, "A", [3.0, 0, 0, 0], text=EVIL),
        question(1, "B", [0, 0, 2.0, 0]),
        question(2, "C", [0, 0, 1.0, 0]),
    ]
    qs_new = [
        question(0, "A", [0, 2.0, 0, 0], text=EVIL),
        question(1, "B", [0, 2.5, 0, 0]),
        question(2, "C", [0, 0, 1.0, 0]),
    ]
    ref = result("models/base", [subject("cmmlu:chinese_history", qs_ref)])
    new = result("models/tuned", [subject("cmmlu:chinese_history", qs_new)])
    return ref, new


def test_single_model_report_is_self_contained_and_script_free(tmp_path: Path) -> None:
    _, new = _pair()
    path = write_bench_report(new, tmp_path / "deep" / "r.html")
    page = path.read_text("utf-8")
    assert "<script" not in page  # no script at all: question text is only autoescaped
    assert "script-src 'none'" in page and "default-src 'none'" in page
    assert not re.search(r"(src|href)=\"https?:", page)
    assert page.count("<svg") == 2  # reliability diagram and coverage curve
    assert "cmmlu:chinese_history" in page and "Macro accuracy" in page
    assert "Flipped questions" not in page and "Reference" not in page


def test_comparison_lists_flips_with_escaped_text() -> None:
    ref, new = _pair()
    page = render_bench_html(new, reference=ref, flips=flips(ref, new))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; 答案" in page
    assert page.count('class="flip flip-down"') == 1 and page.count('class="flip flip-up"') == 1
    assert page.count("<svg") == 3  # two reliability diagrams, one coverage chart
    assert "Reliability: reference · base" in page and "Reliability: candidate · tuned" in page
    assert "McNemar" in page and "right → wrong" in page


def test_long_flip_lists_are_capped() -> None:
    ref_qs = [question(i, "A", [3.0, 0, 0, 0]) for i in range(5)]
    new_qs = [question(i, "A", [0, 3.0, 0, 0]) for i in range(5)]
    ref = result("a", [subject("mmlu:x", ref_qs)])
    new = result("b", [subject("mmlu:x", new_qs)])
    page = render_bench_html(new, reference=ref, flips=flips(ref, new), max_flips=2)
    assert page.count('class="flip flip-down"') == 2 and "5 right → wrong" in page


def test_charts_escape_labels_and_skip_empty_input() -> None:
    assert reliability_diagram([ReliabilityBin(lower=0, upper=1, count=0, accuracy=None,
                                               confidence=None)], title="t") == ""  # fmt: skip
    assert coverage_chart([], title="t") == ""
    bins = [ReliabilityBin(lower=0.5, upper=0.6, count=3, accuracy=1 / 3, confidence=0.55)]
    svg = reliability_diagram(bins, title="<b>")
    assert "&lt;b&gt;" in svg and "3 questions (100%)" in svg
    n = 5000
    series = Series("<m>", np.arange(1, n + 1) / n, np.linspace(1, 0.5, n), "b")
    svg = coverage_chart([series], title="c")
    points = re.search(r'points="([^"]+)"', svg)
    assert points and len(points.group(1).split()) <= 400  # long curves are sampled
    assert "&lt;m&gt;" in svg


def test_public_names() -> None:
    """Every name in __all__ resolves (they are imported on first use), and no other."""
    exported = set(harness.bench.__all__)
    public = {n for n in dir(harness.bench) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(harness.bench, n)).__name__ == "module"}
    assert public - modules == exported
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        harness.bench.nope  # noqa: B018
    assert issubclass(harness.bench.BenchError, harness.HarnessError)
