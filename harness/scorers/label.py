"""A label assertion that reads labels exactly as the classification analysis does.

``exact`` compares strings; a classifier that says "Positive." or "积极" for the label
``positive`` is right, and the ``classification`` analysis counts it so. This scorer uses
the same normalisation (NFKC, case, edge punctuation) and synonyms map, so the per-case
verdicts and the run-level precision/recall never disagree about what was predicted. The
normalisation lives here and :mod:`harness.analysis.labels` builds on it, so the scorers never
import the analyses (which import the scorers).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from harness.scorers.base import Scorer, ScoreValue


class LabelParams(BaseModel):
    """How labels are read and normalised (shared by classification and fairness)."""

    #: The label set in display order (default: the true labels seen, sorted).
    labels: list[str] | None = Field(default=None, min_length=1)
    #: Canonical label -> other spellings that mean it (e.g. positive: [pos, 积极]).
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    lowercase: bool = True
    #: Unicode NFKC (full-width letters to ASCII, compatibility forms) before comparing.
    nfkc: bool = True
    #: Strip punctuation at both ends ("Positive." -> "positive").
    strip_punctuation: bool = True
    #: Predicted label: a scorer's extracted answer (e.g. ``choice``) instead of the output.
    answer_of: str | None = None
    #: True label: a case variable instead of the first expected answer.
    label_var: str | None = None


class LabelNormalizer:
    """Maps any spelling of a label to its canonical display label (the ``label`` scorer's and
    the classification analysis' one reading)."""

    def __init__(self, params: LabelParams) -> None:
        self.params = params
        self._canonical: dict[str, str] = {}
        for label in params.labels or []:
            self._canonical[self.normalize(label)] = label
        for label, others in params.synonyms.items():
            for spelling in [label, *others]:
                self._canonical[self.normalize(spelling)] = label

    def normalize(self, text: str) -> str:
        """The text as compared: NFKC, lowercase, collapsed whitespace, edge punctuation off."""
        if self.params.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.params.lowercase:
            text = text.casefold()
        text = " ".join(text.split())
        if self.params.strip_punctuation:
            start, end = 0, len(text)
            while start < end and _punct_or_space(text[start]):
                start += 1
            while end > start and _punct_or_space(text[end - 1]):
                end -= 1
            text = text[start:end]
        return text

    def canonical(self, text: str) -> str:
        key = self.normalize(text)
        return self._canonical.get(key, key)


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
        self._reader = LabelNormalizer(
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


def _punct_or_space(c: str) -> bool:
    return c.isspace() or unicodedata.category(c).startswith("P")
