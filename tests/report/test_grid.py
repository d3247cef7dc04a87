"""The static report's grid: each case row once, its prompt versions x providers side by
side, as in `harness view` (filters, search, pages), self-contained and escaped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report.html import render_html, write_report
from harness.results.models import CaseResult
from tests.browser import Chromium, Page, console_errors, launch_browser, requested_urls
from tests.report.helpers import MALICIOUS, build_cases, choose, make_case, make_run, parse

ROWS = "[...document.querySelectorAll('#grid-rows > tr')]"


def with_vars(cases: list[CaseResult]) -> list[CaseResult]:
    """The cases with a question var (a hostile one on row 3) and a non-text var."""
    for c in cases:
        number = int(c.row_id.removeprefix("row-"))
        question = MALICIOUS[1] if number == 3 else f"question {number}"
        c.vars = {"question": question, "n": [number, "x" * 2000]}
    return cases


@pytest.fixture(scope="module")
def cases() -> list[CaseResult]:
    return with_vars(build_cases())


def test_the_island_names_the_grid_columns_in_the_runs_order(cases: list[CaseResult]) -> None:
    data = json.loads(parse(render_html(make_run(), cases)).cases_json)
    assert data["columns"] == [["v1", "gpt"], ["v1", "qwen"], ["v2", "gpt"], ["v2", "qwen"]]
    question, n = data["texts"][0]["vars"]
    assert question[0] == "question" and n[0] == "n"
    assert n[1].startswith("[") and n[1].endswith(" …") and len(n[1]) < 1100  # JSON, cut


def test_a_run_of_one_column_has_no_grid() -> None:
    html = render_html(make_run(), [make_case("v1", "gpt", i) for i in range(3)])
    assert 'id="grid-section"' not in html and 'id="cases-section"' in html


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    yield from launch_browser(tmp_path_factory)


def shown(page: Page) -> list[str]:
    return page.eval(f"{ROWS}.map(r => r.dataset.row)")


@pytest.mark.browser
def test_the_grid_in_chromium(browser: Chromium, tmp_path: Path, cases: list[CaseResult]) -> None:
    path = write_report(make_run(), cases, tmp_path / "report.html")
    page = Page(browser, path.as_uri())
    page.eval("document.getElementById('grid-section').scrollIntoView()")
    page.screenshot(tmp_path / "report-grid.png")

    # one row per (case set, row), rows with a failure first, a cell per prompt x provider
    rows = shown(page)
    assert len(rows) == 13 and rows[:3] == ["row-0", "row-1", "row-2"]
    heads = page.eval("[...document.querySelectorAll('#grid-columns th')].map(t => t.textContent)")
    assert heads == ["Row", "v1gpt", "v1qwen", "v2gpt", "v2qwen"]
    first = f"{ROWS}[0]"
    assert page.eval(f"{first}.querySelectorAll('td.g-cell').length") == 4
    assert page.eval(f"{first}.querySelectorAll('.g-case').length") == 4
    assert "question 0" in page.eval(f"{first}.querySelector('th').textContent")
    statuses = page.eval(f"[...{first}.querySelectorAll('.g-case')].map(c => c.dataset.status)")
    assert statuses == ["fail", "fail", "fail", "pass"]  # only v2 on qwen answers row 0

    # hostile outputs and vars are text
    assert page.eval("typeof window.__pwned") == "undefined"
    assert page.eval("document.querySelectorAll('#grid-rows img, #grid-rows svg').length") == 0
    row3 = page.eval(f"{ROWS}.find(r => r.dataset.row === 'row-3').textContent")
    assert MALICIOUS[1] in row3 and MALICIOUS[3] in row3

    # filters: a case set, the rows where the columns differ, search
    choose(page, "g-set", "regressions")
    assert shown(page) == ["row-100", "row-101", "row-102"]
    assert page.eval(f"{ROWS}[0].querySelectorAll('.g-case').length") == 1  # v1 on gpt only
    page.choose("g-set", "")
    page.choose("g-show", "differ")
    assert shown(page) == [f"row-{i}" for i in (0, 1, 2, 3, 9)]  # 9: v2 on gpt errored
    page.choose("g-show", "")
    page.eval(
        "(() => { const q = document.getElementById('g-q'); q.value = '<TIMEOUT>';"
        " q.dispatchEvent(new Event('input')); })()"
    )
    deadline = time.monotonic() + 5
    while shown(page) != ["row-9"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shown(page) == ["row-9"]
    page.eval("document.getElementById('g-reset').click()")
    assert len(shown(page)) == 13

    # the conversation of a cell opens in place
    details = f"{ROWS}[0].querySelector('.g-conversation')"
    page.eval(f"{details}.open = true")
    assert "Answer briefly." in page.eval(f"{details}.textContent")
    assert console_errors(browser.events) == []
    assert requested_urls(browser.events) <= {path.as_uri()}


@pytest.mark.browser
@pytest.mark.slow
def test_a_large_grid_pages_50_rows(browser: Chromium, tmp_path: Path) -> None:
    cases = [
        make_case(p, m, row) for row in range(750) for p in ("v1", "v2") for m in ("gpt", "qwen")
    ]
    path = write_report(make_run(), cases, tmp_path / "big.html", text_budget=200_000)
    page = Page(browser, path.as_uri())
    assert len(shown(page)) == 50
    assert (
        page.eval("document.getElementById('grid-page-info').textContent") == "1–50 · page 1 of 15"
    )
    page.eval("document.getElementById('grid-next').click()")
    assert shown(page)[0] == "row-50"
    for _ in range(13):
        page.eval("document.getElementById('grid-next').click()")
    assert shown(page)[-1] == "row-749"
    last = page.eval(f"{ROWS}[49].querySelector('.g-case').textContent")
    assert "not kept in this report" in last  # past the text budget: ids and scores only
    assert console_errors(browser.events) == []
