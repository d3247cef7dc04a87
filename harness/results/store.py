"""The results store: one SQLite file holding runs and their case results.

The runner commits finished cases in small batches (WAL mode; see
:mod:`harness.runner.writer`): a crash or ``kill -9`` loses at most the last batch, whose
answers the response cache already holds, so the resumed run pays for none of them
again. Records are stored as the JSON of their pydantic models (schema-versioned) beside
a few columns for quick queries, among them a small *digest* (identity, verdict, score
values) that comparisons of 100k-case runs read instead of parsing every full record.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.analysis.base import AnalysisResult
from harness.errors import StoreError
from harness.jsontext import decode_text, dump_model, load_model
from harness.results.models import CaseResult, RunRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    suite_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    case_id TEXT NOT NULL,
    errored INTEGER NOT NULL,
    -- before the large record, so reading it never walks the record's overflow pages
    digest TEXT,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id)
);
CREATE TABLE IF NOT EXISTS analyses (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    analysis_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, analysis_id)
);
-- the process running a run: a second one refuses instead of paying for the same cases
CREATE TABLE IF NOT EXISTS run_locks (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    acquired_at TEXT NOT NULL
);
"""


RESULT_COLUMNS = "run_id, case_id, errored, digest, record"


class ResultStore:
    """Runs and case results in ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.text_factory = decode_text
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(results)")}
            if "digest" not in columns:  # a store written before digests: old rows keep NULL
                self._db.execute("ALTER TABLE results ADD COLUMN digest TEXT")
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the results store {self.path}: {e}") from None

    def close(self) -> None:
        self._db.close()

    def save_run(self, run: RunRecord) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                (run.run_id, run.suite_hash, run.created_at.isoformat(), dump_model(run)),
            )

    def add_result(self, result: CaseResult) -> None:
        """Commit one finished case at once (a later attempt of the same case replaces it)."""
        self.add_results([result])

    def add_results(self, results: Iterable[CaseResult]) -> None:
        """Commit finished cases in one transaction: a commit per case cost more CPU than
        the rest of the run loop."""
        rows = [
            (
                r.run_id,
                r.case_id,
                r.error is not None,
                json.dumps(digest(r.model_dump(include=_DIGESTED))),
                dump_model(r),
            )
            for r in results
        ]
        with self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO results ({RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows
            )

    def save_analysis(self, run_id: str, analysis: AnalysisResult) -> None:
        """Store a run-level analysis (a re-run of the analysis replaces it)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO analyses VALUES (?, ?, ?)",
                (run_id, analysis.id, dump_model(analysis)),
            )

    def analyses(self, run_id: str) -> list[AnalysisResult]:
        """The run's analyses, in the order they were first stored."""
        rows = self._db.execute(
            "SELECT record FROM analyses WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        return [load_model(AnalysisResult, r[0]) for r in rows]

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix."""
        rows = self._db.execute(
            "SELECT record FROM runs WHERE run_id = ? OR run_id LIKE ? ORDER BY run_id = ? DESC",
            (run_id, f"{run_id}%", run_id),
        ).fetchall()
        if not rows:
            raise StoreError(f"no run '{run_id}' in {self.path}; `harness runs` lists the runs")
        if len(rows) > 1 and load_model(RunRecord, rows[0][0]).run_id != run_id:
            raise StoreError(f"'{run_id}' matches {len(rows)} runs; give more of the id")
        return load_model(RunRecord, rows[0][0])

    def has_run(self, run_id: str) -> bool:
        query = "SELECT 1 FROM runs WHERE run_id = ?"
        return self._db.execute(query, (run_id,)).fetchone() is not None

    def list_runs(self) -> list[RunRecord]:
        rows = self._db.execute("SELECT record FROM runs ORDER BY created_at DESC").fetchall()
        return [load_model(RunRecord, r[0]) for r in rows]

    def latest_unfinished(self, suite_hash: str) -> RunRecord | None:
        """The newest run of exactly these cases that did not complete: re-running resumes it."""
        run = self.latest_run(suite_hash)
        return None if run is None or run.status == "complete" else run

    def latest_run(self, suite_hash: str) -> RunRecord | None:
        """The newest run of exactly these cases, whatever its status."""
        row = self._db.execute(
            "SELECT record FROM runs WHERE suite_hash = ? ORDER BY created_at DESC LIMIT 1",
            (suite_hash,),
        ).fetchone()
        return None if row is None else load_model(RunRecord, row[0])

    def lock_run(self, run_id: str) -> None:
        """Claim ``run_id`` for this process, or raise :class:`StoreError` while a live process
        holds it (a lock left by a killed process is taken over)."""
        me = _process_token()
        try:
            self._db.execute("BEGIN IMMEDIATE")  # no other writer between the read and the claim
            row = self._db.execute(
                "SELECT owner, acquired_at FROM run_locks WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is not None and row[0] != me and _alive(row[0]):
                host, pid = row[0].split(":")[:2]
                raise StoreError(
                    f"run {run_id} is being run by process {pid} on {host} (since {row[1]}); "
                    "wait for it to finish or stop it: one run is never run by two processes"
                )
            self._db.execute(
                "INSERT OR REPLACE INTO run_locks VALUES (?, ?, ?)",
                (run_id, me, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise

    def unlock_run(self, run_id: str) -> None:
        """Release this process's claim on ``run_id``."""
        with self._db:
            self._db.execute(
                "DELETE FROM run_locks WHERE run_id = ? AND owner = ?", (run_id, _process_token())
            )

    def finished_case_ids(self, run_id: str) -> set[str]:
        """Cases with an output; errored ones are tried again on resume."""
        rows = self._db.execute(
            "SELECT case_id FROM results WHERE run_id = ? AND errored = 0", (run_id,)
        )
        return {r[0] for r in rows}

    def iter_results(
        self, run_id: str, case_ids: Sequence[str] | None = None
    ) -> Iterator[CaseResult]:
        """A run's results one at a time, by case id (the order every reader of a run shares);
        ``case_ids``: only these, in this order (JUnit's), read 500 at a time."""
        if case_ids is None:
            query = "SELECT record FROM results WHERE run_id = ? ORDER BY case_id"
            with closing(self._db.execute(query, (run_id,))) as c:
                for (record,) in c:
                    yield load_model(CaseResult, record)
            return
        for i in range(0, len(case_ids), 500):
            chunk = case_ids[i : i + 500]
            query = "SELECT case_id, record FROM results WHERE run_id = ? AND case_id IN "
            rows = dict(
                self._db.execute(query + f"({', '.join('?' * len(chunk))})", [run_id, *chunk])
            )
            for case_id in chunk:
                if case_id in rows:
                    yield load_model(CaseResult, rows[case_id])

    def results(self, run_id: str) -> list[CaseResult]:
        """Every result of a run as one list (~6 KB a case); :class:`StoredResults` reads
        them one at a time instead."""
        return list(self.iter_results(run_id))

    def count_results(self, run_id: str) -> int:
        query = "SELECT count(*) FROM results WHERE run_id = ?"
        return int(self._db.execute(query, (run_id,)).fetchone()[0])

    def iter_digests(self, run_id: str) -> Iterator[tuple[str, list[Any]]]:
        """``(case_id, digest)`` of each result of a run, by case id; see :func:`digest`."""
        query = "SELECT case_id, digest, iif(digest IS NULL, record, NULL) FROM results "
        with closing(self._db.execute(query + "WHERE run_id = ? ORDER BY case_id", (run_id,))) as c:
            for case_id, packed, record in c:
                yield case_id, json.loads(packed) if packed else digest(json.loads(record))

    def iter_fields(
        self, run_id: str, paths: Sequence[str], case_ids: Sequence[str] | None = None
    ) -> Iterator[list[Any]]:
        """Chosen JSON fields (``"$.output"``, ``"$.scores[0].value"``...) of a run's results.

        SQLite extracts them in one pass over each record, so no model is built and the
        fields left out (messages, metadata) are never parsed in Python: comparing two
        100k-case runs reads this way. Each result gives one list, in ``paths`` order;
        a missing field is None. ``case_ids`` limits the results read.
        """
        if not paths:
            raise ValueError("iter_fields needs at least one path")
        extract = f"json_array(json_extract(record, {', '.join('?' for _ in paths)}))"
        if len(paths) > 1:
            extract = f"json_extract(record, {', '.join('?' for _ in paths)})"
        query = f"SELECT {extract} FROM results WHERE run_id = ?"
        if case_ids is None:
            chunks: list[Sequence[str]] = [()]
        else:
            chunks = [case_ids[i : i + 500] for i in range(0, len(case_ids), 500)]
        for chunk in chunks:
            sql, args = query, [*paths, run_id]
            if case_ids is not None:
                sql += f" AND case_id IN ({', '.join('?' for _ in chunk)})"
                args += chunk
            with closing(self._db.execute(sql, args)) as c:
                for (row,) in c:
                    yield json.loads(row)


class StoredResults(Collection[CaseResult]):
    """The results of one stored run, read from the store each time they are iterated.

    What ``harness run`` gives its summary, report, JUnit and Markdown files: each pass reads
    one result at a time, so memory stays flat however many cases the run has (a list of
    100k results would take ~600 MB). Iterating twice reads twice, in the same order.
    """

    def __init__(self, store: ResultStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def __iter__(self) -> Iterator[CaseResult]:
        return self.store.iter_results(self.run_id)

    def __len__(self) -> int:
        return self.store.count_results(self.run_id)

    def __contains__(self, item: object) -> bool:
        return any(r == item for r in self)

    def by_case_ids(self, case_ids: Sequence[str]) -> Iterator[CaseResult]:
        """The results of these cases, in this order."""
        return self.store.iter_results(self.run_id, case_ids)


def reiterable(results: Iterable[CaseResult]) -> Collection[CaseResult]:
    """``results`` as something that can be read more than once: a list or
    :class:`StoredResults` as it is, a one-shot iterator (a generator) read into a list."""
    return results if isinstance(results, Collection) else list(results)


def _process_token() -> str:
    """``host:pid:start``: the start time tells a live owner from a reused pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '' where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # field 22; the name before ")" may hold spaces


def _alive(owner: str) -> bool:
    """Whether the process named by a lock's owner token still runs (another host's: assume
    so, it cannot be checked from here)."""
    host, pid, start = [*owner.split(":"), "", ""][:3]
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return not start or _start_time(int(pid)) in ("", start)


_DIGESTED = {
    "case_set", "row_id", "prompt_id", "provider_id", "tags", "passed", "error", "scores",
    "repeat",
}  # fmt: skip


def digest(result: dict[str, Any]) -> list[Any]:
    """``[case_set, row_id, prompt_id, provider_id, tags, passed, error, scores, repeat]``
    where each score is ``[name, value, passed, higher_is_better]``: what a comparison needs
    of a case. A score stored before assertions had names is known by its scorer's name (so
    is the first slot of a digest stored then); a digest stored before repeats ends at
    ``scores`` (its case ran once: repeat 0)."""
    scores = [
        [
            s.get("name") or s["scorer"],
            s.get("value"),
            s.get("passed"),
            s.get("higher_is_better", True),
        ]
        for s in result.get("scores") or ()
    ]
    keys = ("case_set", "row_id", "prompt_id", "provider_id", "tags", "passed", "error")
    return [*(result.get(k) for k in keys), scores, result.get("repeat") or 0]
