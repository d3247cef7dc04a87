"""Apply a case's assertions to an output."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

from jinja2 import Template

from harness.cases import BoundAssert, Case, CaseRow
from harness.errors import AuthError
from harness.providers.base import Generation
from harness.results.models import Score
from harness.runner.context import ScoringContext
from harness.runner.memo import CaseScores, ScoreMemo
from harness.scorers.base import ModelScorer, ScoreValue
from harness.scorers.case import CaseModelScorer, CaseScorer, CaseView
from harness.suite.templates import TemplateRenderError, evaluate


def case_view(case: Case, generation: Generation, cost_usd: float | None = None) -> CaseView:
    """What scorers that read the whole case see: the row, the rendered messages, who
    answered, and what the provider returned besides the text (contexts, tool calls), what
    the call took and cost (``cost_usd``, as recorded). Stored outputs were no call: their
    lookup time is no latency."""
    row = case.row
    return CaseView.build(
        vars=row.vars,
        expected=row.expected,
        messages=[m.model_dump() for m in case.request.messages],
        provider_id=case.provider.id,
        prompt_id=case.prompt_id,
        row_id=row.row_id,
        case_set=row.case_set,
        tags=row.tags,
        contexts=generation.contexts,
        tool_calls=generation.tool_calls,
        metadata=generation.metadata,
        latency_s=generation.latency_s if case.provider.cacheable else None,
        cost_usd=cost_usd,
    )


async def score_output(
    row: CaseRow,
    output: str,
    ctx: ScoringContext | None = None,
    view: Callable[[], CaseView] | None = None,
    memo: ScoreMemo | None = None,
) -> tuple[list[Score], bool]:
    """Every assertion's score and whether all passed. A scorer that crashes (or a judge that
    cannot be reached) fails its assertion with the error recorded; it never counts as a
    pass or as a 0 score. ``view`` makes what whole-case scorers get (see :func:`case_view`;
    made only for them, most scorers never read it); without one they see the row alone.
    With ``memo``, plain scorers' values stored for the same inputs are reused."""
    made: list[CaseView] = []

    def whole_case() -> CaseView:
        if not made:
            made.append(view() if view is not None else _row_view(row))
        return made[0]

    stored = memo.for_case(row, output) if memo is not None else None
    scores = [await _score(bound, row, output, ctx, whole_case, stored) for bound in row.asserts]
    return scores, case_passed(scores, row.threshold)


def _row_view(row: CaseRow) -> CaseView:
    return CaseView.build(
        vars=row.vars,
        expected=row.expected,
        messages=(),
        provider_id="",
        prompt_id="",
        row_id=row.row_id,
        case_set=row.case_set,
        tags=row.tags,
    )


def case_score(scores: Sequence[Score]) -> float | None:
    """promptfoo's weighted test score, sum(weight * passed) / sum(weight), each assertion
    counting 1 when it passed and 0 when not (or when it could not be scored); None when
    no assertion has weight."""
    total = sum(s.weight for s in scores)
    if not total:
        return None
    return sum(s.weight for s in scores if s.passed is True) / total


def case_passed(scores: Sequence[Score], threshold: float | None) -> bool:
    """With a case ``threshold``: whether the case score reaches it (promptfoo: the
    threshold overrides the assertions' own verdicts); without: whether every assertion of
    weight > 0 passed (weight 0 is informational). Either way an assertion of weight > 0
    that could not be scored fails the case: an error is never a 0 the others outweigh."""
    if any(s.error is not None for s in scores if s.weight > 0):
        return False
    if threshold is None:
        return all(s.passed is True for s in scores if s.weight > 0)
    score = case_score(scores)
    return score is not None and (score >= threshold or math.isclose(score, threshold))


async def _score(
    bound: BoundAssert,
    row: CaseRow,
    output: str,
    ctx: ScoringContext | None,
    view: Callable[[], CaseView],
    stored: CaseScores | None,
) -> Score:
    scorer = bound.scorer
    common = {
        "name": bound.name,
        "scorer": scorer.name,
        "version": scorer.version_string,
        "threshold": bound.threshold,
        "higher_is_better": scorer.higher_is_better != bound.invert,
        "inverted": bound.invert,
        "weight": bound.weight,
    }
    if bound.transform is not None:
        try:
            output = _transformed(bound.transform, output, row)
        except TemplateRenderError as e:
            error = f"transform of assertion '{bound.name}' ({bound.where}) failed: {e}"
            return Score(**common, value=None, passed=False, error=error)
    try:
        result: ScoreValue
        if isinstance(scorer, CaseModelScorer):
            result = await scorer.ascore_case(output, view(), ctx or ScoringContext())
        elif isinstance(scorer, ModelScorer):
            result = await scorer.ascore(output, row.expected, row.vars, ctx or ScoringContext())
        elif isinstance(scorer, CaseScorer):
            result = await scorer.score_case(output, view())
        elif stored is not None:
            result = stored.score(bound, output)
        else:
            result = scorer.score(output, row.expected, row.vars)
    except AuthError:
        raise  # a judge's bad key stops the run, as the model under test's would
    except Exception as e:  # a scorer bug must not kill the run: record it on the case
        return Score(**common, value=None, passed=False, error=f"{type(e).__name__}: {e}")
    passed = result.passed
    if passed is None:
        passed = scorer.passes(result.value, bound.threshold)
    explanation = result.explanation
    if bound.invert:  # an error above stays a failure: only a verdict is inverted
        was = "passed" if passed else "failed"
        explanation = f"inverted: {explanation or f'{scorer.name} {was}'}"
        passed = not passed
    return Score(
        **common,
        value=result.value,
        passed=passed,
        # what the scorer saw, when a transform made it and the scorer extracted nothing
        answer=output if result.answer is None and bound.transform is not None else result.answer,
        explanation=explanation,
        metadata=result.metadata,
    )


def _transformed(transform: Template, output: str, row: CaseRow) -> str:
    """The assertion's ``transform`` of ``output``; a value that is not text is passed on as
    its JSON (``42``, ``true``, ``{"a": 1}``)."""
    value = evaluate(transform, {"output": output, "vars": row.vars})
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
