"""Corpus BLEU and chrF of two sides' paired cases, tested with sacrebleu's own paired tests.

A corpus score is no mean of per-case values, so the paired tests of :mod:`~.stats` do not
apply to it. Each slice's paired cases go to ``sacrebleu.significance.PairedTest`` instead:
paired bootstrap resampling (``bs``, 1,000 resamples, as ``sacrebleu --paired-bs``) or
approximate randomization (``ar``, 10,000 trials), with sacrebleu's defaults and its seed
(``SACREBLEU_SEED``, default 12345: the same inputs give the same p-value and CI on every
run; the seed is in the signature). Resamples pick segments by position, so the pairs go to
sacrebleu in one fixed order (case set, row, prompt, provider, sample), however the runs were
read. A and B are scored on the same cases against the same references: pairs where one side
has no value or the references differ are left out (and counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from harness.analysis.corpus import CorpusInput, corpus_scorer
from harness.compare.records import PASS, CaseRecord, load_texts
from harness.errors import CompareError, ScorerError

if TYPE_CHECKING:
    import numpy as np

    from harness.compare.join import Pair
    from harness.scorers.sacre import SacreScorer

#: sacrebleu's paired tests: paired bootstrap resampling, approximate randomization.
CORPUS_TESTS = ("bs", "ar")
#: Paired cases above which no test is run: sacrebleu's tests hold every resample's n-gram
#: statistics in memory at once (1,000 x cases x 24 numbers for chrF++), about 0.5 GB here.
MAX_TEST_CASES = 5_000


@dataclass(frozen=True)
class CorpusRow:
    """One corpus metric on one slice: both sides' corpus scores and sacrebleu's paired test."""

    slice: str
    metric: str
    #: Paired cases in the corpus (both sides scored, same references).
    n: int
    #: sacrebleu's corpus scores / 100 over those cases; None when there are none.
    score_a: float | None = None
    score_b: float | None = None
    #: Each side's bootstrap mean and 95 % CI half-width (sacrebleu's ``mean ± ci``), / 100.
    mean_a: float | None = None
    ci_a: float | None = None
    mean_b: float | None = None
    ci_b: float | None = None
    #: sacrebleu's p-value of the difference; None when no test ran (see ``note``).
    p_value: float | None = None
    #: ``paired-bs`` or ``paired-ar``.
    test: str | None = None
    #: sacrebleu's signature of the test (with ``bs``/``ar`` samples and ``seed``).
    signature: str | None = None
    #: What was left out, and why there is no test or score.
    note: str | None = None

    @property
    def diff(self) -> float | None:
        """B - A."""
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a

    def significant(self, alpha: float) -> bool:
        return self.p_value is not None and self.p_value < alpha


def corpus_rows(
    pairs: list[Pair],
    slices: Sequence[tuple[str, np.ndarray]],
    metrics: Sequence[str],
    *,
    test: str = "bs",
    clustered: bool = False,
) -> list[CorpusRow]:
    """A row per bleu/chrf assertion of ``metrics`` and slice (its name and the positions of
    its pairs). ``clustered``: the pairs are samples of repeated cases, which sacrebleu's
    tests resample one by one."""
    if test not in CORPUS_TESTS:
        raise CompareError(f"unknown corpus test '{test}'; use one of: {', '.join(CORPUS_TESTS)}")
    names = [m for m in metrics if m != PASS and _is_corpus_metric(pairs, m)]
    if not names:
        return []
    load_texts(r for p in pairs for r in (p.a, p.b))
    textless = [side for side in ("a", "b") if all(getattr(p, side).corpus is None for p in pairs)]
    if textless:
        why = f"side {textless[0].upper()} holds no outputs (a baseline file): no corpus score"
        return [CorpusRow(s, name, 0, note=why) for name in names for s, _ in slices]
    keys = [_order(p) for p in pairs]
    rows = []
    for name in names:
        a = [_input(p.a, name) for p in pairs]
        b = [_input(p.b, name) for p in pairs]
        for s, positions in slices:
            index = sorted(positions.tolist(), key=keys.__getitem__)
            row = _row(s, name, [a[i] for i in index], [b[i] for i in index], test)
            if clustered and row.p_value is not None:
                row = _with_note(row, "sacrebleu resamples the samples of a repeated case apart")
            rows.append(row)
    return rows


def _is_corpus_metric(pairs: list[Pair], name: str) -> bool:
    """Whether assertion ``name`` is a bleu/chrf one: told by the first case it scored that
    has its texts (a baseline case has none)."""
    for p in pairs:
        scored = [r for r in (p.a, p.b) if r.scores.get(name) is not None]
        load_texts(scored)
        known = [r.corpus for r in scored if r.corpus is not None]
        if known:
            return any(i.name == name for inputs in known for i in inputs)
    return False


def _order(p: Pair) -> tuple[str | int, ...]:
    """Where a pair goes in sacrebleu's segment order."""
    a, b = p.a, p.b
    return (a.case_set, a.row_id, a.prompt_id, a.provider_id, a.repeat, b.prompt_id, b.provider_id)


