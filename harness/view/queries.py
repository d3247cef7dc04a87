"""What the view's pages read from the results store, in SQL that stays fast at any size,
on SQLite and on PostgreSQL (SQLAlchemy Core connections; the SQL differs only where the
two databases' JSON functions do).

A run's grid pages on its *rows* (one source row: every prompt x provider cell of it), so the
view adds one index over the stored digests, (run, case set, row, verdict, errored): a page
of a 100k-case run is an index range read plus the few dozen records it shows
(``bench/view_scale.py`` measures it). Nothing here builds a full :class:`CaseResult`
except the one case a detail page shows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harness.jsontext import load_model
from harness.results.db import JsonFields
from harness.results.models import CaseResult, RunRecord
from harness.view import changes, criteria, search
from harness.view.changes import is_postgres, run_ddl
from harness.view.reviews import Review, prepare_reviews, reviews_of


@dataclass(frozen=True)
class Dialect:
    """The view's SQL that differs between SQLite and PostgreSQL. ``set``, ``row`` and
    ``passed`` (a result's case set, row id and verdict, from its digest; the record for
    one stored before digests) are the grid index's expressions: queries repeat them."""

    set: str
    row: str
    passed: str
    failed: str
    index: str
    #: A number in the record (a cost), and the record's suite name.
    number: str
    suite: str
    #: The runs whose record lists provider ``:provider``.
    has_provider: str
    providers: str


def _sqlite() -> Dialect:
    s = "coalesce(json_extract(digest, '$[0]'), json_extract(record, '$.case_set'), 'main')"
    r = "coalesce(json_extract(digest, '$[1]'), json_extract(record, '$.row_id'))"
    p = "coalesce(json_extract(digest, '$[5]'), json_extract(record, '$.passed'))"
    return Dialect(
        s, r, p, f"{p} = 0",
        f"CREATE INDEX IF NOT EXISTS view_grid ON results (run_id, {s}, {r}, {p}, errored)",
        "json_extract(record, '$.{}')",
        "json_extract(record, '$.suite_name')",
        "EXISTS (SELECT 1 FROM json_each(record, '$.providers') "
        "WHERE json_extract(value, '$.id') = :provider)",
        "SELECT DISTINCT json_extract(p.value, '$.id') AS id "
        "FROM runs, json_each(runs.record, '$.providers') AS p ORDER BY id",
    )  # fmt: skip


def _postgres() -> Dialect:
    # ids sort byte-wise (COLLATE "C"), as the store's keys and SQLite's do
    d, j = "view_json(digest)", "view_json(record)"
    s = f"(coalesce({d} ->> 0, {j} ->> 'case_set', 'main') COLLATE \"C\")"
    r = f"(coalesce({d} ->> 1, {j} ->> 'row_id') COLLATE \"C\")"
    p = f"(CAST(coalesce({d} ->> 5, {j} ->> 'passed') AS boolean))"
    return Dialect(
        s, r, f"CAST({p} AS integer)", f"NOT {p}",
        f"CREATE INDEX IF NOT EXISTS view_grid ON results (run_id, {s}, {r}, {p}, errored)",
        f"CAST({j} ->> '{{}}' AS double precision)",
        f"({j} ->> 'suite_name' COLLATE \"C\")",
        f"EXISTS (SELECT 1 FROM json_array_elements({j} -> 'providers') AS p "
        "WHERE p ->> 'id' = :provider)",
        "SELECT DISTINCT p ->> 'id' COLLATE \"C\" AS id "
        "FROM runs, json_array_elements(view_json(runs.record) -> 'providers') AS p "
        "ORDER BY id",
    )  # fmt: skip


DIALECTS = {"sqlite": _sqlite(), "postgresql": _postgres()}


def sql(db: Connection) -> Dialect:
    return DIALECTS[db.dialect.name]


#: Grid filters: which rows a page shows (a row is shown when any of its cells matches).
STATUSES = ("all", "failed", "errored", "reviewed", "bad")


def _status(dialect: Dialect, status: str) -> str:
    return {
        "all": "",
        "failed": f" AND {dialect.failed}",
        "errored": " AND errored = 1",
        "reviewed": " AND case_id IN (SELECT case_id FROM reviews WHERE run_id = :run)",
        "bad": " AND case_id IN (SELECT case_id FROM reviews WHERE run_id = :run "
        "AND verdict = 'bad')",
    }[status]


