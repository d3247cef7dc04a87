"""Compare two sides' paired cases: every metric on every slice, and the changed verdicts.

Slices: ``all`` (the suite's own cases, as in the run report: bad-case sets are
reported apart), one per prompt x provider group when several are paired, one per tag,
and one per bad-case set. Metrics: the pass/fail verdict (:data:`PASS`) and every
scorer's value; for bleu and chrf also the corpus score, tested with sacrebleu's own
paired test (:mod:`~.corpus`). Regressions are the cases that passed in A and fail in B;
fixes the reverse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from harness.compare.corpus import CorpusRow, corpus_rows
from harness.compare.join import Joined, Pair, cluster_labels
from harness.compare.records import PASS
from harness.compare.stats import ALPHA, CONFIDENCE, RESAMPLES, PairedStats, paired_stats
from harness.errors import CompareError
from harness.suite.loader import did_you_mean

MAIN_SET = "main"
#: The headline slice: every paired case of the main set.
ALL = "all"


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    #: Every value is 0 or 1 (pass/fail, accuracy): tested with McNemar.
    binary: bool


@dataclass(frozen=True)
class Slice:
    """A subset of the pairs: ``all``, ``group:PROMPT · PROVIDER``, ``tag:T`` or ``set:NAME``."""

    name: str
    kind: str
    label: str
    #: Positions in ``Joined.pairs``.
    index: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Row:
    slice: str
    metric: str
    stats: PairedStats


@dataclass
class Comparison:
    """Side A (the reference) against side B on their paired cases."""

    joined: Joined
    metrics: list[Metric]
    slices: list[Slice]
    rows: list[Row]
    #: Pairs that passed in A and fail in B, and the reverse.
    regressions: list[Pair]
    fixes: list[Pair]
    confidence: float = CONFIDENCE
    alpha: float = ALPHA
    #: Per metric: A's and B's values over ``joined.pairs`` (NaN where missing).
    values: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    #: Corpus scores and sacrebleu's paired test, per bleu/chrf assertion and slice.
    corpus: list[CorpusRow] = field(default_factory=list)

    @property
    def label_a(self) -> str:
        return self.joined.label_a

    @property
    def label_b(self) -> str:
        return self.joined.label_b

    def stats(self, metric: str = PASS, slice: str = ALL) -> PairedStats | None:
        """The numbers of one metric on one slice, or None when the slice does not exist."""
        for row in self.rows:
            if row.metric == metric and row.slice == slice:
                return row.stats
        return None

    def corpus_row(self, metric: str, slice: str = ALL) -> CorpusRow | None:
        """The corpus score of one bleu/chrf assertion on one slice, or None when it has none."""
        for row in self.corpus:
            if row.metric == metric and row.slice == slice:
                return row
        return None

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def worse(self, row: Row) -> bool:
        """True when B is significantly worse than A on this row."""
        s = row.stats
        if not s.significant(self.alpha) or s.diff is None:
            return False
        return (s.diff < 0) == self.metric(row.metric).higher_is_better


def compare(
    joined: Joined,
    higher_is_better: dict[str, bool],
    *,
    metrics: list[str] | None = None,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    alpha: float = ALPHA,
    seed: int = 0,
    corpus_test: str = "bs",
) -> Comparison:
    """Every metric (or those named, plus pass/fail) on every slice of ``joined``;
    ``corpus_test``: sacrebleu's paired test of corpus scores, ``bs`` or ``ar``."""
    names = _metric_names(joined, higher_is_better, metrics)
    pairs = joined.pairs
    values = {m: (_values(pairs, m, "a"), _values(pairs, m, "b")) for m in names}
    chosen = [
        Metric(m, m == PASS or higher_is_better.get(m, True), m == PASS or _binary(*values[m]))
        for m in names
    ]
    slices = list(_slices(pairs))
    clusters = cluster_labels(pairs)  # repeated cases: resample cases, not samples
    rows = []
    for metric in chosen:
        a, b = values[metric.name]
        for s in slices:
            stats = paired_stats(
                a[s.index],
                b[s.index],
                binary=metric.binary,
                resamples=resamples,
                confidence=confidence,
                alpha=alpha,
                seed=seed,
                clusters=None if clusters is None else clusters[s.index],
            )
            rows.append(Row(s.name, metric.name, stats))
    return Comparison(
        joined,
        chosen,
        slices,
        rows,
        regressions=_grouped([p for p in pairs if p.a.passed and not p.b.passed]),
        fixes=_grouped([p for p in pairs if not p.a.passed and p.b.passed]),
        confidence=confidence,
        alpha=alpha,
        values=values,
        corpus=corpus_rows(
            pairs,
            [(s.name, s.index) for s in slices],
            names,
            test=corpus_test,
            clustered=clusters is not None,
        ),
    )


def _grouped(pairs: list[Pair]) -> list[Pair]:
    """The suite's own cases first, then by prompt version and provider; else as paired."""
    return sorted(pairs, key=lambda p: (p.b.case_set != MAIN_SET, p.b.prompt_id, p.b.provider_id))


def _metric_names(
    joined: Joined, higher_is_better: dict[str, bool], wanted: list[str] | None
) -> list[str]:
    seen = {name for p in joined.pairs for name in (*p.a.scores, *p.b.scores)}
    present = [m for m in higher_is_better if m in seen]
    if wanted is None:
        return [PASS, *present]
    for name in wanted:
        if name != PASS and name not in present:
            raise CompareError(
                f"unknown metric '{name}'.{did_you_mean(name, present)} "
                f"Metrics of these runs: {', '.join([PASS, *present])}"
            )
    return [PASS, *[m for m in present if m in wanted]]


def _values(pairs: list[Pair], metric: str, side: str) -> np.ndarray:
    records = [getattr(p, side) for p in pairs]
    if metric == PASS:
        return np.fromiter((r.passed for r in records), dtype=np.float64, count=len(records))
    # None becomes NaN when numpy builds a float array.
    return np.array([r.scores.get(metric) for r in records], dtype=np.float64)


def _binary(a: np.ndarray, b: np.ndarray) -> bool:
    both = np.concatenate((a, b))
    both = both[~np.isnan(both)]
    return bool(len(both)) and bool(np.isin(both, (0.0, 1.0)).all())


def _slices(pairs: list[Pair]) -> Iterator[Slice]:
    sets = np.array([p.a.case_set for p in pairs], dtype=object)
    main = np.flatnonzero(sets == MAIN_SET)
    yield Slice(ALL, "all", "all suite cases", main)
    groups: dict[tuple[str, str], list[int]] = {}
    tags: dict[str, list[int]] = {}
    for i in main.tolist():
        p = pairs[i]
        groups.setdefault((p.b.prompt_id, p.b.provider_id), []).append(i)
        for tag in p.a.tags:
            tags.setdefault(tag, []).append(i)
        for tag in p.b.tags:
            if tag not in p.a.tags:
                tags.setdefault(tag, []).append(i)
    if len(groups) > 1:
        for (prompt, provider), index in groups.items():
            name = f"{prompt} · {provider}"
            yield Slice(f"group:{name}", "group", name, np.array(index, dtype=np.intp))
    for name in sorted(tags):
        yield Slice(f"tag:{name}", "tag", name, np.array(tags[name], dtype=np.intp))
    for name in dict.fromkeys(sets[sets != MAIN_SET]):
        yield Slice(f"set:{name}", "set", name, np.flatnonzero(sets == name))
