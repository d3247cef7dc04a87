"""A stored run read a case at a time gives every output exactly as the full list does.

`harness run` hands its summary, report, JUnit, Markdown, error budget, repeats and gates a
:class:`StoredResults` (or the stored digests) instead of every result in one list; each
output must be identical, byte for byte, to the one rendered from the list.
"""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.analysis.errors import error_budget
from harness.analysis.repeats import repeat_summaries
from harness.analysis.summary import summarize
from harness.ci.junit import junit_xml
from harness.ci.summary_md import summary_markdown
from harness.compare.records import from_results, from_store, iter_records
from harness.report.case_table import case_table
from harness.report.html import render_html
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import ResultStore, StoredResults
from tests.pg import PgServer
from tests.report.helpers import make_case, make_run


@dataclass
class Gate:
    name: str
    passed: bool
    message: str
    details: str | None = None
    checked: str = "pass rate ≥ 0.9"
    threshold: float | None = 0.9
    observed: float | None = 0.5
    p_value: float | None = None


GATES = [Gate("gates[0] <&>", True, "fine"), Gate("gates[1]", False, "low \x1b", "a\nb")]


def _varied(n: int) -> list[CaseResult]:
    """Cases of every kind the outputs tell apart: case sets, prompts and providers the run
    record does not name, errors (one with a lone surrogate), scoring errors, judge calls,
    perturbed copies, repeats, long outputs, a -0.0 threshold; finished in random order."""
    rng = random.Random(7)
    cases = []
    for i in range(n):
        kind = rng.random()
        error = rng.choice(["RateLimitError: 429", "ConnectError: \ud800"]) if kind < 0.15 else None
        case = make_case(
            rng.choice(["v1", "v2", "v9"]),
            rng.choice(["gpt", "claude", "other"]),
            i,
            case_set=rng.choice(["main", "main", "main", "regressions", "zz"]),
            exact=rng.choice([0.0, 1.0, None]),
            toxicity=rng.random(),
            error=error,
            cost=rng.choice([None, 0.001, 0.0025]),
        )
        case.row_id = f"row-{rng.randint(0, n // 3)}"
        case.repeat = rng.choice([0, 0, 1])
        case.case_id = f"{case.case_id}-{case.repeat}-{rng.random()}"
        case.latency_s = None if error else rng.random() * 3
        if kind > 0.9:
            case.output = "long " * rng.randint(1, 2000)
        if kind > 0.95:
            case.perturbation, case.tags = "typos", [*case.tags, "perturbed:typos"]
        if 0.5 < kind < 0.6 and case.scores:
            case.scores[0].error = "judge reply did not parse"
            case.judge_calls, case.judge_cached = 2, 1
            case.judge_cost_usd = rng.choice([None, 0.01])
        if 0.6 < kind < 0.65:
            case.scores.append(
                Score(scorer="f1", version="f1@1", value=0.5, threshold=-0.0, passed=True)
            )
        case.passed = error is None and all(s.passed is not False for s in case.scores)
        cases.append(case)
    return cases