#: Each run's totals as last computed, and its :class:`~harness.view.changes.RunKey` then:
#: a run that has not changed since is not summed again. (``view_run_stats``, the cache of
#: an earlier view, keyed on the count and newest rowid only, is dropped.)
_STATS = [
    "DROP TABLE IF EXISTS view_run_stats",
    """CREATE TABLE IF NOT EXISTS view_run_totals (
        run_id TEXT PRIMARY KEY,
        run_key TEXT NOT NULL,
        passed INTEGER NOT NULL,
        errored INTEGER NOT NULL,
        cost_usd REAL
    )""",
]
#: Written by key on both databases (SQLite 3.24+ has PostgreSQL's ON CONFLICT).
_SAVE_TOTALS = sa.text(
    "INSERT INTO view_run_totals VALUES (:run, :key, :passed, :errored, :cost) "
    "ON CONFLICT (run_id) DO UPDATE SET run_key = excluded.run_key, passed = excluded.passed, "
    "errored = excluded.errored, cost_usd = excluded.cost_usd"
)
#: PostgreSQL's JSON functions refuse a whole document that holds a ``\\u0000`` escape (text
#: cannot hold NUL) or a lone surrogate's (a model's odd answer; the store keeps them): the
#: view reads records through ``view_json``, which makes such escapes U+FFFD first.
_VIEW_JSON = r"""
CREATE OR REPLACE FUNCTION view_json(doc text) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CAST(CASE WHEN strpos(doc, '\u') > 0 AND doc ~ '\\u(0000|[dD][89a-fA-F])'
        THEN regexp_replace(doc, '\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})', '\\ufffd', 'g')
        ELSE doc END AS json)
$$
"""
#: ``pg_advisory_xact_lock`` key: one view at a time adds its tables to a PostgreSQL store.
PREPARE_LOCK = 0x68617210


def prepare(db: Connection) -> None:
    """Add the grid's index (once: a few seconds for millions of results), the trigger that
    records changed results, the reviews table, the caches of totals and criteria, and the
    (empty) search index to the store, and commit."""
    if is_postgres(db):  # two views starting at once would both create the same tables
        db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PREPARE_LOCK})
        run_ddl(db, [_VIEW_JSON])
    run_ddl(db, [sql(db).index, *_STATS])
    changes.prepare(db)
    prepare_reviews(db)
    criteria.prepare(db)
    search.prepare(db)
    db.commit()


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
    db: Connection, where: RunFilter, limit: int, offset: int
) -> tuple[list[RunRow], int]:
    """One page of runs, newest first, with their totals; and how many runs match."""
    clause, args = _run_filter(sql(db), where)
    total = db.execute(sa.text(f"SELECT count(*) FROM runs{clause}"), args).scalar_one()
    page = db.execute(
        sa.text(f"SELECT record FROM runs{clause} ORDER BY created_at DESC LIMIT :n OFFSET :skip"),
        {**args, "n": limit, "skip": offset},
    ).scalars()
    runs = [load_model(RunRecord, r) for r in page]
    return [RunRow(r, run_stats(db, r.run_id)) for r in runs], total


def _run_filter(dialect: Dialect, where: RunFilter) -> tuple[str, dict[str, Any]]:
    clauses, args = [], {}
    if where.suite:
        clauses.append(f"{dialect.suite} = :suite")
        args["suite"] = where.suite
    if where.provider:
        clauses.append(dialect.has_provider)
        args["provider"] = where.provider
    if where.since:
        clauses.append("substr(created_at, 1, 10) >= :since")
        args["since"] = where.since.isoformat()
    if where.until:
        clauses.append("substr(created_at, 1, 10) <= :until")
        args["until"] = where.until.isoformat()
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def run_stats(db: Connection, run_id: str) -> RunStats:
    """The run's totals: summing costs reads every record (~1 s for 100k), so they are kept in
    ``view_run_totals`` and summed again only once the run's results changed."""
    key = changes.run_key(db, run_id)
    cached = db.execute(
        sa.text(
            "SELECT passed, errored, cost_usd FROM view_run_totals "
            "WHERE run_id = :run AND run_key = :key"
        ),
        {"run": run_id, "key": str(key)},
    ).first()
    if cached is not None:
        return RunStats(key.count, *cached)
    stats = _summed(db, run_id)
    db.execute(
        _SAVE_TOTALS,
        {"run": run_id, "key": str(key), "passed": stats.passed, "errored": stats.errored,
         "cost": stats.cost_usd},
    )  # fmt: skip
    db.commit()
    return stats


def _summed(db: Connection, run_id: str) -> RunStats:
    dialect = sql(db)
    model, judge = dialect.number.format("cost_usd"), dialect.number.format("judge_cost_usd")
    n, passed, errored, cost, priced = db.execute(
        sa.text(
            f"SELECT count(*), coalesce(sum({dialect.passed}), 0), coalesce(sum(errored), 0), "
            f"coalesce(sum({model}), 0) + coalesce(sum({judge}), 0), "
            f"count({model}) + count({judge}) FROM results WHERE run_id = :run"
        ),
        {"run": run_id},
    ).one()
    return RunStats(n, int(passed), int(errored), float(cost) if priced else None)


def filter_choices(db: Connection) -> tuple[list[str], list[str]]:
    """Every suite name and provider id in the store: the runs page's filter choices."""
    dialect = sql(db)
    suites = db.execute(sa.text(f"SELECT DISTINCT {dialect.suite} AS s FROM runs ORDER BY s"))
    providers = db.execute(sa.text(dialect.providers)).scalars()
    return list(suites.scalars()), [p for p in providers if p is not None]


