"""The HTML report: escaped, self-contained, failures first, and working in a real browser."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.analysis.base import AnalysisResult, BarChart, MatrixChart, Table
from harness.report.html import render_html, write_report
from harness.results.models import CaseResult
from tests.browser import Chromium, Page, console_errors, launch_browser, requested_urls
from tests.report.helpers import (
    CHINESE_A,
    CHINESE_Q,
    MALICIOUS,
    TITLE,
    Document,
    build_cases,
    choose,
    island_cases,
    make_case,
    make_run,
    parse,
)


@pytest.fixture(scope="module")
def cases() -> list[CaseResult]:
    return build_cases()


@pytest.fixture(scope="module")
def html(cases: list[CaseResult]) -> str:
    return render_html(make_run(), cases)


@pytest.fixture(scope="module")
def doc(html: str) -> Document:
    return parse(html)


def test_malicious_text_never_appears_unescaped(html: str) -> None:
    for bad in MALICIOUS:
        assert bad not in html
    for fragment in ("<script>window", "<img", "<svg", "<b>why"):
        assert fragment not in html


def test_no_injected_elements(doc: Document) -> None:
    tags = [tag for tag, _ in doc.elements]
    assert tags.count("script") == 2
    assert not {"img", "svg", "iframe", "object", "embed"} & set(tags)
    for tag, attrs in doc.elements:
        assert not [name for name in attrs if name.startswith("on")], tag


def test_case_json_round_trips_exactly(doc: Document, cases: list[CaseResult]) -> None:
    data = island_cases(doc)
    assert len(data) == len(cases)
    outputs = {c["output"] for c in data}
    assert set(MALICIOUS) <= outputs
    assert CHINESE_A in outputs
    assert any(c["messages"][1] == ["user", CHINESE_Q] for c in data)
    assert any("<timeout>" in (c["error"] or "") for c in data)
    assert {c["row_id"] for c in data} == {c.row_id for c in cases}
    assert {t for c in data for t in c["tags"]} == {"geo", "中文", "math"}
    v2_qwen = [c for c in data if (c["prompt_id"], c["provider_id"]) == ("v2", "qwen")]
    assert v2_qwen[0]["scores"] == [
        ["exact_match", 1.0, "≥", 1.0, 1],
        ["toxicity", 0.5, "≤", 0.0, 1],
    ]


def test_json_cannot_close_its_script_element(html: str) -> None:
    start = html.index('<script type="application/json" id="cases">')
    end = html.index("</script>", start)
    body = html[start + len('<script type="application/json" id="cases">') : end]
    assert not set("<>&") & set(body)
    assert "\\u003c/script\\u003e" in body


def test_self_contained(html: str, doc: Document) -> None:
    for _, attrs in doc.elements:
        for name in ("src", "href", "action", "data", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value or value.startswith("data:"), (name, value)
    assert not re.search(r"<link[^>]+stylesheet", html, re.I)
    assert not re.search(r"https?://|@import|url\(", html)
    csp = next(
        a["content"] for t, a in doc.elements if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in (csp or "")


def test_failures_first(doc: Document, cases: list[CaseResult]) -> None:
    statuses = [c["status"] for c in island_cases(doc)]
    n_pass = sum(c.passed for c in cases)
    assert statuses[len(statuses) - n_pass :] == ["pass"] * n_pass
    assert "pass" not in statuses[: len(statuses) - n_pass]
    assert statuses.index("error") > statuses.index("fail")


def test_header_and_footer(html: str) -> None:
    for text in (
        TITLE,
        "run-1",
        "complete",
        "0.1.0",
        "gpt-model",
        "qwen-model",
        "2024-05-01 12:00:00",
    ):
        assert text in html
    assert "exact_match@1" in html and "toxicity@1" in html


def test_main_matrix_numbers_and_best_cells(doc: Document) -> None:
    rows = doc.matrices["main"][1:]  # the first is the header row (no td)
    by_provider = {}
    prompt = ""
    for cells in rows:
        if len(cells) == 9:  # the row that opens a prompt carries the prompt cell
            prompt = cells[0][1]
            cells = cells[1:]
        by_provider[(prompt, cells[0][1])] = cells
    assert set(by_provider) == {("v1", "gpt"), ("v1", "qwen"), ("v2", "gpt"), ("v2", "qwen")}
    best_qwen = by_provider[("v2", "qwen")]
    assert "best" in best_qwen[1][0] and best_qwen[1][1].endswith("100.0%")
    assert "best" in best_qwen[2][0] and best_qwen[2][1] == "1.000"  # exact_match, higher is better
    v1_gpt = by_provider[("v1", "gpt")]
    assert "best" in v1_gpt[3][0] and v1_gpt[3][1] == "0.000"  # toxicity, lower is better
    assert "best" not in v1_gpt[2][0]
    assert [c[1] for c in v1_gpt[4:]] == ["10", "0", "$0.0100", "0.950 s"]
    assert by_provider[("v2", "gpt")][5][1] == "1"  # the errored case


def test_bad_case_set_apart(doc: Document, html: str) -> None:
    assert "Bad-case set" in html
    assert set(doc.matrices) >= {"main", "regressions"}
    (bad_row,) = doc.matrices["regressions"][1:]
    assert [c[1] for c in bad_row[:2]] == ["v1", "gpt"]
    assert bad_row[-4][1] == "3"
    assert html.index('data-case-set="main"') < html.index('data-case-set="regressions"')


def test_missing_numbers_show_a_dash() -> None:
    case = make_case("v1", "gpt", 0, exact=None, cost=None)
    html = render_html(make_run(), [case])
    (row,) = parse(html).matrices["main"][1:]
    assert row[3][1].startswith("—") and row[7][1] == "—"  # exact_match mean (of 0 scored), cost


def test_write_report(tmp_path: Path, cases: list[CaseResult]) -> None:
    path = write_report(make_run(), cases, tmp_path / "deep" / "report.html")
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    yield from launch_browser(tmp_path_factory)


@pytest.mark.browser
def test_report_in_chromium(browser: Chromium, tmp_path: Path, cases: list[CaseResult]) -> None:
    path = write_report(make_run(), cases, tmp_path / "report.html")
    url = path.as_uri()
    page = Page(browser, url)
    page.screenshot(tmp_path / "report-light.png")
    page.eval("document.getElementById('cases-section').scrollIntoView()")
    page.screenshot(tmp_path / "report-cases.png")

    # (d) nothing injected ran: the title is ours and no payload set its global.
    assert page.eval("document.title") == f"{TITLE} · run-1"
    assert page.eval("typeof window.__pwned") == "undefined"
    assert page.eval("document.querySelectorAll('#case-rows img, #case-rows svg').length") == 0
    outputs = page.eval("[...document.querySelectorAll('.c-output .text')].map(e => e.textContent)")
    assert set(MALICIOUS) <= set(outputs)

    # Failures first on the page, too.
    statuses = page.rows()
    assert len(statuses) == len(cases)
    assert statuses == sorted(statuses, key={"fail": 0, "error": 1, "pass": 2}.__getitem__)

    # (c) the filters.
    n_fail = sum(not c.passed and c.error is None for c in cases)
    choose(page, "f-status", "fail")
    assert page.rows() == ["fail"] * n_fail
    page.choose("f-status", "")
    choose(page, "f-set", "regressions")
    assert len(page.rows()) == 3
    page.choose("f-set", "")
    choose(page, "f-provider", "qwen")
    choose(page, "f-prompt", "v2")
    assert page.rows() == ["pass"] * 10
    choose(page, "f-tag", "中文")
    assert len(page.rows()) == 5
    page.eval("document.getElementById('f-reset').click()")
    assert len(page.rows()) == len(cases)
    page.eval(
        "(() => { const q = document.getElementById('f-q'); q.value = '<TIMEOUT>';"
        " q.dispatchEvent(new Event('input')); })()"
    )
    deadline = time.monotonic() + 5
    while page.rows() != ["error"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert page.rows() == ["error"]
    page.eval("document.getElementById('f-reset').click()")

    page.send(
        "Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}]
    )
    page.screenshot(tmp_path / "report-dark.png")

    # A big run renders in pages.
    big = [make_case("v1", "gpt", row % 10, case_set="main") for row in range(450)]
    big_path = write_report(make_run(), big, tmp_path / "big.html")
    big_page = Page(browser, big_path.as_uri())
    assert len(big_page.rows()) == 200
    big_page.eval("document.getElementById('page-next').click()")
    big_page.eval("document.getElementById('page-next').click()")
    assert len(big_page.rows()) == 50

    # (a) no console error and (b) no request but the pages themselves.
    assert console_errors(browser.events) == []
    assert requested_urls(browser.events) <= {url, big_path.as_uri()}


def _analysis_with_untrusted_text() -> AnalysisResult:
    """Every string slot of an analysis carries a payload: group names come from datasets."""
    bad = MALICIOUS
    return AnalysisResult(
        id="fairness",
        type="fairness",
        title=bad[0],
        summary=bad[1],
        tables=[
            Table(
                title=bad[2],
                columns=["group", "rate"],
                rows=[[bad[3], 0.5], ["北方", 0.25]],
                note=bad[0],
                flagged_rows=[0],
            )
        ],
        charts=[
            BarChart(
                title=bad[1],
                categories=[bad[2], "北方"],
                values=[0.5, 0.25],
                low=[0.4, 0.1],
                high=[0.6, 0.4],
                reference=0.3,
            ),
            MatrixChart(
                title=bad[3],
                row_labels=[bad[0], "b"],
                col_labels=["a", bad[1]],
                values=[[3, 1], [0, 2]],
            ),
        ],
        flags=[bad[2]],
    )


def test_analyses_and_verdicts_render_escaped(tmp_path: Path) -> None:
    case = make_case("v1", "gpt", 0)
    verdicts = [{"label": MALICIOUS[0], "verdict": False, "reason": MALICIOUS[1]}]
    case.scores[0].metadata = {"verdicts": verdicts}
    html = render_html(make_run(), [case], [_analysis_with_untrusted_text()])
    for payload in MALICIOUS:
        assert payload not in html
    assert html.count('class="chart bars"') == 1 and html.count('class="chart matrix"') == 1
    assert 'class="flagged"' in html and "北方" in html


@pytest.mark.browser
def test_analyses_in_chromium(browser: Chromium, tmp_path: Path) -> None:
    case = make_case("v1", "gpt", 0, exact=0.0)
    case.scores[0].metadata = {
        "verdicts": [{"label": MALICIOUS[2], "verdict": "unsupported", "reason": MALICIOUS[3]}]
    }
    path = write_report(make_run(), [case], tmp_path / "a.html", [_analysis_with_untrusted_text()])
    page = Page(browser, path.as_uri())
    page.screenshot(tmp_path / "analyses.png")
    assert page.eval("typeof window.__pwned") == "undefined"
    assert page.eval("document.querySelectorAll('section.analysis svg.chart').length") == 2
    shown = page.eval(
        "[...document.querySelectorAll('details.verdicts li')].map(e => e.textContent)"
    )
    assert shown == [f"unsupported {MALICIOUS[2]}{MALICIOUS[3]}"]
    assert console_errors(browser.events) == []
    assert all(u.startswith("file://") for u in requested_urls(browser.events))


def test_compiled_templates_are_kept_and_an_unwritable_cache_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports compile their templates once per machine (Jinja's bytecode cache, in a
    folder of the user's own in the temp dir); a cache that cannot be written only means
    compiling again."""
    from harness.report import page

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    kept = page._bytecode_cache()
    assert kept is not None and Path(kept.directory).parent == tmp_path
    assert Path(kept.directory).stat().st_mode & 0o777 == 0o700
    fresh = page.environment().overlay(bytecode_cache=kept, cache_size=0)
    fresh.get_template("report.html.j2")
    assert len(list(Path(kept.directory).glob("__harness_report_*.cache"))) >= 1
    again = page.environment().overlay(bytecode_cache=kept, cache_size=0)
    monkeypatch.setattr(again, "compile", lambda *a, **k: pytest.fail("compiled again"))
    assert again.get_template("report.html.j2")  # read back from the cache
    for cached in Path(kept.directory).glob("__harness_report_*.cache"):
        cached.write_bytes(cached.read_bytes()[:40])  # cut short: read back as a miss
    assert (
        page.environment().overlay(bytecode_cache=kept, cache_size=0).get_template("report.html.j2")
    )
    gone = page._KeptTemplates(directory=str(tmp_path / "missing"))  # every write fails
    assert (
        page.environment().overlay(bytecode_cache=gone, cache_size=0).get_template("report.html.j2")
    )
