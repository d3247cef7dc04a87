"""Human reviews of case results: a person marks a cell good or bad, grades it on the rubric
criteria the run's judge used, and may write the correct answer. Kept in a ``reviews`` table
of the results store itself, so they travel with the runs they judge and survive restarts;
``harness badcases harvest --reviewed`` and ``harness agreement`` read them.

The same table on SQLite and PostgreSQL (ids compared byte-wise there, as the store's);
no web stack here: the bad-case harvest imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from harness.results.store import ResultStore

Verdict = Literal["good", "bad"]
VERDICTS: tuple[str, ...] = get_args(Verdict)

#: A review holds a verdict, grades or a correct answer (any of them); ``grades`` is a JSON
#: object, criterion (the graded assertion's name) -> grade.
_TABLE = """
CREATE TABLE IF NOT EXISTS reviews (
    run_id TEXT {key} NOT NULL,
    case_id TEXT {key} NOT NULL,
    verdict TEXT CHECK (verdict IN ('good', 'bad')),
    correct_answer TEXT,
    reviewer TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    grades TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (run_id, case_id),
    CHECK (verdict IS NOT NULL OR grades != '{{}}' OR correct_answer IS NOT NULL)
)
"""
_COLUMNS = "run_id, case_id, verdict, correct_answer, reviewer, reviewed_at, grades"
_SAVE = sa.text(
    f"INSERT INTO reviews ({_COLUMNS}) VALUES (:run_id, :case_id, :verdict, :correct_answer, "
    ":reviewer, :reviewed_at, :grades) ON CONFLICT (run_id, case_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[2:])
)


@dataclass(frozen=True)
class Review:
    """One person's review of one case result (the latest replaces an earlier one)."""

    run_id: str
    case_id: str
    #: None when the reviewer only graded criteria (or only wrote the answer).
    verdict: Verdict | None
    reviewer: str
    reviewed_at: datetime
    #: What the output should have been; None when the reviewer wrote none.
    correct_answer: str | None = None
    #: The reviewer's grade on each rubric criterion graded, by criterion name.
    grades: dict[str, int] = field(default_factory=dict)


def prepare_reviews(db: Connection) -> None:
    """Add the reviews table to the store (a SQLite table from before grades is migrated,
    once, in place); the caller commits."""
    postgres = db.dialect.name == "postgresql"
    db.exec_driver_sql(_TABLE.format(key='COLLATE "C"' if postgres else ""))
    if not postgres and "grades" not in _columns(db):
        _migrate(db)


def _columns(db: Connection) -> set[str]:
    return {row[1] for row in db.exec_driver_sql("PRAGMA table_info(reviews)")}


def _migrate(db: Connection) -> None:
    """Rebuild a SQLite reviews table of the first schema (verdict required, no grades) as
    today's, keeping every review; SQLite cannot drop a NOT NULL in place, hence the copy.
    Another process may be doing the same: the write lock is taken first and the schema
    read again."""
    db.commit()
    db.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        if "grades" not in _columns(db):
            db.exec_driver_sql("ALTER TABLE reviews RENAME TO reviews_v1")
            db.exec_driver_sql(_TABLE.format(key=""))
            old = "run_id, case_id, verdict, correct_answer, reviewer, reviewed_at"
            db.exec_driver_sql(f"INSERT INTO reviews ({old}) SELECT {old} FROM reviews_v1")
            db.exec_driver_sql("DROP TABLE reviews_v1")
        db.commit()
    except BaseException:
        db.rollback()
        raise


def save_review(db: Connection, review: Review) -> None:
    db.execute(
        _SAVE,
        {
            "run_id": review.run_id,
            "case_id": review.case_id,
            "verdict": review.verdict,
            "correct_answer": review.correct_answer,
            "reviewer": review.reviewer,
            "reviewed_at": review.reviewed_at.isoformat(timespec="seconds"),
            "grades": json.dumps(review.grades, ensure_ascii=False, sort_keys=True),
        },
    )
    db.commit()


def clear_review(db: Connection, run_id: str, case_id: str) -> None:
    db.execute(
        sa.text("DELETE FROM reviews WHERE run_id = :run AND case_id = :case"),
        {"run": run_id, "case": case_id},
    )
    db.commit()


def reviews_of(
    db: Connection,
    run_id: str,
    case_ids: Sequence[str] | None = None,
    verdict: Verdict | None = None,
) -> dict[str, Review]:
    """The reviews of a run by case id: all, or those of ``case_ids``, or with ``verdict``."""
    query = f"SELECT {_COLUMNS} FROM reviews WHERE run_id = :run"
    args: dict[str, object] = {"run": run_id}
    if verdict is not None:
        query, args["verdict"] = query + " AND verdict = :verdict", verdict
    if case_ids is not None:
        if not case_ids:
            return {}
        query, args["cases"] = query + " AND case_id IN :cases", list(case_ids)
    statement = sa.text(query)
    if case_ids is not None:
        statement = statement.bindparams(sa.bindparam("cases", expanding=True))
    return {
        case_id: Review(
            run, case_id, v, who, datetime.fromisoformat(when), answer, json.loads(grades)
        )
        for run, case_id, v, answer, who, when, grades in db.execute(statement, args)
    }


def marked_bad(store: ResultStore, run_id: str) -> dict[str, Review]:
    """The cases of run ``run_id`` a person marked bad, by case id."""
    with store.engine.connect() as db:
        prepare_reviews(db)
        db.commit()
        return reviews_of(db, run_id, verdict="bad")
