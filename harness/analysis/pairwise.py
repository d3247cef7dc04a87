"""Pairwise judging: does prompt version B beat A, case by case, in the judge's eyes?

Each row's two answers are judged twice, once in each order, to cancel the judge's
position bias: a version wins a row only when both orders prefer it; disagreement is a
tie. B's win rate (a tie counts half) comes with a paired bootstrap CI. A verdict the
judge garbles is counted as an error for that row, never as a tie.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from harness.analysis.base import (
    Analysis,
    AnalysisParams,
    AnalysisResult,
    BarChart,
    Needs,
    Table,
)
from harness.compare.stats import bootstrap_ci
from harness.errors import AuthError, ProviderError, ScorerError
from harness.providers.base import Message
from harness.scorers.judge_call import (
    case_var,
    extract_json_object,
    judge_request,
    reply_preview,
)
from harness.scorers.judge_prompt import VerdictError

if TYPE_CHECKING:
    from harness.results.models import CaseResult
    from harness.scorers.context import ScoringContext

Outcome = Literal["A", "B", "tie"]


@dataclass(frozen=True)
class RowVerdict:
    """One row's outcome, whether both orders agreed, or why it could not be judged."""

    outcome: Outcome | None
    consistent: bool = False
    error: str | None = None


_TEXT = {
    "en": {
        "system": (
            "You are an impartial judge comparing two answers to the same question. "
            "Criterion: {criteria}\nDo not let the order of the answers, their length or "
            'their style sway you. Reply with one JSON object: {{"reason": "<one sentence>", '
            '"winner": "1" | "2" | "tie"}}'
        ),
        "user": "Question:\n{question}\n\nAnswer 1:\n{first}\n\nAnswer 2:\n{second}",
        "criteria": "Which answer is more correct, relevant and helpful?",
    },
    "zh": {
        "system": (
            "你是一名公正的评审员，比较同一问题的两个回答。评价标准：{criteria}\n"
            "不要受回答的先后顺序、长度或文风影响。只回复一个 JSON 对象："
            '{{"reason": "<一句理由>", "winner": "1" | "2" | "tie"}}'
        ),
        "user": "问题：\n{question}\n\n回答 1：\n{first}\n\n回答 2：\n{second}",
        "criteria": "哪个回答更准确、更切题、更有帮助？",
    },
}
_WINNER_LINE = re.compile(r"^\s*winner\s*[:：]\s*\"?(1|2|tie)\"?\s*$", re.I | re.M)


class PairwiseParams(AnalysisParams):
    #: The reference prompt version and the one compared with it.
    a: str
    b: str
    judge: str | None = None
    criteria: str | None = None
    lang: Literal["en", "zh"] = "en"
    question_var: str = "question"
    #: Only this provider's outputs (default: each provider on its own).
    provider: str | None = None
    json_mode: bool | None = None
    resamples: int = Field(default=10_000, ge=100)
    seed: int = 0


