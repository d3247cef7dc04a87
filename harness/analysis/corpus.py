"""Corpus BLEU and chrF of a run's cells: sacrebleu's corpus scores, beside the sentence means.

A corpus score is no mean of sentence scores (BLEU adds up n-gram matches and lengths over
the whole corpus before its geometric mean and brevity penalty), so it is computed where the
results are read, from what every case already stores: its output and expected answers. The
assertion's parameters come from its stored version string, which carries sacrebleu's
signature (:func:`~harness.scorers.sacre.scorer_from_version`), and the text scored is the
one the sentence scorer saw (an assertion's ``transform`` of the output is kept as the
score's ``answer``).

:func:`corpus_scores` takes ``(cell key, input)`` pairs in any order, so a caller reading
results once (the summary) collects them as it goes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from harness.errors import ScorerError
from harness.results.models import CaseResult

if TYPE_CHECKING:
    from harness.scorers.sacre import SacreScorer

#: The scorers whose assertions also get a corpus score.
CORPUS_SCORERS = frozenset({"bleu", "chrf"})

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CorpusInput:
    """One case's part in one corpus metric."""

    #: The assertion's name: the corpus metric is keyed by it, like the sentence mean.
    name: str
    #: The scorer's stored version string (with sacrebleu's signature).
    version: str
    #: What the scorer saw: the output, or the assertion's ``transform`` of it.
    hypothesis: str
    references: tuple[str, ...]


class CorpusScore(BaseModel):
    """sacrebleu's corpus score of one assertion over the scored cases of one cell."""

    #: sacrebleu's score / 100; None when it could not be computed (see ``note``).
    value: float | None
    #: sacrebleu's signature of the corpus metric (``nrefs:1|case:mixed|eff:no|tok:13a|...``).
    signature: str | None
    #: The cases in it: those whose assertion produced a value (not errored calls).
    n: int
    #: Why there is no value.
    note: str | None = None


def corpus_inputs(
    output: str | None,
    expected: Sequence[str],
    scores: Iterable[tuple[str, str, str, float | None, str | None]],
) -> tuple[CorpusInput, ...]:
    """The corpus metrics one case takes part in, from its scores as ``(name, scorer,
    version, value, answer)``: its bleu and chrf assertions that produced a value (an errored
    call, a failed transform or a case without references has none)."""
    if output is None or not expected:
        return ()
    references = tuple(expected)
    return tuple(
        CorpusInput(name, version, output if answer is None else answer, references)
        for name, scorer, version, value, answer in scores
        if scorer in CORPUS_SCORERS and value is not None
    )


def result_corpus_inputs(result: CaseResult) -> tuple[CorpusInput, ...]:
    """:func:`corpus_inputs` of a case result."""
    scores = ((s.name, s.scorer, s.version, s.value, s.answer) for s in result.scores)
    return corpus_inputs(result.output, result.expected, scores)


def stored_corpus_inputs(
    output: str | None, expected: Sequence[str], scores: Iterable[Mapping[str, Any]] | None
) -> tuple[CorpusInput, ...]:
    """:func:`corpus_inputs` of a case's fields as stored (scores as JSON objects)."""
    rows = (
        (s.get("name") or s["scorer"], s["scorer"], s.get("version", ""), s.get("value"),
         s.get("answer"))
        for s in scores or ()
    )  # fmt: skip
    return corpus_inputs(output, expected, rows)


def corpus_scores(items: Iterable[tuple[K, CorpusInput]]) -> dict[K, dict[str, CorpusScore]]:
    """Per cell key and assertion name: the corpus score over the cell's inputs."""
    cells: dict[K, dict[str, list[CorpusInput]]] = {}
    for key, item in items:
        cells.setdefault(key, {}).setdefault(item.name, []).append(item)
    return {
        key: {name: corpus_score(inputs) for name, inputs in names.items()}
        for key, names in cells.items()
    }


def corpus_score(inputs: Sequence[CorpusInput]) -> CorpusScore:
    """sacrebleu's corpus score of these inputs (one assertion's), or None with the reason."""
    try:
        scorer = corpus_scorer(inputs)
        value, signature = scorer.corpus_score(
            [i.hypothesis for i in inputs], [i.references for i in inputs]
        )
    except ScorerError as e:
        return CorpusScore(value=None, signature=None, n=len(inputs), note=str(e))
    return CorpusScore(value=value, signature=signature, n=len(inputs))


def corpus_scorer(inputs: Iterable[CorpusInput]) -> SacreScorer:
    """The one scorer of these inputs; a :class:`ScorerError` when their cases were scored
    with different parameters (a corpus score over them would mix two metrics)."""
    from harness.scorers.sacre import scorer_from_version  # sacrebleu: only when needed

    versions = sorted({(i.name, i.version) for i in inputs})
    scorers = {scorer_from_version(version) for _, version in versions}
    if len({s.version_string for s in scorers}) > 1:
        listed = ", ".join(version for _, version in versions)
        raise ScorerError(
            f"'{versions[0][0]}': cases scored with different parameters ({listed}); "
            "no corpus score over them"
        )
    if not scorers:
        raise ScorerError("no scored case: no corpus score")
    return next(iter(scorers))
