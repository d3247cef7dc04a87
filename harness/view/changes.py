"""How the view knows that a run's results changed since it cached something about them
(its totals, its rubric criteria, its search index).

A result is added (a new rowid: the run's count and newest rowid change) or replaced in
place (the store's upsert keeps the rowid: a resumed run retrying its errors, a shard
writing a case again). Replacements are caught by a trigger the view adds to the store:
each one appends the result's rowid to ``view_changes``. Inserts, a run's every write, fire
nothing, so the runner pays nothing for it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS view_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    result_rowid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS view_changes_run ON view_changes (run_id, seq);
CREATE TRIGGER IF NOT EXISTS view_result_replaced AFTER UPDATE ON results
BEGIN
    INSERT INTO view_changes (run_id, result_rowid) VALUES (new.run_id, new.rowid);
END;
"""


@dataclass(frozen=True)
class RunKey:
    """A run's results as of one moment: any addition or replacement makes a new key."""

    count: int
    last_rowid: int | None
    #: The newest ``view_changes`` entry of the run (None: none replaced yet).
    last_change: int | None

    def __str__(self) -> str:
        return f"{self.count}:{self.last_rowid}:{self.last_change}"


def prepare(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def run_key(db: sqlite3.Connection, run_id: str) -> RunKey:
    count, last = db.execute(
        "SELECT count(*), max(rowid) FROM results WHERE run_id = ?", (run_id,)
    ).fetchone()
    (change,) = db.execute(
        "SELECT max(seq) FROM view_changes WHERE run_id = ?", (run_id,)
    ).fetchone()
    return RunKey(count, last, change)


def replaced(db: sqlite3.Connection, run_id: str, since: int | None) -> list[int]:
    """The rowids of the run's results replaced after change ``since`` (None: ever)."""
    rows = db.execute(
        "SELECT DISTINCT result_rowid FROM view_changes WHERE run_id = ? AND seq > ?",
        (run_id, since or 0),
    )
    return [r[0] for r in rows]
