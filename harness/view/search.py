"""Full-text search over a run's outputs, inputs and expected answers (SQLite FTS5).

The index is a ``view_search`` FTS5 table in the results store, one document per result
(its rowid the result's), built for a run the first time someone searches it and brought
up to date on a later search once the run changed: the results added since are indexed,
those replaced since (:mod:`harness.view.changes`) indexed again. The trigram tokenizer
matches any part of a word, in any script (Chinese has no spaces between words), ignoring
case.

A query is words and "quoted phrases", all of which must appear, as typed (quotes inside a
word, as in ``onerror="x"``, are part of it). A term of three characters
or more is looked up in the index; a shorter one (``42``, ``北京``) is matched with LIKE
among the documents the longer terms found, or, alone, by reading the run's documents.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from harness.view.changes import replaced, run_key

#: What a search may look in: the columns of the index.
FIELDS = ("all", "output", "input", "expected")
MAX_QUERY = 200

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS view_search USING fts5(
    output, input, expected, run_id UNINDEXED, tokenize = 'trigram'
);
CREATE TABLE IF NOT EXISTS view_search_runs (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    n_documents INTEGER NOT NULL,
    last_rowid INTEGER,
    last_change INTEGER
);
"""

#: A result as a document: its output (or the error of a failed call), its vars' values and
#: its expected answers, one per line.
_DOCUMENTS = """
INSERT INTO view_search (rowid, output, input, expected, run_id)
SELECT rowid,
       coalesce(json_extract(record, '$.output'), json_extract(record, '$.error')),
       (SELECT group_concat(value, char(10)) FROM json_each(record, '$.vars')),
       (SELECT group_concat(value, char(10)) FROM json_each(record, '$.expected')),
       run_id
FROM results WHERE run_id = ?
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

    def select(self, run_id: str) -> tuple[str, dict[str, Any]]:
        """The SELECT of the matching documents' rowids (of any run, or of run ``run_id``:
        the caller keeps to the run) and its parameters."""
        columns = ["output", "input", "expected"] if self.field == "all" else [self.field]
        where, args = [], {}
        if self.indexed:
            phrases = " AND ".join('"' + t.replace('"', '""') + '"' for t in self.indexed)
            scope = "" if self.field == "all" else f"{self.field} : "
            where.append("view_search MATCH :search_match")
            args["search_match"] = f"{scope}({phrases})"
        else:
            # no term the index can find: read the run's documents (with one, the caller keeps
            # to the run: checking run_id on every match would read each one's text)
            where.append("run_id = :search_run")
            args["search_run"] = run_id
        for i, term in enumerate(self.short):
            like = " OR ".join(f"{c} LIKE :search_like{i} ESCAPE '\\'" for c in columns)
            where.append(f"({like})")
            args[f"search_like{i}"] = "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"
        return f"SELECT rowid FROM view_search WHERE {' AND '.join(where)}", args


#: The condition on ``results`` that keeps the results :func:`find` found.
FOUND = "rowid IN (SELECT id FROM temp.view_found)"


def find(db: sqlite3.Connection, run_id: str, query: Search) -> str:
    """Look the query up once, into this connection's temporary table ``view_found``, so
    that the grid's count, its page and its matching cells all read the result (a word in
    every output of a 100k-case run is 100k documents to read once, not three times);
    returns the condition on ``results`` that keeps them (:data:`FOUND`)."""
    sql, args = query.select(run_id)
    db.execute("CREATE TEMP TABLE IF NOT EXISTS view_found (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM temp.view_found")
    db.execute(f"INSERT INTO temp.view_found {sql}", args)
    db.commit()
    return FOUND


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


def prepare(db: sqlite3.Connection) -> None:
    """Create the (empty) index tables; nothing is indexed until a run is searched."""
    db.executescript(_SCHEMA)


def ensure_index(db: sqlite3.Connection, run_id: str) -> None:
    """Bring the run's documents up to date with its results: index again those replaced
    since the last search, then those added, :data:`STEP` results a transaction, so that a
    run being written meanwhile waits a moment, never the whole build (a 100k-case run takes
    ~15 s); a run whose documents no longer add up (results deleted) is indexed anew. Each
    step takes the write lock and reads where the index stands, so two searches index once."""
    while not _indexed(db, run_id, str(run_key(db, run_id))):
        db.execute("BEGIN IMMEDIATE")
        try:
            _step(db, run_id)
            db.commit()
        except BaseException:
            db.rollback()
            raise


#: Results indexed in one transaction.
STEP = 5000


def _indexed(db: sqlite3.Connection, run_id: str, key: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM view_search_runs WHERE run_id = ? AND run_key = ?", (run_id, key)
    ).fetchone()
    return row is not None


def _step(db: sqlite3.Connection, run_id: str) -> None:
    """One step of :func:`ensure_index`, under the write lock: the documents of replaced
    results, or the next results added, or the check that the documents add up."""
    key = run_key(db, run_id)
    done = db.execute(
        "SELECT n_documents, last_rowid, last_change FROM view_search_runs WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    n, last_rowid, last_change = done if done is not None else (0, 0, None)
    if last_change != key.last_change:
        again = [r for r in replaced(db, run_id, last_change) if r <= (last_rowid or 0)]
        for i in range(0, len(again), 500):
            chunk = again[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            db.execute(f"DELETE FROM view_search WHERE rowid IN ({marks})", chunk)
            db.execute(f"{_DOCUMENTS} AND rowid IN ({marks})", (run_id, *chunk))
        last_change = key.last_change
    else:
        (upto,) = db.execute(
            "SELECT max(rowid) FROM (SELECT rowid FROM results WHERE run_id = ? AND rowid > ? "
            "ORDER BY rowid LIMIT ?)",
            (run_id, last_rowid or 0, STEP),
        ).fetchone()
        if upto is not None:
            sql = f"{_DOCUMENTS} AND rowid > ? AND rowid <= ?"
            n += db.execute(sql, (run_id, last_rowid or 0, upto)).rowcount
            last_rowid = upto
        elif (n, last_rowid or 0) != (key.count, key.last_rowid or 0):
            # nothing left to add, yet the documents do not add up (results deleted): again
            db.execute("DELETE FROM view_search WHERE run_id = ?", (run_id,))
            n, last_rowid = 0, 0
    at = (n, last_rowid or 0, last_change)
    caught_up = at == (key.count, key.last_rowid or 0, key.last_change)
    db.execute(
        "INSERT OR REPLACE INTO view_search_runs VALUES (?, ?, ?, ?, ?)",
        (run_id, str(key) if caught_up else "", n, last_rowid, last_change),
    )
