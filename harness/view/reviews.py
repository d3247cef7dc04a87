"""Human reviews of case results: a person marks a cell good or bad and may write the correct
answer. Kept in a ``reviews`` table of the results store itself, so they travel with the runs
they judge and survive restarts; ``harness badcases harvest --reviewed`` reads them.

Only :mod:`sqlite3` here: the bad-case harvest imports this module without the web stack.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from harness.jsontext import decode_text

Verdict = Literal["good", "bad"]
VERDICTS: tuple[str, ...] = get_args(Verdict)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('good', 'bad')),
    correct_answer TEXT,
    reviewer TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id)
);
"""


@dataclass(frozen=True)
class Review:
    """One person's verdict on one case result (the latest replaces an earlier one)."""

    run_id: str
    case_id: str
    verdict: Verdict
    reviewer: str
    reviewed_at: datetime
    #: What the output should have been; None when the reviewer wrote none.
    correct_answer: str | None = None


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection to the results store at ``path`` with the reviews table in place."""
    db = sqlite3.connect(path, timeout=10)
    db.text_factory = decode_text
    db.executescript(_SCHEMA)
    return db


def save_review(db: sqlite3.Connection, review: Review) -> None:
    with db:
        db.execute(
            "INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?, ?)",
            (
                review.run_id,
                review.case_id,
                review.verdict,
                review.correct_answer,
                review.reviewer,
                review.reviewed_at.isoformat(timespec="seconds"),
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
    sql = "SELECT run_id, case_id, verdict, reviewer, reviewed_at, correct_answer FROM reviews "
    sql += "WHERE run_id = ?"
    args: list[str] = [run_id]
    if verdict is not None:
        sql, args = sql + " AND verdict = ?", [*args, verdict]
    if case_ids is not None:
        sql += f" AND case_id IN ({', '.join('?' * len(case_ids))})"
        args += case_ids
    with closing(db.execute(sql, args)) as rows:
        return {
            case_id: Review(run, case_id, v, who, datetime.fromisoformat(when), answer)
            for run, case_id, v, who, when, answer in rows
        }


def marked_bad(store_path: str | Path, run_id: str) -> dict[str, Review]:
    """The cases of run ``run_id`` a person marked bad, by case id."""
    with closing(connect(store_path)) as db:
        return reviews_of(db, run_id, verdict="bad")
