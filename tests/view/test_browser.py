"""The view in a real browser (Playwright on Debian's Chromium, never a downloaded one): pages
load without console errors or requests leaving 127.0.0.1, hostile outputs (and queries)
stay inert, a review with its grades survives a server restart, search filters the grid,
and the token is needed off loopback; and the same on a PostgreSQL store."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.view import create_app
from tests.browser import CHROMIUM
from tests.view.helpers import HOSTILE, build_store

pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGES = {
    "runs": "/",
    "grid": "/runs/run-new",
    "grid-failed": "/runs/run-new?status=failed",
    "grid-search": "/runs/run-new?q=answer+r04&in=output",
    "case": "/runs/run-new/cases/main-v1-fake-r001",
    "history": "/runs/run-new/history?row=r003",
    "trend": "/suites/demo",
    "compare": "/compare?a=run-old&b=run-new",
    "agreement": "/runs/run-new/agreement",
}


class Served:
    """The app on a free 127.0.0.1 port, in a uvicorn thread, until :meth:`stop`."""

    def __init__(self, store: str | Path, **kwargs: object) -> None:
        import uvicorn

        sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = create_app(store, reviewer="ann", **kwargs)  # type: ignore[arg-type]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "results.db")


@pytest.fixture
def served(store: Path) -> Iterator[Served]:
    server = Served(store)
    yield server
    server.stop()


class Watched:
    """A page with its console errors and every URL it requested."""

    def __init__(self, browser: object) -> None:
        self.page = browser.new_page(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.urls.append(r.url))


def test_every_page_loads_cleanly_and_stays_on_127_0_0_1(
    browser: object, served: Served, tmp_path: Path
) -> None:
    shots = tmp_path / "reports" / "screenshots"
    shots.mkdir(parents=True)
    w = Watched(browser)
    for name, path in PAGES.items():
        response = w.page.goto(served.url + path)
        assert response is not None and response.status == 200, name
        w.page.screenshot(path=shots / f"{name}.png", full_page=False)
    assert w.errors == []
    assert w.urls and all(u.startswith("http://127.0.0.1:") for u in w.urls), w.urls
    assert sorted(p.stem for p in shots.iterdir()) == sorted(PAGES)


def test_hostile_outputs_stay_inert(browser: object, served: Served) -> None:
    w = Watched(browser)
    paths = ["/runs/run-new", *(f"/runs/run-new/cases/main-v1-fake-{row}" for row in HOSTILE)]
    for path in paths:
        w.page.goto(served.url + path)
        assert "pwned" not in w.page.title()
        assert w.page.locator("#evil").count() == 0  # the <a href="javascript:"> is text
        assert w.page.locator("img").count() == 0
    w.page.goto(served.url + "/runs/run-new/cases/main-v1-fake-r003")
    assert 'href="javascript:' in w.page.locator("#output").inner_text()
    assert w.errors == []


def test_a_review_mark_survives_a_server_restart(browser: object, store: Path) -> None:
    first = Served(store)
    w = Watched(browser)
    w.page.goto(first.url + "/runs/run-new/cases/main-v2-fake-r000")
    w.page.fill("textarea[name=correct_answer]", "answer r000")
    w.page.click("button[value=bad]")
    assert "Marked bad by ann" in w.page.locator("#current-review").inner_text()
    first.stop()
    second = Served(store)
    try:
        w.page.goto(second.url + "/runs/run-new")
        cell = w.page.locator('a[href="/runs/run-new/cases/main-v2-fake-r000"]')
        assert "bad · ann" in cell.inner_text()
    finally:
        second.stop()
    assert w.errors == []


def test_the_token_is_required_off_loopback(browser: object, store: Path) -> None:
    server = Served(store, token="s3cret", allowed_hosts=["*"])
    try:
        w = Watched(browser)
        refused = w.page.goto(server.url + "/runs/run-new")
        assert refused is not None and refused.status == 401
        w.page.goto(server.url + "/runs/run-new?token=s3cret")
        assert w.page.url == server.url + "/runs/run-new"  # the token left the address bar
        assert w.page.locator("#grid").count() == 1
        w.page.click("text=next →")  # the cookie carries it from now on
        assert w.page.locator("#grid").count() == 1
    finally:
        server.stop()


@pytest.mark.slow
def test_grading_a_case_survives_a_restart_and_feeds_the_agreement_page(
    browser: object, store: Path, tmp_path: Path
) -> None:
    first = Served(store)
    w = Watched(browser)
    marks = [("main-v2-fake-r000", "2", "bad"), ("main-v1-fake-r000", "5", "good"),
             ("main-v2-fake-r001", "3", "good"), ("main-v2-fake-r003", "1", "bad")]  # fmt: skip
    for case_id, grade, verdict in marks:
        w.page.goto(f"{first.url}/runs/run-new/cases/{case_id}")
        w.page.select_option("select[name='grade.accuracy']", grade)
        w.page.click(f"button[value={verdict}]")
        shown = w.page.locator("#current-review").inner_text()
        assert f"Marked {verdict} by ann" in shown and f"graded accuracy {grade}" in shown
    w.page.screenshot(path=tmp_path / "case-graded.png")
    first.stop()
    second = Served(store)
    try:
        w.page.goto(second.url + "/runs/run-new/cases/main-v2-fake-r000")
        assert w.page.locator("select[name='grade.accuracy']").input_value() == "2"
        w.page.goto(second.url + "/runs/run-new")
        cell = w.page.locator('a[href="/runs/run-new/cases/main-v2-fake-r000"]')
        assert "bad · ann · accuracy 2" in cell.inner_text()
        w.page.click("text=judge agreement")
        grades = w.page.locator("[id='agreement-accuracy.grade']")
        assert "4 reviewed cases" in grades.inner_text()
        w.page.screenshot(path=tmp_path / "agreement.png", full_page=True)
    finally:
        second.stop()
    assert w.errors == []
    assert all(u.startswith("http://127.0.0.1:") for u in w.urls), w.urls


def test_the_search_box_filters_the_grid_and_echoes_hostile_queries_as_text(
    browser: object, served: Served
) -> None:
    w = Watched(browser)
    w.page.goto(served.url + "/runs/run-new")
    w.page.fill("#q", '"answer r04"')
    w.page.select_option("select[name=in]", "output")
    w.page.press("#q", "Enter")
    rows = w.page.locator("#grid tbody tr[data-row]")
    assert [rows.nth(i).get_attribute("data-row") for i in range(rows.count())] == [
        f"r04{i}" for i in range(10)
    ]
    assert w.page.locator(".cell.hit").count() == 20  # both prompt versions' outputs say it
    assert "10 rows matching" in w.page.locator(".pager").inner_text()
    hostile = "<img src=x onerror=\"document.title='pwned'\">"
    w.page.fill("#q", hostile)
    w.page.press("#q", "Enter")
    assert "pwned" not in w.page.title()
    assert w.page.locator("#q").input_value() == hostile
    assert w.page.locator("[data-row]").count() == 1  # r002, whose output is that text
    assert w.page.locator("img").count() == 0
    assert w.errors == []
    assert all(u.startswith("http://127.0.0.1:") for u in w.urls), w.urls


def test_a_postgresql_store_loads_searches_and_keeps_a_review_over_a_restart(
    browser: object, pg_url: str
) -> None:
    store = build_store(pg_url)
    first = Served(store)
    w = Watched(browser)
    try:
        for path in ("/", "/runs/run-new", "/runs/run-new/cases/main-v1-fake-r001"):
            response = w.page.goto(first.url + path)
            assert response is not None and response.status == 200, path
        w.page.goto(first.url + "/runs/run-new")
        w.page.fill("#q", '"answer r04"')
        w.page.press("#q", "Enter")
        rows = w.page.locator("#grid tbody tr[data-row]")
        assert rows.count() == 10 and rows.first.get_attribute("data-row") == "r040"
        w.page.goto(first.url + "/runs/run-new/cases/main-v2-fake-r000")
        w.page.click("button[value=bad]")
        assert "Marked bad by ann" in w.page.locator("#current-review").inner_text()
    finally:
        first.stop()
    second = Served(store)
    try:
        w.page.goto(second.url + "/runs/run-new?status=bad")
        cell = w.page.locator('a[href="/runs/run-new/cases/main-v2-fake-r000"]')
        assert "bad · ann" in cell.inner_text()
    finally:
        second.stop()
    assert w.errors == []
    assert all(u.startswith("http://127.0.0.1:") for u in w.urls), w.urls
