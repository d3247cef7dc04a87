"""Full-text search over a run's outputs, inputs and expected answers.

The index is a ``view_search`` table in the results store, one document per result, built
for a run the first time someone searches it and brought up to date on a later search once
the run changed (:mod:`harness.view.changes`). On SQLite it is an FTS5 table (its rowid the
result's) whose trigram tokenizer matches any part of a word, in any script (Chinese has no
spaces between words), ignoring case: the results added since are indexed, those replaced
since indexed again. On PostgreSQL it is a plain table with ``pg_trgm`` GIN indexes (when the
extension can be created; else ILIKE reads the run's documents), searched with ILIKE.

A query is words and "quoted phrases", all of which must appear, as typed (quotes inside a
word, as in ``onerror="x"``, are part of it). On SQLite a term of three characters or more
is looked up in the index; a shorter one (``42``, ``北京``) is matched with LIKE among the
documents the longer terms found, or, alone, by reading the run's documents. PostgreSQL's
planner makes the same choice for each ILIKE itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harness.view.changes import is_postgres, replaced, run_ddl, run_key, written

#: What a search may look in: the columns of the index.
FIELDS = ("all", "output", "input", "expected")
MAX_QUERY = 200

_RUNS = """CREATE TABLE IF NOT EXISTS view_search_runs (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    n_documents INTEGER NOT NULL,
    last_rowid INTEGER,
    last_change BIGINT
)"""
_SQLITE = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS view_search USING fts5(
        output, input, expected, run_id UNINDEXED, tokenize = 'trigram'
    )""",
    _RUNS,
]
_POSTGRES = [
    """CREATE TABLE IF NOT EXISTS view_search (
        run_id TEXT COLLATE "C" NOT NULL,
        case_id TEXT COLLATE "C" NOT NULL,
        output TEXT,
        input TEXT,
        expected TEXT,
        PRIMARY KEY (run_id, case_id)
    )""",
    _RUNS,
]
_TRIGRAMS = [
    f"CREATE INDEX IF NOT EXISTS view_search_{c} ON view_search USING gin ({c} gin_trgm_ops)"
    for c in ("output", "input", "expected")
]

#: A result as a document: its output (or the error of a failed call), its vars' values and
#: its expected answers, one per line.
_DOCUMENTS = """
INSERT INTO view_search (rowid, output, input, expected, run_id)
SELECT rowid,
       coalesce(json_extract(record, '$.output'), json_extract(record, '$.error')),
       (SELECT group_concat(value, char(10)) FROM json_each(record, '$.vars')),
       (SELECT group_concat(value, char(10)) FROM json_each(record, '$.expected')),
       run_id
FROM results WHERE run_id = :run
"""
_DOCUMENTS_PG = """
INSERT INTO view_search (run_id, case_id, output, input, expected)
SELECT run_id, case_id, coalesce(j ->> 'output', j ->> 'error'),
       (SELECT string_agg(v, chr(10)) FROM json_each_text(
            CASE WHEN json_typeof(j -> 'vars') = 'object' THEN j -> 'vars' END) AS e(k, v)),
       (SELECT string_agg(v, chr(10)) FROM json_array_elements_text(
            CASE WHEN json_typeof(j -> 'expected') = 'array' THEN j -> 'expected' END) AS v)
FROM (SELECT run_id, case_id, view_json(record) AS j FROM results WHERE run_id = :run) AS r
"""

_TERMS = re.compile(r'"([^"]*)"|(\S+)')
#: Trigrams: a shorter term cannot be found in the index.
_INDEXED = 3


class SearchError(ValueError):
    """A query the search cannot run; the message says why."""


@dataclass(frozen=True)
class Search:
    """A parsed query: the terms looked up in the index, those matched with LIKE, and the
    field searched."""

    indexed: tuple[str, ...]
    short: tuple[str, ...]
    field: str = "all"

    def select(self, db: Connection, run_id: str) -> tuple[str, dict[str, Any]]:
        """The SELECT of the matching documents' ids (SQLite: rowids, of any run or of run
        ``run_id``: the caller keeps to the run; PostgreSQL: case ids of run ``run_id``) and
        its parameters."""
        columns = ["output", "input", "expected"] if self.field == "all" else [self.field]
        where, args = [], {}
        liked = self.short
        if is_postgres(db):
            where.append("run_id = :search_run")
            args["search_run"], liked = run_id, self.indexed + self.short
        elif self.indexed:
            phrases = " AND ".join('"' + t.replace('"', '""') + '"' for t in self.indexed)
            scope = "" if self.field == "all" else f"{self.field} : "
            where.append("view_search MATCH :search_match")
            args["search_match"] = f"{scope}({phrases})"
        else:
            # no term the index can find: read the run's documents (with one, the caller keeps
            # to the run: checking run_id on every match would read each one's text)
            where.append("run_id = :search_run")
            args["search_run"] = run_id
        like = "ILIKE" if is_postgres(db) else "LIKE"
        for i, term in enumerate(liked):
            either = " OR ".join(f"{c} {like} :search_like{i} ESCAPE '\\'" for c in columns)
            where.append(f"({either})")
            args[f"search_like{i}"] = "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"
        document = "case_id" if is_postgres(db) else "rowid"
        return f"SELECT {document} FROM view_search WHERE {' AND '.join(where)}", args


