"""String scorers: exact match, SQuAD token F1, substring and regex assertions."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lowercase, drop ASCII punctuation and a/an/the,
    collapse whitespace (same steps, same order as the official evaluate script)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_f1(prediction: str, ground_truth: str) -> float:
    """SQuAD v1.1 ``f1_score``: bag-of-tokens F1 of the normalized strings."""
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    num_same = sum((Counter(prediction_tokens) & Counter(truth_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "none": str.strip,
    "lower": lambda s: s.strip().lower(),
    "squad": normalize_answer,
}


class ExactScorer(Scorer):
    """1 when the output equals one of the expected answers after normalization.

    ``normalize``: ``"none"`` strips surrounding whitespace only, ``"lower"`` also
    lowercases, ``"squad"`` is SQuAD's exact match (see :func:`normalize_answer`).
    """

    name = "exact"
    version = "1"
    needs_expected = True

    def __init__(self, *, normalize: Literal["none", "squad", "lower"] = "none"):
        self._normalize = _NORMALIZERS[normalize]

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        answer = self._normalize(output)
        targets = [self._normalize(e) for e in self.require_expected(expected)]
        if answer in targets:
            return ScoreValue(value=1.0, answer=answer)
        return ScoreValue(
            value=0.0, answer=answer, explanation=f"{answer!r} is not one of {targets!r}"
        )


class F1Scorer(Scorer):
    """Token F1 exactly as the official SQuAD v1.1 script, max over the expected answers.

    English only: tokens are whitespace-separated words, so an unsegmented Chinese
    answer is a single token and scores 0 or 1. For Chinese use ``rouge1``/``rougeL``
    (one token per CJK character) or ``chrf``.
    """

    name = "f1"
    version = "1"
    needs_expected = True
    default_threshold = 0.5

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        scores = [squad_f1(output, e) for e in self.require_expected(expected)]
        best = max(range(len(scores)), key=scores.__getitem__)
        return ScoreValue(
            value=scores[best],
            answer=normalize_answer(output),
            metadata={"best_expected": expected[best]},
        )


class ContainsScorer(Scorer):
    """1 when the output contains every string of ``value``; without ``value``, when it
    contains any of the expected answers."""

    name = "contains"
    version = "1"

    def __init__(self, *, value: str | list[str] | None = None, ignore_case: bool = False):
        self._required = [value] if isinstance(value, str) else value
        self.needs_expected = value is None
        self._fold: Callable[[str], str] = str.casefold if ignore_case else (lambda s: s)

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        text = self._fold(output)
        if self._required is not None:
            missing = [v for v in self._required if self._fold(v) not in text]
            if missing:
                return ScoreValue(value=0.0, explanation=f"missing {missing!r}")
            return ScoreValue(value=1.0)
        found = [e for e in self.require_expected(expected) if self._fold(e) in text]
        if found:
            return ScoreValue(value=1.0, answer=found[0])
        return ScoreValue(value=0.0, explanation=f"contains none of {list(expected)!r}")


_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class RegexScorer(Scorer):
    """1 when ``pattern`` is found anywhere in the output (``re.search``).

    ``flags`` is a string of letters: ``i`` ignore case, ``m`` multiline, ``s`` dot
    matches newline, ``x`` verbose.
    """

    name = "regex"
    version = "1"

    def __init__(self, *, pattern: str, flags: str = ""):
        unknown = sorted(set(flags) - set(_REGEX_FLAGS))
        if unknown:
            raise ScorerError(
                f"regex: unknown flag(s) {''.join(unknown)!r}; use any of {''.join(_REGEX_FLAGS)!r}"
            )
        combined = re.NOFLAG
        for letter in flags:
            combined |= _REGEX_FLAGS[letter]
        try:
            self._pattern = re.compile(pattern, combined)
        except re.error as e:
            raise ScorerError(f"regex: invalid pattern {pattern!r}: {e}") from e

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        match = self._pattern.search(output)
        if match is None:
            return ScoreValue(value=0.0, explanation=f"no match for /{self._pattern.pattern}/")
        return ScoreValue(value=1.0, answer=match.group(0))
