"""Errored cases, said out loud: the distinct messages with counts, and the error budget.

A case whose model call failed has no output and no score; a case with an assertion that
could not be scored (a judge reply that never parses, a transform that raises) has no
verdict either. A run where every call failed, or every judge reply was unreadable, must not
pass quietly, so the suite's ``max_error_rate`` (default 0) is checked like a gate over both:
it fails the run (exit 1), shows in JUnit, the Markdown summary and the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


class Outcome(Protocol):
    """What the error budget reads of a case: a :class:`~harness.results.models.CaseResult`,
    or the lean :class:`~harness.compare.records.CaseRecord` read from a stored digest."""

    @property
    def provider_id(self) -> str: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True)
class ErrorGroup:
    """Cases of one provider that failed with the same message."""

    provider_id: str
    message: str
    count: int

    def line(self) -> str:
        noun = "case" if self.count == 1 else "cases"
        return f"{self.count} {noun} errored: {self.message} ({self.provider_id})"


class ErrorTally:
    """Errored cases counted one case at a time (a stored run streams through it): per
    (provider, message), and how many cases were seen."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.total = 0

    def add(self, r: Outcome) -> None:
        self.total += 1
        if r.error is not None:
            self.counts[r.provider_id, r.error] += 1

    def groups(self) -> list[ErrorGroup]:
        """Distinct (provider, error message) pairs, most frequent first."""
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [ErrorGroup(provider, message, n) for (provider, message), n in ordered]


def error_groups(results: Iterable[Outcome]) -> list[ErrorGroup]:
    """Distinct (provider, error message) pairs of the errored cases, most frequent first."""
    return _tally(results).groups()


def _tally(results: Iterable[Outcome]) -> ErrorTally:
    tally = ErrorTally()
    for r in results:
        tally.add(r)
    return tally


@dataclass(frozen=True)
class ErrorBudget:
    """The ``max_error_rate`` check of a finished run (a gate outcome: name, passed, message)."""

    max_error_rate: float
    errored: int
    total: int
    groups: tuple[ErrorGroup, ...] = ()

    name = "max_error_rate"

    @property
    def rate(self) -> float:
        return self.errored / self.total if self.total else 0.0

    @property
    def passed(self) -> bool:
        return self.rate <= self.max_error_rate

    @property
    def message(self) -> str:
        verdict = "within" if self.passed else "over"
        return (
            f"{self.errored} of {self.total} cases errored ({self.rate:.1%}), {verdict} "
            f"max_error_rate {self.max_error_rate:g}"
        )

    @property
    def details(self) -> str:
        return "\n".join(g.line() for g in self.groups)

    # What the report's gates table shows (as a GateResult has them).
    checked = "share of cases errored ≤ max_error_rate"
    p_value = None

    @property
    def threshold(self) -> float:
        return self.max_error_rate

    @property
    def observed(self) -> float:
        return self.rate


def error_budget(results: Iterable[Outcome], max_error_rate: float) -> ErrorBudget:
    """How many of ``results`` errored, against the suite's allowance (read once: a stream
    of a stored run's digests will do)."""
    tally = _tally(results)
    groups = tally.groups()
    return ErrorBudget(max_error_rate, sum(g.count for g in groups), tally.total, tuple(groups))


@dataclass(frozen=True)
class CaseErrors:
    """One case's error as the budget counts it: the call's, else its first unscorable
    assertion's (``scoring <name>: <error>``)."""

    provider_id: str
    error: str | None


def case_errors(
    rows: Iterable[tuple[str, str | None, list[dict[str, Any]] | None]],
) -> Iterator[CaseErrors]:
    """``(provider_id, call error, scores)`` per case (as the store's ``iter_fields`` reads
    them) as the errors the budget counts."""
    for provider_id, error, scores in rows:
        if error is None:
            broken = next((s for s in scores or () if s.get("error")), None)
            if broken is not None:
                name = broken.get("name") or broken.get("scorer")
                error = f"scoring {name}: {broken['error'].splitlines()[0]}"
        yield CaseErrors(provider_id, error)
