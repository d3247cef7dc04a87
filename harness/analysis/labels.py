"""Labels of classification-style cases: the true label, the predicted one, normalised.

A model says "Positive.", " positive", "POS" or "积极" for one label; normalisation
(Unicode NFKC, which also folds full-width letters; case; whitespace; edge punctuation)
and a synonyms map declared in the suite make them one label. A prediction that is not
a known label after that counts as the label ``(other)``, and an errored call as
``(no output)``: both are wrong answers, never dropped.
"""

from __future__ import annotations

from harness.analysis.base import Needs
from harness.analysis.outcomes import score_of
from harness.results.models import CaseResult
from harness.scorers.label import LabelNormalizer, LabelParams

OTHER = "(other)"
NO_OUTPUT = "(no output)"


def label_needs(params: LabelParams) -> Needs:
    """The variable holding true labels and the scorer whose answer is the prediction."""
    return Needs(
        vars=[("label_var", params.label_var)] if params.label_var else [],
        scorers=[("answer_of", params.answer_of)] if params.answer_of else [],
    )


class LabelReader(LabelNormalizer):
    """Reads true and predicted labels of cases, normalised to canonical display labels."""

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
