"""The rubric judge: prompts, verdict parsing, errors, and calls through the runner's channel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScorerError
from harness.scorers.judge_prompt import Subject, VerdictError, judge_messages, parse_verdict
from harness.scorers.judge_rubric import SHIPPED, load_rubric
from harness.scorers.registry import get_scorer
from tests.fakeserver import FakeOpenAIServer, Fault
from tests.scorers.judging import cache_at, close, judge_context
from tests.scorers.scripted_judge import grade_by_reference

ACCURACY = load_rubric("accuracy")
CASE = {"question": "What is the capital of Australia?"}


def score(scorer: Any, output: str, expected: list[str], vars: dict, ctx: Any) -> Any:
    async def go() -> Any:
        try:
            return await scorer.ascore(output, expected, vars, ctx)
        finally:
            await close(ctx)

    return asyncio.run(go())


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_shipped_rubric_loads_with_a_described_scale(name, lang):
    rubric = load_rubric(name, lang)
    assert rubric.language == lang and rubric.name == name
    assert len(rubric.scale) >= 3 and all(g.description for g in rubric.scale)
    assert rubric.low < rubric.pass_grade <= rubric.high
    if lang == "zh":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rubric.criteria)


@pytest.mark.parametrize(
    ("rubric", "message"),
    [
        ({"criteria": "Is it right?"}, "inline rubric has no 'scale'"),
        ({"criteria": "x", "scale": []}, "inline rubric has no 'scale'"),
        ({"criteria": "x", "scale": [{"grade": 0}, {"grade": 1, "description": "ok"}]},
         "scale.0.description: Field required"),
        ({"criteria": "x", "scale": [{"grade": 0, "description": "a"}]},
         "scale: List should have at least 2 items"),
        ({"criteria": "x", "pass_grade": 5,
          "scale": [{"grade": 0, "description": "a"}, {"grade": 1, "description": "b"}]},
         "pass_grade 5 is not on the scale [0, 1]"),
        ({"scale": [{"grade": 0, "description": "a"}, {"grade": 1, "description": "b"}]},
         "criteria: Field required"),
        ("accuracyy", "unknown rubric 'accuracyy'"),
    ],
)  # fmt: skip
def test_bad_rubrics_fail_when_the_scorer_is_built(rubric, message):
    with pytest.raises(ScorerError, match=None) as error:
        get_scorer("judge", {"rubric": rubric})
    assert message in str(error.value)


def test_a_suite_with_a_rubric_missing_its_scale_fails_to_load_at_its_line(tmp_path):
    from harness.api import prepare
    from harness.errors import SuiteError

    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nprompts: [{id: p, template: '{{ question }}'}]\n"
        "providers: [{id: o, type: outputs, column: answer}]\n"
        "judges: [{id: j, type: openai, model: m, base_url: 'http://127.0.0.1:9/v1', "
        "api_key_env: null}]\n"
        "cases:\n  - vars: {question: q, answer: a}\n    assert:\n"
        '      - type: judge\n        rubric: {criteria: "Is it right?"}\n'
    )
    with pytest.raises(SuiteError) as error:
        prepare(suite)
    assert f"{suite}:8" in str(error.value) and "has no 'scale'" in str(error.value)


@pytest.mark.parametrize(
    ("reply", "grade", "reason"),
    [
        ('{"reason": "fine", "score": 4}', 4, "fine"),
        ('```json\n{"score": "5", "reason": "ok"}\n```', 5, "ok"),
        ('Here is my verdict: {"reason": "half {right}", "score": 3.0} thanks', 3, "half {right}"),
        ('{"grade": 2}', 2, None),
        ("The answer is mostly right.\nScore: 4/5", 4, None),
        ("**Score:** 1", 1, None),
        ("评分：5", 5, None),
    ],
)
def test_verdicts_are_read_from_json_or_one_score_line(reply, grade, reason):
    verdict = parse_verdict(reply, ACCURACY)
    assert (verdict.grade, verdict.reason) == (grade, reason)


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "I think this answer is good.",
        '{"reason": "no score here"}',
        '{"score": 7}',
        '{"score": 0}',
        '{"score": 3.5}',
        '{"score": true}',
        '{"score": "high"}',
        "Score: 2\nScore: 4",
        "the score is 4 out of 5 maybe",
        "Score: 3/10",  # a grade on another scale is no grade on this one
    ],
)
def test_garbage_verdicts_are_errors_never_grades(reply):
    with pytest.raises(VerdictError, match="judge verdict"):
        parse_verdict(reply, ACCURACY)


def test_the_prompt_carries_criteria_scale_examples_and_the_case():
    scorer = get_scorer("judge", {"rubric": "accuracy", "contexts_var": "contexts"})
    seen: list[dict] = []

    def responder(body: dict) -> str:
        seen.append(body)
        return '{"reason": "r", "score": 5}'

    with FakeOpenAIServer(responder=responder) as url:
        ctx, _ = judge_context(url)
        vars = CASE | {"contexts": ["Canberra is the capital.", "Sydney is large."]}
        score(scorer, "Canberra.", ["Canberra"], vars, ctx)
    body = seen[0]
    system, user = (m["content"] for m in body["messages"])
    assert ACCURACY.criteria in system
    for g in ACCURACY.scale:
        assert f"- {g.grade} ({g.label}): {g.description}" in system
    assert "Graded examples" in system and "Sydney is not the capital" in system
    assert user == (
        "Question:\nWhat is the capital of Australia?\n\n"
        "Context:\n[1] Canberra is the capital.\n[2] Sydney is large.\n\n"
        "Reference answer:\nCanberra\n\nAnswer to grade:\nCanberra."
    )
    assert body["response_format"] == {"type": "json_object"}  # JSON mode on an openai judge
    assert body["temperature"] == 0


def test_chinese_rubric_prompts_in_chinese():
    scorer = get_scorer("judge", {"rubric": "fluency", "lang": "zh", "question_var": None})
    seen: list[dict] = []

    def responder(body: dict) -> str:
        seen.append(body)
        return '{"reason": "通顺", "score": 5}'

    with FakeOpenAIServer(responder=responder) as url:
        result = score(scorer, "今天天气很好。", [], {}, judge_context(url, params={})[0])
    assert "评分等级" in seen[0]["messages"][0]["content"]
    assert seen[0]["messages"][1]["content"] == "待评分的回答:\n今天天气很好。"
    assert (result.value, result.answer, result.explanation) == (1.0, "5", "通顺")


def test_grades_are_normalised_and_pass_at_the_rubric_pass_grade():
    scorer = get_scorer("judge", {"rubric": "accuracy"})
    assert scorer.default_threshold == pytest.approx(0.75)  # grade 4 on 1..5
    assert get_scorer("judge", {"rubric": "accuracy", "pass_grade": 3}).default_threshold == 0.5
    with pytest.raises(ScorerError, match="pass_grade 9 is not on rubric 'accuracy'"):
        get_scorer("judge", {"rubric": "accuracy", "pass_grade": 9})
    with FakeOpenAIServer(responder=grade_by_reference) as url:
        right = score(scorer, "It is Canberra.", ["Canberra"], CASE, judge_context(url)[0])
        wrong = score(scorer, "It is Sydney.", ["Canberra"], CASE, judge_context(url)[0])
    assert (right.value, wrong.value) == (1.0, 0.0)
    assert right.metadata["verdicts"] == [
        {"label": "accuracy", "verdict": 5, "reason": "names the reference"}
    ]
    assert scorer.passes(right.value, scorer.default_threshold)
    assert not scorer.passes(wrong.value, scorer.default_threshold)
    assert scorer.version_string.startswith("judge@1 rubric=accuracy/en#")


def test_inline_rubric_with_a_0_to_3_scale():
    rubric = {
        "name": "politeness",
        "criteria": "Is the reply polite?",
        "scale": [{"grade": g, "description": f"level {g}"} for g in range(4)],
        "pass_grade": 2,
    }
    scorer = get_scorer("judge", {"rubric": rubric, "question_var": None})
    with FakeOpenAIServer(responder=lambda body: '{"score": 2, "reason": "ok"}') as url:
        result = score(scorer, "Thanks!", [], {}, judge_context(url)[0])
    assert result.value == pytest.approx(2 / 3) and scorer.passes(result.value, 2 / 3)


def test_a_garbage_judge_is_a_scorer_error():
    scorer = get_scorer("judge", {"rubric": "accuracy"})
    server = FakeOpenAIServer(responder=lambda body: "Great answer, well done!")
    with server as url, pytest.raises(VerdictError, match="unparseable judge verdict"):
        score(scorer, "Canberra", ["Canberra"], CASE, judge_context(url)[0])


@pytest.mark.parametrize("grade", [6, -1, 0, 2.5])
def test_a_grade_off_the_scale_is_an_error_and_is_not_cached(tmp_path: Path, grade: float):
    scorer = get_scorer("judge", {"rubric": "accuracy"})  # grades 1..5
    replies = iter([f'{{"score": {grade}, "reason": "r"}}', '{"score": 5, "reason": "r"}'])
    with FakeOpenAIServer(responder=lambda body: next(replies)) as url:
        with pytest.raises(VerdictError, match=f"judge verdict score {grade}"):
            score(scorer, "Canberra", ["Canberra"], CASE, judge_context(url, cache_at(tmp_path))[0])
        ctx, stats = judge_context(url, cache_at(tmp_path))
        again = score(scorer, "Canberra", ["Canberra"], CASE, ctx)
    assert again.value == 1.0 and stats.requests == 1  # asked again: nothing clamped or kept


def test_a_missing_question_var_is_a_clear_error():
    scorer = get_scorer("judge", {"rubric": "relevance"})
    missing = "the case has no var 'question' \\(its vars: q\\)"
    with FakeOpenAIServer() as url, pytest.raises(ScorerError, match=missing):
        score(scorer, "x", [], {"q": "?"}, judge_context(url)[0])


def test_judge_calls_are_retried_cached_and_costed(tmp_path: Path):
    scorer = get_scorer("judge", {"rubric": "accuracy"})
    prices = {"input_per_1m": 1000.0, "output_per_1m": 2000.0}
    subject = Subject("Canberra", CASE["question"], ["Canberra"])
    key = judge_messages(ACCURACY, subject)[-1].content  # the fake server's request key
    # The first request gets a 429 and then a 500: both retried.
    faults = {key: [Fault.http(429, {"Retry-After": "0"}), 500]}
    with FakeOpenAIServer(responder=grade_by_reference, faults=faults) as url:
        ctx, stats = judge_context(url, cache_at(tmp_path), prices=prices)
        result = score(scorer, "Canberra", ["Canberra"], CASE, ctx)
        assert result.value == 1.0
        assert stats.retries == 2 and stats.requests == 3
        usage = ctx.usage
        assert usage.calls == 1 and usage.cached == 0
        expected_cost = (usage.prompt_tokens * 1000 + usage.completion_tokens * 2000) / 1e6
        assert expected_cost > 0 and usage.cost_usd == pytest.approx(expected_cost)

        again_ctx, again_stats = judge_context(url, cache_at(tmp_path), prices=prices)
        again = score(scorer, "Canberra", ["Canberra"], CASE, again_ctx)
    assert again == result
    assert again_stats.requests == 0  # a second run makes zero requests
    assert again_ctx.usage.cached == 1 and again_ctx.usage.cost_usd == 0


def test_an_inline_rubric_follows_the_scorers_lang():
    scale = [{"grade": 0, "description": "粗鲁"}, {"grade": 1, "description": "礼貌"}]
    rubric = {"criteria": "回答是否礼貌？", "scale": scale}
    assert get_scorer("judge", {"rubric": rubric, "lang": "zh"}).rubric.language == "zh"
    assert (
        get_scorer("judge", {"rubric": rubric | {"language": "en"}, "lang": "zh"}).rubric.language
        == "en"
    )
    assert get_scorer("judge", {"rubric": rubric}).rubric.language == "en"


@pytest.mark.parametrize(
    ("configured", "param", "sent"),
    [({}, None, 512), ({"max_tokens": 2000}, None, 2000), ({"max_tokens": 2000}, 64, 64)],
)
def test_the_judges_configured_max_tokens_are_kept_unless_the_assertion_sets_them(
    configured, param, sent
):
    scorer = get_scorer("judge", {"rubric": "accuracy", "max_tokens": param})
    seen: list[dict] = []

    def responder(body: dict) -> str:
        seen.append(body)
        return '{"reason": "r", "score": 5}'

    with FakeOpenAIServer(responder=responder) as url:
        score(scorer, "Canberra", ["Canberra"], CASE, judge_context(url, params=configured)[0])
    assert seen[0]["max_tokens"] == sent
