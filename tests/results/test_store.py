"""The results store: a store written before the digest column still reads and compares."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from harness.compare.records import from_store
from harness.providers.base import Message
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import ResultStore, digest

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OLD_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, suite_hash TEXT NOT NULL, created_at TEXT NOT NULL,
                   record TEXT NOT NULL);
CREATE TABLE results (run_id TEXT NOT NULL, case_id TEXT NOT NULL, errored INTEGER NOT NULL,
                      record TEXT NOT NULL, PRIMARY KEY (run_id, case_id));
"""


def result(i: int, passed: bool) -> CaseResult:
    score = Score(
        scorer="exact", version="exact@1", value=float(passed), threshold=1.0, passed=passed
    )
    return CaseResult(
        run_id="r", case_id=f"c{i}", request_key="k", prompt_id="p", provider_id="m", model="m",
        row_id=f"row{i}", tags=["t"], messages=[Message(role="user", content="q")],
        output="o", scores=[score], passed=passed, finished_at=NOW,
    )  # fmt: skip


def run() -> RunRecord:
    return RunRecord(run_id="r", suite_name="s", suite_path="s.yaml", suite_hash="h",
                     created_at=NOW, harness_version="t")  # fmt: skip


def test_old_store_is_migrated_and_old_rows_read_like_new_ones(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO runs VALUES ('r', 'h', ?, ?)", (NOW.isoformat(), run().model_dump_json())
        )
        conn.execute(
            "INSERT INTO results VALUES ('r', 'c0', 0, ?)", (result(0, True).model_dump_json(),)
        )
    store = ResultStore(db)  # adds the digest column; the old row keeps NULL
    store.add_result(result(1, False))
    digests = dict(store.iter_digests("r"))
    assert digests["c0"] == digest(result(0, True).model_dump())
    assert digests["c1"] == [
        "main",
        "row1",
        "p",
        "m",
        ["t"],
        False,
        None,
        [["exact", 0.0, False, True]],
        0,  # repeat
    ]
    records = {r.case_id: r for r in from_store(store, "r").records}
    assert records["c0"].passed and records["c0"].scores == {"exact": 1.0}
    assert not records["c1"].passed and records["c1"].verdicts == {"exact": False}
