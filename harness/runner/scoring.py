"""Apply a case's assertions to an output."""

from __future__ import annotations

from harness.cases import BoundAssert, CaseRow
from harness.errors import AuthError
from harness.results.models import Score
from harness.runner.context import ScoringContext
from harness.scorers.base import ModelScorer, ScoreValue


async def score_output(
    row: CaseRow, output: str, ctx: ScoringContext | None = None
) -> tuple[list[Score], bool]:
    """Every assertion's score and whether all passed. A scorer that crashes (or a judge that
    cannot be reached) fails its assertion with the error recorded; it never counts as a
    pass or as a 0 score."""
    scores = [await _score(bound, row, output, ctx) for bound in row.asserts]
    return scores, all(s.passed for s in scores)


async def _score(
    bound: BoundAssert, row: CaseRow, output: str, ctx: ScoringContext | None
) -> Score:
    scorer = bound.scorer
    common = {
        "scorer": scorer.name,
        "version": scorer.version_string,
        "threshold": bound.threshold,
        "higher_is_better": scorer.higher_is_better,
    }
    try:
        result: ScoreValue
        if isinstance(scorer, ModelScorer):
            result = await scorer.ascore(output, row.expected, row.vars, ctx or ScoringContext())
        else:
            result = scorer.score(output, row.expected, row.vars)
    except AuthError:
        raise  # a judge's bad key stops the run, as the model under test's would
    except Exception as e:  # a scorer bug must not kill the run: record it on the case
        return Score(**common, value=None, passed=False, error=f"{type(e).__name__}: {e}")
    return Score(
        **common,
        value=result.value,
        passed=scorer.passes(result.value, bound.threshold),
        answer=result.answer,
        explanation=result.explanation,
        metadata=result.metadata,
    )
