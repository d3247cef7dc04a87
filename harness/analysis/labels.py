"""Labels of classification-style cases: the true label, the predicted one, normalised.

A model says "Positive.", " positive", "POS" or "积极" for one label; normalisation
(Unicode NFKC, which also folds full-width letters; case; whitespace; edge punctuation)
and a synonyms map declared in the suite make them one label. A prediction that is not
a known label after that counts as the label ``(other)``, and an errored call as
``(no output)``: both are wrong answers, never dropped.
"""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel, Field

from harness.analysis.base import Needs
from harness.analysis.outcomes import score_of
from harness.results.models import CaseResult

OTHER = "(other)"
NO_OUTPUT = "(no output)"


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


def label_needs(params: LabelParams) -> Needs:
    """The variable holding true labels and the scorer whose answer is the prediction."""
    return Needs(
        vars=[("label_var", params.label_var)] if params.label_var else [],
        scorers=[("answer_of", params.answer_of)] if params.answer_of else [],
    )


class LabelReader:
    """Reads true and predicted labels of cases, normalised to canonical display labels."""

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

    def true_label(self, result: CaseResult) -> str | None:
        """The expected label (the first expected answer, or ``label_var``); None if absent."""
        if self.params.label_var is not None:
            raw = result.vars.get(self.params.label_var)
            return None if raw is None else self.canonical(str(raw))
        return self.canonical(result.expected[0]) if result.expected else None

    def predicted_raw(self, result: CaseResult) -> str | None:
        if self.params.answer_of is not None:
            score = score_of(result, self.params.answer_of)
            return None if score is None else score.answer
        return result.output

    def label_set(self, true_labels: list[str]) -> list[str]:
        """The known labels in display order."""
        if self.params.labels is not None:
            return [self.canonical(label) for label in self.params.labels]
        return sorted(set(true_labels))

    def predicted_label(self, result: CaseResult, known: list[str]) -> str:
        """The predicted label; ``(other)`` when unknown, ``(no output)`` on an error."""
        raw = self.predicted_raw(result)
        if raw is None:
            return NO_OUTPUT
        label = self.canonical(raw)
        return label if label in known else OTHER


def _punct_or_space(c: str) -> bool:
    return c.isspace() or unicodedata.category(c).startswith("P")
