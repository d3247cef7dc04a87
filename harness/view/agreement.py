"""``judge_agreement`` with people's reviews as the human side.

For each graded assertion of a run (a rubric criterion, or any assertion named): a person's
good / bad against the assertion's pass / fail, and a person's grade on the criterion
against the judge's grade, over the cases that have both. The statistics are the
``judge_agreement`` analysis' own (:func:`harness.analysis.agreement.agreement`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harness.analysis.agreement import agreement
from harness.analysis.base import AnalysisResult
from harness.errors import HarnessError
from harness.results.db import JsonFields
from harness.view import criteria
from harness.view.reviews import Review, reviews_of


def review_agreement(
    db: Connection,
    run_id: str,
    *,
    scorers: Sequence[str] = (),
    weights: Literal["linear", "quadratic"] | None = None,
    min_kappa: float | None = None,
) -> list[AnalysisResult]:
    """The agreement of the run's reviews with its assertions ``scorers`` (default: every
    rubric criterion of the run), verdicts first, then grades; ``weights`` for the grades'
    kappa. HarnessError says what is missing when nothing can be compared."""
    reviews = reviews_of(db, run_id)
    if not reviews:
        raise HarnessError(f"no case of run {run_id} is reviewed: review cases in `harness view`")
    names = list(scorers) or [c.name for c in criteria.run_criteria(db, run_id)]
    if not names:
        raise HarnessError(
            f"run {run_id} has no graded (judge) assertion: name the assertion whose pass/fail "
            "to compare with the reviews (--scorer NAME)"
        )
    scores = dict(_scores(db, run_id, list(reviews)))
    found = []
    for name in names:
        verdicts, grades = _pairs(reviews, scores, name)
        for mode, pairs in (("verdict", verdicts), ("grade", grades)):
            if not pairs:
                continue
            human, judged = zip(*pairs, strict=True)
            what = "good/bad vs pass/fail" if mode == "verdict" else "grades"
            result = agreement(
                f"{name}.{mode}",
                human,
                judged,
                weights=weights if mode == "grade" else None,
                min_kappa=min_kappa,
                title=f"Judge agreement with reviews: {name}, {what}",
                who="reviewed",
            )
            if mode == "verdict":  # the matrix in words: 0 and 1 are bad/good, fail/pass
                (matrix,) = result.charts
                matrix.row_labels = [("bad", "good")[int(x)] for x in matrix.row_labels]
                matrix.col_labels = [("fail", "pass")[int(x)] for x in matrix.col_labels]
            found.append(result)
    if not found:
        raise HarnessError(
            f"no reviewed case of run {run_id} has a verdict or a grade and a score of "
            f"{', '.join(map(repr, names))}: mark cases good/bad or grade them in `harness view`"
        )
    return found


def _pairs(
    reviews: dict[str, Review], scores: dict[str, list[dict[str, Any]]], name: str
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(human, judged) of each reviewed case with a usable ``name`` score: verdicts (good 1,
    bad 0 vs passed) and grades (the reviewer's vs the judge's)."""
    verdicts, grades = [], []
    for case_id, review in reviews.items():
        score = next(
            (s for s in scores.get(case_id, []) if (s.get("name") or s["scorer"]) == name), None
        )
        if score is None or score.get("error") is not None:
            continue
        if review.verdict is not None and score.get("passed") is not None:
            verdicts.append((int(review.verdict == "good"), int(score["passed"])))
        grade = (score.get("metadata") or {}).get("grade")
        if name in review.grades and grade is not None:
            grades.append((review.grades[name], int(grade)))
    return verdicts, grades


def _scores(
    db: Connection, run_id: str, case_ids: list[str]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The scores of these cases, 500 at a time."""
    fields = JsonFields(db.dialect.name, "record", ["$.scores"])
    query = sa.text(
        f"SELECT case_id, {fields.sql} FROM results WHERE run_id = :run AND case_id IN :cases"
    ).bindparams(sa.bindparam("cases", expanding=True))
    for i in range(0, len(case_ids), 500):
        args = {**fields.params, "run": run_id, "cases": case_ids[i : i + 500]}
        for case_id, extracted, whole in db.execute(query, args):
            (scores,) = fields.values(extracted, whole)
            yield case_id, scores or []
