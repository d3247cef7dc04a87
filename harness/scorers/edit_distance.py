"""``levenshtein``: how few character edits turn the output into an acceptable answer.

rapidfuzz computes it (``rapidfuzz.distance.Levenshtein``): insertions, deletions and
substitutions of one Unicode code point each, so a Chinese character is one edit like a
Latin letter. Surrounding whitespace is stripped first, as ``exact`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz.distance import Levenshtein

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue, package_version


class LevenshteinScorer(Scorer):
    """Normalized Levenshtein similarity (``1 - distance / longer length``) to the closest of
    ``value`` (a string or a list) or, without it, of the expected answers.

    ``max_distance`` passes on the absolute distance instead (at most that many edits from
    some answer), whatever the threshold; the value is still the similarity.
    """

    name = "levenshtein"
    version = "1"
    default_threshold = 0.8

    def __init__(self, *, value: str | list[str] | None = None, max_distance: int | None = None):
        if max_distance is not None and max_distance < 0:
            raise ScorerError(f"levenshtein: 'max_distance' must be 0 or more, got {max_distance}")
        if value == []:
            raise ScorerError("levenshtein: 'value' is an empty list; give at least one string")
        self._values = [value] if isinstance(value, str) else value
        self._max_distance = max_distance
        self.needs_expected = value is None

    @property
    def version_string(self) -> str:
        return f"{super().version_string}+rapidfuzz-{package_version('rapidfuzz')}"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        text = output.strip()
        targets = [t.strip() for t in self._values or self.require_expected(expected)]
        similarities = [Levenshtein.normalized_similarity(text, t) for t in targets]
        best = max(range(len(targets)), key=similarities.__getitem__)
        distances = [Levenshtein.distance(text, t) for t in targets]
        nearest = min(range(len(targets)), key=distances.__getitem__)
        result = ScoreValue(
            value=similarities[best],
            answer=text,
            explanation=f"similarity {similarities[best]:.3f} to {targets[best]!r} "
            f"(distance {distances[best]})",
            metadata={"closest": targets[best], "distance": distances[best]},
        )
        if self._max_distance is None:
            return result
        passed = distances[nearest] <= self._max_distance
        sign = "<=" if passed else ">"
        return result.model_copy(
            update={
                "passed": passed,
                "explanation": f"distance {distances[nearest]} to {targets[nearest]!r} "
                f"{sign} max {self._max_distance}",
            }
        )
