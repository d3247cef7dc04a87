"""The results store: runs and their case results, in a SQLite file or a shared database.

The runner commits finished cases in small batches (see :mod:`harness.runner.writer`): a
crash or ``kill -9`` loses at most the last batch, whose answers the response cache already
holds, so the resumed run pays for none of them again. Records are stored as the JSON of
their pydantic models (schema-versioned) beside a few columns for quick queries, among them
a small *digest* (identity, verdict, score values) that comparisons of 100k-case runs read
instead of parsing every full record. The database is a SQLite file by default or any
PostgreSQL database by URL (:mod:`harness.results.db`); several processes may write one run
at once (CI shards), each batch an idempotent upsert.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harness.analysis.base import AnalysisResult
from harness.errors import StoreError
from harness.jsontext import dump_model, load_model
from harness.results.db import KEY, RUN_LOCK, Database
from harness.results.models import CaseResult, RunRecord

#: The revision of the ``results`` migrations this code reads and writes.
RESULTS_HEAD = "results_0004"

_tables = sa.MetaData()
RUNS = sa.Table(
    "runs",
    _tables,
    sa.Column("run_id", KEY, primary_key=True),
    sa.Column("suite_hash", KEY, nullable=False),
    sa.Column("created_at", KEY, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)
RESULTS = sa.Table(
    "results",
    _tables,
    sa.Column("run_id", KEY, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("case_id", KEY, primary_key=True),
    sa.Column("errored", sa.Integer, nullable=False),
    sa.Column("digest", sa.Text),
    sa.Column("record", sa.Text, nullable=False),
)
ANALYSES = sa.Table(
    "analyses",
    _tables,
    sa.Column("run_id", KEY, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("analysis_id", KEY, primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer),
)
#: The process running a run: a second one refuses instead of paying for the same cases.
RUN_LOCKS = sa.Table(
    "run_locks",
    _tables,
    sa.Column("run_id", KEY, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("acquired_at", sa.Text, nullable=False),
)

#: Case ids in one ``IN (...)`` list: well under SQLite's limit on bound parameters.
_CHUNK = 500
#: Rows a PostgreSQL server-side cursor sends at a time (a 100k-case run is ~600 MB).
_STREAM = {"stream_results": True, "yield_per": 500}

_run_id, _case_id = sa.bindparam("run_id"), RESULTS.c.case_id
_RESULT_RECORDS = (
    sa.select(RESULTS.c.record).where(RESULTS.c.run_id == _run_id).order_by(RESULTS.c.case_id)
)
_RESULTS_OF = sa.select(_case_id, RESULTS.c.record).where(
    RESULTS.c.run_id == _run_id, _case_id.in_(sa.bindparam("case_ids", expanding=True))
)
_DIGESTS = (
    sa.select(_case_id, RESULTS.c.digest, sa.case((RESULTS.c.digest.is_(None), RESULTS.c.record)))
    .where(RESULTS.c.run_id == _run_id)
    .order_by(_case_id)
)
_FINISHED = sa.select(_case_id).where(RESULTS.c.run_id == _run_id, RESULTS.c.errored == 0)
_COUNT = sa.select(sa.func.count()).select_from(RESULTS).where(RESULTS.c.run_id == _run_id)
_ANALYSES = (
    sa.select(ANALYSES.c.record).where(ANALYSES.c.run_id == _run_id).order_by(ANALYSES.c.seq)
)
_prefix = sa.bindparam("prefix")
_RUN_MATCHES = (
    sa.select(RUNS.c.run_id, RUNS.c.record)
    .where(sa.func.substr(RUNS.c.run_id, 1, sa.func.length(_prefix)) == _prefix)
    .order_by(sa.case((RUNS.c.run_id == _prefix, 0), else_=1))
)
_HAS_RUN = sa.select(sa.literal(1)).where(RUNS.c.run_id == _run_id)
_ALL_RUNS = sa.select(RUNS.c.record).order_by(RUNS.c.created_at.desc())
#: Runs from an instant on (ISO text in UTC orders as the instants do).
_RUNS_FROM = _ALL_RUNS.where(RUNS.c.created_at >= sa.bindparam("created_at"))
_LATEST_RUN = (
    sa.select(RUNS.c.record)
    .where(RUNS.c.suite_hash == sa.bindparam("suite_hash"))
    .order_by(RUNS.c.created_at.desc())
    .limit(1)
)
#: A lock key is a run id (``RUN``) or a part of a run (``RUN#PART``: a shard's). The whole
#: run's claim and any part's exclude each other; the parts of one run are claimed apart.
PART = "#"
_whole = sa.bindparam("whole")
_CLAIMS = sa.select(RUN_LOCKS.c.run_id, RUN_LOCKS.c.owner, RUN_LOCKS.c.acquired_at).where(
    sa.or_(
        RUN_LOCKS.c.run_id == _run_id,
        RUN_LOCKS.c.run_id == _whole,
        # a whole-run claim (key == whole) meets every part: the keys "whole#..."
        sa.and_(
            _run_id == _whole,
            sa.func.substr(RUN_LOCKS.c.run_id, 1, sa.func.length(_whole) + 1) == _whole + PART,
        ),
    )
)
_UNLOCK = sa.delete(RUN_LOCKS).where(
    RUN_LOCKS.c.run_id == _run_id, RUN_LOCKS.c.owner == sa.bindparam("me")
)
#: A new analysis goes after the run's others; a re-stored one keeps its place.
_NEXT_SEQ = (
    sa.select(sa.func.coalesce(sa.func.max(ANALYSES.c.seq), 0) + 1)
    .where(ANALYSES.c.run_id == sa.bindparam("of_run"))
    .scalar_subquery()
)


class ResultStore:
    """Runs and case results in ``target``: a SQLite file (created with its folder on first
    use) or a database URL such as ``postgresql+psycopg://user@host/dbname``."""

    def __init__(self, target: str | os.PathLike[str], *, create: bool = True) -> None:
        self._db = Database(
            target, tables=_tables, branch="results", head=RESULTS_HEAD,
            legacy=_legacy_revision, what="results store", create=create,
        )  # fmt: skip
        #: The SQLite file (None for another database); ``url``: where it is, any database.
        self.path: Path | None = self._db.path
        self.url = self._db.location
        self.engine = self._db.engine
        #: An in-memory SQLite database: each thread would see its own, empty one.
        self.in_memory = self._db.in_memory
        self._upsert_run = self._db.upsert(RUNS, "suite_hash", "created_at", "record")
        self._upsert_results = self._db.upsert(RESULTS, "errored", "digest", "record")
        self._upsert_analysis = self._db.upsert(ANALYSES, "record").values(seq=_NEXT_SEQ)
        self._upsert_lock = self._db.upsert(RUN_LOCKS, "owner", "acquired_at")

    def close(self) -> None:
        self._db.close()

    def save_run(self, run: RunRecord) -> None:
        row = {
            "run_id": run.run_id,
            "suite_hash": run.suite_hash,
            "created_at": run.created_at.isoformat(),
            "record": dump_model(run),
        }
        with self._db.begin() as c:
            c.execute(self._upsert_run, row)

    def add_result(self, result: CaseResult) -> None:
        """Commit one finished case at once (a later attempt of the same case replaces it)."""
        self.add_results([result])

    def add_results(self, results: Iterable[CaseResult]) -> None:
        """Commit finished cases in one transaction: a commit per case cost more CPU than
        the rest of the run loop. The last of two attempts of a case in one batch wins;
        rows go in key order, so writers of overlapping batches never deadlock."""
        rows = {
            (r.run_id, r.case_id): {
                "run_id": r.run_id,
                "case_id": r.case_id,
                "errored": int(r.error is not None),
                "digest": json.dumps(_digest_of(r)),
                "record": dump_model(r),
            }
            for r in results
        }
        if rows:
            with self._db.begin() as c:
                c.execute(self._upsert_results, [rows[k] for k in sorted(rows)])

    def save_analysis(self, run_id: str, analysis: AnalysisResult) -> None:
        """Store a run-level analysis (a re-run of the analysis replaces it)."""
        row = {"run_id": run_id, "of_run": run_id, "analysis_id": analysis.id}
        with self._db.begin() as c:
            c.execute(self._upsert_analysis, {**row, "record": dump_model(analysis)})

    def analyses(self, run_id: str) -> list[AnalysisResult]:
        """The run's analyses, in the order they were first stored."""
        with self._db.begin() as c:
            records = c.scalars(_ANALYSES, {"run_id": run_id}).all()
        return [load_model(AnalysisResult, r) for r in records]

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix."""
        with self._db.begin() as c:
            rows = c.execute(_RUN_MATCHES, {"prefix": run_id}).all()
        if not rows:
            raise StoreError(f"no run '{run_id}' in {self.url}; `harness runs` lists the runs")
        if len(rows) > 1 and rows[0].run_id != run_id:
            raise StoreError(f"'{run_id}' matches {len(rows)} runs; give more of the id")
        return load_model(RunRecord, rows[0].record)

    def has_run(self, run_id: str) -> bool:
        with self._db.begin() as c:
            return c.execute(_HAS_RUN, {"run_id": run_id}).first() is not None

    def list_runs(self) -> list[RunRecord]:
        with self._db.begin() as c:
            records = c.scalars(_ALL_RUNS).all()
        return [load_model(RunRecord, r) for r in records]

    def runs_from(self, created_at: datetime) -> list[RunRecord]:
        """The runs created at ``created_at`` or later, newest first: the records of a run's
        successors read without the rest (the store may hold thousands)."""
        with self._db.begin() as c:
            records = c.scalars(_RUNS_FROM, {"created_at": created_at.isoformat()}).all()
        return [load_model(RunRecord, r) for r in records]

    def latest_unfinished(self, suite_hash: str) -> RunRecord | None:
        """The newest run of exactly these cases that did not complete: re-running resumes it."""
        run = self.latest_run(suite_hash)
        return None if run is None or run.status == "complete" else run

    def latest_run(self, suite_hash: str) -> RunRecord | None:
        """The newest run of exactly these cases, whatever its status."""
        with self._db.begin() as c:
            record = c.scalar(_LATEST_RUN, {"suite_hash": suite_hash})
        return None if record is None else load_model(RunRecord, record)

    def lock_run(self, run_id: str) -> None:
        """Claim ``run_id`` (any key: a shard claims ``RUN#shard-1-of-4``) for this process,
        or raise :class:`StoreError` while a live process holds it (a lock left by a killed
        process is taken over)."""
        me = _process_token()
        whole = run_id.split(PART, 1)[0]
        with self._db.exclusive(RUN_LOCK) as c:  # no other claim between the read and ours
            for row in c.execute(_CLAIMS, {"run_id": run_id, "whole": whole}):
                if row.owner == me or not _alive(row.owner):
                    continue
                host, pid = row.owner.split(":")[:2]
                what = f"run {whole}"
                if row.run_id != whole:
                    what = f"part {row.run_id.split(PART, 1)[1]} of {what}"
                raise StoreError(
                    f"{what} is being run by process {pid} on {host} (since "
                    f"{row.acquired_at}); wait for it to finish or stop it: one case is never "
                    "run by two processes"
                )
            now = datetime.now(UTC).isoformat(timespec="seconds")
            c.execute(self._upsert_lock, {"run_id": run_id, "owner": me, "acquired_at": now})

    def unlock_run(self, run_id: str) -> None:
        """Release this process's claim on ``run_id``."""
        with self._db.begin() as c:
            c.execute(_UNLOCK, {"run_id": run_id, "me": _process_token()})

    def finished_case_ids(self, run_id: str) -> set[str]:
        """Cases with an output; errored ones are tried again on resume."""
        with self._db.begin() as c:
            return set(c.scalars(_FINISHED, {"run_id": run_id}))

    def iter_results(
        self,
        run_id: str,
        case_ids: Sequence[str] | None = None,
        model: type[CaseResult] = CaseResult,
    ) -> Iterator[CaseResult]:
        """A run's results one at a time, by case id (the order every reader of a run shares);
        ``case_ids``: only these, in this order (JUnit's), read 500 at a time; ``model``: a
        :func:`~harness.jsontext.model_of` ``CaseResult``, for a pass that reads few fields."""
        if case_ids is None:
            for (record,) in self._stream(_RESULT_RECORDS, {"run_id": run_id}):
                yield load_model(model, record)
            return
        for i in range(0, len(case_ids), _CHUNK):
            chunk = case_ids[i : i + _CHUNK]
            with self._db.begin() as c:
                rows = dict(c.execute(_RESULTS_OF, {"run_id": run_id, "case_ids": chunk}).all())
            for case_id in chunk:
                if case_id in rows:
                    yield load_model(model, rows[case_id])

    def results(self, run_id: str) -> list[CaseResult]:
        """Every result of a run as one list (~6 KB a case); :class:`StoredResults` reads
        them one at a time instead."""
        return list(self.iter_results(run_id))

    def count_results(self, run_id: str) -> int:
        with self._db.begin() as c:
            return int(c.scalar(_COUNT, {"run_id": run_id}) or 0)

    def iter_digests(self, run_id: str) -> Iterator[tuple[str, list[Any]]]:
        """``(case_id, digest)`` of each result of a run, by case id; see :func:`digest`."""
        for case_id, packed, record in self._stream(_DIGESTS, {"run_id": run_id}):
            yield case_id, json.loads(packed) if packed else digest(json.loads(record))

    def iter_fields(
        self, run_id: str, paths: Sequence[str], case_ids: Sequence[str] | None = None
    ) -> Iterator[list[Any]]:
        """Chosen JSON fields (``"$.output"``, ``"$.scores[0].value"``...) of a run's results.

        The database extracts them in one pass over each record, so no model is built and
        the fields left out (messages, metadata) are never parsed in Python: comparing two
        100k-case runs reads this way. Each result gives one list, in ``paths`` order;
        a missing field is None; results come by case id (within each 500 of ``case_ids``,
        which limits the results read).
        """
        if not paths:
            raise ValueError("iter_fields needs at least one path")
        fields = self._db.json_fields("record", paths)
        query = f"SELECT {fields.sql} FROM results WHERE run_id = :run_id"
        if case_ids is None:
            chunks: list[Sequence[str]] = [()]
        else:
            chunks = [case_ids[i : i + _CHUNK] for i in range(0, len(case_ids), _CHUNK)]
            query += " AND case_id IN :case_ids"
        statement = sa.text(query + " ORDER BY case_id")
        if case_ids is not None:
            statement = statement.bindparams(sa.bindparam("case_ids", expanding=True))
        for chunk in chunks:
            values = {**fields.params, "run_id": run_id}
            if case_ids is not None:
                values["case_ids"] = list(chunk)
            for extracted, whole in self._stream(statement, values):
                yield fields.values(extracted, whole)

    def _stream(self, statement: Any, values: dict[str, Any]) -> Iterator[sa.Row[Any]]:
        """The rows of a query as they come (a server-side cursor on PostgreSQL), on a
        connection of their own for as long as they are read."""
        with (
            self._db.connect() as c,
            c.execution_options(**_STREAM).execute(statement, values) as rows,
        ):
            yield from rows


def _legacy_revision(conn: Connection) -> str | None:
    """The revision a store made before migrations matches: the digest column came with
    ``results_0002`` (its code created the analyses and run_locks tables on open, which
    ``results_0003`` keeps)."""
    there = sa.inspect(conn)
    if not there.has_table("results"):
        return None
    columns = {c["name"] for c in there.get_columns("results")}
    return "results_0002" if "digest" in columns else "results_0001"


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

    def by_case_ids(
        self, case_ids: Sequence[str], model: type[CaseResult] = CaseResult
    ) -> Iterator[CaseResult]:
        """The results of these cases, in this order (read into ``model``)."""
        return self.store.iter_results(self.run_id, case_ids, model)

    def read(self, model: type[CaseResult]) -> Iterator[CaseResult]:
        """The results read into ``model``: only the fields a pass needs are built."""
        return self.store.iter_results(self.run_id, model=model)


def read_as(results: Iterable[CaseResult], model: type[CaseResult]) -> Iterable[CaseResult]:
    """``results`` for a pass that reads only the fields of ``model`` (a
    :func:`~harness.jsontext.model_of` ``CaseResult``): a stored run's are read into it,
    results at hand are used as they are."""
    return results.read(model) if isinstance(results, StoredResults) else results


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


#: The fields a digest starts with, before its scores and repeat.
_DIGEST_KEYS = ("case_set", "row_id", "prompt_id", "provider_id", "tags", "passed", "error")


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
    return [*(result.get(k) for k in _DIGEST_KEYS), scores, result.get("repeat") or 0]


def _digest_of(result: CaseResult) -> list[Any]:
    """:func:`digest` of a result at hand, read off its fields: dumping the model for it
    (besides its record) cost as much as the digest itself."""
    scores = [[s.name or s.scorer, s.value, s.passed, s.higher_is_better] for s in result.scores]
    return [*(getattr(result, k) for k in _DIGEST_KEYS), scores, result.repeat]