def _input(record: CaseRecord, name: str) -> CorpusInput | None:
    return next((i for i in record.corpus or () if i.name == name), None)


def _row(
    slice: str, name: str, a: list[CorpusInput | None], b: list[CorpusInput | None], test: str
) -> CorpusRow:
    """The corpus test of one metric on one slice's pairs (``a[i]`` pairs with ``b[i]``)."""
    kept = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    same = [(x, y) for x, y in kept if x.references == y.references]
    left_out = []
    if len(kept) < len(a):
        left_out.append(f"{len(a) - len(kept)} pair(s) that one side did not score")
    if len(same) < len(kept):
        left_out.append(f"{len(kept) - len(same)} pair(s) whose references differ")
    note = "; ".join(left_out) + " left out" if left_out else None
    row = CorpusRow(slice, name, len(same), note=note)
    if not same:
        return _with_note(row, "no paired case to score")
    try:
        scorer = corpus_scorer([i for pair in same for i in pair])
    except ScorerError as e:
        return _with_note(row, str(e))
    hyps_a, hyps_b = [x.hypothesis for x, _ in same], [y.hypothesis for _, y in same]
    references = [x.references for x, _ in same]
    if len(same) > MAX_TEST_CASES:
        score_a, _ = scorer.corpus_score(hyps_a, references)
        score_b, _ = scorer.corpus_score(hyps_b, references)
        why = f"no paired test above {MAX_TEST_CASES:,} cases (sacrebleu holds every resample)"
        return _with_note(replace(row, score_a=score_a, score_b=score_b), why)
    return _paired_test(row, scorer, hyps_a, hyps_b, references, test)


def _paired_test(
    row: CorpusRow,
    scorer: SacreScorer,
    hyps_a: list[str],
    hyps_b: list[str],
    references: list[tuple[str, ...]],
    test: str,
) -> CorpusRow:
    """sacrebleu's ``PairedTest`` of B against A (the baseline, sacrebleu's first system)."""
    from sacrebleu.significance import PairedTest  # numpy and sacrebleu: only when needed

    from harness.scorers.sacre import reference_streams, unit_score

    metric = scorer.corpus_metric([*hyps_a, *hyps_b, *(r for refs in references for r in refs)])
    paired = PairedTest(
        [("A", hyps_a), ("B", hyps_b)],
        {row.metric: metric},
        reference_streams(references, row.metric),
        test_type=test,
        n_ar_confidence=0 if test == "ar" else -1,  # ar: sacrebleu's 1,000 bootstrap CIs too
    )
    signatures, results = paired()
    (signature,) = signatures.values()
    ((_, (a, b)),) = ((k, v) for k, v in results.items() if k != "System")
    return replace(
        row,
        score_a=unit_score(a.score),
        score_b=unit_score(b.score),
        mean_a=_unit_or_none(a.mean),
        ci_a=_unit_or_none(a.ci),
        mean_b=_unit_or_none(b.mean),
        ci_b=_unit_or_none(b.ci),
        p_value=None if b.p_value is None else float(b.p_value),
        test=f"paired-{test}",
        signature=signature.format(),
    )


def _unit_or_none(x: float | None) -> float | None:
    return None if x is None else float(x) / 100


def _with_note(row: CorpusRow, note: str) -> CorpusRow:
    return replace(row, note=note if row.note is None else f"{row.note}; {note}")
