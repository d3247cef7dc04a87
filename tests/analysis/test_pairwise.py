"""Pairwise judging: both orders, position bias cancelled, win/tie/loss with a bootstrap CI."""

from __future__ import annotations

import asyncio
import json
import re

import numpy as np
import pytest

from harness.analysis.pairwise import parse_winner
from harness.analysis.registry import get_analysis
from harness.compare.stats import bootstrap_ci
from harness.errors import ScorerError
from harness.scorers.judge_prompt import VerdictError
from tests.analysis.factory import case
from tests.fakeserver import FakeOpenAIServer, prompt_key
from tests.scorers.judging import close, judge_context

_ANSWERS = re.compile(r"Answer 1:\n(.*)\n\nAnswer 2:\n(.*)$", re.S)


def prefers_longer(body: dict) -> str:
    """A fair judge: the longer answer wins, equal lengths tie."""
    first, second = _ANSWERS.search(prompt_key(body) or "").groups()  # type: ignore[union-attr]
    winner = "tie" if len(first) == len(second) else "1" if len(first) > len(second) else "2"
    return json.dumps({"reason": "longer", "winner": winner})


def results(n: int = 12) -> list:
    """Rows where B is longer on 8, A on 2, equal on 2; plus one row B never answered."""
    out = []
    for i in range(n):
        b = "b" * (5 if i < 8 else 1 if i < 10 else 3)
        out += [
            case(str(i), "A", vars={"question": f"q{i}"}, output="aaa"),
            case(str(i), "B", vars={"question": f"q{i}"}, output=b),
        ]
    out.append(case("lonely", "A", vars={"question": "q"}))
    return out


def run(responder, rows=None, **params):
    analysis = get_analysis("pairwise", "ab", {"a": "A", "b": "B", "resamples": 2000} | params)

    async def go(url: str):
        ctx, stats = judge_context(url)
        try:
            return await analysis.analyze(rows or results(), ctx), stats
        finally:
            await close(ctx)

    with FakeOpenAIServer(responder=responder) as url:
        return asyncio.run(go(url))


def test_win_tie_loss_and_the_ci():
    found, stats = run(prefers_longer)
    s = found.data["by_provider"]["m"]
    assert (s["n"], s["b_wins"], s["a_wins"], s["ties"], s["errors"]) == (12, 8, 2, 2, 0)
    assert s["win_rate"] == pytest.approx((8 + 1) / 12)
    points = np.array([1.0] * 8 + [0.0] * 2 + [0.5] * 2)
    low, high = bootstrap_ci(points, resamples=2000, rng=np.random.default_rng(0))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((low, high))
    assert s["consistency"] == 1.0
    assert stats.requests == 24  # two calls per row: A first, then B first
    assert found.charts[0].reference == 0.5


def test_a_position_biased_judge_gives_ties_not_wins():
    found, _ = run(lambda body: '{"winner": "1", "reason": "first is best"}')
    s = found.data["by_provider"]["m"]
    assert (s["b_wins"], s["a_wins"], s["ties"], s["consistency"]) == (0, 0, 12, 0.0)
    assert found.flags == []


def test_the_order_is_swapped_on_the_second_call():
    seen: list[str] = []

    def record(body: dict) -> str:
        seen.append(prompt_key(body) or "")
        return prefers_longer(body)

    run(record, rows=results(1)[:2])
    assert seen == [
        "Question:\nq0\n\nAnswer 1:\naaa\n\nAnswer 2:\nbbbbb",
        "Question:\nq0\n\nAnswer 1:\nbbbbb\n\nAnswer 2:\naaa",
    ]


def test_a_clear_winner_is_flagged():
    rows = [
        case(str(i), p, vars={"question": "q"}, output="a" if p == "A" else "bbbb")
        for i in range(20)
        for p in ("A", "B")
    ]
    found, _ = run(prefers_longer, rows=rows)
    assert found.flags and found.flags[0].startswith("B beats A on m")


def test_garbled_verdicts_are_errors_not_ties():
    found, _ = run(lambda body: "Both are fine I guess.")
    s = found.data["by_provider"]["m"]
    assert (s["n"], s["errors"], s["win_rate"]) == (0, 12, None)
    assert "unparseable pairwise verdict" in found.tables[1].rows[0][4]


@pytest.mark.parametrize(
    ("text", "winner"),
    [('{"winner": "2"}', "2"), ('{"winner": 1}', "1"), ('{"winner": "Tie"}', "tie"),
     ('{"winner": "Answer 2"}', "2"), ("winner: 1", "1")],
)  # fmt: skip
def test_parse_winner(text, winner):
    assert parse_winner(text) == winner


def test_parse_winner_refuses_garbage():
    with pytest.raises(VerdictError):
        parse_winner('{"winner": "3"}')


def test_no_pairs_is_a_clear_error():
    with pytest.raises(ScorerError, match="no row has outputs from both prompt versions"):
        run(prefers_longer, rows=[case("1", "A")])


def test_a_judge_call_that_fails_for_good_is_an_error_for_its_row_only():
    faults = {"Question:\nq0\n\nAnswer 1:\naaa\n\nAnswer 2:\nbbbbb": [400] * 10}
    analysis = get_analysis("pairwise", "ab", {"a": "A", "b": "B", "resamples": 200})

    async def go(url: str):
        ctx, _ = judge_context(url)
        try:
            return await analysis.analyze(results(), ctx)
        finally:
            await close(ctx)

    with FakeOpenAIServer(responder=prefers_longer, faults=faults) as url:
        found = asyncio.run(go(url))
    s = found.data["by_provider"]["m"]
    assert (s["n"], s["errors"]) == (11, 1)
    assert "HTTP 400" in found.tables[1].rows[0][4]
