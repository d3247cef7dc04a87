"""The results store's semantics on SQLite and on PostgreSQL (``store_url``), and stores made
before migrations (SQLite files) upgraded in place with every row unchanged."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from harness.analysis.base import AnalysisResult
from harness.compare.records import from_store, read_runs
from harness.errors import StoreError
from harness.jsontext import dump_model
from harness.providers.base import Message
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import RESULTS_HEAD, ResultStore, digest

NOW = datetime(2026, 11, 1, tzinfo=UTC)
#: The first store's layout (before digests).
OLD_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, suite_hash TEXT NOT NULL, created_at TEXT NOT NULL,
                   record TEXT NOT NULL);
CREATE TABLE results (run_id TEXT NOT NULL, case_id TEXT NOT NULL, errored INTEGER NOT NULL,
                      record TEXT NOT NULL, PRIMARY KEY (run_id, case_id));
"""
#: What the code before migrations created on every open (its last version).
UNVERSIONED_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, suite_hash TEXT NOT NULL,
    created_at TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (run_id TEXT NOT NULL REFERENCES runs(run_id),
    case_id TEXT NOT NULL, errored INTEGER NOT NULL, digest TEXT, record TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id));
CREATE TABLE IF NOT EXISTS analyses (run_id TEXT NOT NULL REFERENCES runs(run_id),
    analysis_id TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, analysis_id));
CREATE TABLE IF NOT EXISTS run_locks (run_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
    acquired_at TEXT NOT NULL);
