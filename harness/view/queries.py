"""What the view's pages read from the results store, in SQL that stays fast at any size.

A run's grid pages on its *rows* (one source row: every prompt x provider cell of it), so the
view adds one index over the stored digests, (run, case set, row, verdict, errored): a page
of a 100k-case run is an index range read plus the few dozen records it shows
(``bench/view_scale.py`` measures it). Nothing here builds a full :class:`CaseResult`
except the one case a detail page shows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from harness.jsontext import load_model
from harness.results.models import CaseResult, RunRecord
from harness.view import changes, criteria, search
from harness.view.reviews import Review, reviews_of

#: A result's case set, row id and verdict, from its digest (the record for one stored
#: before digests). The index below is on exactly these expressions: queries must repeat them.
SET = "coalesce(json_extract(digest, '$[0]'), json_extract(record, '$.case_set'), 'main')"
ROW = "coalesce(json_extract(digest, '$[1]'), json_extract(record, '$.row_id'))"
PASSED = "coalesce(json_extract(digest, '$[5]'), json_extract(record, '$.passed'))"

_INDEX = (
    f"CREATE INDEX IF NOT EXISTS view_grid ON results (run_id, {SET}, {ROW}, {PASSED}, errored)"
)

#: Grid filters: which rows a page shows (a row is shown when any of its cells matches).
STATUSES = {
    "all": "",
    "failed": f" AND {PASSED} = 0",
    "errored": " AND errored = 1",
    "reviewed": " AND case_id IN (SELECT case_id FROM reviews WHERE run_id = :run)",
    "bad": " AND case_id IN (SELECT case_id FROM reviews WHERE run_id = :run AND verdict = 'bad')",
}


#: Each run's totals as last computed, and its :class:`~harness.view.changes.RunKey` then:
#: a run that has not changed since is not summed again. (``view_run_stats``, the cache of
#: an earlier view, keyed on the count and newest rowid only, is dropped.)
_STATS = """
DROP TABLE IF EXISTS view_run_stats;
CREATE TABLE IF NOT EXISTS view_run_totals (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    passed INTEGER NOT NULL,
    errored INTEGER NOT NULL,
    cost_usd REAL
);
"""


def prepare(db: sqlite3.Connection) -> None:
    """Add the grid's index (once: a few seconds for millions of results), the trigger that
    records replaced results, the caches of totals and criteria, and the (empty) search
    index to the store."""
    with db:
        db.execute(_INDEX)
    db.executescript(_STATS)
    changes.prepare(db)
    criteria.prepare(db)
    search.prepare(db)


@dataclass(frozen=True)
class RunFilter:
    """The runs page's filters; None: any."""

    suite: str | None = None
    provider: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class RunStats:
    """A run's totals over its stored results."""

    n_results: int
    passed: int
    errored: int
    #: Model plus judge cost; None when no result has a price.
    cost_usd: float | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.n_results if self.n_results else None


@dataclass(frozen=True)
class RunRow:
    run: RunRecord
    stats: RunStats


