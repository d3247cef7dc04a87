"""ROUGE-1/2/L/Lsum through Google's rouge-score, with CJK-aware tokenization.

English text gets exactly rouge-score's numbers (see :mod:`harness.scorers.cjk`);
Chinese/Japanese/Korean characters count one token each instead of vanishing.
With several references the best one by F-measure is used (rouge-score's
``score_multi``), and precision/recall are reported for that same reference.
``rougeLsum`` treats newlines as sentence boundaries, as rouge-score does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from rouge_score import rouge_scorer

from harness.scorers.base import Scorer, ScoreValue, package_version
from harness.scorers.cjk import CJKTokenizer

_MEASURES = {"f": "fmeasure", "p": "precision", "r": "recall"}


class _RougeScorer(Scorer):
    """One ROUGE variant; ``measure`` picks F-measure, precision or recall as the value."""

    rouge_type: ClassVar[str]
    version = "1"
    needs_expected = True
    default_threshold = 0.5
    reuse_scores = True

    def __init__(self, *, use_stemmer: bool = False, measure: Literal["f", "p", "r"] = "f"):
        self._measure = _MEASURES[measure]
        self._scorer = rouge_scorer.RougeScorer(
            [self.rouge_type], tokenizer=CJKTokenizer(use_stemmer)
        )

    @property
    def version_string(self) -> str:
        return f"{super().version_string}+rouge-score-{package_version('rouge-score')}+cjk"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        references = list(self.require_expected(expected))
        best = self._scorer.score_multi(references, output)[self.rouge_type]
        return ScoreValue(
            value=float(getattr(best, self._measure)),
            metadata={
                "precision": float(best.precision),
                "recall": float(best.recall),
                "fmeasure": float(best.fmeasure),
            },
        )


class Rouge1Scorer(_RougeScorer):
    """Unigram overlap."""

    name = rouge_type = "rouge1"


class Rouge2Scorer(_RougeScorer):
    """Bigram overlap."""

    name = rouge_type = "rouge2"


class RougeLScorer(_RougeScorer):
    """Longest common subsequence over the whole text."""

    name = rouge_type = "rougeL"


class RougeLsumScorer(_RougeScorer):
    """Summary-level LCS: union LCS per newline-separated sentence."""

    name = rouge_type = "rougeLsum"
