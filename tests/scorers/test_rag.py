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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.embeddings.openai_embed import OpenAIEmbedder
from harness.errors import ScorerError
from harness.scorers.judge_prompt import VerdictError
from harness.scorers.registry import get_scorer
from harness.suite.schema import EmbeddingsConfig
from tests.fakeserver import FakeOpenAIServer, Responder, prompt_key
from tests.scorers.judging import cache_at, close, judge_context
from tests.scorers.scripted_judge import prompt_input, ragas_responder, tampered

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
    # A negative cosine (the fake embeddings are random) is clipped to 0, ragas' value kept.
    assert [s.value for s in ours] == pytest.approx([max(v, 0.0) for v in theirs], abs=1e-9)
    assert [s.metadata.get("ragas_value", s.value) for s in ours] == pytest.approx(theirs)
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
    message = "faithfulness is not scorable: the judge found no statements in the answer"
    with server as url, pytest.raises(ScorerError, match=message):
        asyncio.run(go(url))


def score_one(judge: Responder, name: str, row: dict[str, Any] = ROWS[0]) -> Any:
    with FakeOpenAIServer(responder=judge) as url:
        (score,) = asyncio.run(harness_scores(url, name, [row]))
    return score


def on(step: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Responder:
    """The scripted judge, with the replies to ragas' ``step`` prompt changed."""
    return tampered(lambda prompt, reply: change(reply) if prompt.startswith(step) else None)


NLI = "Your task is to judge the faithfulness"
PRECISION = "Given question, answer and context verify"
RECALL = "Given a context and an answer, analyze each statement"
QUESTION = "Generate a question for the given answer"
CLASSIFY = "Given a ground truth and an answer statements"
SPLIT = "Given a question and an answer, analyze the complexity"


def every(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Each item of the reply's list ``key`` with its binary field set to ``value``."""
    field = {"statements": "verdict", "classifications": "attributed"}[key]
    return lambda reply: {key: [item | {field: value} for item in reply[key]]}


@pytest.mark.parametrize(
    ("name", "judge", "where"),
    [
        ("context_precision", on(PRECISION, lambda r: r | {"verdict": 2}), "verdict = 2"),
        ("faithfulness", on(NLI, every("statements", -1)), "statements.0.verdict = -1"),
        ("context_recall", on(RECALL, every("classifications", 3)), ".attributed = 3"),
        ("answer_relevancy", on(QUESTION, lambda r: r | {"noncommittal": 2}), "noncommittal = 2"),
    ],
)
def test_a_verdict_that_is_not_0_or_1_is_an_error_not_a_score(
    name: str, judge: Responder, where: str
) -> None:
    with pytest.raises(VerdictError, match=f"{where}, not a verdict of 0 or 1"):
        score_one(judge, name)


def test_a_verdict_of_2_no_longer_scores_context_precision_2():
    # What ragas makes of it: two contexts judged "2" give an average precision of 2.0.
    row = ROWS[0] | {"contexts": ROWS[0]["contexts"] * 2}
    judge = on(PRECISION, lambda r: r | {"verdict": 2})
    with pytest.raises(VerdictError):
        score_one(judge, "context_precision", row)


def no_statements_in(text: str) -> Responder:
    """The scripted judge, splitting ``text`` (and only it) into no statements."""

    def change(prompt: str, reply: dict[str, Any]) -> dict[str, Any] | None:
        if prompt.startswith(SPLIT) and prompt_input(prompt)["answer"] == text:
            return {"statements": []}
        return None

    return tampered(change)


@pytest.mark.parametrize(
    ("name", "judge", "reason"),
    [
        # ragas assumes a perfect match here and scored 0.879
        (
            "answer_correctness",
            no_statements_in(ROWS[1]["answer"]),
            "found no statements in the answer",
        ),
        (
            "answer_correctness",
            no_statements_in(ROWS[1]["ground_truth"]),
            "found no statements in the ground truth",
        ),
        (
            "answer_correctness",
            on(CLASSIFY, lambda r: {"TP": [], "FP": [], "FN": []}),
            "classified none of the answer's statements",
        ),
        ("faithfulness", on(NLI, lambda r: {"statements": []}), "gave a verdict on none of the"),
        (
            "context_recall",
            on(RECALL, lambda r: {"classifications": []}),
            "classified no statement of the ground truth",
        ),
        # ragas scores 0.0
        ("answer_relevancy", on(QUESTION, lambda r: r | {"question": ""}), "inferred no question"),
    ],
)
def test_empty_verdict_lists_are_not_scorable(name: str, judge: Responder, reason: str) -> None:
    with pytest.raises(ScorerError, match=f"{name} is not scorable: the judge {reason}"):
        score_one(judge, name, ROWS[1])


def test_a_statement_the_judge_dropped_is_reported():
    # ROWS[8] has three statements; the judge returns verdicts on the first two only.
    judge = on(NLI, lambda r: {"statements": r["statements"][:2]})
    score = score_one(judge, "faithfulness", ROWS[8])
    assert score.value == 1.0  # ragas' number, over the two judged statements
    assert score.metadata["unjudged"] == {
        "count": 1,
        "of": 3,
        "statements": ["First for Women was founded in London by pirates."],
    }
    assert score.explanation == (
        "2 of 2 verdicts positive; the judge gave no verdict on 1 of 3 statements"
    )


def test_an_answer_statement_missing_from_the_classification_is_reported():
    # None of the three statements is in the ground truth: all FP; the judge leaves one out.
    judge = on(CLASSIFY, lambda r: r | {"FP": r["FP"][:-1]})
    score = score_one(judge, "answer_correctness", ROWS[8])
    assert score.metadata["unjudged"]["statements"] == [
        "First for Women was founded in London by pirates."
    ]
    assert "the judge gave no verdict on 1 of 3 statements" in score.explanation
    every_statement = score_one(ragas_responder, "answer_correctness", ROWS[8])
    assert "unjudged" not in every_statement.metadata


def test_a_reply_the_bridge_rejects_is_asked_again_not_cached(tmp_path: Path):
    """A garbage reply is dropped from the cache: the next scoring asks the judge again."""
    garbage = {"left": 1}

    def judge(body: dict[str, Any]) -> str:
        if garbage["left"] and (prompt_key(body) or "").startswith(NLI):
            garbage["left"] -= 1
            return '{"statements": [{"statement": "x", "reason": "r", "verdict": 2}]}'
        return ragas_responder(body)

    async def go(url: str) -> Any:
        ctx, stats = judge_context(url, cache_at(tmp_path))
        row = ROWS[8]
        try:
            with pytest.raises(VerdictError):
                await get_scorer("faithfulness", {}).ascore(row["answer"], [], row, ctx)
            first = stats.requests
            score = await get_scorer("faithfulness", {}).ascore(row["answer"], [], row, ctx)
            return score, first, stats.requests
        finally:
            await close(ctx)

    with FakeOpenAIServer(responder=judge) as url:
        score, first, total = asyncio.run(go(url))
    assert score.value == pytest.approx(2 / 3)
    # The statements came from the cache; the rejected verdicts were asked for again.
    assert (first, total) == (2, 3)
