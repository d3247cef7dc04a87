"""Repeated cases (``--repeat N``): per-case pass rates, flaky cases, pass@k and pass^k.

A *case* here is one (case set, row, prompt version, provider); its N samples are the
results that differ only in ``repeat``. An errored sample counts as not passed, as it does
in the pass rate. With ``n`` samples of which ``c`` passed, for ``k <= n``:

* pass@k = 1 - C(n-c, k) / C(n, k): the chance that at least one of k samples drawn without
  replacement passes: the unbiased estimator of Chen et al. 2021 (HumanEval).
* pass^k = C(c, k) / C(n, k): the chance that all k pass (tau-bench): how reliably it passes.

Both are computed per case and averaged over the cases of a group, with ``k`` the fewest
samples any case of the group has (every case in a finished run: N).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import comb
from typing import Protocol

GroupKey = tuple[str, str, str]


class Sample(Protocol):
    """What is read of one sample: a :class:`~harness.results.models.CaseResult`, or the lean
    :class:`~harness.compare.records.CaseRecord` of a stored digest (``harness run``)."""

    @property
    def case_set(self) -> str: ...
    @property
    def prompt_id(self) -> str: ...
    @property
    def provider_id(self) -> str: ...
    @property
    def row_id(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def repeat(self) -> int: ...


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one case: ``n`` samples, ``c`` of them passed."""
    _check(n, c, k)
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one case: the chance that ``k`` of its samples, drawn without replacement,
    all pass."""
    _check(n, c, k)
    return comb(c, k) / comb(n, k)


def _check(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


@dataclass(frozen=True)
class CaseSamples:
    """The samples of one case: how many ran, and how many passed."""

    case_set: str
    prompt_id: str
    provider_id: str
    row_id: str
    n: int
    passed: int

    @property
    def pass_rate(self) -> float:
        return self.passed / self.n

    @property
    def flaky(self) -> bool:
        """Passed sometimes: neither always nor never."""
        return 0 < self.passed < self.n


@dataclass(frozen=True)
class RepeatSummary:
    """One (case set, prompt version, provider) group of a repeated run."""

    case_set: str
    prompt_id: str
    provider_id: str
    cases: list[CaseSamples]

    @property
    def k(self) -> int:
        return min(c.n for c in self.cases)

    @property
    def samples(self) -> int:
        return sum(c.n for c in self.cases)

    @property
    def pass_rate(self) -> float:
        """The mean per-case pass rate (pass@1)."""
        return _mean(c.pass_rate for c in self.cases)

    @property
    def pass_at_k(self) -> float:
        return _mean(pass_at_k(c.n, c.passed, self.k) for c in self.cases)

    @property
    def pass_hat_k(self) -> float:
        return _mean(pass_hat_k(c.n, c.passed, self.k) for c in self.cases)

    @property
    def flaky(self) -> list[CaseSamples]:
        return [c for c in self.cases if c.flaky]


def repeat_summaries(results: Iterable[Sample]) -> list[RepeatSummary]:
    """Per group, in the order the results come; empty when no case ran more than once."""
    counts: dict[tuple[str, str, str, str], list[int]] = {}
    repeated = False
    for r in results:
        n_passed = counts.setdefault((r.case_set, r.prompt_id, r.provider_id, r.row_id), [0, 0])
        n_passed[0] += 1
        n_passed[1] += r.passed
        repeated = repeated or r.repeat > 0
    if not repeated:
        return []
    groups: dict[GroupKey, list[CaseSamples]] = {}
    for (case_set, prompt, provider, row), (n, passed) in counts.items():
        groups.setdefault((case_set, prompt, provider), []).append(
            CaseSamples(case_set, prompt, provider, row, n, passed)
        )
    return [RepeatSummary(*key, cases) for key, cases in groups.items()]


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)