#: The condition on ``results`` that keeps the results :func:`find` found.
FOUND = {
    "sqlite": "rowid IN (SELECT id FROM temp.view_found)",
    "postgresql": "case_id IN (SELECT id FROM view_found)",
}
_FOUND_TABLE = {
    "sqlite": "CREATE TEMP TABLE IF NOT EXISTS view_found (id INTEGER PRIMARY KEY)",
    "postgresql": 'CREATE TEMP TABLE IF NOT EXISTS view_found (id TEXT COLLATE "C" PRIMARY KEY)',
}


def find(db: Connection, run_id: str, query: Search) -> str:
    """Look the query up once, into this connection's temporary table ``view_found``, so
    that the grid's count, its page and its matching cells all read the result (a word in
    every output of a 100k-case run is 100k documents to read once, not three times);
    returns the condition on ``results`` that keeps them (:data:`FOUND`)."""
    select, args = query.select(db, run_id)
    db.exec_driver_sql(_FOUND_TABLE[db.dialect.name])
    db.exec_driver_sql("DELETE FROM view_found")
    db.execute(sa.text(f"INSERT INTO view_found {select}"), args)
    db.commit()
    return FOUND[db.dialect.name]


def found(db: Connection, run_id: str, case_ids: Sequence[str]) -> set[str]:
    """Which of these cases the search (:func:`find`) found."""
    if not case_ids:
        return set()
    query = sa.text(
        "SELECT case_id FROM results WHERE run_id = :run AND case_id IN :cases "
        f"AND {FOUND[db.dialect.name]}"
    ).bindparams(sa.bindparam("cases", expanding=True))
    return set(db.execute(query, {"run": run_id, "cases": list(case_ids)}).scalars())


def parse(text: str, field: str = "all") -> Search | None:
    """The search for a query as typed; None for an empty one. SearchError when it is too
    long or names an unknown field."""
    if field not in FIELDS:
        raise SearchError(f"`in`: expected one of {', '.join(FIELDS)}; got {field!r}")
    if len(text) > MAX_QUERY:
        raise SearchError(f"`q`: expected at most {MAX_QUERY} characters, got {len(text)}")
    # a word keeps the quotes inside it (onerror="x"); one opening a phrase never closed goes
    terms = [(phrase or word.removeprefix('"')).strip() for phrase, word in _TERMS.findall(text)]
    terms = [t for t in terms if t]
    if not terms:
        return None
    indexed = tuple(t for t in terms if len(t) >= _INDEXED)
    short = tuple(t for t in terms if len(t) < _INDEXED)
    return Search(indexed, short, field)


def prepare(db: Connection) -> None:
    """Create the (empty) index tables; nothing is indexed until a run is searched. On
    PostgreSQL, ``pg_trgm`` is created when this role may (a trusted extension from
    PostgreSQL 13), else the search reads with ILIKE alone."""
    if not is_postgres(db):
        run_ddl(db, _SQLITE)
        return
    run_ddl(db, _POSTGRES)
    try:
        with db.begin_nested():
            run_ddl(db, ["CREATE EXTENSION IF NOT EXISTS pg_trgm", *_TRIGRAMS])
    except sa.exc.DBAPIError:
        pass  # no pg_trgm here: ILIKE reads every document of the run searched


#: ``pg_advisory_xact_lock`` key: one search at a time indexes a PostgreSQL store.
INDEX_LOCK = 0x68617211
#: Results indexed in one transaction.
STEP = 5000


def ensure_index(db: Connection, run_id: str) -> None:
    """Bring the run's documents up to date with its results: index again those replaced
    since the last search, then those added, :data:`STEP` results a transaction, so that a
    run being written meanwhile waits a moment, never the whole build (a 100k-case run takes
    ~15 s on SQLite); a run whose documents no longer add up (results deleted) is indexed
    anew. Each step takes the write lock (PostgreSQL: :data:`INDEX_LOCK`) and reads where
    the index stands, so two searches index once."""
    postgres = is_postgres(db)
    while not _indexed(db, run_id, str(run_key(db, run_id))):
        db.commit()
        try:
            if postgres:
                db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": INDEX_LOCK})
                _step_postgres(db, run_id)
            else:
                db.exec_driver_sql("BEGIN IMMEDIATE")
                _step(db, run_id)
            db.commit()
        except BaseException:
            db.rollback()
            raise


