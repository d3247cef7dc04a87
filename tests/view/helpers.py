"""A small results store for the view's tests: two runs of one suite, two prompt versions,
60 rows (two grid pages), hostile outputs, an errored case and a bad-case set; every case
is scored by `exact` and by the judge on the shipped accuracy rubric (named `accuracy`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Connection

from harness.results.models import Score
from harness.results.store import ResultStore
from harness.scorers.judge import JudgeScorer
from harness.view.queries import prepare
from tests.ci.helpers import result, run_record, score

#: Outputs that would run script if a page ever rendered them as HTML.
HOSTILE = {
    "r001": "<script>document.title='pwned'</script>",
    "r002": "<img src=x onerror=\"document.title='pwned'\">",
    "r003": '<a id="evil" href="javascript:document.title=\'pwned\'">click</a>',
}
N_ROWS = 60
#: A store's place: a SQLite file's path, or a database URL (the ``store_url`` fixture's).
Store = TypeVar("Store", str, Path)
_JUDGE = JudgeScorer(rubric="accuracy")


def judge(grade: int) -> Score:
    """The judge's score as the scorer stores it: grade 1-5, passing from 4."""
    rubric = _JUDGE.rubric
    return Score(
        name="accuracy",
        scorer="judge",
        version=_JUDGE.version_string,
        value=rubric.normalise(grade),
        threshold=_JUDGE.default_threshold,
        passed=grade >= 4,
        answer=str(grade),
        explanation=f"graded {grade}",
        metadata={"grade": grade, "scale": [1, 5], "pass_grade": 4, "rubric": "accuracy"},
    )


@contextmanager
def view_db(target: str | os.PathLike[str]) -> Iterator[Connection]:
    """A connection to the store at ``target`` with the view's tables, as the app opens it."""
    store = ResultStore(target)
    try:
        with store.engine.connect() as db:
            prepare(db)
            yield db
    finally:
        store.close()


def build_store(path: Store) -> Store:
    """``run-old`` (v1 passes everywhere) then ``run-new`` (v2 fails every third row), in
    the store at ``path`` (a SQLite file or a database URL)."""
    store = ResultStore(path)
    for run_id, minutes in (("run-old", 0), ("run-new", 60)):
        store.save_run(run_record(run_id, suite="demo", minutes=minutes))
        for i in range(N_ROWS):
            row = f"r{i:03d}"
            for prompt in ("v1", "v2"):
                fails = run_id == "run-new" and prompt == "v2" and i % 3 == 0
                output = HOSTILE.get(row, f"answer {row} {prompt}")
                store.add_result(
                    result(
                        row,
                        output,
                        run_id=run_id,
                        prompt_id=prompt,
                        scores=[score("exact", 0.0 if fails else 1.0), judge(2 if fails else 5)],
                        vars={"q": f"question {row}"},
                        expected=[f"answer {row}"],
                        minutes=minutes,
                    )
                )
    store.add_result(result("r059", run_id="run-new", prompt_id="v1", error="HTTP 500 <b>x</b>"))
    store.add_result(result("bad-1", "no", run_id="run-new", case_set="regressions"))
    store.close()
    return path
