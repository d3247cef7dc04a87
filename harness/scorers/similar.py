"""``similar``: cosine similarity of the output's and the expected answer's embeddings.

Vectors come from the suite's embedder through the scoring context (cached like
responses); with several expected answers the best match counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.scorers.base import ModelScorer, ScoreValue

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext


class SimilarScorer(ModelScorer):
    """Max cosine similarity between the output and any expected answer.

    Cosine can be negative; the value is clipped to [0, 1] so it aggregates like the
    other scores (the raw cosine is kept in the metadata).
    """

    name = "similar"
    version = "1"
    default_threshold = 0.8
    needs_expected = True

    def __init__(self, *, embedder: str | None = None) -> None:
        self.embedder = embedder

    def embedders(self) -> list[str | None]:
        return [self.embedder]

    async def ascore(
        self,
        output: str,
        expected: Sequence[str],
        vars: Mapping[str, Any],
        ctx: ScoringContext,
    ) -> ScoreValue:
        targets = list(self.require_expected(expected))
        vectors = np.asarray(await ctx.embed([output, *targets], self.embedder), dtype=np.float64)
        cosines = [cosine(vectors[0], v) for v in vectors[1:]]
        best = int(np.argmax(cosines))
        return ScoreValue(
            value=min(1.0, max(0.0, cosines[best])),
            answer=targets[best],
            explanation=f"cosine {cosines[best]:.4f} with expected answer {best + 1}",
            metadata={"cosines": cosines},
        )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 0 when either vector is all zeros (an empty text may embed so)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm else 0.0
