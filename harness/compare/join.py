"""Pair the cases of two sides, case by case, on a stable key.

Across runs a case is the same case when its (case set, row, prompt version, provider)
match: ``case_id`` is no good for this, since it hashes the request and so changes with
the prompt's text, which is exactly what a comparison of two prompt revisions changes.
Inside one run, prompt version X pairs with the reference version on (case set, row,
provider), and provider X with the reference provider on (case set, row, prompt).
The samples of a repeated case (``--repeat N``) pair sample by sample, and
:func:`cluster_labels` tells the statistics which pairs are samples of one case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

from harness.compare.records import CaseRecord, RecordSet
from harness.errors import CompareError
from harness.suite.loader import did_you_mean

if TYPE_CHECKING:
    import numpy as np

Key = tuple[str, ...]

#: The key fields of each kind of join.
RUN_KEY = ("case_set", "row_id", "prompt_id", "provider_id", "repeat")
PROMPT_KEY = ("case_set", "row_id", "provider_id", "repeat")
PROVIDER_KEY = ("case_set", "row_id", "prompt_id", "repeat")


@dataclass(frozen=True, slots=True)
class Pair:
    """The same case on side A (the reference) and side B."""

    a: CaseRecord
    b: CaseRecord


@dataclass
class Joined:
    """The paired cases of A and B, and what could not be paired."""

    label_a: str
    label_b: str
    key_fields: tuple[str, ...]
    pairs: list[Pair]
    #: Keys found on one side only (new or removed cases, a prompt not run on a row...).
    only_a: list[Key] = field(default_factory=list)
    only_b: list[Key] = field(default_factory=list)
    #: Records ignored because an earlier record of the same side had the same key.
    duplicates: int = 0

    def unmatched_note(self) -> str | None:
        """A sentence on what was left out of the comparison, or None when nothing was."""
        parts = []
        if self.only_a:
            parts.append(f"{len(self.only_a)} case(s) only in {self.label_a}")
        if self.only_b:
            parts.append(f"{len(self.only_b)} case(s) only in {self.label_b}")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate case(s) ignored")
        return "; ".join(parts) + " (not compared)" if parts else None


def join(
    a: list[CaseRecord],
    b: list[CaseRecord],
    key_fields: tuple[str, ...],
    label_a: str = "A",
    label_b: str = "B",
) -> Joined:
    """Pair ``a`` and ``b`` on ``key_fields``, in A's order; the first of repeated keys wins."""
    index_a, dup_a = _index(a, key_fields)
    index_b, dup_b = _index(b, key_fields)
    pairs = [Pair(rec, index_b[k]) for k, rec in index_a.items() if k in index_b]
    return Joined(
        label_a,
        label_b,
        key_fields,
        pairs,
        only_a=[k for k in index_a if k not in index_b],
        only_b=[k for k in index_b if k not in index_a],
        duplicates=dup_a + dup_b,
    )


def cluster_labels(pairs: list[Pair]) -> np.ndarray | None:
    """A label per pair naming the case both sides' records are samples of (their keys but
    for ``repeat``), for statistics that resample cases; None when no case was repeated."""
    if not any(p.a.repeat or p.b.repeat for p in pairs):
        return None
    import numpy as np  # on first use: `harness run` reads records (repeats) without numpy

    labels: dict[tuple[str, ...], int] = {}
    of_case = attrgetter("case_set", "row_id", "prompt_id", "provider_id")
    return np.array(
        [labels.setdefault((*of_case(p.a), *of_case(p.b)), len(labels)) for p in pairs],
        dtype=np.intp,
    )


def join_runs(a: RecordSet, b: RecordSet) -> Joined:
    """Two runs (or a baseline and a run), case by case."""
    joined = join(a.records, b.records, RUN_KEY, a.label, b.label)
    if not joined.pairs:
        raise CompareError(
            f"no case of {b.label} matches a case of {a.label} on (case set, row id, prompt id, "
            f"provider id): compare runs of the same suite, or keep the prompt and provider ids "
            f"when you change their text"
        )
    return joined


def join_prompts(records: RecordSet, reference: str) -> list[Joined]:
    """Every other prompt version of one run against the ``reference`` version."""
    return _within(records, "prompt_id", reference, PROMPT_KEY, "prompt version")


def join_providers(records: RecordSet, reference: str) -> list[Joined]:
    """Every other provider of one run against the ``reference`` provider."""
    return _within(records, "provider_id", reference, PROVIDER_KEY, "provider")


def _within(
    records: RecordSet, attribute: str, reference: str, key_fields: Key, what: str
) -> list[Joined]:
    ids = records.ids(attribute)
    if reference not in ids:
        raise CompareError(
            f"run {records.label} has no {what} '{reference}'.{did_you_mean(reference, ids)} "
            f"Available: {', '.join(ids)}"
        )
    if len(ids) < 2:
        raise CompareError(
            f"run {records.label} has only one {what} ('{reference}'): nothing to compare"
        )
    ref = [r for r in records.records if getattr(r, attribute) == reference]
    out = []
    for other in ids:
        if other != reference:
            mine = [r for r in records.records if getattr(r, attribute) == other]
            out.append(join(ref, mine, key_fields, reference, other))
    return out


def _index(records: list[CaseRecord], key_fields: Key) -> tuple[dict[Key, CaseRecord], int]:
    index: dict[Key, CaseRecord] = {}
    duplicates = 0
    key_of = attrgetter(*key_fields)
    for r in records:
        key = key_of(r)
        if key in index:
            duplicates += 1
        else:
            index[key] = r
    return index, duplicates
