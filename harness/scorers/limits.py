"""Bounds on a measured amount: ``word_count`` and ``length`` of the output, ``latency`` and
``cost`` of the call that produced it. Each scores 1 inside its bounds and 0 outside, and
says which bound it crossed ("latency 1234 ms > max 1000 ms").

Words: each CJK character is one word (the unit the CJK-aware ROUGE tokenizer counts, since
Chinese is written without spaces); elsewhere a word is a whitespace-separated run holding
at least one letter or digit, so punctuation alone ("—", "，") is no word. Length counts
Unicode code points of the output with surrounding whitespace stripped.

Latency and cost are the call's, as recorded with the result: a cached answer keeps its
original call's latency and cost (as promptfoo does), so a budget assertion does not flip
between a fresh run and a cached one. A case whose latency or cost is unknown (stored
outputs; a model without prices) fails with an error, never a pass.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue
from harness.scorers.case import CaseScorer, CaseView
from harness.scorers.cjk_chars import split_cjk


def count_words(text: str) -> int:
    """Words of ``text``: one per CJK character, else per whitespace-separated run with a
    letter or digit in it."""
    count = 0
    for i, part in enumerate(split_cjk(text)):
        if i % 2:
            count += 1
        else:
            count += sum(any(c.isalnum() for c in w) for w in part.split())
    return count


def _plain(number: float) -> str:
    """``number`` in at most 6 significant digits, without an exponent: 0.00003, 1234.57."""
    return format(Decimal(f"{number:.6g}").normalize(), "f")


def _limit(scorer: str, param: str, number: float) -> float:
    if not math.isfinite(number) or number < 0:
        raise ScorerError(f"{scorer}: '{param}' must be a finite number, 0 or more, got {number}")
    return number


def within(
    measured: float,
    low: float | None,
    high: float | None,
    show: Callable[[float], str],
    label: str = "",
) -> ScoreValue:
    """1 when ``low <= measured <= high`` (a None bound is open), with the reason."""
    amount = f"{label}{show(measured)}"
    if low is not None and measured < low:
        return ScoreValue(value=0.0, answer=amount, explanation=f"{amount} < min {show(low)}")
    if high is not None and measured > high:
        return ScoreValue(value=0.0, answer=amount, explanation=f"{amount} > max {show(high)}")
    bounds = [] if low is None else [f">= min {show(low)}"]
    bounds += [] if high is None else [f"<= max {show(high)}"]
    return ScoreValue(value=1.0, answer=amount, explanation=f"{amount} {' and '.join(bounds)}")


class _SizeScorer(Scorer):
    """``min <= measure(output) <= max``; at least one bound, neither negative."""

    version = "1"
    unit: ClassVar[str]

    def __init__(self, *, min: int | None = None, max: int | None = None):
        if min is None and max is None:
            raise ScorerError(f"{self.name}: give 'min', 'max' or both")
        for param, bound in (("min", min), ("max", max)):
            if bound is not None and bound < 0:
                raise ScorerError(f"{self.name}: '{param}' must be 0 or more, got {bound}")
        if min is not None and max is not None and min > max:
            raise ScorerError(f"{self.name}: 'min' ({min}) is more than 'max' ({max})")
        self._min, self._max = min, max

    @abstractmethod
    def measure(self, output: str) -> int:
        """The amount the bounds apply to."""

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        return within(self.measure(output), self._min, self._max, self._show)

    def _show(self, number: float) -> str:
        return f"{number:g} {self.unit}"


class WordCountScorer(_SizeScorer):
    """1 when the output has between ``min`` and ``max`` words (see :func:`count_words`)."""

    name = "word_count"
    unit = "words"

    def measure(self, output: str) -> int:
        return count_words(output)


class LengthScorer(_SizeScorer):
    """1 when the stripped output has between ``min`` and ``max`` characters (code points)."""

    name = "length"
    unit = "characters"

    def measure(self, output: str) -> int:
        return len(output.strip())


class _BudgetScorer(CaseScorer):
    """A recorded amount of the case's call at most a maximum."""

    version = "1"
    #: What it means that the amount is None, for the error.
    unknown: ClassVar[str]

    def __init__(self, maximum: float):
        self._max = maximum

    @abstractmethod
    def amount(self, case: CaseView) -> float | None:
        """The case's amount in the unit of the maximum; None when unknown."""

    @staticmethod
    @abstractmethod
    def show(number: float) -> str:
        """``number`` with its unit."""

    async def score_case(self, output: str, case: CaseView) -> ScoreValue:
        measured = self.amount(case)
        if measured is None:
            raise ScorerError(f"{self.name}: {self.unknown}")
        return within(measured, None, self._max, self.show, label=f"{self.name} ")


class LatencyScorer(_BudgetScorer):
    """1 when the call took at most ``max_ms`` milliseconds."""

    name = "latency"
    unknown = "the case has no latency (stored outputs were never timed as a call)"

    def __init__(self, *, max_ms: float):
        super().__init__(_limit(self.name, "max_ms", max_ms))

    def amount(self, case: CaseView) -> float | None:
        return None if case.latency_s is None else case.latency_s * 1000

    @staticmethod
    def show(number: float) -> str:
        return f"{_plain(number)} ms"


class CostScorer(_BudgetScorer):
    """1 when the call cost at most ``max_usd`` US dollars."""

    name = "cost"
    unknown = (
        "the case's cost is unknown (stored outputs, or a model without prices: give the "
        "provider 'prices:')"
    )

    def __init__(self, *, max_usd: float):
        super().__init__(_limit(self.name, "max_usd", max_usd))

    def amount(self, case: CaseView) -> float | None:
        return case.cost_usd

    @staticmethod
    def show(number: float) -> str:
        return f"${_plain(number)}"
