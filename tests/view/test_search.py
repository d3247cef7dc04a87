"""Search in the grid, on each backend (SQLite's FTS5, PostgreSQL's pg_trgm): the index
built on a run's first search and kept up to date, words, phrases, short and Chinese terms,
fields, paging, the query echoed as text, and the same rows found on both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from harness.results.store import ResultStore
from harness.view import create_app
from harness.view.search import MAX_QUERY, Search, SearchError, parse
from tests.ci.helpers import result, run_record
from tests.view.helpers import N_ROWS, Store, build_store

LOCAL = "http://127.0.0.1"


def searched_store(target: Store) -> Store:
    """The view's test store and a Chinese answer."""
    build_store(target)
    more = ResultStore(target)
    more.add_result(
        result("zh-1", "北京是中国的首都。", run_id="run-new", prompt_id="v1", vars={"q": "首都？"})
    )
    more.close()
    return target


@pytest.fixture
def store(store_url: str) -> str:
    return searched_store(store_url)


@pytest.fixture
def client(store: str) -> TestClient:
    return TestClient(create_app(store, reviewer="ann"), base_url=LOCAL)


def found(client: TestClient, **params: str) -> list[str]:
    page = client.get("/runs/run-new", params=params)
    assert page.status_code == 200, page.text
    return re.findall(r'<tr data-row="([^"]+)">', page.text)


def test_queries_parse_into_indexed_and_short_terms() -> None:
    assert parse("  ") is None
    assert parse('paris "the answer" 42 北京') == Search(("paris", "the answer"), ("42", "北京"))
    assert parse('"unclosed', "output") == Search(("unclosed",), (), "output")
    assert parse('onerror="x" ""') == Search(('onerror="x"',), ())
    with pytest.raises(SearchError, match="`in`: expected one of all, output, input, expected"):
        parse("x", "vars")
    with pytest.raises(SearchError, match=f"at most {MAX_QUERY} characters"):
        parse("x" * (MAX_QUERY + 1))


def test_words_and_phrases_find_rows_in_every_field(client: TestClient) -> None:
    assert found(client, q="r042") == ["r042"]
    assert found(client, q='"answer r04"') == [f"r04{i}" for i in range(10)]
    assert found(client, q="answer r04", **{"in": "output"}) != []  # both words, anywhere
    assert found(client, q="question r005", **{"in": "input"}) == ["r005"]
    assert found(client, q="answer r007", **{"in": "expected"}) == ["r007"]
    assert found(client, q="question r005", **{"in": "output"}) == []
    assert found(client, q="ANSWER R042") == ["r042"]  # case does not matter
    assert found(client, q="HTTP 500") == ["r059"]  # an errored call's error is its output


def test_short_and_chinese_terms(client: TestClient) -> None:
    # "v2" is too short for trigrams: matched with LIKE (hostile rows r001-r003 lack it)
    assert len(found(client, q="v2", per="100")) == N_ROWS - 3
    assert found(client, q="北京") == ["zh-1"]  # two characters, no spaces around
    assert found(client, q="中国的首都") == ["zh-1"]
    assert found(client, q="首都", **{"in": "input"}) == ["zh-1"]
    assert found(client, q="100%") == []  # LIKE's wildcards are literal


def test_search_combines_with_filters_pages_and_marks_the_matching_cells(
    client: TestClient,
) -> None:
    # a failed cell whose output says "answer": not r003 (hostile output), not r059 (errored)
    failed = found(client, q="answer", status="failed", per="100", **{"in": "output"})
    assert failed == [f"r{i:03d}" for i in range(0, N_ROWS, 3) if i != 3]
    assert "r003" in found(client, q="answer", status="failed")  # its expected answer says it
    params = {"q": "answer", "in": "output", "per": "20"}
    page = client.get("/runs/run-new", params=params).text
    assert "page 1 of 3 · 57 rows matching “answer”" in page  # not the three hostile rows
    second = client.get("/runs/run-new", params=params | {"page": "2"}).text
    assert 'href="/runs/run-new?q=answer&amp;in=output&amp;per=20&amp;page=3"' in second
    row = client.get("/runs/run-new", params={"q": "r010 v2"}).text
    assert row.count("cell pass hit") + row.count("cell fail hit") == 1  # v2's cell, not v1's


def test_the_query_is_echoed_as_text(client: TestClient) -> None:
    page = client.get("/runs/run-new", params={"q": "<script>document"}).text
    assert "<script>document" not in page
    assert 'value="&lt;script&gt;document"' in page
    assert found(client, q="<script>document") == ["r001"]
    assert client.get("/runs/run-new", params={"in": "nope", "q": "x"}).status_code == 400


def test_the_index_follows_the_run(client: TestClient, store: str) -> None:
    assert found(client, q="brand new") == []  # the first search builds the index
    more = ResultStore(store)
    more.add_result(result("r900", "a brand new answer", run_id="run-new"))
    more.add_result(result("r010", "rewritten", run_id="run-new", prompt_id="v2"))  # replaced
    more.close()
    assert found(client, q="brand new") == ["r900"]
    assert found(client, q="rewritten") == ["r010"]
    assert found(client, q="answer r010") == ["r010"]  # v1's cell still says it
    assert found(client, q="answer r010 v2") == []  # the replaced output is gone
    assert found(client, q="answer r010", set="regressions") == []


def test_a_run_without_results_is_searched_at_once(client: TestClient, store: str) -> None:
    more = ResultStore(store)
    more.save_run(run_record("run-empty", suite="demo", minutes=120))
    more.close()
    assert "No row matches <q>x y z</q>." in client.get("/runs/run-empty?q=x+y+z").text


def test_a_large_run_is_indexed_a_step_at_a_time(
    client: TestClient, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.view import search

    monkeypatch.setattr(search, "STEP", 7)  # 121 results: 18 transactions
    assert len(found(client, q="answer", per="100", **{"in": "output"})) == N_ROWS - 3


def test_both_backends_find_the_same_rows(tmp_path: Path, pg_url: str) -> None:
    sqlite, postgres = (
        TestClient(create_app(searched_store(target), reviewer="ann"), base_url=LOCAL)
        for target in (tmp_path / "results.db", pg_url)
    )
    queries = ["answer", '"answer r04"', "r042", "ANSWER R042", "v2", "北京", "中国的首都",
               "100%", "r_4", "HTTP 500", 'onerror="document', "answer r010 v2"]  # fmt: skip
    for q, where in [(q, "all") for q in queries] + [("r00", "input"), ("r007", "expected")]:
        params = {"q": q, "in": where, "per": "500"}
        assert found(sqlite, **params) == found(postgres, **params), params
    store = ResultStore(pg_url)  # PostgreSQL searched through its trigram indexes
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("view_search")}
    store.close()
    assert {"view_search_output", "view_search_input", "view_search_expected"} <= indexes
