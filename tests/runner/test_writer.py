"""Finished cases are committed in batches: few transactions, each case soon durable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy

from harness.api import run_suite
from harness.errors import StoreError
from harness.results.models import CaseResult
from harness.results.store import ResultStore
from harness.runner.writer import ResultWriter

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def result(i: int) -> CaseResult:
    return CaseResult(
        run_id="r", case_id=f"c{i}", request_key="k", prompt_id="p", provider_id="m", model="m",
        row_id=f"row{i}", messages=[], output="o", passed=True, finished_at=NOW,
    )  # fmt: skip


def committed(db: Path) -> int:
    """Results another connection sees (committed ones only)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT count(*) FROM results").fetchone()[0]


def test_a_run_commits_its_results_in_a_few_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    rows = "".join(
        json.dumps({"id": f"q{i}", "q": f"q {i}", "a": "yes"}) + "\n" for i in range(300)
    )
    (tmp_path / "rows.jsonl").write_text(rows)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: batches\nprompts: [{id: p, template: '{{ q }}'}]\n"
        "providers: [{id: stored, type: outputs, column: a}]\n"
        "cases: {file: rows.jsonl, id: id}\n"
        "defaults: {assert: [{type: contains, value: 'yes'}]}\n"
    )
    store = ResultStore(tmp_path / "results.db")
    writes: list[str] = []

    def count(conn: object, cursor: object, sql: str, *args: object) -> None:
        if sql.startswith("INSERT INTO results"):
            writes.append(sql)

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", count)
    outcome = run_suite(suite, store=store)
    assert outcome.stats.finished == 300 and committed(store.path) == 300
    # 300 results at most 100 a batch (one statement, one transaction each): not 300.
    assert len(writes) < 20, f"{len(writes)} writes for 300 results"


def test_a_result_is_committed_within_the_delay_and_a_full_batch_at_once(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")

    async def go() -> None:
        writer = ResultWriter(store, max_cases=3, max_delay=0.05)
        writer.add(result(0))
        assert committed(store.path) == 0  # waits for company...
        await asyncio.sleep(0.2)
        assert committed(store.path) == 1  # ...for 50 ms at most
        for i in range(1, 4):
            writer.add(result(i))
        assert committed(store.path) == 4  # a full batch does not wait
        writer.flush()

    asyncio.run(go())


def test_a_failed_timed_commit_is_raised_by_the_next_call(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")

    async def go() -> None:
        writer = ResultWriter(store, max_cases=10, max_delay=0.01)
        writer.add(result(0))
        store.close()  # the timed commit fails: it must not be lost silently
        await asyncio.sleep(0.1)
        with pytest.raises(StoreError, match="was closed"):
            writer.add(result(1))

    asyncio.run(go())
