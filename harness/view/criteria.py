"""The rubric criteria a run's judge graded: what a reviewer can grade a case on.

A criterion is an assertion whose scores carry a grade on a scale (the ``judge`` scorer's
``metadata``: ``grade``, ``scale: [low, high]``, ``pass_grade``, ``rubric``), known by the
assertion's name, as ``judge_agreement`` knows it. A shipped rubric also lends its grade
labels and its question (when the stored fingerprint says the rubric is unchanged).
Finding them reads every score of the run, so the answer is kept per run, in
``view_run_criteria``, until the run's results change (its
:class:`~harness.view.changes.RunKey`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.view.changes import run_key

_CACHE = """
CREATE TABLE IF NOT EXISTS view_run_criteria (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    criteria TEXT NOT NULL
)
"""

_FOUND = """
SELECT coalesce(json_extract(s.value, '$.name'), json_extract(s.value, '$.scorer')) AS name,
       json_extract(s.value, '$.version'), json_extract(s.value, '$.metadata.rubric'),
       json_extract(s.value, '$.metadata.scale[0]'), json_extract(s.value, '$.metadata.scale[1]'),
       json_extract(s.value, '$.metadata.pass_grade')
FROM results, json_each(results.record, '$.scores') AS s
WHERE results.run_id = ? AND json_type(s.value, '$.metadata.scale') = 'array'
GROUP BY name ORDER BY min(results.rowid)
"""

#: The judge's version string names its rubric: ``judge@1 rubric=accuracy/en#1a2b3c4d5e``.
_RUBRIC = re.compile(r"rubric=([^/\s]+)/(\w+)#(\w+)")


@dataclass(frozen=True)
class Criterion:
    """One graded assertion of a run and the grades a reviewer may give on it."""

    name: str
    rubric: str | None
    grades: tuple[int, ...]
    pass_grade: int | None = None
    #: grade -> its label ("mostly right"), from a shipped rubric.
    labels: dict[int, str] = field(default_factory=dict)
    #: What the rubric asks, from a shipped rubric.
    question: str | None = None

    def grade(self, raw: str) -> int:
        """A grade as posted, checked against the scale; ValueError says what was wrong."""
        if raw.lstrip("-").isdigit() and int(raw) in self.grades:
            return int(raw)
        scale = f"{self.grades[0]} to {self.grades[-1]}"
        raise ValueError(f"`grade.{self.name}`: expected a grade from {scale}, got {raw!r}")


def prepare(db: sqlite3.Connection) -> None:
    db.execute(_CACHE)


def run_criteria(db: sqlite3.Connection, run_id: str) -> list[Criterion]:
    """The criteria of the run, in the order the run first scored them."""
    key = run_key(db, run_id)
    cached = db.execute(
        "SELECT criteria FROM view_run_criteria WHERE run_id = ? AND run_key = ?",
        (run_id, str(key)),
    ).fetchone()
    if cached is not None:
        return [_loaded(c) for c in json.loads(cached[0])]
    found = [_criterion(*row) for row in db.execute(_FOUND, (run_id,))]
    with db:
        db.execute(
            "INSERT OR REPLACE INTO view_run_criteria VALUES (?, ?, ?)",
            (run_id, str(key), json.dumps([asdict(c) for c in found], ensure_ascii=False)),
        )
    return found


def _criterion(
    name: str, version: str | None, rubric: str | None, low: Any, high: Any, pass_grade: Any
) -> Criterion:
    grades = tuple(range(int(low), int(high) + 1))
    shipped = _shipped(version or "")
    if shipped is not None:
        return Criterion(
            name,
            rubric,
            tuple(g.grade for g in shipped.scale),
            pass_grade,
            {g.grade: g.label for g in shipped.scale if g.label},
            shipped.criteria,
        )
    return Criterion(name, rubric, grades, pass_grade)


def _shipped(version: str) -> Any:
    """The shipped rubric a judge's version string names, if it is unchanged since."""
    from harness.scorers.judge_rubric import SHIPPED, load_rubric

    found = _RUBRIC.search(version)
    if found is None or found[1] not in SHIPPED or found[2] not in ("en", "zh"):
        return None
    rubric = load_rubric(found[1], found[2])  # type: ignore[arg-type]
    return rubric if rubric.fingerprint == found[3] else None


def _loaded(data: dict[str, Any]) -> Criterion:
    labels = {int(k): v for k, v in data.pop("labels").items()}
    return Criterion(**(data | {"grades": tuple(data["grades"]), "labels": labels}))
