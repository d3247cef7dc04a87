"""The report stays small and usable at any size: huge outputs kept once and shown cut, the
case texts within a budget, the case table a page at a time."""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report.case_table import MAX_TEXT, case_table
from harness.report.html import render_html, write_report
from harness.results.models import CaseResult, Score
from harness.scorers.registry import get_scorer
from tests.browser import Chromium, Page, console_errors, launch_browser
from tests.report.helpers import choose, island_cases, make_case, make_run, parse

#: 1 MB without a space; lower-case, so a normalising scorer's answer equals it.
HUGE = "".join(random.Random(0).choices(string.ascii_lowercase + string.digits, k=1_000_000))


def _scored_by_real_scorers(output: str) -> CaseResult:
    """A failing case whose scores come from the real scorers (which repeat the output)."""
    case = make_case("v1", "gpt", 0, output=output)
    case.scores = []
    for name in ("exact", "f1", "contains", "rougeL"):
        value = get_scorer(name, {}).score(output, case.expected, {})
        case.scores.append(
            Score(scorer=name, version=f"{name}@1", value=value.value, threshold=1.0,
                  passed=False, answer=value.answer, explanation=value.explanation,
                  metadata=value.metadata)
        )  # fmt: skip
    case.passed = False
    return case


def test_a_huge_output_is_in_the_page_once() -> None:
    case = _scored_by_real_scorers(HUGE)
    assert case.scores[0].answer == HUGE  # what made the page four times the output
    html = render_html(make_run(), [case, make_case("v1", "gpt", 1)])
    assert html.count(HUGE[-4000:]) == 1
    assert len(html) < len(HUGE) + 100_000
    (kept,) = [c for c in island_cases(parse(html)) if c["row_id"] == "row-0"]
    assert kept["output"] == HUGE
    answers = [note[0] for note in kept["notes"]]
    assert answers[0] is None  # the same text as the output: not repeated
    assert all(len(note[1] or "") <= 1002 for note in kept["notes"])  # explanations cut


def test_a_text_past_the_limit_is_cut_and_says_so() -> None:
    case = make_case("v1", "gpt", 0, output="y" * (MAX_TEXT + 5))
    (texts,) = case_table([case])["texts"]
    assert texts["output"].startswith("y" * MAX_TEXT)
    assert texts["output"].endswith("… [5 more characters not kept in this report]")


def _many(n: int) -> list[CaseResult]:
    """``n`` cases of one prompt and provider, distinct rows, every tenth failing."""
    return [
        make_case("v1", "gpt", i, output=f"answer <{i}>", exact=0.0 if i % 10 == 0 else 1.0)
        for i in range(n)
    ]


def test_texts_are_kept_within_the_budget_failures_first() -> None:
    cases = _many(3000)
    html = render_html(make_run(), cases, text_budget=150_000)
    data = json.loads(parse(html).cases_json)
    kept = len(data["texts"])
    assert 300 < kept < 3000  # all 300 failures, then passes while the budget lasts
    assert len(data["cases"]["row"]) == 3000  # every case still has a row
    assert len(html.encode("utf-8")) < 150_000 + 3000 * 100 + 60_000
    rows = island_cases(parse(html))
    assert [r["status"] for r in rows[:300]] == ["fail"] * 300 and "output" in rows[kept - 1]
    assert "output" not in rows[kept]
    assert f"kept for the first {kept:,} cases in this order" in html
    small = render_html(make_run(), cases[:50], text_budget=150_000)
    assert "kept for the first" not in small


def test_a_lone_surrogate_is_shown_not_a_crash(tmp_path: Path) -> None:
    case = make_case("v1", "gpt", 0, output="before \ud800 after")
    run = make_run()
    run.suite_name = "qa \udc80"  # a YAML "\udc80" escape
    path = write_report(run, [case], tmp_path / "r.html")
    html = path.read_text(encoding="utf-8")
    (row,) = island_cases(parse(html))
    assert row["output"] == "before \\ud800 after"  # shown as the exports show it
    assert "<title>qa \\udc80 · run-1</title>" in html  # the page shows it


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    yield from launch_browser(tmp_path_factory)


def _timed(page: Page, expression: str) -> tuple[object, float]:
    started = time.monotonic()
    value = page.eval(expression)
    page.eval("document.body.getBoundingClientRect().height")  # wait for the layout
    return value, time.monotonic() - started


@pytest.mark.browser
def test_a_huge_output_loads_and_the_page_stays_usable(browser: Chromium, tmp_path: Path) -> None:
    cases = [_scored_by_real_scorers(HUGE), *(make_case("v1", "gpt", i) for i in range(1, 30))]
    path = write_report(make_run(), cases, tmp_path / "huge.html")
    started = time.monotonic()
    page = Page(browser, path.as_uri())  # waits for the load event
    assert time.monotonic() - started < 5
    box = "document.querySelector('#case-rows .c-output .text')"
    assert page.eval(f"{box}.textContent.length") == 3002  # the first 3000 characters and " …"
    assert page.eval("document.documentElement.scrollHeight") < 20_000
    button = "document.querySelector('#case-rows .show-all')"
    assert page.eval(f"{button}.textContent") == "show all 977 KB"
    _, took = _timed(page, f"{button}.click()")
    assert took < 5
    assert page.eval(f"{box}.textContent") == HUGE
    assert page.eval("document.documentElement.scrollHeight") < 20_000  # it scrolls in its box
    choose(page, "f-status", "pass")
    assert page.rows() == ["pass"] * 29
    assert console_errors(browser.events) == []


@pytest.mark.browser
def test_pages_and_search_reach_every_case(browser: Chromium, tmp_path: Path) -> None:
    cases = _many(3000)
    path = write_report(make_run(), cases, tmp_path / "many.html", text_budget=150_000)
    kept = len(json.loads(parse(path.read_text(encoding="utf-8")).cases_json)["texts"])
    page = Page(browser, path.as_uri())
    rows = "[...document.querySelectorAll('#case-rows tr')].map(r => r.dataset.row)"
    first = page.eval(rows)
    assert len(first) == 200 and page.eval("document.getElementById('page-info').textContent") == (
        "1–200 · page 1 of 15"
    )
    page.eval("document.getElementById('page-next').click()")
    second = page.eval(rows)
    assert len(second) == 200 and not set(first) & set(second)

    def search(text: str) -> list[str]:
        """The rows shown once the search (applied after a pause) has run."""
        page.eval(
            "(() => { const q = document.getElementById('f-q'); "
            f"q.value = {json.dumps(text)}; q.dispatchEvent(new Event('input')); }})()"
        )
        time.sleep(0.3)  # past the search box's 150 ms pause
        return page.eval(rows)

    assert search("row-2999") == ["row-2999"]  # by id: the last page, beyond the kept texts
    last = "document.querySelector('#case-rows .c-output').textContent"
    assert page.eval(last) == "not kept in this report"
    position = kept - 1  # the last case with its texts: on a later page (failures first)
    row = island_cases(parse(path.read_text(encoding="utf-8")))[position]["row_id"]
    number = row.removeprefix("row-")
    assert position >= 200 and search(f"answer <{number}>") == [row]
    shown = "document.querySelector('#case-rows .c-output .text').textContent"
    assert page.eval(shown) == f"answer <{number}>"
    assert console_errors(browser.events) == []