def _indexed(db: Connection, run_id: str, key: str) -> bool:
    row = db.execute(
        sa.text("SELECT 1 FROM view_search_runs WHERE run_id = :run AND run_key = :key"),
        {"run": run_id, "key": key},
    ).first()
    return row is not None


_STATE = sa.text(
    "SELECT n_documents, last_rowid, last_change FROM view_search_runs WHERE run_id = :run"
)
_SAVE_STATE = sa.text(
    "INSERT INTO view_search_runs VALUES (:run, :key, :n, :last_rowid, :last_change) "
    "ON CONFLICT (run_id) DO UPDATE SET run_key = excluded.run_key, "
    "n_documents = excluded.n_documents, last_rowid = excluded.last_rowid, "
    "last_change = excluded.last_change"
)


def _step(db: Connection, run_id: str) -> None:
    """One step of :func:`ensure_index` on SQLite, under the write lock: the documents of
    replaced results, or the next results added, or the check that the documents add up."""
    key = run_key(db, run_id)
    done = db.execute(_STATE, {"run": run_id}).first()
    n, last_rowid, last_change = done if done is not None else (0, 0, None)
    if last_change != key.last_change:
        again = [r for r in replaced(db, run_id, last_change) if r <= (last_rowid or 0)]
        for i in range(0, len(again), 500):
            chunk = {"run": run_id, "ids": again[i : i + 500]}
            rowids = sa.bindparam("ids", expanding=True)
            db.execute(sa.text("DELETE FROM view_search WHERE rowid IN :ids").bindparams(rowids),
                       chunk)  # fmt: skip
            db.execute(sa.text(f"{_DOCUMENTS} AND rowid IN :ids").bindparams(rowids), chunk)
        last_change = key.last_change
    else:
        upto = db.execute(
            sa.text(
                "SELECT max(rowid) FROM (SELECT rowid FROM results WHERE run_id = :run "
                "AND rowid > :after ORDER BY rowid LIMIT :step)"
            ),
            {"run": run_id, "after": last_rowid or 0, "step": STEP},
        ).scalar()
        if upto is not None:
            sql = sa.text(f"{_DOCUMENTS} AND rowid > :after AND rowid <= :upto")
            n += db.execute(sql, {"run": run_id, "after": last_rowid or 0, "upto": upto}).rowcount
            last_rowid = upto
        elif (n, last_rowid or 0) != (key.count, key.last_rowid or 0):
            # nothing left to add, yet the documents do not add up (results deleted): again
            db.execute(sa.text("DELETE FROM view_search WHERE run_id = :run"), {"run": run_id})
            n, last_rowid = 0, 0
    at = (n, last_rowid or 0, last_change)
    caught_up = at == (key.count, key.last_rowid or 0, key.last_change)
    db.execute(
        _SAVE_STATE,
        {"run": run_id, "key": str(key) if caught_up else "", "n": n, "last_rowid": last_rowid,
         "last_change": last_change},
    )  # fmt: skip


def _step_postgres(db: Connection, run_id: str) -> None:
    """One step of :func:`ensure_index` on PostgreSQL, under :data:`INDEX_LOCK`: the whole
    run's documents (first, or when they no longer add up), else the documents of the next
    :data:`STEP` results written since (the change log holds every write). Readers and the
    run's writers never wait for it."""
    key = run_key(db, run_id)
    done = db.execute(_STATE, {"run": run_id}).first()
    n, _, last = done if done is not None else (None, None, None)
    mine = {"run": run_id}
    if n is not None and (last or 0) != (key.last_change or 0):
        ids, last = written(db, run_id, last, STEP)
        chosen = sa.bindparam("ids", expanding=True)
        n -= db.execute(
            sa.text("DELETE FROM view_search WHERE run_id = :run AND case_id IN :ids")
            .bindparams(chosen), {**mine, "ids": ids},
        ).rowcount  # fmt: skip
        n += db.execute(
            sa.text(_DOCUMENTS_PG.replace(":run)", ":run AND case_id IN :ids)")).bindparams(chosen),
            {**mine, "ids": ids},
        ).rowcount
    elif n is None or n != key.count:
        db.execute(sa.text("DELETE FROM view_search WHERE run_id = :run"), mine)
        n, last = db.execute(sa.text(_DOCUMENTS_PG), mine).rowcount, key.last_change
    caught_up = (n, last or 0) == (key.count, key.last_change or 0)
    db.execute(
        _SAVE_STATE,
        {**mine, "key": str(key) if caught_up else "", "n": n, "last_rowid": None,
         "last_change": last},
    )  # fmt: skip