def list_runs(
    db: sqlite3.Connection, where: RunFilter, limit: int, offset: int
) -> tuple[list[RunRow], int]:
    """One page of runs, newest first, with their totals; and how many runs match."""
    sql, args = _run_filter(where)
    (total,) = db.execute(f"SELECT count(*) FROM runs{sql}", args).fetchone()
    page = db.execute(
        f"SELECT record FROM runs{sql} ORDER BY created_at DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    runs = [load_model(RunRecord, r[0]) for r in page]
    return [RunRow(r, run_stats(db, r.run_id)) for r in runs], total


def _run_filter(where: RunFilter) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if where.suite:
        clauses.append("json_extract(record, '$.suite_name') = ?")
        args.append(where.suite)
    if where.provider:
        clauses.append(
            "EXISTS (SELECT 1 FROM json_each(record, '$.providers') "
            "WHERE json_extract(value, '$.id') = ?)"
        )
        args.append(where.provider)
    if where.since:
        clauses.append("substr(created_at, 1, 10) >= ?")
        args.append(where.since.isoformat())
    if where.until:
        clauses.append("substr(created_at, 1, 10) <= ?")
        args.append(where.until.isoformat())
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def run_stats(db: sqlite3.Connection, run_id: str) -> RunStats:
    """The run's totals: summing costs reads every record (~1 s for 100k), so they are kept in
    ``view_run_totals`` and summed again only once the run's results changed."""
    key = changes.run_key(db, run_id)
    cached = db.execute(
        "SELECT passed, errored, cost_usd FROM view_run_totals WHERE run_id = ? AND run_key = ?",
        (run_id, str(key)),
    ).fetchone()
    if cached is not None:
        return RunStats(key.count, *cached)
    stats = _summed(db, run_id)
    with db:
        db.execute(
            "INSERT OR REPLACE INTO view_run_totals VALUES (?, ?, ?, ?, ?)",
            (run_id, str(key), stats.passed, stats.errored, stats.cost_usd),
        )
    return stats


def _summed(db: sqlite3.Connection, run_id: str) -> RunStats:
    model, judge = "json_extract(record, '$.cost_usd')", "json_extract(record, '$.judge_cost_usd')"
    n, passed, errored, cost, priced = db.execute(
        f"SELECT count(*), total({PASSED}), total(errored), total({model}) + total({judge}), "
        f"count({model}) + count({judge}) FROM results WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    return RunStats(n, int(passed), int(errored), cost if priced else None)


def filter_choices(db: sqlite3.Connection) -> tuple[list[str], list[str]]:
    """Every suite name and provider id in the store: the runs page's filter choices."""
    suites = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT json_extract(record, '$.suite_name') AS s FROM runs ORDER BY s"
        )
    ]
    providers = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT json_extract(p.value, '$.id') AS id "
            "FROM runs, json_each(runs.record, '$.providers') AS p ORDER BY id"
        )
        if r[0] is not None
    ]
    return suites, providers


def get_run(db: sqlite3.Connection, run_id: str) -> RunRecord | None:
    row = db.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else load_model(RunRecord, row[0])


def suite_runs(db: sqlite3.Connection, suite: str) -> list[RunRecord]:
    """Every run of a suite (by name), oldest first."""
    rows = db.execute(
        "SELECT record FROM runs WHERE json_extract(record, '$.suite_name') = ? "
        "ORDER BY created_at",
        (suite,),
    )
    return [load_model(RunRecord, r[0]) for r in rows]


def case_sets(db: sqlite3.Connection, run_id: str) -> list[str]:
    """The run's case sets, "main" (the suite's own cases) first."""
    query = f"SELECT DISTINCT {SET} FROM results WHERE run_id = ?"
    sets = [r[0] for r in db.execute(query, (run_id,))]
    return sorted(sets, key=lambda s: (s != "main", s))


@dataclass
class Cell:
    """One result of a grid row: a prompt version x provider (x repeat)."""

    case_id: str
    prompt_id: str
    provider_id: str
    repeat: int
    passed: bool
    error: str | None
    output: str | None
    #: ``[name, value, passed]`` of each assertion.
    scores: list[list[Any]]
    review: Review | None = None
    #: Whether this cell matched the search (rows show every cell of a matching row).
    hit: bool = False


@dataclass
class GridRow:
    row_id: str
    vars: dict[str, Any]
    expected: list[str]
    description: str | None
    #: By column (``prompt_id``, ``provider_id``): its results, repeat 0 first.
    cells: dict[tuple[str, str], list[Cell]] = field(default_factory=dict)


@dataclass
class Grid:
    columns: list[tuple[str, str]]
    rows: list[GridRow]
    #: Rows matching the filter, over every page.
    total: int


