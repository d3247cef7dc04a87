"""Judge calls and run-level analyses go through the runner: cache, retries, costs, store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.analysis import registry as analysis_registry
from harness.api import default_store, run_suite
from harness.cli import main
from harness.embeddings.base import Embedder
from harness.errors import SuiteError
from harness.runner.cache import ResponseCache
from harness.runner.context import ScoringContext
from harness.scorers import registry as scorer_registry
from tests.fakeserver import FakeOpenAIServer, prompt_key

KEY_ENV = "HARNESS_TEST_API_KEY"
SECRET = "judge-secret-93be1"
HELPERS = "tests.runner.judging_helpers"


@pytest.fixture(autouse=True)
def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(scorer_registry._FACTORIES, "number_judge", f"{HELPERS}:NumberJudge")
    monkeypatch.setitem(analysis_registry._ANALYSES, "pass_count", f"{HELPERS}:PassCount")
    monkeypatch.setitem(analysis_registry._ANALYSES, "broken", f"{HELPERS}:Broken")


def grades(body: dict) -> str:
    """The scripted judge: "GRADE good..." is worth 0.9, anything else 0.1."""
    return "0.9" if (prompt_key(body) or "").startswith("GRADE good") else "0.1"


def write_suite(tmp_path: Path, url: str, *, judges: str | None = None, extra: str = "") -> Path:
    rows = [{"id": f"r{i}", "answer": ("good " if i % 2 else "bad ") + str(i)} for i in range(6)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    judges = (
        judges
        or f"""  - id: grader
    type: openai
    model: gpt-4o-mini
    base_url: {url}
    api_key_env: {KEY_ENV}
    backoff: 0.01
"""
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""name: judged
prompts:
  - id: p
    template: "{{{{ answer }}}}"
providers:
  - id: given
    type: outputs
    column: answer
judges:
{judges}cases:
  file: rows.jsonl
  id: id
  assert:
    - type: number_judge
{extra}"""
    )
    return suite


def test_judge_scores_are_cached_costed_and_recorded(tmp_path: Path) -> None:
    server = FakeOpenAIServer(responder=grades)
    with server as url:
        suite = write_suite(tmp_path, url)
        first = run_suite(suite)
        requests_after_first = len(server.requests)
        second = run_suite(suite)
    by_id = {r.row_id: r for r in first.results}
    assert [by_id[f"r{i}"].scores[0].value for i in range(6)] == [0.1, 0.9] * 3
    assert [by_id[f"r{i}"].passed for i in range(6)] == [False, True] * 3
    assert requests_after_first == 6 and len(server.requests) == 6  # the re-run hit the cache
    assert all(r.judge_calls == 1 for r in first.results + second.results)
    assert [r.judge_cached for r in first.results + second.results] == [0] * 6 + [1] * 6
    assert (first.stats.requests, second.stats.requests) == (6, 0)  # stored outputs: no request
    # gpt-4o-mini is in the price table: the fake server reports token usage
    assert all(r.judge_cost_usd and r.judge_cost_usd > 0 for r in first.results)
    assert all(r.judge_cost_usd == 0 for r in second.results)  # cache hits cost nothing
    verdicts = by_id["r1"].scores[0].metadata["verdicts"]
    assert verdicts == [{"label": "good 1", "verdict": True, "reason": "graded 0.9"}]
    store_text = (tmp_path / "home" / "results.db").read_bytes()
    assert SECRET.encode() not in store_text


def test_judge_calls_are_retried(tmp_path: Path) -> None:
    server = FakeOpenAIServer(responder=grades, faults={"GRADE good 1": [500, 429]})
    with server as url:
        outcome = run_suite(write_suite(tmp_path, url))
    assert all(r.scores[0].error is None for r in outcome.results)
    assert outcome.stats.retries == 2 and server.fault_counts["500"] == 1


def test_a_judge_that_stays_down_fails_only_its_assertion(tmp_path: Path) -> None:
    server = FakeOpenAIServer(responder=grades, faults={"GRADE good 1": [500] * 3})
    with server as url:
        suite = write_suite(tmp_path, url)
        suite.write_text(
            suite.read_text().replace("backoff: 0.01", "backoff: 0.01\n    max_retries: 1")
        )
        outcome = run_suite(suite)
    broken = next(r for r in outcome.results if r.row_id == "r1")
    assert broken.scores[0].value is None and "500" in (broken.scores[0].error or "")
    assert broken.passed is False and broken.error is None
    assert sum(r.passed for r in outcome.results) == 2


