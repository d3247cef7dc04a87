"""``judge``: an LLM grades each output against a rubric (criteria + graded scale).

The grade is normalised to [0, 1] (lowest grade 0, highest 1) so it aggregates like
every other score; the raw grade is the score's ``answer`` and its reason the
explanation. The default threshold is the rubric's pass grade, normalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import ScorerError
from harness.scorers.base import ModelScorer, ScoreValue
from harness.scorers.judge_call import case_contexts, case_var, judge_request
from harness.scorers.judge_prompt import Subject, judge_messages, parse_verdict
from harness.scorers.judge_rubric import Language, load_rubric

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext


class JudgeScorer(ModelScorer):
    """Grade the output on a rubric with the suite's judge.

    ``rubric``: a shipped name (accuracy, relevance, fluency, transparency, safety,
    human_alignment; ``lang`` en or zh) or an inline rubric. ``question_var`` and
    ``contexts_var`` name the case vars shown to the judge (None: not shown); expected
    answers are shown as references when ``reference`` is true.
    """

    name = "judge"
    version = "1"

    def __init__(
        self,
        *,
        rubric: str | dict[str, Any],
        lang: Language = "en",
        judge: str | None = None,
        question_var: str | None = "question",
        contexts_var: str | None = None,
        reference: bool = True,
        pass_grade: int | None = None,
        json_mode: bool | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.rubric = load_rubric(rubric, lang)
        if pass_grade is not None:
            if pass_grade not in {g.grade for g in self.rubric.scale}:
                raise ScorerError(
                    f"pass_grade {pass_grade} is not on rubric {self.rubric.name!r}'s scale "
                    f"{self.rubric.low}..{self.rubric.high}"
                )
            self.rubric = self.rubric.model_copy(update={"pass_grade": pass_grade})
        assert self.rubric.pass_grade is not None
        self.default_threshold = self.rubric.normalise(self.rubric.pass_grade)
        self.judge = judge
        self.question_var = question_var
        self.contexts_var = contexts_var
        self.reference = reference
        self.json_mode = json_mode
        self.max_tokens = max_tokens

    @property
    def version_string(self) -> str:
        r = self.rubric
        return f"{self.name}@{self.version} rubric={r.name}/{r.language}#{r.fingerprint}"

    def judges(self) -> list[str | None]:
        return [self.judge]

    def vars_needed(self) -> list[str]:
        return [v for v in (self.question_var, self.contexts_var) if v is not None]

    async def ascore(
        self,
        output: str,
        expected: Sequence[str],
        vars: Mapping[str, Any],
        ctx: ScoringContext,
    ) -> ScoreValue:
        subject = Subject(
            answer=output,
            question=None if self.question_var is None else str(case_var(vars, self.question_var)),
            references=list(expected) if self.reference else [],
            contexts=case_contexts(vars, self.contexts_var) if self.contexts_var else [],
        )
        request = judge_request(
            ctx,
            self.judge,
            judge_messages(self.rubric, subject),
            json_mode=self.json_mode,
            default_max_tokens=512,
            max_tokens=self.max_tokens,  # None: the judge's configured max_tokens, else 512
        )
        # A reply that is no grade on the scale is an error, and is not kept in the cache.
        verdict = await ctx.ask(request, lambda text: parse_verdict(text, self.rubric), self.judge)
        return ScoreValue(
            value=self.rubric.normalise(verdict.grade),
            answer=str(verdict.grade),
            explanation=verdict.reason,
            metadata={
                "grade": verdict.grade,
                "scale": [self.rubric.low, self.rubric.high],
                "pass_grade": self.rubric.pass_grade,
                "rubric": self.rubric.name,
                "verdicts": [
                    {"label": self.rubric.name, "verdict": verdict.grade, "reason": verdict.reason}
                ],
            },
        )