class PairwiseAnalysis(Analysis):
    name = "pairwise"
    title = "Pairwise judging"
    Params = PairwiseParams
    params: PairwiseParams

    def judges(self) -> list[str | None]:
        return [self.params.judge]

    def needs(self) -> Needs:
        p = self.params
        providers = [("provider", p.provider)] if p.provider else []
        wanted = [("a", p.a), ("b", p.b)]
        return Needs(vars=[("question_var", p.question_var)], prompts=wanted, providers=providers)

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        p = self.params
        pairs = _pairs(self.select(results), p.a, p.b, p.provider)
        if not pairs:
            raise ScorerError(
                f"no row has outputs from both prompt versions {p.a!r} and {p.b!r}"
                + (f" on provider {p.provider!r}" if p.provider else "")
            )
        verdicts = await asyncio.gather(*(self._judge(a, b, ctx) for a, b in pairs))
        by_provider: dict[str, list[RowVerdict]] = defaultdict(list)
        for (a, _), verdict in zip(pairs, verdicts, strict=True):
            by_provider[a.provider_id].append(verdict)
        rows, stats = [], {}
        for provider, items in by_provider.items():
            stats[provider] = self._stats(items)
            s = stats[provider]
            rows.append(
                [provider, s["n"], s["b_wins"], s["ties"], s["a_wins"], s["win_rate"],
                 s["ci_low"], s["ci_high"], s["consistency"], s["errors"]]
            )  # fmt: skip
        flags = [
            f"{p.b} {'beats' if s['ci_low'] > 0.5 else 'loses to'} {p.a} on {prov} "
            f"(win rate {s['win_rate']:.2f}, 95% CI {s['ci_low']:.2f}-{s['ci_high']:.2f})"
            for prov, s in stats.items()
            if s["n"] and (s["ci_low"] > 0.5 or s["ci_high"] < 0.5)
        ]
        columns = ["provider", "rows", f"{p.b} wins", "ties", f"{p.a} wins", f"{p.b} win rate",
                   "CI low", "CI high", "order-consistent", "errors"]  # fmt: skip
        names = {"A": p.a, "B": p.b, "tie": "tie", None: None}
        details = [
            [a.row_id, a.provider_id, names[v.outcome], v.consistent, v.error]
            for (a, _), v in zip(pairs, verdicts, strict=True)
        ]
        return self.result(
            summary="; ".join(
                f"{p.b} vs {p.a} on {prov}: {s['b_wins']} wins, {s['ties']} ties, "
                f"{s['a_wins']} losses, win rate {_rate(s['win_rate'])} "
                f"(95% CI {_rate(s['ci_low'])}-{_rate(s['ci_high'])})"
                for prov, s in stats.items()
            )
            + " (ties count half; a row is a win only when the judge agrees in both orders)",
            tables=[
                Table(title="Win / tie / loss", columns=columns, rows=rows),
                Table(
                    title="Per row",
                    columns=["row", "provider", "winner", "orders agree", "error"],
                    rows=details,
                ),
            ],
            charts=[
                BarChart(
                    title=f"{p.b} win rate vs {p.a}",
                    categories=list(stats),
                    values=[s["win_rate"] for s in stats.values()],
                    low=[s["ci_low"] for s in stats.values()],
                    high=[s["ci_high"] for s in stats.values()],
                    unit="win rate",
                    reference=0.5,
                )
            ],
            flags=flags,
            data={"by_provider": stats},
        )

    async def _judge(self, a: CaseResult, b: CaseResult, ctx: ScoringContext) -> RowVerdict:
        """A first then B first; a judge that cannot be read, or a call that failed for good,
        makes the row an error (a rejected key stops the analysis, as it stops a run)."""
        try:
            question = str(case_var(a.vars, self.params.question_var))
            first = await self._ask(question, a.output or "", b.output or "", ctx)
            second = await self._ask(question, b.output or "", a.output or "", ctx)
        except AuthError:
            raise
        except (ScorerError, ProviderError) as e:
            return RowVerdict(None, error=str(e))
        one: Outcome = {"1": "A", "2": "B", "tie": "tie"}[first]  # type: ignore[assignment]
        two: Outcome = {"1": "B", "2": "A", "tie": "tie"}[second]  # type: ignore[assignment]
        return RowVerdict(one if one == two else "tie", consistent=one == two)

    async def _ask(self, question: str, first: str, second: str, ctx: ScoringContext) -> str:
        p = self.params
        text = _TEXT[p.lang]
        system = text["system"].format(criteria=p.criteria or text["criteria"])
        user = text["user"].format(question=question, first=first, second=second)
        messages = [Message(role="system", content=system), Message(role="user", content=user)]
        request = judge_request(
            ctx, p.judge, messages, json_mode=p.json_mode, default_max_tokens=256
        )
        return await ctx.ask(request, parse_winner, p.judge)  # an unreadable reply is not kept

    def _stats(self, verdicts: list[RowVerdict]) -> dict[str, Any]:
        judged = [v.outcome for v in verdicts if v.outcome is not None]
        agreed = [v.consistent for v in verdicts if v.outcome is not None]
        points = np.array([{"B": 1.0, "tie": 0.5, "A": 0.0}[o] for o in judged])
        low = high = rate = None
        if len(points):
            rate = float(points.mean())
            rng = np.random.default_rng(self.params.seed)
            low, high = bootstrap_ci(points, resamples=self.params.resamples, rng=rng)
        return {
            "n": len(judged),
            "b_wins": judged.count("B"),
            "ties": judged.count("tie"),
            "a_wins": judged.count("A"),
            "win_rate": rate,
            "ci_low": low,
            "ci_high": high,
            "consistency": float(np.mean(agreed)) if agreed else None,
            "errors": len(verdicts) - len(judged),
        }


def parse_winner(text: str) -> str:
    """ "1", "2" or "tie" from the judge's reply, or VerdictError."""
    found = extract_json_object(text)
    if found is not None and "winner" in found:
        winner = str(found["winner"]).strip().lower().removeprefix("answer").strip()
        if winner in ("1", "2", "tie"):
            return winner
    lines = {w.lower() for w in _WINNER_LINE.findall(text)}
    if len(lines) == 1:
        return lines.pop()
    raise VerdictError(
        f"unparseable pairwise verdict (expected winner 1, 2 or tie): {reply_preview(text)}"
    )


def _pairs(
    results: list[CaseResult], a: str, b: str, provider: str | None
) -> list[tuple[CaseResult, CaseResult]]:
    """(A's result, B's result) per (row, provider) where both produced an output."""
    found: dict[tuple[str, str, str], CaseResult] = {}
    for r in results:
        if (
            r.output is not None
            and r.error is None
            and (provider is None or r.provider_id == provider)
        ):
            found[(r.row_id, r.provider_id, r.prompt_id)] = r
    return [
        (found[(row, prov, a)], found[(row, prov, b)])
        for (row, prov, prompt) in found
        if prompt == a and (row, prov, b) in found
    ]


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