def test_an_unknown_or_missing_judge_is_a_load_error(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1")
    suite.write_text(
        suite.read_text().replace(
            "- type: number_judge", "- type: number_judge\n      judge: grder"
        )
    )
    with pytest.raises(SuiteError, match=r"unknown judge 'grder'; the suite's judges: grader"):
        run_suite(suite)
    suite.write_text(
        suite.read_text().split("judges:")[0]
        + "cases: [{vars: {answer: x}, assert: [{type: number_judge}]}]\n"
    )
    with pytest.raises(SuiteError, match="declare one under 'judges:'"):
        run_suite(suite)


def test_analyses_are_stored_reported_and_can_fail_the_run(tmp_path: Path) -> None:
    server = FakeOpenAIServer(responder=grades)
    extra = (
        "analyses:\n  - type: pass_count\n    flag_below: 0.9\n    fail_on_flag: true\n"
        "  - type: broken\n"
    )
    with server as url:
        suite = write_suite(tmp_path, url, extra=extra)
        outcome = run_suite(suite)
        junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
        args = ["--report", str(tmp_path / "r.html"), "--junit-xml", str(junit)]
        code = main(["run", str(suite), *args, "--summary-md", str(summary)])
    counted, broken = outcome.analyses
    assert counted.data == {"rates": {"p": 0.5}} and counted.fails_run
    assert counted.flags == ["p <b>below</b>"]
    assert broken.error == "ValueError: no group column" and not broken.fails_run
    assert [a.id for a in default_store().analyses(outcome.run.run_id)] == ["pass_count", "broken"]
    assert code == 1
    xml = junit.read_text()
    assert 'name="analysis pass_count"' in xml and "p &lt;b&gt;below&lt;/b&gt;" in xml
    assert 'name="analysis broken" time="0" />' in xml  # passes: it did not ask to fail the run
    assert "analysis pass_count" in summary.read_text()
    exported = tmp_path / "analyses.json"
    assert main(["export", outcome.run.run_id, "--analyses", str(exported)]) == 0
    assert [a["data"] for a in json.loads(exported.read_text())] == [{"rates": {"p": 0.5}}, {}]
    html = (tmp_path / "r.html").read_text()
    assert "p &lt;b&gt;below&lt;/b&gt;" in html and "<b>below</b>" not in html
    assert "Per prompt &lt;i&gt;" in html and "could not run: ValueError: no group column" in html
    assert 'class="chart bars"' in html


def test_bad_analyses_are_load_errors_with_lines(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1", extra="analyses:\n  - type: pass_cout\n")
    with pytest.raises(
        SuiteError,
        match=r"suite.yaml:\d+: unknown analysis type 'pass_cout'\. Did you mean 'pass_count'",
    ):
        run_suite(suite)
    suite = write_suite(
        tmp_path,
        "http://127.0.0.1:9/v1",
        extra="analyses:\n  - type: pass_count\n    flag_belo: 1\n",
    )
    with pytest.raises(
        SuiteError,
        match=r"suite.yaml:\d+: analysis 'pass_count' \(pass_count\): unknown parameter "
        r"'flag_belo'\. Did you mean 'flag_below'\?",
    ):
        run_suite(suite)


class CountingEmbedder(Embedder):
    def __init__(self) -> None:
        super().__init__("counting")
        self.seen: list[list[str]] = []

    def identity(self) -> dict[str, str]:
        return {"type": "test", "model": "length"}

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.seen.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]


def test_embeddings_are_cached_by_model_and_text(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.db")
    model = CountingEmbedder()
    ctx = ScoringContext(embedders={"counting": model}, cache=cache)
    first = asyncio.run(ctx.embed(["a", "bb", "a"]))
    second = asyncio.run(ctx.embed(["bb", "ccc"]))
    assert first == [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]]
    assert second == [[2.0, 1.0], [3.0, 1.0]]
    assert model.seen == [["a", "bb"], ["ccc"]]


def test_embeddings_honour_read_cache_and_still_refresh_the_cache(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.db")
    asyncio.run(
        ScoringContext(embedders={"counting": CountingEmbedder()}, cache=cache).embed(["a"])
    )
    fresh = CountingEmbedder()
    ctx = ScoringContext(embedders={"counting": fresh}, cache=cache, read_cache=False)
    assert asyncio.run(ctx.for_case().embed(["a", "bb"])) == [[1.0, 1.0], [2.0, 1.0]]
    assert fresh.seen == [["a", "bb"]]  # nothing read from the cache, for every case
    later = CountingEmbedder()
    asyncio.run(ScoringContext(embedders={"counting": later}, cache=cache).embed(["a", "bb"]))
    assert later.seen == []  # what the no-cache run computed was written


def rubric_suite(tmp_path: Path, url: str) -> Path:
    suite = write_suite(tmp_path, url)
    rubric = (
        "- type: judge\n      rubric: accuracy\n      question_var: null\n      reference: false"
    )
    suite.write_text(suite.read_text().replace("- type: number_judge", rubric))
    return suite


def test_a_judge_reply_no_scorer_could_read_is_asked_again_next_run(tmp_path: Path) -> None:
    """Garbage once per prompt, then a verdict: the garbage is a scoring error, never cached."""
    asked: set[str] = set()

    def flaky(body: dict) -> str:
        key = prompt_key(body) or ""
        if key not in asked:
            asked.add(key)
            return "I would rather not say."
        return '{"reason": "fine", "score": 5}'

    server = FakeOpenAIServer(responder=flaky)
    with server as url:
        suite = rubric_suite(tmp_path, url)
        first = run_suite(suite)
        second = run_suite(suite)
        third = run_suite(suite)
    for r in first.results:
        (score,) = r.scores
        assert score.value is None and "unparseable judge verdict" in (score.error or "")
    assert all(r.scores[0].value == 1.0 and r.scores[0].error is None for r in second.results)
    assert [r.judge_cached for r in second.results] == [0] * 6  # asked again, not the cache
    assert [r.judge_cached for r in third.results] == [1] * 6  # a good verdict stays cached
    assert len(server.requests) == 12


def test_no_cache_asks_the_judge_again_and_refreshes_its_cache(tmp_path: Path) -> None:
    calls: list[int] = []

    def changing(body: dict) -> str:  # grade 4 on the first run's calls, 5 afterwards
        calls.append(1)
        return json.dumps({"reason": "r", "score": 4 if len(calls) <= 6 else 5})

    server = FakeOpenAIServer(responder=changing)
    with server as url:
        suite = rubric_suite(tmp_path, url)
        run_suite(suite)
        fresh = run_suite(suite, use_cache=False)
        cached = run_suite(suite)
    assert [r.judge_cached for r in fresh.results] == [0] * 6
    assert [r.judge_cached for r in cached.results] == [1] * 6
    assert {r.scores[0].answer for r in cached.results} == {"5"}  # the no-cache run's verdicts
    assert len(server.requests) == 12
