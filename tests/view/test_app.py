"""Every route of the view app through Starlette's TestClient."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from harness.view import create_app
from harness.view.command import is_loopback
from tests.view.helpers import HOSTILE, N_ROWS, build_store

LOCAL = "http://127.0.0.1"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "results.db")


@pytest.fixture
def client(store: Path) -> TestClient:
    return TestClient(create_app(store, reviewer="ann"), base_url=LOCAL)


@pytest.fixture
def any_store(store_url: str) -> str:
    """The test store on each backend (SQLite, PostgreSQL): for the tests about storage."""
    return build_store(store_url)


@pytest.fixture
def any_client(any_store: str) -> TestClient:
    return TestClient(create_app(any_store, reviewer="ann"), base_url=LOCAL)


def rows(html: str) -> int:
    return html.count("<tr data-row=")


def test_runs_page_lists_runs_with_totals_and_filters(any_client: TestClient) -> None:
    page = any_client.get("/")
    assert page.status_code == 200
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.text.index('data-run="run-new"') < page.text.index('data-run="run-old"')
    # run-new: 121 results (r059's v1 replaced by an error); 20 v2 failures and the error
    assert ">121<" in page.text and f">{100 / 121:.1%}<" in page.text
    assert "data-run=" not in any_client.get("/?since=2026-03-02").text
    assert "data-run=" not in any_client.get("/?suite=other").text
    assert "data-run=" not in any_client.get("/?until=2026-02-28").text
    assert any_client.get("/?provider=fake").text.count("data-run=") == 2


def test_bad_filter_values_are_400_with_what_was_expected(client: TestClient) -> None:
    for query, message in [
        ("/?since=yesterday", "`since`: expected a date YYYY-MM-DD"),
        ("/runs/run-new?page=0", "`page`: expected a whole number from 1"),
        ("/runs/run-new?per=9999", "`per`: expected a whole number from 1 to 500"),
        ("/runs/run-new?status=maybe", "`status`: expected one of all, failed"),
    ]:
        page = client.get(query)
        assert page.status_code == 400, query
        assert message in page.text
    assert client.get("/runs/nope").status_code == 404


def test_grid_pages_rows_with_one_column_per_prompt_and_provider(any_client: TestClient) -> None:
    first, second = any_client.get("/runs/run-new"), any_client.get("/runs/run-new?page=2")
    assert rows(first.text) == 50 and rows(second.text) == N_ROWS - 50
    assert "page 1 of 2 · 60 rows" in first.text
    assert first.text.count('<th class="col">') == 2  # v1 x fake, v2 x fake
    assert "question r000" in first.text and "answer r000" in first.text  # row header
    assert 'href="/runs/run-new/cases/main-v2-fake-r000"' in first.text


def test_grid_filters_rows_by_status_and_case_set(any_client: TestClient) -> None:
    failed = any_client.get("/runs/run-new?status=failed").text
    assert rows(failed) == 21  # every third row fails on v2, and r059 errored on v1
    assert rows(any_client.get("/runs/run-new?status=errored").text) == 1
    assert 'data-row="bad-1"' in any_client.get("/runs/run-new?set=regressions").text
    assert any_client.get("/runs/run-new?set=nope").status_code == 400


def test_hostile_outputs_are_escaped_everywhere(client: TestClient) -> None:
    pages = [client.get("/runs/run-new").text]
    pages += [client.get(f"/runs/run-new/cases/main-v1-fake-{row}").text for row in HOSTILE]
    pages.append(client.get("/runs/run-new/history?row=r003").text)
    for html in pages:
        assert "<script>document" not in html and "<img src=x" not in html
        assert 'href="javascript:' not in html
    assert "&lt;script&gt;document.title" in pages[0]


def test_case_page_shows_the_conversation_and_scores(client: TestClient) -> None:
    page = client.get("/runs/run-new/cases/main-v2-fake-r000")
    assert "Q: question r000" in page.text and "exact" in page.text and "fail" in page.text
    assert client.get("/runs/run-new/cases/none").status_code == 404


def test_review_post_stores_who_and_when_and_survives_a_new_app(
    any_client: TestClient, any_store: str
) -> None:
    url = "/runs/run-new/cases/main-v2-fake-r000/review"
    sent = any_client.post(url, data={"verdict": "bad", "correct_answer": "answer r000"})
    assert sent.status_code == 200 and "Marked <b>bad</b> by ann" in sent.text
    again = TestClient(create_app(any_store, reviewer="bob"), base_url=LOCAL)
    assert "bad · ann" in again.get("/runs/run-new").text
    assert rows(again.get("/runs/run-new?status=bad").text) == 1
    assert again.post(url, data={"verdict": "clear"}).status_code == 200
    assert rows(again.get("/runs/run-new?status=reviewed").text) == 0


def test_review_post_refuses_bad_verdicts_and_other_origins(client: TestClient) -> None:
    url = "/runs/run-new/cases/main-v2-fake-r000/review"
    assert client.post(url, data={"verdict": "meh"}).status_code == 400
    forged = client.post(url, data={"verdict": "bad"}, headers={"origin": "https://evil.test"})
    assert forged.status_code == 403
    missing = client.post("/runs/run-new/cases/nope/review", data={"verdict": "bad"})
    assert missing.status_code == 404


def test_history_trend_and_compare(any_client: TestClient) -> None:
    history = any_client.get("/runs/run-new/history?row=r000").text
    assert history.count('<tr><th scope="row">') == 2  # run-old and run-new
    assert any_client.get("/runs/run-new/history").status_code == 400
    trend = any_client.get("/suites/demo").text
    assert "<polyline" in trend and "compare with previous" in trend
    assert any_client.get("/suites/nope").status_code == 404
    report = any_client.get("/compare?a=run-old&b=run-new")
    assert report.status_code == 200 and "run-new" in report.text
    assert report.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert any_client.get("/compare?a=run-old&b=nope").status_code == 400


def test_other_host_headers_are_refused_on_loopback(store: Path) -> None:
    rebound = TestClient(create_app(store, reviewer="ann"), base_url="http://evil.test")
    assert rebound.get("/").status_code == 400


def test_a_token_is_required_off_loopback(store: Path) -> None:
    app = create_app(store, reviewer="ann", token="s3cret", allowed_hosts=["*"])
    client = TestClient(app, base_url="http://10.0.0.5:8765")
    assert client.get("/").status_code == 401
    assert client.get("/runs/run-new?token=wrong").status_code == 401
    assert client.get("/", headers={"x-harness-token": "s3cret"}).status_code == 200
    first = client.get("/runs/run-new?page=2&token=s3cret", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/runs/run-new?page=2"
    assert client.get("/runs/run-new?page=2").status_code == 200  # the cookie now
    assert "s3cret" not in client.get("/").text


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_run_totals_are_summed_again_once_the_run_changed(
    any_client: TestClient, any_store: str
) -> None:
    from harness.results.store import ResultStore
    from tests.ci.helpers import result

    assert ">121<" in any_client.get("/").text
    more = ResultStore(any_store)
    more.add_result(result("r999", run_id="run-new", error="boom"))  # a new, errored case
    more.add_result(result("r000", run_id="run-new", prompt_id="v2"))  # replaced: now passes
    more.close()
    page = any_client.get("/runs/run-new").text
    assert "122 results · pass rate " + f"{101 / 122:.1%}" + " · 2 errors" in page


def test_a_result_replaced_in_place_is_summed_again(any_client: TestClient, any_store: str) -> None:
    from harness.results.store import ResultStore
    from tests.ci.helpers import result

    assert "121 results · pass rate " + f"{100 / 121:.1%}" in any_client.get("/runs/run-new").text
    again = ResultStore(any_store)
    again.add_result(result("r000", run_id="run-new", prompt_id="v2"))  # same case: it passes now
    again.close()
    assert "121 results · pass rate " + f"{101 / 121:.1%}" in any_client.get("/runs/run-new").text
