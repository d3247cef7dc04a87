"""judge_agreement with the reviews as the human side: the same statistics as scikit-learn's
and scipy's on the same pairs, through `harness agreement` and the view's page."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, cohen_kappa_score
from starlette.testclient import TestClient

from harness.cli import main
from harness.errors import HarnessError
from harness.results.models import Score
from harness.results.store import ResultStore
from harness.view import create_app
from harness.view.agreement import review_agreement
from harness.view.reviews import Review, save_review
from tests.ci.helpers import result, run_record
from tests.view.helpers import Store, build_store, judge, view_db

WHEN = datetime(2026, 3, 2, 9, tzinfo=UTC)


def reviewed_store(path: Store, seed: int) -> tuple[Store, dict[str, list[int]]]:
    """A run of 40 judged cases, each reviewed: a verdict, a grade, or both, near the
    judge's; and a reviewed case whose judge errored (left out). Returns the pairs."""
    rng = random.Random(seed)
    store = ResultStore(path)
    store.save_run(run_record("run-1"))
    pairs: dict[str, list[int]] = {"h_pass": [], "j_pass": [], "h_grade": [], "j_grade": []}
    reviews = []
    for i in range(40):
        grade = rng.randint(1, 5)
        store.add_result(result(f"r{i}", run_id="run-1", scores=[judge(grade)]))
        verdict = rng.choice(["good", "bad", None])
        human = min(5, max(1, grade + rng.choice([-1, 0, 0, 1]))) if i % 4 else None
        if verdict is None and human is None:
            verdict = "bad"
        if verdict is not None:
            pairs["h_pass"].append(int(verdict == "good"))
            pairs["j_pass"].append(int(grade >= 4))
        if human is not None:
            pairs["h_grade"].append(human)
            pairs["j_grade"].append(grade)
        grades = {} if human is None else {"accuracy": human}
        reviews.append(Review("run-1", f"main-v1-fake-r{i}", verdict, "ann", WHEN, None, grades))  # type: ignore[arg-type]
    broken = Score(name="accuracy", scorer="judge", version="1", value=None, threshold=0.75,
                   passed=False, error="the judge's reply had no grade")  # fmt: skip
    store.add_result(result("broken", run_id="run-1", scores=[broken]))
    reviews.append(
        Review("run-1", "main-v1-fake-broken", "bad", "ann", WHEN, None, {"accuracy": 1})
    )
    store.close()
    with view_db(path) as db:
        for review in reviews:
            save_review(db, review)
    return path, pairs


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(3))
def test_reviews_agree_as_sklearn_and_scipy_say(tmp_path: Path, seed: int, weights) -> None:
    path, pairs = reviewed_store(tmp_path / "results.db", seed)
    with view_db(path) as db:
        verdicts, grades = review_agreement(db, "run-1", weights=weights)
    assert verdicts.id == "accuracy.verdict" and grades.id == "accuracy.grade"
    assert verdicts.charts[0].row_labels == ["bad", "good"]
    assert verdicts.charts[0].col_labels == ["fail", "pass"]
    for found, h, j, w in [
        (verdicts, pairs["h_pass"], pairs["j_pass"], None),  # binary: never weighted
        (grades, pairs["h_grade"], pairs["j_grade"], weights),
    ]:
        assert found.data["n"] == len(h)
        assert sorted(zip(found.data["human"], found.data["judge"], strict=True)) == sorted(
            zip(h, j, strict=True)
        )
        assert found.data["accuracy"] == pytest.approx(accuracy_score(h, j))
        assert found.data["cohen_kappa"] == pytest.approx(cohen_kappa_score(h, j, weights=w))
        assert found.data["spearman_rho"] == pytest.approx(spearmanr(h, j).statistic)
        assert sum(map(sum, found.charts[0].values)) == len(h)


def test_nothing_to_compare_says_what_to_do(store_url: str) -> None:
    with view_db(build_store(store_url)) as db:
        with pytest.raises(HarnessError, match="no case of run run-new is reviewed"):
            review_agreement(db, "run-new")
        save_review(db, Review("run-new", "main-v1-fake-r001", None, "ann", WHEN, "x"))
        with pytest.raises(
            HarnessError, match="has a verdict or a grade and a score of 'accuracy'"
        ):
            review_agreement(db, "run-new")
        with pytest.raises(HarnessError, match="a score of 'rouge'"):
            review_agreement(db, "run-new", scorers=["rouge"])
        save_review(db, Review("run-new", "main-v1-fake-r001", "bad", "ann", WHEN))
        (exact,) = review_agreement(db, "run-new", scorers=["exact"])  # any assertion
    assert exact.data["human"] == [0] and exact.data["judge"] == [1]


def test_harness_agreement_prints_and_gates_on_kappa(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, pairs = reviewed_store(store_url, 0)
    assert main(["agreement", "run", "--db", path, "--weights", "quadratic"]) == 0
    printed = capsys.readouterr().out
    kappa = cohen_kappa_score(pairs["h_grade"], pairs["j_grade"], weights="quadratic")
    assert "Judge agreement with reviews: accuracy, grades" in printed
    assert f"Cohen's kappa {kappa:.3f}" in printed
    assert main(["agreement", "run-1", "--db", path, "--min-kappa", "0.99"]) == 1
    assert "is below 0.99: check the judge" in capsys.readouterr().out
    assert main(["agreement", "nope", "--db", path]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["agreement", "run-1", "--db", str(tmp_path / "none.db")]) == 2


def test_the_agreement_page(tmp_path: Path) -> None:
    path, pairs = reviewed_store(tmp_path / "results.db", 1)
    client = TestClient(create_app(path, reviewer="ann"), base_url="http://127.0.0.1")
    page = client.get("/runs/run-1/agreement?weights=linear")
    assert page.status_code == 200
    assert (
        'id="agreement-accuracy.verdict"' in page.text
        and 'id="agreement-accuracy.grade"' in page.text
    )
    kappa = cohen_kappa_score(pairs["h_grade"], pairs["j_grade"], weights="linear")
    assert f'<td class="n">{kappa:.3f}</td>' in page.text
    assert client.get("/runs/run-1/agreement?weights=cubic").status_code == 400
    empty = TestClient(create_app(build_store(tmp_path / "b.db"), reviewer="ann"),
                       base_url="http://127.0.0.1")  # fmt: skip
    assert "review cases in `harness view`" in empty.get("/runs/run-new/agreement").text
