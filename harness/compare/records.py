"""Lean per-case records: what comparisons, gates and baselines need of a case, nothing more.

Comparing two 100k-case runs must not build 200k full :class:`CaseResult` models
(messages, score metadata, explanations): records are read from the store by the database's
JSON functions, made from results already in memory, or loaded from a baseline file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.corpus import CorpusInput, result_corpus_inputs, stored_corpus_inputs
from harness.errors import CompareError
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore

#: The metric name of a case's verdict (``CaseResult.passed``: every assertion passed).
PASS = "pass"


@dataclass(slots=True)
class CaseRecord:
    """One case's identity, verdict, output and score values."""

    case_id: str
    case_set: str
    row_id: str
    prompt_id: str
    provider_id: str
    tags: tuple[str, ...]
    passed: bool
    error: str | None
    output: str | None
    expected: tuple[str, ...]
    #: Value per assertion name; None where the scorer ran but produced no value.
    scores: dict[str, float | None]
    #: Per assertion name: whether it passed (None: no verdict).
    verdicts: dict[str, bool | None] = field(default_factory=dict)
    #: Where ``output`` and ``expected`` still wait to be read (see :func:`load_texts`).
    texts: _TextSource | None = None
    #: Which sample of a repeated case this is (0 when the case ran once).
    repeat: int = 0
    #: What its bleu/chrf assertions scored, for corpus scores; None until read with
    #: the texts (:func:`load_texts`), and for a baseline case (no outputs).
    corpus: tuple[CorpusInput, ...] | None = None

    def value(self, metric: str) -> float | None:
        """The case's value of ``metric``: 1.0/0.0 for :data:`PASS`, else the value of the
        assertion of that name."""
        if metric == PASS:
            return 1.0 if self.passed else 0.0
        return self.scores.get(metric)


@dataclass
class RecordSet:
    """The records of one run (or baseline file), with what its scorers declare."""

    #: How reports and messages name this side: a run id or a file path.
    label: str
    records: list[CaseRecord]
    #: Per assertion name, in order of first appearance: whether a higher value is better.
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    run: RunRecord | None = None

    def ids(self, attribute: str) -> list[str]:
        """Distinct values of ``prompt_id`` / ``provider_id`` / ``case_set``, in order seen."""
        return list(dict.fromkeys(getattr(r, attribute) for r in self.records))


def from_results(results: list[CaseResult], label: str, run: RunRecord | None = None) -> RecordSet:
    """Records of results already in memory (``run_suite``'s outcome, tests)."""
    higher: dict[str, bool] = {}
    records = []
    for r in results:
        for s in r.scores:
            higher.setdefault(s.name, s.higher_is_better)
        records.append(
            CaseRecord(
                case_id=r.case_id,
                case_set=r.case_set,
                row_id=r.row_id,
                prompt_id=r.prompt_id,
                provider_id=r.provider_id,
                tags=tuple(r.tags),
                passed=r.passed,
                error=r.error,
                output=r.output,
                expected=tuple(r.expected),
                scores={s.name: s.value for s in r.scores},
                verdicts={s.name: s.passed for s in r.scores},
                repeat=r.repeat,
                corpus=result_corpus_inputs(r),
            )
        )
    return RecordSet(label, records, higher, run)


def from_store(
    store: ResultStore,
    run_id: str,
    *,
    texts: ResultStore | None = None,
    allow_empty: bool = False,
) -> RecordSet:
    """Records of a stored run (a unique id prefix will do), read without building models.

    Outputs and expected answers are left in the store (or in ``texts``, the same store
    opened on another thread) until :func:`load_texts` asks for them: a report shows a
    few hundred, and reading 100k of them would double the time. A run without results is
    an error unless ``allow_empty`` (a run's own gates then say what matched nothing).
    """
    run = store.get_run(run_id)
    higher: dict[str, bool] = {}
    records = list(iter_records(store, run.run_id, higher, texts=texts))
    if not records and not allow_empty:
        raise CompareError(f"run {run.run_id} has no case results to compare")
    return RecordSet(run.run_id, records, higher, run)


def iter_records(
    store: ResultStore,
    run_id: str,
    higher: dict[str, bool] | None = None,
    *,
    texts: ResultStore | None = None,
) -> Iterator[CaseRecord]:
    """The record of each result of run ``run_id`` (its full id), from the stored digests, in
    case id order: one at a time, for checks that keep no list (the error budget, repeats).
    ``higher``, when given, gets each assertion's higher_is_better in order of first sight."""
    source = _TextSource(texts or store, run_id)
    higher = {} if higher is None else higher
    for case_id, (
        case_set,
        row_id,
        prompt_id,
        provider_id,
        tags,
        passed,
        error,
        packed,
        *repeat,  # absent from a digest stored before repeats
    ) in store.iter_digests(run_id):
        scores: dict[str, float | None] = {}
        verdicts: dict[str, bool | None] = {}
        for name, value, verdict, higher_is_better in packed:
            scores[name], verdicts[name] = value, verdict
            if name not in higher:
                higher[name] = higher_is_better is not False
        # Positional, in field order: this loop runs once per case of a 100k-case run.
        yield CaseRecord(
            case_id, case_set or "main", row_id, prompt_id, provider_id, tuple(tags or ()),
            passed is True, error, None, (), scores, verdicts, source, repeat[0] if repeat else 0,
        )  # fmt: skip


def read_runs(store: ResultStore, run_ids: Sequence[str]) -> list[RecordSet]:
    """Several stored runs at once, each read on its own thread (and its own pooled
    connection of ``store``).

    The database reads without the GIL (SQLite in this process, PostgreSQL on its server),
    so the reads overlap where a core is free.
    """
    if store.in_memory or len(run_ids) < 2:  # one database per thread: read them here
        return [from_store(store, run_id) for run_id in run_ids]
    with ThreadPoolExecutor(len(run_ids)) as pool:
        return list(pool.map(lambda run_id: from_store(store, run_id), run_ids))


def load_texts(records: Iterable[CaseRecord]) -> None:
    """Read ``output``, ``expected`` and ``corpus`` of these records from their store, where
    still unread."""
    waiting: dict[int, tuple[_TextSource, dict[str, list[CaseRecord]]]] = {}
    for r in records:
        if r.texts is not None:
            _, by_id = waiting.setdefault(id(r.texts), (r.texts, {}))
            by_id.setdefault(r.case_id, []).append(r)
    for source, by_id in waiting.values():
        fields = ("$.case_id", "$.output", "$.expected", "$.scores")
        for case_id, output, expected, scores in source.store.iter_fields(
            source.run_id, fields, list(by_id)
        ):
            for r in by_id.get(case_id, ()):
                r.output, r.expected, r.texts = output, tuple(_texts(expected)), None
                r.corpus = stored_corpus_inputs(r.output, r.expected, scores)


@dataclass(frozen=True, slots=True)
class _TextSource:
    store: ResultStore
    run_id: str


def _texts(values: Any) -> list[str]:
    return [str(x) for x in values or ()]
