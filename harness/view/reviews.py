"""Human reviews of case results: a person marks a cell good or bad, grades it on the rubric
criteria the run's judge used, and may write the correct answer. Kept in a ``reviews`` table
of the results store itself, so they travel with the runs they judge and survive restarts;
``harness badcases harvest --reviewed`` and ``harness agreement`` read them.

Only :mod:`sqlite3` here: the bad-case harvest imports this module without the web stack.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from harness.jsontext import decode_text

Verdict = Literal["good", "bad"]
VERDICTS: tuple[str, ...] = get_args(Verdict)

#: A review holds a verdict, grades or a correct answer (any of them); ``grades`` is a JSON
#: object, criterion (the graded assertion's name) -> grade.
_TABLE = """
CREATE TABLE IF NOT EXISTS reviews (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    verdict TEXT CHECK (verdict IN ('good', 'bad')),
    correct_answer TEXT,
    reviewer TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    grades TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, case_id),
    CHECK (verdict IS NOT NULL OR grades != '{}' OR correct_answer IS NOT NULL)
)
"""
_COLUMNS = "run_id, case_id, verdict, correct_answer, reviewer, reviewed_at, grades"


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


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection to the results store at ``path`` with the reviews table in place (a
    table from before grades is migrated, once, in place)."""
    db = sqlite3.connect(path, timeout=10)
    db.text_factory = decode_text
    db.execute(_TABLE)
    db.commit()
    if "grades" not in _columns(db):
        _migrate(db)
    return db


def _columns(db: sqlite3.Connection) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA table_info(reviews)")}


def _migrate(db: sqlite3.Connection) -> None:
    """Rebuild a reviews table of the first schema (verdict required, no grades) as today's,
    keeping every review; SQLite cannot drop a NOT NULL in place, hence the copy. Another
    process may be doing the same: the write lock is taken first and the schema read again."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if "grades" not in _columns(db):
            db.execute("ALTER TABLE reviews RENAME TO reviews_v1")
            db.execute(_TABLE)
            old = "run_id, case_id, verdict, correct_answer, reviewer, reviewed_at"
            db.execute(f"INSERT INTO reviews ({old}) SELECT {old} FROM reviews_v1")
            db.execute("DROP TABLE reviews_v1")
        db.commit()
    except BaseException:
        db.rollback()
        raise


def save_review(db: sqlite3.Connection, review: Review) -> None:
    with db:
        db.execute(
            f"INSERT OR REPLACE INTO reviews ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                review.run_id,
                review.case_id,
                review.verdict,
                review.correct_answer,
                review.reviewer,
                review.reviewed_at.isoformat(timespec="seconds"),
                json.dumps(review.grades, ensure_ascii=False, sort_keys=True),
            ),
        )


def clear_review(db: sqlite3.Connection, run_id: str, case_id: str) -> None:
    with db:
        db.execute("DELETE FROM reviews WHERE run_id = ? AND case_id = ?", (run_id, case_id))


def reviews_of(
    db: sqlite3.Connection,
    run_id: str,
    case_ids: Sequence[str] | None = None,
    verdict: Verdict | None = None,
) -> dict[str, Review]:
    """The reviews of a run by case id: all, or those of ``case_ids``, or with ``verdict``."""
    sql = f"SELECT {_COLUMNS} FROM reviews WHERE run_id = ?"
    args: list[str] = [run_id]
    if verdict is not None:
        sql, args = sql + " AND verdict = ?", [*args, verdict]
    if case_ids is not None:
        sql += f" AND case_id IN ({', '.join('?' * len(case_ids))})"
        args += case_ids
    with closing(db.execute(sql, args)) as rows:
        return {
            case_id: Review(
                run, case_id, v, who, datetime.fromisoformat(when), answer, json.loads(grades)
            )
            for run, case_id, v, answer, who, when, grades in rows
        }


def marked_bad(store_path: str | Path, run_id: str) -> dict[str, Review]:
    """The cases of run ``run_id`` a person marked bad, by case id."""
    with closing(connect(store_path)) as db:
        return reviews_of(db, run_id, verdict="bad")