def _store_varied(store: ResultStore) -> tuple[RunRecord, StoredResults]:
    run = make_run()
    run.prompts = ["v1", "v2"]
    run.providers = [{"id": "gpt", "model": "gpt-model"}, {"id": "claude", "model": "c"}]
    store.save_run(run)
    cases = _varied(600)
    for i in range(0, len(cases), 100):  # in batches, as the runner commits them
        store.add_results(cases[i : i + 100])
    return run, StoredResults(store, run.run_id)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRecord, StoredResults]:
    return _store_varied(ResultStore(tmp_path_factory.mktemp("store") / "results.db"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stored_on_each(
    request: pytest.FixtureRequest, stored: tuple[RunRecord, StoredResults]
) -> Iterator[tuple[RunRecord, StoredResults]]:
    """The same run in the SQLite store, then in a PostgreSQL one."""
    if request.param == "sqlite":
        yield stored
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    store = ResultStore(url)
    try:
        yield _store_varied(store)
    finally:
        store.close()
        server.drop_database(url)


def test_the_stored_run_reads_back_in_case_id_order_each_time(
    stored_on_each: tuple[RunRecord, StoredResults],
) -> None:
    run, results = stored_on_each
    first = [r.case_id for r in results]
    assert first == sorted(first) and [r.case_id for r in results] == first
    assert len(results) == 600 == len(first)
    listed = results.store.results(run.run_id)
    assert listed[3] in results and make_case("v1", "gpt", 10**6) not in results
    wanted = first[::-1][:700]  # more than one read of 500
    assert [r.case_id for r in results.by_case_ids([*wanted, "no-such-case"])] == wanted


@pytest.mark.parametrize("budget", [4_000_000, 30_000, 290_000, 350_000])
def test_the_report_is_the_same_from_the_store(
    stored: tuple[RunRecord, StoredResults], budget: int
) -> None:
    """Budgets that end the kept texts among failures, errors and passes, and none."""
    run, results = stored
    listed = results.store.results(run.run_id)
    expected = render_html(run, listed, None, GATES, text_budget=budget)
    summary = summarize(results)
    streamed = render_html(run, results, None, GATES, text_budget=budget, summary=summary)
    assert streamed == expected
    assert render_html(run, iter(listed), None, GATES, text_budget=budget) == expected


def test_the_texts_kept_are_the_first_in_table_order_within_the_budget() -> None:
    """However the statuses interleave as the cases stream in, the texts kept are the longest
    run of the table's order (failures, errors, passes) whose sizes fit the budget."""
    cases = _varied(600)
    every = case_table(cases, 10**9)["texts"]  # all of them, in table order
    sizes = [len(json.dumps(t, ensure_ascii=False, separators=(",", ":")).encode()) for t in every]
    for budget in range(0, sum(sizes) + 10_000, 9_973):
        fit = next((i for i in range(len(sizes)) if sum(sizes[: i + 1]) > budget), len(sizes))
        assert case_table(cases, budget)["texts"] == every[:fit], budget


def test_summary_junit_and_markdown_are_the_same_from_the_store(
    stored: tuple[RunRecord, StoredResults],
) -> None:
    run, results = stored
    listed = results.store.results(run.run_id)
    summary = summarize(listed)
    assert summarize(results) == summary == summarize(iter(listed))
    assert junit_xml(run, results, GATES) == junit_xml(run, listed, GATES)
    assert junit_xml(run, iter(listed), GATES) == junit_xml(run, listed, GATES)
    markdown = summary_markdown(run, listed, GATES)
    assert summary_markdown(run, results, GATES, summary=summary) == markdown
    assert summary_markdown(run, iter(listed), GATES) == markdown


def test_errors_repeats_and_gate_records_are_the_same_from_the_digests(
    stored_on_each: tuple[RunRecord, StoredResults],
) -> None:
    run, results = stored_on_each
    listed = results.store.results(run.run_id)
    budget = error_budget(listed, 0.1)
    assert error_budget(iter_records(results.store, run.run_id), 0.1) == budget
    assert budget.errored > 0 and budget.total == 600
    repeats = repeat_summaries(listed)
    assert repeat_summaries(iter_records(results.store, run.run_id)) == repeats and repeats
    from_list, stored_records = from_results(listed, run.run_id), from_store(results.store, "run")
    assert stored_records.higher_is_better == from_list.higher_is_better
    fields = ("case_id", "case_set", "row_id", "prompt_id", "provider_id", "tags", "passed",
              "error", "scores", "verdicts", "repeat")  # fmt: skip
    rows = [[getattr(r, f) for f in fields] for r in stored_records.records]
    assert rows == [[getattr(r, f) for f in fields] for r in from_list.records]


def test_junit_is_written_as_elementtree_indents_the_whole_document(
    stored: tuple[RunRecord, StoredResults],
) -> None:
    run, results = stored
    text = junit_xml(run, results, GATES)
    declaration, _, body = text.partition("\n")
    assert declaration == "<?xml version='1.0' encoding='utf-8'?>"
    root = ET.fromstring(body)
    ET.indent(root)
    assert ET.tostring(root, encoding="unicode") + "\n" == body
    assert root.get("tests") == str(600 + len(GATES))


def test_an_empty_run_has_an_empty_junit_document(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    run = make_run()
    store.save_run(run)
    text = junit_xml(run, StoredResults(store, run.run_id))
    assert text.endswith(
        '<testsuites name="harness: suite-report-title" tests="0" failures="0" errors="0" '
        'skipped="0" time="0.000" />\n'
    )
    assert text == junit_xml(run, [])