"""
#: Case ids whose byte order differs from a natural-language collation's (ICU en-US).
ODD_IDS = ["b", "B", "a-b", "ab", "a_c", "A", "é", "z", "a b", "Z9", "a%"]


def result(
    i: int | str,
    passed: bool = True,
    *,
    run_id: str = "r",
    output: str = "o",
    error: str | None = None,
) -> CaseResult:
    score = Score(
        scorer="exact", version="exact@1", value=float(passed), threshold=1.0, passed=passed
    )
    case_id = i if isinstance(i, str) else f"c{i}"
    return CaseResult(
        run_id=run_id, case_id=case_id, request_key="k", prompt_id="p", provider_id="m",
        model="m", row_id=f"row{i}", tags=["t"], messages=[Message(role="user", content="q")],
        output=output, error=error, scores=[score], passed=passed and error is None,
        finished_at=NOW,
    )  # fmt: skip


def run(run_id: str = "r", *, suite_hash: str = "h", at: datetime = NOW) -> RunRecord:
    return RunRecord(run_id=run_id, suite_name="s", suite_path="s.yaml", suite_hash=suite_hash,
                     created_at=at, harness_version="t")  # fmt: skip


@pytest.fixture
def store(store_url: str) -> Iterator[ResultStore]:
    opened = ResultStore(store_url)
    try:
        yield opened
    finally:
        opened.close()


def rows(db: Path, query: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(query).fetchall()


def test_old_store_is_migrated_and_old_rows_read_like_new_ones(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO runs VALUES ('r', 'h', ?, ?)", (NOW.isoformat(), run().model_dump_json())
        )
        conn.execute(
            "INSERT INTO results VALUES ('r', 'c0', 0, ?)", (result(0, True).model_dump_json(),)
        )
    before = rows(db, "SELECT run_id, case_id, errored, record FROM results")
    store = ResultStore(db)  # stamped at the first revision, then upgraded: digest, analyses...
    assert rows(db, "SELECT version_num FROM alembic_version") == [(RESULTS_HEAD,)]
    assert rows(db, "SELECT run_id, case_id, errored, record FROM results") == before
    store.add_result(result(1, False))
    digests = dict(store.iter_digests("r"))
    assert digests["c0"] == digest(result(0, True).model_dump())  # the old row keeps NULL
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
    # the digest sits before the record, as in a new store (SQLite's column order)
    columns = [r[1] for r in rows(db, "PRAGMA table_info(results)")]
    assert columns == ["run_id", "case_id", "errored", "digest", "record"]
    store.close()


def test_a_store_made_before_migrations_is_stamped_and_every_row_reads_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "results.db"
    analyses = [AnalysisResult(id=name, type="t", title=name) for name in ("b", "a", "c")]
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executescript(UNVERSIONED_SCHEMA)
        conn.execute("INSERT INTO runs VALUES ('r', 'h', ?, ?)",
                     (NOW.isoformat(), run().model_dump_json()))  # fmt: skip
        for i in range(3):
            r = result(i, i != 1, output=f"out \ud800 {i}")
            packed = '["main"]' if i else None  # a row stored before digests: NULL
            conn.execute("INSERT INTO results VALUES ('r', ?, 0, ?, ?)",
                         (r.case_id, packed, dump_model(r)))  # fmt: skip
        for a in analyses:
            conn.execute("INSERT INTO analyses VALUES ('r', ?, ?)", (a.id, a.model_dump_json()))
        conn.execute("INSERT INTO run_locks VALUES ('other', 'host:1:2', 't')")
    tables = ("runs", "results", "analyses", "run_locks")
    before = {t: rows(db, f"SELECT * FROM {t} ORDER BY rowid") for t in tables}
    store = ResultStore(db)
    assert rows(db, "SELECT version_num FROM alembic_version") == [(RESULTS_HEAD,)]
    after = {t: rows(db, f"SELECT * FROM {t} ORDER BY rowid") for t in tables}
    assert after["analyses"] == [(*row, i) for i, row in enumerate(before["analyses"], 1)]
    assert {t: after[t] for t in tables if t != "analyses"} == {
        t: before[t] for t in tables if t != "analyses"
    }
    assert [a.id for a in store.analyses("r")] == ["b", "a", "c"]  # in the order stored
    assert [r.output for r in store.results("r")] == [f"out \ud800 {i}" for i in range(3)]
    assert [d for _, d in store.iter_digests("r")][1:] == [["main"], ["main"]]
    store.close()
    ResultStore(db).close()  # current now: opened again as it is
    assert rows(db, "SELECT version_num FROM alembic_version") == [(RESULTS_HEAD,)]


def test_a_path_and_a_sqlite_url_open_the_same_store(tmp_path: Path) -> None:
    by_path = ResultStore(tmp_path / "results.db")
    by_path.save_run(run())
    by_url = ResultStore(f"sqlite:///{tmp_path / 'results.db'}")
    assert by_url.get_run("r") == run() and by_url.path == by_path.path
    by_path.close()
    by_url.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("://x", "not a database URL"),
        ("mysql://u@h/db", "mysql database of mysql://u@h/db is not supported"),
        ("postgresql://me:s3cret@127.0.0.1:1/db", "cannot open the results store postgresql"),
    ],
)
def test_a_bad_database_url_is_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        ResultStore(url)
    assert "s3cret" not in str(caught.value)


def test_a_closed_store_refuses_to_write(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    store.close()
    with pytest.raises(StoreError, match="was closed"):
        store.add_result(result(0))


def test_runs_by_id_or_unique_prefix_newest_first(store: ResultStore) -> None:
    for i, run_id in enumerate(["20261101-aa1", "20261101-aa2", "20261102-b", "x_y"]):
        store.save_run(run(run_id, suite_hash="h" if i < 3 else "other", at=NOW + timedelta(i)))
    assert store.get_run("20261102").run_id == "20261102-b"
    assert store.get_run("20261101-aa1").run_id == "20261101-aa1"
    with pytest.raises(StoreError, match="matches 2 runs"):
        store.get_run("20261101-aa")
    for missing in ("nope", "x%", "20261101-a_1"):  # LIKE's wildcards are plain characters
        with pytest.raises(StoreError, match="`harness runs` lists the runs"):
            store.get_run(missing)
    assert store.get_run("x_").run_id == "x_y"
    assert [r.run_id for r in store.list_runs()] == ["x_y", "20261102-b", "20261101-aa2",
                                                    "20261101-aa1"]  # fmt: skip
    since = [r.run_id for r in store.runs_from(NOW + timedelta(1, microseconds=1))]
    assert since == ["x_y", "20261102-b"]  # a whole second's ISO text sorts before its fractions
    assert [r.run_id for r in store.runs_from(NOW + timedelta(1))][-1] == "20261101-aa2"
    latest = store.latest_run("h")
    assert latest is not None and latest.run_id == "20261102-b"
    assert store.has_run("x_y") and not store.has_run("x")
    assert store.latest_unfinished("h") == latest  # status "running"
    store.save_run(latest.model_copy(update={"status": "complete"}))  # replaces it
    assert store.latest_unfinished("h") is None and store.latest_run("none") is None


def test_results_read_back_in_byte_order_and_the_last_attempt_wins(store: ResultStore) -> None:
    store.save_run(run())
    store.add_results([result(i) for i in ODD_IDS])
    assert [r.case_id for r in store.iter_results("r")] == sorted(ODD_IDS)
    again = [result("b", error="boom"), result("z", output="first"), result("z", output="last")]
    store.add_results(again)  # one batch, the same case twice
    by_id = {r.case_id: r for r in store.results("r")}
    assert by_id["z"].output == "last" and by_id["b"].error == "boom"
    assert store.count_results("r") == len(ODD_IDS)
    assert store.finished_case_ids("r") == set(ODD_IDS) - {"b"}  # an errored case runs again
    assert store.count_results("none") == 0 and store.results("none") == []


def test_results_by_case_ids_in_the_order_asked_many_at_a_time(store: ResultStore) -> None:
    store.save_run(run())
    store.add_results([result(i) for i in range(1200)])
    wanted = [f"c{i}" for i in range(1199, -1, -2)] + ["missing", "c0"]
    assert [r.case_id for r in store.iter_results("r", wanted)] == [*wanted[:600], "c0"]
    fields = store.iter_fields("r", ["$.case_id"], wanted)
    assert sorted(f[0] for f in fields) == sorted([*wanted[:600], "c0"])


def test_digests_and_chosen_fields(store: ResultStore) -> None:
    store.save_run(run())
    store.add_results([result(0, True), result(1, False), result(2, error="429")])
    assert [d for _, d in store.iter_digests("r")] == [
        digest(r.model_dump()) for r in store.results("r")
    ]
    paths = ["$.case_id", "$.output", "$.scores[0].value", "$.tags", "$.missing", "$.scores[9]"]
    assert list(store.iter_fields("r", paths)) == [
        ["c0", "o", 1.0, ["t"], None, None],
        ["c1", "o", 0.0, ["t"], None, None],
        ["c2", "o", 1.0, ["t"], None, None],
    ]
    assert list(store.iter_fields("r", ["$.error"], ["c2", "c0"])) == [[None], ["429"]]
    with pytest.raises(ValueError, match="iter_fields needs at least one path"):
        list(store.iter_fields("r", []))
    with pytest.raises(ValueError, match=r"expected \$ then .name or \[index\] steps"):
        list(store.iter_fields("r", ["output"]))


def test_nul_and_lone_surrogates_come_back_unchanged(store: ResultStore) -> None:
    """A model may answer with "\\x00" or a lone surrogate: stored as JSON escapes, which
    PostgreSQL's json (not jsonb, not ->> text) keeps as written."""
    odd = "nul \x00, lone \ud800 and \udfff, half an emoji \ud83d, whole 😀, é 中文"
    named = run().model_copy(update={"suite_name": odd})
    store.save_run(named)
    store.add_results([result(0, output=odd, error=f"ConnectError: {odd}"), result(1)])
    assert store.get_run("r") == named
    first = store.results("r")[0]
    assert (first.output, first.error) == (odd, f"ConnectError: {odd}")
    assert list(store.iter_fields("r", ["$.output"], ["c0"])) == [[odd]]
    assert next(store.iter_fields("r", ["$.output", "$.error"])) == [odd, first.error]
    assert next(store.iter_digests("r"))[1][6] == first.error


