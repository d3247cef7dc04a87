"""Apply a case's assertions to an output."""

from __future__ import annotations

from harness.cases import CaseRow
from harness.results.models import Score


def score_output(row: CaseRow, output: str) -> tuple[list[Score], bool]:
    """Every assertion's score and whether all passed. A scorer that crashes fails its
    assertion with the error recorded; it never counts as a pass or as a 0 score."""
    scores = []
    for bound in row.asserts:
        scorer = bound.scorer
        try:
            result = scorer.score(output, row.expected, row.vars)
        except Exception as e:  # a scorer bug must not kill the run: record it on the case
            scores.append(
                Score(
                    scorer=scorer.name,
                    version=scorer.version_string,
                    value=None,
                    threshold=bound.threshold,
                    passed=False,
                    higher_is_better=scorer.higher_is_better,
                    error=f"{type(e).__name__}: {e}",
                )
            )
            continue
        scores.append(
            Score(
                scorer=scorer.name,
                version=scorer.version_string,
                value=result.value,
                threshold=bound.threshold,
                passed=scorer.passes(result.value, bound.threshold),
                higher_is_better=scorer.higher_is_better,
                answer=result.answer,
                explanation=result.explanation,
                metadata=result.metadata,
            )
        )
    return scores, all(s.passed for s in scores)