def get_run(db: Connection, run_id: str) -> RunRecord | None:
    record = db.execute(
        sa.text("SELECT record FROM runs WHERE run_id = :run"), {"run": run_id}
    ).scalar()
    return None if record is None else load_model(RunRecord, record)


def suite_runs(db: Connection, suite: str) -> list[RunRecord]:
    """Every run of a suite (by name), oldest first."""
    rows = db.execute(
        sa.text(f"SELECT record FROM runs WHERE {sql(db).suite} = :suite ORDER BY created_at"),
        {"suite": suite},
    ).scalars()
    return [load_model(RunRecord, r) for r in rows]


def case_sets(db: Connection, run_id: str) -> list[str]:
    """The run's case sets, "main" (the suite's own cases) first."""
    query = sa.text(f"SELECT DISTINCT {sql(db).set} FROM results WHERE run_id = :run")
    sets = db.execute(query, {"run": run_id}).scalars()
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
    db: Connection,
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
    dialect = sql(db)
    args: dict[str, Any] = {"run": run.run_id, "set": case_set, "limit": limit, "offset": offset}
    where = f"WHERE run_id = :run AND {dialect.set} = :set{_status(dialect, status)}"
    if query is not None:
        where += f" AND {search.find(db, run.run_id, query)}"
    total = db.execute(
        sa.text(f"SELECT count(DISTINCT {dialect.row}) FROM results {where}"), args
    ).scalar_one()
    row_ids = db.execute(
        sa.text(
            f"SELECT DISTINCT {dialect.row} AS r FROM results {where} "
            "ORDER BY r LIMIT :limit OFFSET :offset"
        ),
        args,
    ).scalars()
    rows = {r: GridRow(r, {}, [], None) for r in row_ids}
    for row_id, cell, vars_, expected, description in _cells(db, run.run_id, case_set, list(rows)):
        row = rows[row_id]
        if not row.cells:
            row.vars, row.expected, row.description = vars_, expected, description
        row.cells.setdefault((cell.prompt_id, cell.provider_id), []).append(cell)
    cells = [c for row in rows.values() for cs in row.cells.values() for c in cs]
    reviews = reviews_of(db, run.run_id, [c.case_id for c in cells])
    hits = search.found(db, run.run_id, [c.case_id for c in cells]) if query else set()
    for c in cells:
        c.review = reviews.get(c.case_id)
        c.hit = c.case_id in hits
    declared = [(p, v.get("id", "")) for p in run.prompts for v in run.providers]
    seen = [k for row in rows.values() for k in row.cells]
    return Grid(list(dict.fromkeys([*declared, *seen])), list(rows.values()), total)


_CELL_FIELDS = ("$.prompt_id", "$.provider_id", "$.repeat", "$.error", "$.output", "$.scores",
                "$.vars", "$.expected", "$.description")  # fmt: skip


def _cells(
    db: Connection, run_id: str, case_set: str, row_ids: Sequence[str]
) -> Iterator[tuple[str, Cell, dict[str, Any], list[str], str | None]]:
    if not row_ids:
        return
    dialect, fields = sql(db), JsonFields(db.dialect.name, "record", _CELL_FIELDS)
    query = sa.text(
        f"SELECT case_id, {dialect.row}, {dialect.passed}, {fields.sql} FROM results "
        f"WHERE run_id = :run AND {dialect.set} = :set AND {dialect.row} IN :rows"
    ).bindparams(sa.bindparam("rows", expanding=True))
    # sorted here: an ORDER BY case_id leads SQLite to walk the run's primary key in order,
    # every result of it, instead of looking up these rows in the grid's index
    args = {**fields.params, "run": run_id, "set": case_set, "rows": list(row_ids)}
    for case_id, row_id, passed, extracted, whole in sorted(db.execute(query, args)):
        values = fields.values(extracted, whole)
        prompt, provider, repeat, error, output, scores, vars_, expected, desc = values
        verdicts = [[s.get("name") or s["scorer"], s["value"], s["passed"]] for s in scores]
        cell = Cell(case_id, prompt, provider, repeat or 0, bool(passed), error, output, verdicts)
        yield row_id, cell, vars_ or {}, expected or [], desc


def case_result(db: Connection, run_id: str, case_id: str) -> CaseResult | None:
    record = db.execute(
        sa.text("SELECT record FROM results WHERE run_id = :run AND case_id = :case"),
        {"run": run_id, "case": case_id},
    ).scalar()
    return None if record is None else load_model(CaseResult, record)


@dataclass(frozen=True)
class HistoryEntry:
    """One row's cells in one run of its suite."""

    run: RunRecord
    cells: list[Cell]


def row_history(db: Connection, suite: str, case_set: str, row_id: str) -> list[HistoryEntry]:
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
