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
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harness.view.changes import is_postgres, run_key

_CACHE = """
CREATE TABLE IF NOT EXISTS view_run_criteria (
    run_id TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    criteria TEXT NOT NULL
)
"""

#: The first score of each graded assertion (one whose metadata has a scale), in the order
#: the run first scored them: SQLite takes a bare column's values from the row of min().
_FOUND = sa.text("""
SELECT coalesce(json_extract(s.value, '$.name'), json_extract(s.value, '$.scorer')) AS name,
       json_extract(s.value, '$.version'), json_extract(s.value, '$.metadata.rubric'),
       json_extract(s.value, '$.metadata.scale[0]'), json_extract(s.value, '$.metadata.scale[1]'),
       json_extract(s.value, '$.metadata.pass_grade')
FROM results, json_each(results.record, '$.scores') AS s
WHERE results.run_id = :run AND json_type(s.value, '$.metadata.scale') = 'array'
GROUP BY name ORDER BY min(results.rowid)
""")
#: PostgreSQL has no rowid: the first score by case id, then by place among the scores.
_FOUND_PG = sa.text("""
SELECT * FROM (
    SELECT DISTINCT ON (name) name, CAST(s AS text) AS score, case_id, i
    FROM (SELECT coalesce(s ->> 'name', s ->> 'scorer') AS name, s, case_id, i
          FROM results,
               json_array_elements(view_json(record) -> 'scores') WITH ORDINALITY AS e(s, i)
          WHERE run_id = :run AND json_typeof(s -> 'metadata' -> 'scale') = 'array') AS graded
    ORDER BY name, case_id, i
) AS first ORDER BY case_id, i
""")
_SAVE = sa.text(
    "INSERT INTO view_run_criteria VALUES (:run, :key, :criteria) ON CONFLICT (run_id) "
    "DO UPDATE SET run_key = excluded.run_key, criteria = excluded.criteria"
)

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


def prepare(db: Connection) -> None:
    db.exec_driver_sql(_CACHE)


def run_criteria(db: Connection, run_id: str) -> list[Criterion]:
    """The criteria of the run, in the order the run first scored them."""
    key = run_key(db, run_id)
    cached = db.execute(
        sa.text("SELECT criteria FROM view_run_criteria WHERE run_id = :run AND run_key = :key"),
        {"run": run_id, "key": str(key)},
    ).scalar()
    if cached is not None:
        return [_loaded(c) for c in json.loads(cached)]
    found = [_criterion(*row) for row in _first_scores(db, run_id)]
    criteria = json.dumps([asdict(c) for c in found], ensure_ascii=False)
    db.execute(_SAVE, {"run": run_id, "key": str(key), "criteria": criteria})
    db.commit()
    return found


def _first_scores(db: Connection, run_id: str) -> list[tuple[Any, ...]]:
    """(name, version, rubric, low, high, pass grade) of each graded assertion's first score."""
    if not is_postgres(db):
        return [tuple(row) for row in db.execute(_FOUND, {"run": run_id})]
    found = []
    for name, score, *_ in db.execute(_FOUND_PG, {"run": run_id}):
        s = json.loads(score)
        meta = s["metadata"]
        scale = meta["scale"] + [None, None]
        found.append((name, s.get("version"), meta.get("rubric"), scale[0], scale[1],
                      meta.get("pass_grade")))  # fmt: skip
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
