"""Re-runs of a finished suite: cached answers read a chunk at a time, stored scores reused."""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from harness.api import run_suite
from harness.runner.cache import ResponseCache
from harness.scorers.base import ScoreValue, package_version
from harness.scorers.overlap import RougeLScorer
from harness.scorers.text import ContainsScorer
from tests.fakeserver import FakeOpenAIServer

STORED = """name: {name}
prompts: [{{id: p, template: "{{{{ q }}}}"}}]
providers: [{{id: dump, type: outputs, column: answer}}]
cases: {{file: rows.jsonl, id: id, expected: expected}}
defaults:
  assert:
    - {{type: rougeL, threshold: 0.5}}
    - {{type: contains, value: Paris}}
"""


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How often each scorer really computed a value."""
    counted = {"rougeL": 0, "contains": 0}
    for cls in (RougeLScorer, ContainsScorer):
        original = cls.score

        def counting(self: Any, *args: Any, _original: Any = original) -> ScoreValue:
            counted[self.name] += 1
            return _original(self, *args)

        monkeypatch.setattr(cls, "score", counting)
    yield counted


def stored_suite(tmp_path: Path, rows: list[tuple[str, str, str]], name: str = "first") -> Path:
    lines = [json.dumps({"id": i, "q": f"q {i}", "answer": a, "expected": e}) for i, a, e in rows]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(STORED.format(name=name))  # another name: a new run of the same cases
    return suite


ROWS = [(f"r{i}", f"Paris is the capital, answer {i}", "Paris is the capital") for i in range(6)]


def test_a_rerun_of_unchanged_outputs_reuses_the_stored_rouge_scores(
    tmp_path: Path, calls: dict[str, int]
) -> None:
    first = run_suite(stored_suite(tmp_path, ROWS))
    assert calls == {"rougeL": 6, "contains": 6}
    again = run_suite(stored_suite(tmp_path, ROWS, name="again"))
    assert again.run.run_id != first.run.run_id
    # contains costs less than the lookup: it is scored again; ROUGE-L is read back.
    assert calls == {"rougeL": 6, "contains": 12}
    scores = {r.row_id: r.scores for r in first.results}
    assert {r.row_id: r.scores for r in again.results} == scores


def test_a_changed_output_or_expected_answer_is_scored_afresh(
    tmp_path: Path, calls: dict[str, int]
) -> None:
    run_suite(stored_suite(tmp_path, ROWS))
    changed = [*ROWS[:4], ("r4", "London", ROWS[4][2]), ("r5", ROWS[5][1], "Paris")]
    outcome = run_suite(stored_suite(tmp_path, changed, name="again"))
    assert calls["rougeL"] == 6 + 2
    by_row = {r.row_id: r.scores[0].value for r in outcome.results}
    assert by_row["r4"] == 0.0 and by_row["r5"] == pytest.approx(2 / 7)


def test_no_cache_scores_everything_again(tmp_path: Path, calls: dict[str, int]) -> None:
    run_suite(stored_suite(tmp_path, ROWS))
    run_suite(stored_suite(tmp_path, ROWS, name="again"), use_cache=False)
    assert calls["rougeL"] == 12


def test_a_transformed_output_is_always_scored(tmp_path: Path, calls: dict[str, int]) -> None:
    suite = stored_suite(tmp_path, ROWS)
    text = suite.read_text().replace("threshold: 0.5}", "threshold: 0.5, transform: 'output'}")
    suite.write_text(text)
    run_suite(suite)
    suite.write_text(text.replace("name: first", "name: again"))
    run_suite(suite)
    assert calls["rougeL"] == 12


SERVED = """name: {name}
prompts:
  - {{id: a, template: "{{{{ q }}}}"}}
  - {{id: b, template: "{{{{ q }}}}"}}
providers:
  - {{id: api, type: openai, model: m, base_url: {url}, api_key_env: null, concurrency: 1}}
cases: {{file: rows.jsonl}}
defaults: {{assert: [{{type: contains, value: ECHO}}]}}
"""


def served_suite(tmp_path: Path, url: str, n: int, name: str = "served") -> Path:
    rows = "".join(json.dumps({"q": f"question {i}"}) + "\n" for i in range(n))
    (tmp_path / "rows.jsonl").write_text(rows)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SERVED.format(name=name, url=url))
    return suite


def test_a_fully_cached_rerun_reads_the_cache_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeOpenAIServer()
    with server as url:
        run_suite(served_suite(tmp_path, url, 300))
        assert len(server.requests) == 300  # prompts a and b render the same request
        queries: list[str] = []
        opened = ResponseCache.__init__

        def tracing(self: ResponseCache, path: Any) -> None:
            opened(self, path)
            sqlalchemy.event.listen(
                self.engine,
                "before_cursor_execute",
                lambda conn, cursor, sql, *args: (
                    queries.append(sql) if "FROM responses" in sql else None
                ),
            )

        monkeypatch.setattr(ResponseCache, "__init__", tracing)
        again = run_suite(served_suite(tmp_path, url, 300, name="again"))
    assert again.stats.cached == 600 and len(server.requests) == 300
    assert len(queries) <= 10, f"{len(queries)} cache queries for 600 cached cases"


def test_the_same_request_twice_in_a_run_is_asked_once(tmp_path: Path) -> None:
    server = FakeOpenAIServer()
    with server as url:
        outcome = run_suite(served_suite(tmp_path, url, 5))  # prompts a and b: same text
    assert outcome.stats.finished == 10 and outcome.stats.cached == 5
    assert len(server.requests) == 5 and set(server.success_counts.values()) == {1}


def test_stored_scores_live_in_the_cache_file(tmp_path: Path) -> None:
    run_suite(stored_suite(tmp_path, ROWS))
    with sqlite3.connect(tmp_path / "home" / "cache.db") as db:
        assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == 6


def test_a_scorer_version_reads_the_package_metadata_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every score records its scorer's version: reading rouge-score's metadata each time cost
    ~1 ms a score, more than ROUGE itself."""
    reads: list[str] = []
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: reads.append(name) or real(name)
    )
    package_version.cache_clear()
    scorer = RougeLScorer()
    versions = {scorer.version_string for _ in range(50)}
    assert len(versions) == 1 and reads == ["rouge-score"]
