"""The comparison report: escaped, self-contained, bounded, and working in a real browser."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.compare import Comparison, compare, from_results, join_prompts, join_runs
from harness.compare.diff import side_a, side_b
from harness.report.compare_html import render_compare_html, write_compare_report
from tests.browser import Chromium, Page, console_errors, launch_browser, requested_urls
from tests.compare.helpers import case, run_record

#: Each would change document.title or set window.__pwned if it ever ran.
MALICIOUS = [
    '<script>window.__pwned = 1; document.title = "pwned"</script>',
    "<img src=x onerror=\"window.__pwned = 2; document.title = 'pwned'\">",
    "</script><script>window.__pwned = 3</script><!--",
    '"><svg onload="window.__pwned = 4">',
]
TITLE = "compare-title <b>bold</b>"


def build() -> list[Comparison]:
    """Rows 0-3 regress with malicious B outputs, 4-5 are fixed (CJK), 6-249 unchanged."""
    a_cases, b_cases = [], []
    for i in range(250):
        tags = [MALICIOUS[0]] if i == 1 else None
        if i < 4:
            a = case(i, output=f"good answer {i}", rouge=0.9, tags=tags)
            b = case(i, run_id="B", passed=False, output=MALICIOUS[i], rouge=0.1, tags=tags)
        elif i < 6:
            a = case(i, passed=False, output="北京是中国的首都", rouge=0.2)
            b = case(i, run_id="B", output="上海是中国的城市", rouge=0.7)
        else:
            a = case(i, output=f"same {i}", rouge=0.5)
            b = case(i, run_id="B", output=f"same {i}", rouge=0.5 if i % 3 else 0.4)
        a_cases.append(a)
        b_cases.append(b)
    b_cases.append(case(300, run_id="B", error="TimeoutError: <timeout>"))
    b_cases.append(case(301, run_id="B", case_set="hard", passed=False))
    a_cases.append(case(301, case_set="hard"))
    a, b = from_results(a_cases, "run-A"), from_results(b_cases, "run-B")
    return [compare(join_runs(a, b), a.higher_is_better, resamples=1000)]


class _Doc(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.data = ""
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.elements.append((tag, a))
        self._in_json = tag == "script" and a.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json = False

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.data += data


@pytest.fixture(scope="module")
def comparisons() -> list[Comparison]:
    return build()


@pytest.fixture(scope="module")
def html(comparisons: list[Comparison]) -> str:
    return render_compare_html(
        comparisons, title=TITLE, runs=[run_record("run-A"), run_record("run-B")]
    )


@pytest.fixture(scope="module")
def doc(html: str) -> _Doc:
    parsed = _Doc()
    parsed.feed(html)
    parsed.close()
    return parsed


def test_untrusted_text_never_appears_unescaped(html: str) -> None:
    for bad in MALICIOUS:
        assert bad not in html
    for fragment in ("<script>window", "<img", "<svg onload", "<b>bold"):
        assert fragment not in html
    assert "compare-title &lt;b&gt;bold&lt;/b&gt;" in html


def test_only_our_own_elements(doc: _Doc) -> None:
    tags = [t for t, _ in doc.elements]
    assert tags.count("script") == 2
    assert not {"img", "iframe", "object", "embed", "foreignobject"} & set(tags)
    for tag, attrs in doc.elements:
        assert not [name for name in attrs if name.startswith("on")], tag
        if tag == "svg":
            assert "chart" in (attrs.get("class") or "")


def test_self_contained(html: str, doc: _Doc) -> None:
    for _, attrs in doc.elements:
        for name in ("src", "href", "action", "data", "poster", "xlink:href"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value or value.startswith("data:"), (name, value)
    assert not re.search(r"https?://|@import|url\(", html)
    csp = next(
        a["content"] for _, a in doc.elements if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in (csp or "")
    start = html.index('<script type="application/json" id="data">') + len(
        '<script type="application/json" id="data">'
    )
    assert not set("<>&") & set(html[start : html.index("</script>", start)])


def test_island_holds_every_pair_and_the_side_by_side_outputs(doc: _Doc) -> None:
    data = json.loads(doc.data)
    pairs = data["pairs"]
    assert len(pairs["row"]) == 251
    assert pairs["change"].count(0) == 5 and pairs["change"].count(1) == 2
    (cmp,) = data["comparisons"]
    assert (cmp["n_regressions"], cmp["n_fixes"]) == (5, 2)
    regressions = [data["details"][i] for i in cmp["regressions"]]
    outputs_b = [side_b([_seg(s) for s in d["diff"]]) for d in regressions]
    assert outputs_b[:4] == MALICIOUS
    first = regressions[0]
    assert side_a([_seg(s) for s in first["diff"]]) == "good answer 0"
    assert first["scores"][0] == ["pass", 1.0, 0.0]
    fixes = [data["details"][i] for i in cmp["fixes"]]
    assert ["-", "北京"] in fixes[0]["diff"] and ["+", "上海"] in fixes[0]["diff"]
    assert MALICIOUS[0] in data["strings"]["tags"]
    drops = [d for d in data["details"] if d["kind"] == "drop"]
    assert drops and all(d["scores"][2][1] > d["scores"][2][2] for d in drops)


def _seg(item: list[str]):  # type: ignore[no-untyped-def]
    from harness.compare.diff import Segment

    return Segment({"=": "equal", "-": "delete", "+": "insert"}[item[0]], item[1])


def test_details_are_capped_and_outputs_cut() -> None:
    comparisons = build()
    c = comparisons[0]
    for p in c.regressions:
        object.__setattr__(p.b, "output", "x " * 5000)
    data_html = render_compare_html(comparisons, title="t", max_details=2, max_chars=100)
    parsed = _Doc()
    parsed.feed(data_html)
    data = json.loads(parsed.data)
    (cmp,) = data["comparisons"]
    assert len(cmp["regressions"]) == 2 and cmp["n_regressions"] == 5
    detail = data["details"][cmp["regressions"][0]]
    assert detail["clipped"] and len(side_b([_seg(s) for s in detail["diff"]])) <= 102


def test_prompt_comparisons_in_one_report() -> None:
    results = [case(i, prompt=p, passed=(p != "v3" or i > 2)) for p in ("v1", "v2", "v3")
               for i in range(10)]  # fmt: skip
    joined = join_prompts(from_results(results, "run"), "v1")
    comparisons = [compare(j, {"rougeL": True}, resamples=200) for j in joined]
    html = render_compare_html(comparisons, title="prompts")
    parsed = _Doc()
    parsed.feed(html)
    data = json.loads(parsed.data)
    assert [(c["a"], c["b"], c["n_regressions"]) for c in data["comparisons"]] == [
        ("v1", "v2", 0), ("v1", "v3", 3)
    ]  # fmt: skip


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    yield from launch_browser(tmp_path_factory)


def _set(page: Page, element_id: str, value: str, event: str) -> None:
    page.eval(
        f"(() => {{ const e = document.getElementById({json.dumps(element_id)});"
        f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event({json.dumps(event)})); }})()"
    )


def _wait(page: Page, expression: str, expected: object, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while page.eval(expression) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert page.eval(expression) == expected


@pytest.mark.browser
def test_report_in_chromium(
    browser: Chromium, tmp_path: Path, comparisons: list[Comparison]
) -> None:
    path = write_compare_report(comparisons, tmp_path / "compare.html", title=TITLE,
                                runs=[run_record("run-A"), run_record("run-B")])  # fmt: skip
    url = path.as_uri()
    page = Page(browser, url)
    page.screenshot(tmp_path / "compare-top.png")
    assert page.eval("document.title") == TITLE
    assert page.eval("typeof window.__pwned") == "undefined"

    # Regressions come first on the page, each with both outputs, as text.
    order = page.eval("[...document.querySelectorAll('section.card')].map(s => s.id)")
    assert order[0] == "regressions-0"
    cards = page.eval("document.querySelectorAll('#reg-0 .detail').length")
    assert cards == 5
    b_sides = page.eval(
        "[...document.querySelectorAll('#reg-0 .side-b .diff')].map(e => e.textContent)"
    )
    assert b_sides[:4] == MALICIOUS
    assert page.eval("document.querySelectorAll('#reg-0 ins').length") >= 4
    assert page.eval(
        "[...document.querySelectorAll('#fix-0 .side-a del')].map(e => e.textContent)"
    )[:2] == ["北京", "首都"]
    assert page.eval("document.querySelectorAll('main svg.chart').length") >= 4
    assert page.eval("document.querySelectorAll('main img, main iframe, .detail svg').length") == 0

    # The case table: regressions first, a page at a time, filters, the outputs on demand.
    rows = "[...document.querySelectorAll('#pair-rows tr.pair')].map(r => r.dataset.change)"
    shown = page.eval(rows)
    assert len(shown) == 100 and shown[:5] == ["regression"] * 5 and shown[5:7] == ["fix"] * 2
    page.eval("document.getElementById('pair-next').click()")
    page.eval("document.getElementById('pair-next').click()")
    assert len(page.eval(rows)) == 51
    _set(page, "f-change", "1", "change")
    assert page.eval(rows) == ["fix", "fix"]
    page.eval("document.querySelector('#pair-rows button.show').click()")
    assert page.eval("document.querySelectorAll('#pair-rows .pair-detail .detail').length") == 1
    page.eval("document.getElementById('f-reset').click()")
    _set(page, "f-q", "300", "input")
    _wait(page, f"{rows}.length", 0)  # row 300 is only in B: not a pair
    page.eval("document.getElementById('f-reset').click()")
    _set(page, "f-sort", "rougeL", "change")
    deltas = page.eval(
        "[...document.querySelectorAll('#pair-rows tr.pair')].slice(0, 6)"
        ".map(r => r.querySelectorAll('td.delta')[1].textContent)"  # exact, rougeL, toxicity
    )
    assert deltas == ["-0.800"] * 4 + ["-0.100"] * 2

    page.eval("document.getElementById('pairs-section').scrollIntoView()")
    page.screenshot(tmp_path / "compare-cases.png")
    page.send(
        "Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}]
    )
    page.eval("window.scrollTo(0, 0)")
    page.screenshot(tmp_path / "compare-dark.png")
    assert (tmp_path / "compare-top.png").stat().st_size > 10_000

    assert console_errors(browser.events) == []
    assert requested_urls(browser.events) <= {url}
