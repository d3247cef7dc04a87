"""ragas metrics through the harness give ragas' own numbers for the same judge verdicts.

The judge is the fake OpenAI server scripted with :mod:`tests.scorers.scripted_judge`;
the reference numbers come from ragas itself, called directly (``llm_factory`` with an
``AsyncOpenAI`` client at the same server, ragas' own OpenAI embeddings provider).
"""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.embeddings.openai_embed import OpenAIEmbedder
from harness.errors import ScorerError
from harness.scorers.judge_prompt import VerdictError
from harness.scorers.registry import get_scorer
from harness.suite.schema import EmbeddingsConfig
from tests.fakeserver import FakeOpenAIServer
from tests.scorers.judging import close, judge_context
from tests.scorers.scripted_judge import ragas_responder

ROWS = [
    json.loads(line)
    for line in (Path(__file__).parents[2] / "datasets/rag/halueval_qa_30.jsonl")
    .read_text()
    .splitlines()[:8]
]
#: Extra answers with several sentences, some unsupported, and a noncommittal one.
ROWS.append(
    ROWS[0]
    | {
        "id": "multi",
        "answer": "Arthur's Magazine was started first. It was published in Philadelphia. "
        "First for Women was founded in London by pirates.",
    }
)
ROWS.append(ROWS[1] | {"id": "unsure", "answer": "I am not sure which city that is."})
#: The useful passage ranked second, and a row whose passage is about something else.
ROWS.append(ROWS[0] | {"id": "ranked", "contexts": ROWS[3]["contexts"] + ROWS[0]["contexts"]})
ROWS.append(ROWS[2] | {"id": "off", "contexts": ROWS[4]["contexts"]})
#: harness scorer -> (ragas collections class, its ascore arguments from a row)
METRICS = {
    "faithfulness": ("Faithfulness", ("user_input", "response", "retrieved_contexts")),
    "answer_relevancy": ("AnswerRelevancy", ("user_input", "response")),
    "context_precision": (
        "ContextPrecisionWithReference",
        ("user_input", "reference", "retrieved_contexts"),
    ),
    "context_recall": ("ContextRecall", ("user_input", "retrieved_contexts", "reference")),
    "answer_correctness": ("AnswerCorrectness", ("user_input", "response", "reference")),
}


@pytest.fixture(scope="module")
def server():
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    from ragas._analytics import get_userid

    with warnings.catch_warnings():  # ragas reads its user-id file without closing it, once
        warnings.simplefilter("ignore", ResourceWarning)
        get_userid()
    with FakeOpenAIServer(responder=ragas_responder) as url:
        yield url


def harness_context(url: str) -> Any:
    ctx, _ = judge_context(url)
    config = EmbeddingsConfig(type="openai", model="fake-embed", base_url=url, api_key_env=None)
    ctx.embedders["default"] = OpenAIEmbedder(config, Path("."))
    return ctx


def ragas_inputs(row: dict) -> dict[str, Any]:
    return {
        "user_input": row["question"],
        "response": row["answer"],
        "retrieved_contexts": row["contexts"],
        "reference": row["ground_truth"],
    }


async def harness_scores(url: str, name: str, rows: list[dict]) -> list[Any]:
    scorer = get_scorer(name, {})
    ctx = harness_context(url)
    try:
        return [
            await scorer.ascore(row["answer"], [row["ground_truth"]], row, ctx.for_case())
            for row in rows
        ]
    finally:
        await close(ctx)


async def ragas_scores(url: str, name: str, rows: list[dict]) -> list[float]:
    from openai import AsyncOpenAI
    from ragas.embeddings.openai_provider import OpenAIEmbeddings
    from ragas.llms import llm_factory
    from ragas.metrics import collections

    client = AsyncOpenAI(base_url=url, api_key="unused")
    cls_name, args = METRICS[name]
    cls = getattr(collections, cls_name)
    kwargs: dict[str, Any] = {"llm": llm_factory("fake-judge", client=client)}
    if "embeddings" in cls.__init__.__code__.co_varnames:
        kwargs["embeddings"] = OpenAIEmbeddings(client=client, model="fake-embed")
    metric = cls(**kwargs)
    try:
        results = []
        for row in rows:
            inputs = ragas_inputs(row)
            results.append((await metric.ascore(**{a: inputs[a] for a in args})).value)
        return results
    finally:
        await client.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(METRICS))
def test_the_harness_gets_ragas_own_numbers(server, name):
    ours = asyncio.run(harness_scores(server, name, ROWS))
    theirs = asyncio.run(ragas_scores(server, name, ROWS))
    assert [s.value for s in ours] == pytest.approx(theirs, abs=1e-9)
    assert len({round(v, 6) for v in theirs}) > 1  # the cases really differ
    for score in ours:
        assert score.metadata["ragas"] == "0.4.3"
        for verdict in score.metadata["verdicts"]:
            assert set(verdict) == {"label", "verdict", "reason"}


