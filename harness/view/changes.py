"""How the view knows that a run's results changed since it cached something about them
(its totals, its rubric criteria, its search index).

On SQLite a result is added (a new rowid: the run's count and newest rowid change) or
replaced in place (the store's upsert keeps the rowid: a resumed run retrying its errors, a
shard writing a case again). Replacements are caught by a trigger the view adds to the
store: each one appends the result's rowid to ``view_changes``. Inserts, a run's every
write, fire nothing, so the runner pays nothing for it.

PostgreSQL rows have no stable rowid, so there a statement-level plpgsql trigger appends
every written result (added or replaced) to ``view_changes`` by case id, one insert per
batch the runner commits; the results stored before the trigger are entered when it is
made, so the changes hold every result.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_SQLITE = [
    """CREATE TABLE IF NOT EXISTS view_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        result_rowid INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS view_changes_run ON view_changes (run_id, seq)",
    """CREATE TRIGGER IF NOT EXISTS view_result_replaced AFTER UPDATE ON results
    BEGIN
        INSERT INTO view_changes (run_id, result_rowid) VALUES (new.run_id, new.rowid);
    END""",
]
_POSTGRES = [
    """CREATE TABLE IF NOT EXISTS view_changes (
        seq BIGSERIAL PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL,
        case_id TEXT COLLATE "C" NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS view_changes_run ON view_changes (run_id, seq)",
    """CREATE OR REPLACE FUNCTION view_result_written() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO view_changes (run_id, case_id) SELECT run_id, case_id FROM written;
        RETURN NULL;
    END $$""",
]
#: Made once, with the results already stored entered as changes, while no one writes.
_POSTGRES_TRIGGERS = [
    "LOCK TABLE results IN SHARE ROW EXCLUSIVE MODE",
    "INSERT INTO view_changes (run_id, case_id) SELECT run_id, case_id FROM results "
    "ORDER BY run_id, case_id",
    "CREATE TRIGGER view_result_added AFTER INSERT ON results REFERENCING NEW TABLE AS "
    "written FOR EACH STATEMENT EXECUTE FUNCTION view_result_written()",
    "CREATE TRIGGER view_result_replaced AFTER UPDATE ON results REFERENCING NEW TABLE AS "
    "written FOR EACH STATEMENT EXECUTE FUNCTION view_result_written()",
]
_HAS_TRIGGER = sa.text(
    "SELECT 1 FROM pg_trigger WHERE tgname = 'view_result_added' "
    "AND tgrelid = CAST('results' AS regclass)"
)


def is_postgres(db: Connection) -> bool:
    """Whether ``db`` is on PostgreSQL (else SQLite): where the view's SQL differs."""
    return db.dialect.name == "postgresql"


def run_ddl(db: Connection, statements: list[str]) -> None:
    for statement in statements:
        db.exec_driver_sql(statement)


@dataclass(frozen=True)
class RunKey:
    """A run's results as of one moment: any addition or replacement makes a new key."""

    count: int
    #: SQLite: the run's newest rowid; None on PostgreSQL (``last_change`` covers additions).
    last_rowid: int | None
    #: The newest ``view_changes`` entry of the run (None: none yet).
    last_change: int | None

    def __str__(self) -> str:
        return f"{self.count}:{self.last_rowid}:{self.last_change}"


def prepare(db: Connection) -> None:
    """The change log and its trigger (the caller commits)."""
    if not is_postgres(db):
        run_ddl(db, _SQLITE)
        return
    run_ddl(db, _POSTGRES)
    if db.execute(_HAS_TRIGGER).first() is None:
        run_ddl(db, _POSTGRES_TRIGGERS)


_COUNT = {
    "sqlite": sa.text("SELECT count(*), max(rowid) FROM results WHERE run_id = :run"),
    "postgresql": sa.text("SELECT count(*), NULL FROM results WHERE run_id = :run"),
}
_LAST_CHANGE = sa.text("SELECT max(seq) FROM view_changes WHERE run_id = :run")


def run_key(db: Connection, run_id: str) -> RunKey:
    count, last = db.execute(_COUNT[db.dialect.name], {"run": run_id}).one()
    change = db.execute(_LAST_CHANGE, {"run": run_id}).scalar()
    return RunKey(count, last, change)


def replaced(db: Connection, run_id: str, since: int | None) -> list[int]:
    """SQLite: the rowids of the run's results replaced after change ``since`` (None: ever)."""
    rows = db.execute(
        sa.text(
            "SELECT DISTINCT result_rowid FROM view_changes WHERE run_id = :run AND seq > :since"
        ),
        {"run": run_id, "since": since or 0},
    )
    return [r[0] for r in rows]


def written(db: Connection, run_id: str, since: int | None, limit: int) -> tuple[list[str], int]:
    """PostgreSQL: the case ids of the run's next ``limit`` changes after change ``since``
    (added or replaced), and the last change they reach (``since`` when there are none)."""
    rows = db.execute(
        sa.text(
            "SELECT case_id, seq FROM view_changes WHERE run_id = :run AND seq > :since "
            "ORDER BY seq LIMIT :limit"
        ),
        {"run": run_id, "since": since or 0, "limit": limit},
    ).all()
    return list(dict.fromkeys(r[0] for r in rows)), rows[-1][1] if rows else (since or 0)