def test_analyses_keep_the_order_they_were_first_stored_in(store: ResultStore) -> None:
    store.save_run(run())
    for name in ("second", "first", "third"):
        store.save_analysis("r", AnalysisResult(id=name, type="t", title=name))
    store.save_analysis("r", AnalysisResult(id="first", type="t", title="again"))
    assert [(a.id, a.title) for a in store.analyses("r")] == [
        ("second", "second"), ("first", "again"), ("third", "third"),
    ]  # fmt: skip
    assert store.analyses("none") == []


def test_a_run_lock_is_held_by_this_process_and_a_dead_ones_taken_over(
    store: ResultStore,
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with store.engine.begin() as c:
        c.execute(
            sa.text("INSERT INTO run_locks VALUES ('r1', :owner, 't')"),
            {"owner": f"{socket.gethostname()}:{int(dead.stdout)}:1"},
        )
    store.lock_run("r1")  # no error: that process no longer exists
    store.lock_run("r1")  # this process's own claim again
    store.lock_run("r1#shard-1-of-4")  # a part of the run
    store.unlock_run("r1")
    with store.engine.connect() as c:
        assert c.scalars(sa.text("SELECT run_id FROM run_locks")).all() == ["r1#shard-1-of-4"]


@pytest.mark.parametrize(
    ("held", "wanted", "refused"),
    [
        ("r1", "r1#shard-1-of-2", True),  # a part of a run another process runs whole
        ("r1#shard-1-of-2", "r1", True),  # the whole of a run a shard is running
        ("r1#shard-1-of-2", "r1#shard-1-of-2", True),
        ("r1#shard-1-of-2", "r1#shard-2-of-2", False),  # shards run side by side
        ("r10", "r1", False),
        ("r1#shard-1-of-2", "r10", False),
    ],
)
def test_a_whole_runs_claim_and_its_parts_exclude_each_other(
    store: ResultStore, held: str, wanted: str, refused: bool
) -> None:
    live = f"{socket.gethostname()}:{os.getppid()}:"  # a live process (no start time: trusted)
    with store.engine.begin() as c:
        c.execute(sa.text("INSERT INTO run_locks VALUES (:k, :owner, 't')"),
                  {"k": held, "owner": live})  # fmt: skip
    if refused:
        with pytest.raises(StoreError, match="is being run by process"):
            store.lock_run(wanted)
    else:
        store.lock_run(wanted)


def test_two_runs_are_read_side_by_side_through_one_store(store: ResultStore) -> None:
    for run_id in ("a", "b"):
        store.save_run(run(run_id))
        store.add_results([result(i, i % 2 == 0, run_id=run_id) for i in range(30)])
    a, b = read_runs(store, ["a", "b"])
    assert (
        [r.case_id for r in a.records]
        == [r.case_id for r in b.records]
        == sorted(f"c{i}" for i in range(30))
    )
    assert (a.label, b.label) == ("a", "b") and sum(r.passed for r in b.records) == 15