def test_faithfulness_keeps_each_statement_and_its_verdict(server):
    (score,) = asyncio.run(harness_scores(server, "faithfulness", [ROWS[8]]))
    assert score.value == pytest.approx(2 / 3)
    assert score.metadata["verdicts"] == [
        {"label": "Arthur's Magazine was started first.", "verdict": True, "reason": "overlap"},
        {"label": "It was published in Philadelphia.", "verdict": True, "reason": "overlap"},
        {
            "label": "First for Women was founded in London by pirates.",
            "verdict": False,
            "reason": "overlap",
        },
    ]
    assert score.explanation == "2 of 3 verdicts positive"
    assert get_scorer("faithfulness", {}).version_string == "faithfulness@1 ragas==0.4.3"


def test_hallucinated_rows_score_lower_on_faithfulness(server):
    scores = asyncio.run(harness_scores(server, "faithfulness", ROWS[:8]))
    right = [s.value for s, r in zip(scores, ROWS, strict=False) if not r["answer_is_hallucinated"]]
    wrong = [s.value for s, r in zip(scores, ROWS, strict=False) if r["answer_is_hallucinated"]]
    assert sum(right) / len(right) > sum(wrong) / len(wrong)


def test_context_precision_without_a_ground_truth_judges_against_the_answer(server):
    async def go() -> Any:
        ctx = harness_context(server)
        try:
            row = ROWS[0]
            return await get_scorer("context_precision", {}).ascore(row["answer"], [], row, ctx)
        finally:
            await close(ctx)

    assert asyncio.run(go()).value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("vars", "message"),
    [
        ({"question": "q"}, "the case has no var 'contexts' \\(its vars: question\\)"),
        ({"question": "q", "contexts": []}, "the case has no contexts: var 'contexts' is empty"),
        ({"question": "q", "contexts": ["", " "]}, "the case has no contexts"),
        ({"question": "q", "contexts": [1, 2]}, "must be a list of passages"),
        ({"contexts": ["c"]}, "the case has no var 'question'"),
        ({"question": " ", "contexts": ["c"]}, "the question \\(var 'question'\\) is empty"),
    ],
)
def test_rows_without_contexts_or_question_are_clear_errors(server, vars, message):
    async def go() -> Any:
        ctx = harness_context(server)
        try:
            return await get_scorer("faithfulness", {}).ascore("An answer.", [], vars, ctx)
        finally:
            await close(ctx)

    with pytest.raises(ScorerError, match=message):
        asyncio.run(go())


def test_a_garbage_judge_is_an_error_not_a_score():
    async def go(url: str) -> Any:
        ctx = harness_context(url)
        try:
            row = ROWS[0]
            return await get_scorer("faithfulness", {}).ascore(row["answer"], [], row, ctx)
        finally:
            await close(ctx)

    for reply, message in [
        ("I cannot help with that.", "unparseable judge reply for ragas' StatementGenerator"),
        ('{"statements": "not a list"}', "does not fit ragas' StatementGeneratorOutput"),
    ]:
        server = FakeOpenAIServer(responder=lambda body, reply=reply: reply)
        with server as url, pytest.raises(VerdictError, match=message):
            asyncio.run(go(url))


def test_parameters_are_checked_when_the_suite_loads():
    assert get_scorer("context_recall", {}).needs_expected is True
    assert get_scorer("context_recall", {"ground_truth_var": "gt"}).needs_expected is False
    assert get_scorer("faithfulness", {}).needs_expected is False
    assert get_scorer("answer_relevancy", {}).embedders() == [None]
    assert get_scorer("faithfulness", {"judge": "j2"}).judges() == ["j2"]
    with pytest.raises(ScorerError, match="'faithfulness' does not use an embedder"):
        get_scorer("faithfulness", {"embedder": "e"})
    with pytest.raises(ScorerError, match="'answer_relevancy' does not use contexts"):
        get_scorer("answer_relevancy", {"contexts_var": "docs"})


def test_an_empty_faithfulness_is_an_error_not_nan():
    async def go(url: str) -> Any:
        ctx = harness_context(url)
        try:
            return await get_scorer("faithfulness", {}).ascore("Hm.", [], ROWS[0], ctx)
        finally:
            await close(ctx)

    # A judge that finds no statement in the answer: ragas says NaN, the harness an error.
    server = FakeOpenAIServer(responder=lambda body: '{"statements": []}')
    with server as url, pytest.raises(ScorerError, match="gave no score \\(NaN\\)"):
        asyncio.run(go(url))
