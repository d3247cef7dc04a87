"""The report's header tells how the run went: errored cases and gate verdicts, escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from markupsafe import escape

from harness.analysis.errors import error_budget
from harness.compare import GateResult, check_gate, from_results
from harness.report.html import render_html, write_report
from harness.results.models import CaseResult
from harness.suite.schema import Gate
from tests.browser import Chromium, Page, console_errors, launch_browser
from tests.compare.helpers import case, run_record
from tests.report.helpers import MALICIOUS, make_case, make_run, parse

REFUSED = "ConnectError: connection refused (api, 127.0.0.1:1)"


def _badge(html: str) -> tuple[str, str]:
    """The run status badge: its tone (CSS class) and text."""
    found = re.search(r'class="run-status run-status-(\w+)" id="run-status">(.*?)</span>', html)
    assert found, "no status badge"
    return found.group(1), " ".join(found.group(2).split())


def test_a_run_whose_every_call_failed_is_not_green() -> None:
    cases = [make_case("v1", "gpt", i, error=REFUSED) for i in range(30)]
    html = render_html(make_run(), cases)
    assert _badge(html) == ("errors", "complete · 30 errored")
    assert "30 × " + REFUSED + " (gpt)" in parse(html).text("errors")
    assert parse(html).text("kpi-errors") == "Errors 30"


def test_distinct_errors_most_frequent_first_and_scoring_errors_apart() -> None:
    cases = [make_case("v1", "gpt", i, error=REFUSED) for i in range(3)]
    cases.append(make_case("v1", "qwen", 9, error="TimeoutError: read timed out"))
    scored = [make_case("v1", "gpt", 20 + i) for i in range(2)]
    for c in scored:
        c.scores[0].error = "judge reply did not parse"
    html = render_html(make_run(), cases + scored)
    assert _badge(html) == ("errors", "complete · 4 errored · 2 scoring errors")
    errors = parse(html).text("errors")
    assert errors.index(f"3 × {REFUSED}") < errors.index("1 × TimeoutError: read timed out (qwen)")
    assert "judge" not in errors  # scoring errors are counted apart, not as errored calls
    assert parse(html).text("kpi-errors") == "Errors 4 +2 with a scoring error"


def test_a_clean_run_stays_green() -> None:
    html = render_html(make_run(), [make_case("v1", "gpt", i) for i in range(3)])
    assert _badge(html) == ("complete", "complete")
    assert 'id="errors"' not in html and 'id="gates"' not in html


def _gated_run() -> tuple[list[CaseResult], list[GateResult]]:
    """A run held to a pass-rate gate (passes) and to a baseline gate (rougeL drops: fails),
    evaluated by the real gate code."""
    base = from_results([case(i, run_id="base", rouge=0.8) for i in range(200)], "base")
    results = [case(i, run_id="run-1", passed=i >= 30, rouge=0.76) for i in range(200)]
    now = from_results(results, "run-1", run_record("run-1"))
    baseline_gate = Gate(
        metric="rougeL", baseline="baselines/x.json", max_drop=0.02, significance=0.05
    )
    gates = [
        *check_gate(Gate(min_pass_rate=0.8), now, index=0),
        *check_gate(baseline_gate, now, base, index=1),
    ]
    return results, gates


def test_gates_table_shows_check_threshold_observed_p_and_verdict() -> None:
    results, gates = _gated_run()
    doc = parse(render_html(make_run(), results, gates=gates))
    header, rate, drop = doc.matrices["gates"]
    assert header == []  # the header row has no td
    assert [text for _, text in rate] == [
        "pass",
        "gates[0] pass rate ≥ 0.8 (v1 · gpt)",
        "pass rate ≥ 0.8",
        "0.8",
        "0.85",
        "—",
        "pass rate 85.0% (170/200) ≥ 80.0%",
    ]
    cells = [text for _, text in drop]
    assert cells[0] == "fail"
    assert cells[2] == "rougeL mean drop ≤ 0.02 vs baselines/x.json, significance 0.05"
    assert cells[3:5] == ["0.02", "0.04"]
    assert cells[5] == ("< 0.001" if gates[1].p_value < 0.001 else f"{gates[1].p_value:.3f}")  # type: ignore[operator]
    assert cells[6].startswith("0.8 → 0.76 (n=200): drop 0.04 > max 0.02, significant at 0.05")
    assert "wilcoxon" in cells[6]  # the details


def test_gate_and_error_text_stays_inert() -> None:
    results = [case(i, run_id="run-1", provider=MALICIOUS[1]) for i in range(5)]
    gates = check_gate(Gate(min_pass_rate=0.9, provider=MALICIOUS[1]), from_results(results, "r"))
    cases = [make_case("v1", "gpt", 0, error=MALICIOUS[0]), make_case("v1", MALICIOUS[3], 1)]
    html = render_html(make_run(), cases + results, gates=gates)
    for payload in MALICIOUS:
        assert payload not in html
    assert escape(MALICIOUS[1]) in html and escape(MALICIOUS[0]) in html
    tags = [tag for tag, _ in parse(html).elements]
    assert tags.count("script") == 2 and "img" not in tags and "svg" not in tags


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    yield from launch_browser(tmp_path_factory)


@pytest.mark.browser
def test_errors_and_gates_in_chromium(browser: Chromium, tmp_path: Path) -> None:
    results, gates = _gated_run()
    errored = [make_case("v1", "gpt", i, error=MALICIOUS[i % 4]) for i in range(8)]
    path = write_report(make_run(), errored + results, tmp_path / "health.html", gates=gates)
    page = Page(browser, path.as_uri())
    page.screenshot(tmp_path / "health.png")
    assert page.eval("typeof window.__pwned") == "undefined"
    listed = page.eval(
        "[...document.querySelectorAll('#errors li .message')].map(e => e.textContent)"
    )
    assert sorted(listed) == sorted(MALICIOUS)
    color = "getComputedStyle(document.querySelector({!r})).color".format
    assert page.eval(color("#run-status")) == page.eval(color("#case-rows .badge-error"))
    assert page.eval(color("#run-status")) != page.eval(color("#case-rows .badge-pass"))
    verdicts = page.eval("[...document.querySelectorAll('#gates tr.gate')].map(r => r.className)")
    assert verdicts == ["gate gate-pass", "gate gate-fail"]
    assert console_errors(browser.events) == []


def test_the_error_budget_shows_as_a_gate() -> None:
    cases = [make_case("v1", "gpt", i, error=REFUSED if i < 3 else None) for i in range(10)]
    budget = error_budget(cases, 0.1)
    doc = parse(render_html(make_run(), cases, gates=[budget]))
    (row,) = doc.matrices["gates"][1:]
    assert [text for _, text in row][:6] == [
        "fail", "max_error_rate", "share of cases errored ≤ max_error_rate", "0.1", "0.3", "—"
    ]  # fmt: skip
