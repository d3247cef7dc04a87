"""A label assertion that reads labels exactly as the classification analysis does.

``exact`` compares strings; a classifier that says "Positive." or "积极" for the label
``positive`` is right, and the ``classification`` analysis counts it so. This scorer uses
the same normalisation (NFKC, case, edge punctuation) and synonyms map, so the per-case
verdicts and the run-level precision/recall never disagree about what was predicted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.labels import LabelParams, LabelReader
from harness.scorers.base import Scorer, ScoreValue


class LabelScorer(Scorer):
    """1 when the output's canonical label equals the expected answer's."""

    name = "label"
    version = "1"
    needs_expected = True

    def __init__(
        self,
        *,
        synonyms: dict[str, list[str]] | None = None,
        lowercase: bool = True,
        nfkc: bool = True,
        strip_punctuation: bool = True,
    ) -> None:
        self._reader = LabelReader(
            LabelParams(
                synonyms=synonyms or {},
                lowercase=lowercase,
                nfkc=nfkc,
                strip_punctuation=strip_punctuation,
            )
        )

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        predicted = self._reader.canonical(output)
        targets = [self._reader.canonical(e) for e in self.require_expected(expected)]
        if predicted in targets:
            return ScoreValue(value=1.0, answer=predicted)
        return ScoreValue(
            value=0.0, answer=predicted, explanation=f"label {predicted!r}, expected {targets[0]!r}"
        )
