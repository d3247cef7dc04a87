"""`harness run` end to end: a suite whose judge is the fake server scores RAG rows with
ragas and a rubric, stores the verdicts, costs and caches the judge calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.summary import summarize
from harness.api import run_suite
from harness.results.store import ResultStore
from tests.fakeserver import FakeOpenAIServer
from tests.scorers.scripted_judge import any_judge, tampered

DATA = Path(__file__).parents[2] / "datasets/rag/halueval_qa_30.jsonl"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "true")
    monkeypatch.chdir(tmp_path)


def write_suite(tmp_path: Path, base_url: str) -> Path:
    suite = tmp_path / "rag.yaml"
    suite.write_text(
        f"""name: rag-e2e
prompts:
  - id: rag
    template: "{{{{ contexts | join(' ') }}}} Q: {{{{ question }}}}"
providers:
  - id: given
    type: outputs
    column: answer
judges:
  - id: judge
    type: openai
    model: fake-judge
    base_url: {base_url}
    api_key_env: null
    backoff: 0.01
    prices: {{input_per_1m: 100.0, output_per_1m: 200.0}}
cases:
  file: {DATA}
  id: id
  expected: ground_truth
  limit: 6
  assert:
    - type: faithfulness
    - type: context_recall
    - type: judge
      rubric: accuracy
      contexts_var: contexts
analyses:
  - type: judge_agreement
    human_var: answer_is_hallucinated
    compare: pass
    labels: {{"true": 0, "false": 1}}
"""
    )
    return suite


def test_a_rag_suite_runs_scores_stores_verdicts_and_caches(tmp_path):
    server = FakeOpenAIServer(responder=any_judge)
    with server as url:
        suite = write_suite(tmp_path, url)
        outcome = run_suite(suite)
        calls = len(server.requests)
        again = run_suite(suite)
        assert len(server.requests) == calls  # the second run makes zero requests
    results = sorted(outcome.results, key=lambda r: r.row_id)
    assert len(results) == 6
    for r in results:
        assert [s.scorer for s in r.scores] == ["faithfulness", "context_recall", "judge"]
        assert all(s.error is None for s in r.scores), [s.error for s in r.scores]
        assert r.judge_calls > 0 and r.judge_cost_usd is not None and r.judge_cost_usd > 0
        judge = r.scores[2]  # the scripted judge: 5 when the answer names the ground truth
        names_it = r.vars["ground_truth"].lower() in r.vars["answer"].lower()
        assert judge.value == (1.0 if names_it else 0.0)
        assert judge.version.startswith("judge@1 rubric=accuracy/en#")
        faithfulness = r.scores[0]
        assert faithfulness.version == "faithfulness@1 ragas==0.4.3"
        assert faithfulness.metadata["verdicts"]  # stored with the result
    (agreement,) = ResultStore(tmp_path / "home/results.db").analyses(outcome.run.run_id)
    human = [int(not r.vars["answer_is_hallucinated"]) for r in outcome.results]
    judged = [int(r.scores[2].passed) for r in outcome.results]
    assert agreement.error is None
    assert agreement.data["accuracy"] == pytest.approx(
        sum(h == j for h, j in zip(human, judged, strict=True)) / 6
    )
    assert 0 < agreement.data["accuracy"] < 1
    assert [r.judge_cost_usd for r in again.results if r.judge_cost_usd] == []


def test_a_garbage_judge_fails_the_assertion_with_an_error_not_a_zero(tmp_path):
    with FakeOpenAIServer(responder=lambda body: "no idea") as url:
        suite = write_suite(tmp_path, url)
        outcome = run_suite(suite)
    for r in outcome.results:
        assert not r.passed
        for s in r.scores:
            assert s.value is None and s.passed is False
            assert "unparseable judge" in (s.error or "")


def test_a_verdict_off_0_1_is_a_scoring_error_never_a_score_above_1(tmp_path):
    # Every context "useful" with a verdict of 2: ragas would score context precision 2.0.
    def judge(prompt: str, reply: dict) -> dict | None:
        return reply | {"verdict": 2} if prompt.startswith("Given question, answer and") else None

    suite = write_suite(tmp_path, "URL")
    text = suite.read_text().replace("- type: context_recall", "- type: context_precision")
    with FakeOpenAIServer(responder=tampered(judge)) as url:
        suite.write_text(text.replace("URL", url))
        outcome = run_suite(suite)
    for r in outcome.results:
        precision = r.scores[1]
        assert precision.scorer == "context_precision" and not r.passed
        assert precision.value is None and "verdict = 2, not a verdict of 0 or 1" in precision.error
    (group,) = [g for g in summarize(outcome.results).groups if g.tag is None]
    assert (group.n_errors, group.n_score_errors) == (0, 6)  # scoring errors, not call errors
    assert group.metrics["context_precision"] is None