def grid(
    db: sqlite3.Connection,
    run: RunRecord,
    *,
    case_set: str,
    status: str,
    limit: int,
    offset: int,
    query: search.Search | None = None,
) -> Grid:
    """One page of the run's grid: rows by row id, one column per prompt x provider; with a
    ``query``, the rows with a cell that matches it (index the run first:
    :func:`search.ensure_index`)."""
    args: dict[str, Any] = {"run": run.run_id, "set": case_set, "limit": limit, "offset": offset}
    where = f"WHERE run_id = :run AND {SET} = :set{STATUSES[status]}"
    if query is not None:
        where += f" AND {search.find(db, run.run_id, query)}"
    (total,) = db.execute(f"SELECT count(DISTINCT {ROW}) FROM results {where}", args).fetchone()
    row_ids = [
        r[0]
        for r in db.execute(
            f"SELECT DISTINCT {ROW} AS r FROM results {where} "
            "ORDER BY r LIMIT :limit OFFSET :offset",
            args,
        )
    ]
    rows = {r: GridRow(r, {}, [], None) for r in row_ids}
    for row_id, cell, vars_, expected, description in _cells(db, run.run_id, case_set, row_ids):
        row = rows[row_id]
        if not row.cells:
            row.vars, row.expected, row.description = vars_, expected, description
        row.cells.setdefault((cell.prompt_id, cell.provider_id), []).append(cell)
    cells = [c for row in rows.values() for cs in row.cells.values() for c in cs]
    reviews = reviews_of(db, run.run_id, [c.case_id for c in cells])
    hits = _found(db, run.run_id, [c.case_id for c in cells]) if query else set()
    for c in cells:
        c.review = reviews.get(c.case_id)
        c.hit = c.case_id in hits
    declared = [(p, v.get("id", "")) for p in run.prompts for v in run.providers]
    seen = [k for row in rows.values() for k in row.cells]
    return Grid(list(dict.fromkeys([*declared, *seen])), list(rows.values()), total)


def _found(db: sqlite3.Connection, run_id: str, case_ids: Sequence[str]) -> set[str]:
    """Which of these cases the search (:func:`search.find`) found."""
    if not case_ids:
        return set()
    ids = ", ".join("?" * len(case_ids))
    sql = f"SELECT case_id FROM results WHERE run_id = ? AND case_id IN ({ids}) AND {search.FOUND}"
    return {r[0] for r in db.execute(sql, [run_id, *case_ids])}


def _cells(
    db: sqlite3.Connection, run_id: str, case_set: str, row_ids: Sequence[str]
) -> Iterator[tuple[str, Cell, dict[str, Any], list[str], str | None]]:
    if not row_ids:
        return
    fields = "'$.prompt_id', '$.provider_id', '$.repeat', '$.error', '$.output', '$.scores'"
    fields += ", '$.vars', '$.expected', '$.description'"
    sql = (
        f"SELECT case_id, {ROW}, {PASSED}, json_extract(record, {fields}) FROM results "
        f"WHERE run_id = ? AND {SET} = ? AND {ROW} IN ({', '.join('?' * len(row_ids))})"
    )
    # sorted here: an ORDER BY case_id leads SQLite to walk the run's primary key in order,
    # every result of it, instead of looking up these rows in the grid's index
    with closing(db.execute(sql, [run_id, case_set, *row_ids])) as c:
        rows = sorted(c)
    for case_id, row_id, passed, packed in rows:
        prompt, provider, repeat, error, output, scores, vars_, expected, desc = json.loads(packed)
        verdicts = [[s.get("name") or s["scorer"], s["value"], s["passed"]] for s in scores]
        cell = Cell(case_id, prompt, provider, repeat or 0, bool(passed), error, output, verdicts)
        yield row_id, cell, vars_ or {}, expected or [], desc


def case_result(db: sqlite3.Connection, run_id: str, case_id: str) -> CaseResult | None:
    row = db.execute(
        "SELECT record FROM results WHERE run_id = ? AND case_id = ?", (run_id, case_id)
    ).fetchone()
    return None if row is None else load_model(CaseResult, row[0])


@dataclass(frozen=True)
class HistoryEntry:
    """One row's cells in one run of its suite."""

    run: RunRecord
    cells: list[Cell]


def row_history(
    db: sqlite3.Connection, suite: str, case_set: str, row_id: str
) -> list[HistoryEntry]:
    """How one source row's outputs changed over every run of its suite, oldest first."""
    out = []
    for run in suite_runs(db, suite):
        cells = [c for r, c, *_ in _cells(db, run.run_id, case_set, [row_id]) if r == row_id]
        reviews = reviews_of(db, run.run_id, [c.case_id for c in cells])
        for c in cells:
            c.review = reviews.get(c.case_id)
        if cells:
            out.append(HistoryEntry(run, cells))
    return out
