"""Substring assertions people write every day: ``icontains``, ``contains_any``,
``contains_all`` and ``starts_with``.

Text is compared in Unicode NFC, so an ``é`` typed as one character matches one typed as
``e`` plus an accent. Case-insensitive comparison is Unicode's canonical caseless match
(NFD, casefold, then NFC here): ``STRASSE`` contains ``straße``, ``ΣΊΣΥΦΟΣ`` ``σίσυφος``.
An empty needle would be in every output, so it is refused rather than passed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue


def nfc(text: str) -> str:
    """``text`` in Unicode NFC: one spelling for each accented character."""
    return unicodedata.normalize("NFC", text)


def caseless(text: str) -> str:
    """Unicode canonical caseless form (NFC of the casefolded NFD): equal for texts that
    differ only in case or in how their accents are encoded."""
    return nfc(unicodedata.normalize("NFD", text).casefold())


def _folder(case_sensitive: bool) -> Callable[[str], str]:
    return nfc if case_sensitive else caseless


class _NeedleScorer(Scorer):
    """Looks for fixed strings (``value``) or, without them, the expected answers."""

    version = "1"

    def _setup(self, value: str | list[str] | None, case_sensitive: bool) -> None:
        self._fold = _folder(case_sensitive)
        self._values = [value] if isinstance(value, str) else value
        self._folded = None if self._values is None else self._checked(self._values, "'value'")
        self.needs_expected = self._values is None

    def _checked(self, needles: Sequence[str], where: str) -> list[str]:
        """``needles`` prepared for comparison; an empty one (or none) is an error."""
        if not needles:
            raise ScorerError(f"{self.name}: {where} is an empty list; give at least one string")
        folded = [self._fold(self._prepared(n)) for n in needles]
        if not all(folded):
            raise ScorerError(
                f"{self.name}: {where} has an empty string, which every output would match"
            )
        return folded

    def _prepared(self, text: str) -> str:
        """Hook: what is done to the output and every needle before comparing."""
        return text

    def _needles(self, expected: Sequence[str]) -> tuple[list[str], list[str]]:
        """The strings to look for, as written and as compared."""
        if self._values is not None and self._folded is not None:
            return self._values, self._folded
        written = list(self.require_expected(expected))
        return written, self._checked(written, "an expected answer")

    def _matches(self, text: str, needle: str) -> bool:
        return needle in text

    def _found(self, output: str, expected: Sequence[str]) -> tuple[list[str], list[str]]:
        """The needles the output matches and those it does not, as written."""
        written, needles = self._needles(expected)
        text = self._fold(self._prepared(output))
        found = [w for w, n in zip(written, needles, strict=True) if self._matches(text, n)]
        return found, [w for w in written if w not in found]

    def _any(self, output: str, expected: Sequence[str], verb: str) -> ScoreValue:
        """1 when the output matches at least one needle (the first is the answer)."""
        found, missing = self._found(output, expected)
        if found:
            return ScoreValue(value=1.0, answer=found[0], explanation=f"{verb} {found[0]!r}")
        return ScoreValue(value=0.0, explanation=f"{verb} none of {missing!r}")


class IContainsScorer(_NeedleScorer):
    """1 when the output contains ``value`` ignoring case (Unicode-aware); without
    ``value``, when it contains any of the expected answers."""

    name = "icontains"

    def __init__(self, *, value: str | None = None):
        self._setup(value, case_sensitive=False)

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        return self._any(output, expected, "contains")


class _ListScorer(_NeedleScorer):
    def __init__(self, *, value: list[str], case_sensitive: bool = True):
        self._setup(value, case_sensitive)


class ContainsAnyScorer(_ListScorer):
    """1 when the output contains at least one string of ``value``."""

    name = "contains_any"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        return self._any(output, expected, "contains")


class ContainsAllScorer(_ListScorer):
    """The fraction of the strings of ``value`` the output contains (passes at 1: all)."""

    name = "contains_all"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        found, missing = self._found(output, expected)
        share = len(found) / (len(found) + len(missing))
        if missing:
            return ScoreValue(value=share, explanation=f"missing {missing!r}")
        return ScoreValue(value=share, explanation=f"contains all {len(found)}")


class StartsWithScorer(_NeedleScorer):
    """1 when the output starts with ``value`` (any of a list; without ``value``, any expected
    answer). Leading whitespace is ignored on both sides: a model's answer often opens with a
    newline or a space that no reader sees."""

    name = "starts_with"

    def __init__(self, *, value: str | list[str] | None = None, case_sensitive: bool = True):
        self._setup(value, case_sensitive)

    def _prepared(self, text: str) -> str:
        return text.lstrip()

    def _matches(self, text: str, needle: str) -> bool:
        return text.startswith(needle)

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        return self._any(output, expected, "starts with")
