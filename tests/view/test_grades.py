"""Grading a case on the run's rubric criteria: the form, the checks, who/when, and the
reviews table of an older store migrated in place."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from harness.results.store import ResultStore
from harness.view import create_app
from harness.view.criteria import run_criteria
from harness.view.reviews import marked_bad, reviews_of
from tests.view.helpers import build_store, view_db

LOCAL = "http://127.0.0.1"
CASE = "/runs/run-new/cases/main-v2-fake-r000"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "results.db")


@pytest.fixture
def any_store(store_url: str) -> str:
    """The test store on each backend (SQLite, PostgreSQL): for the tests about storage."""
    return build_store(store_url)


@pytest.fixture
def client(store: Path) -> TestClient:
    return TestClient(create_app(store, reviewer="ann"), base_url=LOCAL)


def test_the_runs_criteria_come_from_its_judge_scores_with_the_shipped_labels(
    any_store: str,
) -> None:
    with view_db(any_store) as db:
        (accuracy,) = run_criteria(db, "run-new")
        assert run_criteria(db, "run-new") == [accuracy]  # cached
    assert accuracy.name == "accuracy" and accuracy.rubric == "accuracy"
    assert accuracy.grades == (1, 2, 3, 4, 5) and accuracy.pass_grade == 4
    assert accuracy.labels[4] == "mostly right" and "factually correct" in (accuracy.question or "")
    with pytest.raises(ValueError, match=r"`grade\.accuracy`: expected a grade from 1 to 5"):
        accuracy.grade("6")


def test_the_case_page_offers_each_criterion_on_its_scale(client: TestClient) -> None:
    page = client.get(CASE).text
    assert '<select name="grade.accuracy">' in page
    assert '<option value="4">4 · mostly right (pass)</option>' in page
    assert '<button name="verdict" value="save"' in page


def test_grades_are_stored_with_who_and_when_and_shown(any_store: str) -> None:
    client = TestClient(create_app(any_store, reviewer="ann"), base_url=LOCAL)
    sent = client.post(CASE + "/review", data={"verdict": "save", "grade.accuracy": "3"})
    assert sent.status_code == 200
    assert "Reviewed by ann at" in sent.text and "graded <b>accuracy</b> 3" in sent.text
    assert '<option value="3" selected>' in sent.text
    assert "graded · ann · accuracy 3" in client.get("/runs/run-new").text
    with view_db(any_store) as db:
        (review,) = reviews_of(db, "run-new").values()
    assert review.verdict is None and review.grades == {"accuracy": 3}
    assert review.reviewer == "ann" and review.reviewed_at.tzinfo is not None

    # a mark later keeps the grade posted with it; "save" keeps the mark
    bob = TestClient(create_app(any_store, reviewer="bob"), base_url=LOCAL)
    bob.post(CASE + "/review", data={"verdict": "bad", "grade.accuracy": "2"})
    bob.post(
        CASE + "/review", data={"verdict": "save", "grade.accuracy": "1", "correct_answer": "x"}
    )
    with view_db(any_store) as db:
        (review,) = reviews_of(db, "run-new").values()
    assert (review.verdict, review.grades, review.reviewer) == ("bad", {"accuracy": 1}, "bob")
    assert review.correct_answer == "x"
    opened = ResultStore(any_store)
    assert list(marked_bad(opened, "run-new")) == ["main-v2-fake-r000"]
    opened.close()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"verdict": "save", "grade.accuracy": "9"},
            "expected a grade from 1 to 5, got &#39;9&#39;",
        ),
        ({"verdict": "save", "grade.accuracy": "good"}, "expected a grade from 1 to 5"),
        ({"verdict": "good", "grade.tone": "3"}, "this run grades no criterion &#39;tone&#39;"),
        ({"verdict": "save"}, "nothing to save: mark the case good or bad"),
        ({"verdict": "meh"}, "`verdict`: expected good, bad, save, clear"),
    ],
)
def test_bad_grades_are_400_with_what_was_expected(
    client: TestClient, form: dict[str, str], message: str
) -> None:
    sent = client.post(CASE + "/review", data=form)
    assert sent.status_code == 400 and message in sent.text


def test_an_older_reviews_table_is_migrated_in_place(store: Path) -> None:
    with closing(sqlite3.connect(store)) as db, db:
        db.execute(
            "CREATE TABLE reviews (run_id TEXT NOT NULL, case_id TEXT NOT NULL, "
            "verdict TEXT NOT NULL CHECK (verdict IN ('good', 'bad')), correct_answer TEXT, "
            "reviewer TEXT NOT NULL, reviewed_at TEXT NOT NULL, PRIMARY KEY (run_id, case_id))"
        )
        db.execute(
            "INSERT INTO reviews VALUES ('run-new', 'main-v2-fake-r003', 'bad', '42', 'ann', "
            "'2026-03-01T12:00:00+00:00')"
        )
    with view_db(store) as db:
        (kept,) = reviews_of(db, "run-new").values()
        columns = [row[1] for row in db.exec_driver_sql("PRAGMA table_info(reviews)")]
    assert (kept.verdict, kept.correct_answer, kept.grades) == ("bad", "42", {})
    assert columns[-1] == "grades"
    client = TestClient(create_app(store, reviewer="ann"), base_url=LOCAL)
    assert "bad · ann" in client.get("/runs/run-new").text
    sent = client.post(CASE + "/review", data={"verdict": "save", "grade.accuracy": "5"})
    assert sent.status_code == 200  # a review with grades only: the old NOT NULL is gone
    with view_db(store) as db:  # opening again changes nothing
        assert len(reviews_of(db, "run-new")) == 2
