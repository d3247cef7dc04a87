"""Stored scores: a re-run of unchanged outputs reuses them instead of scoring again.

The value of a plain scorer depends on its version, its configuration (type and
parameters), the output and the case's expected answers and variables, and on nothing
else. A hash of those for a case's reusable assertions (and of the harness version, in
case a fix forgot to bump a scorer's) keys one row of the ``scores`` table of the response
cache, so a re-run of an ``outputs`` suite (or of a cached one) whose outputs did not
change reads each case's scores with one lookup instead of recomputing them, and a changed
output, parameter, expected answer or version is simply another key.

Reusable are harness's own scorers that say a value costs more to compute than the lookup
(~20 us: ``reuse_scores``: ROUGE, BLEU, chrF); exact match, a substring test or the F1 of
a short answer is cheaper to redo. Scorers that read more (the whole case, a judge or an embedder:
:class:`~harness.scorers.case.CaseScorer`, :class:`~harness.scorers.base.ModelScorer`),
plugins (their code may change under the same version) and assertions that
``transform`` the output are always run. New scores are written with each batch of
results (:mod:`harness.runner.writer`): nothing was paid for them, so a crash only means
scoring again.
"""

from __future__ import annotations

import hashlib
import json

from harness import __version__
from harness.cases import BoundAssert, CaseRow
from harness.runner.cache import ResponseCache
from harness.scorers.base import ModelScorer, ScoreValue
from harness.scorers.case import CaseScorer


class ScoreMemo:
    """Scores in ``cache`` by their inputs; read only when ``read`` (not under ``--no-cache``)."""

    def __init__(self, cache: ResponseCache, read: bool = True) -> None:
        self.cache = cache
        self.read = read
        self._new: dict[str, list[ScoreValue]] = {}
        #: Per list of assertions (rows share theirs): the reusable ones and their part of keys.
        self._plans: dict[tuple[int, ...], tuple[list[BoundAssert], str]] = {}

    def for_case(self, row: CaseRow, output: str) -> CaseScores:
        """The scorer of one case's output: its stored scores, read now, where they match."""
        return CaseScores(self, row, output)

    def plan(self, asserts: list[BoundAssert]) -> tuple[list[BoundAssert], str]:
        """The reusable assertions of ``asserts`` and what identifies their scorers."""
        ids = tuple(map(id, asserts))
        if ids not in self._plans:
            plain = [b for b in asserts if _reusable(b)]
            scorers = [[b.scorer.version_string, b.config] for b in plain]
            self._plans[ids] = (plain, json.dumps([__version__, scorers]))
        return self._plans[ids]

    def remember(self, key: str, values: list[ScoreValue]) -> None:
        self._new[key] = values

    def flush(self) -> None:
        """Write the scores computed since the last flush."""
        if self._new:
            new, self._new = self._new, {}
            self.cache.put_scores(new)


class CaseScores:
    """Scores one case's output with its plain assertions' stored values where there are."""

    def __init__(self, memo: ScoreMemo, row: CaseRow, output: str) -> None:
        self.memo = memo
        self.row = row
        plain, scorers = memo.plan(row.asserts)
        #: Position of each reusable assertion (by identity: the same objects every case).
        self._at = {id(b): i for i, b in enumerate(plain)}
        self._key = _key(scorers, output, row) if plain else ""
        stored = memo.cache.get_scores(self._key) if self._key and memo.read else None
        self._values: list[ScoreValue | None] = [None] * len(plain)
        self._stored = stored is not None and len(stored) == len(plain)
        if stored is not None and self._stored:
            self._values[:] = stored

    def score(self, bound: BoundAssert, output: str) -> ScoreValue:
        """``bound``'s plain scorer's value of ``output`` (its ``transform``, if any, applied)."""
        at = self._at.get(id(bound))
        if at is None:
            return bound.scorer.score(output, self.row.expected, self.row.vars)
        found = self._values[at]
        if found is not None:
            return found
        value = self._values[at] = bound.scorer.score(output, self.row.expected, self.row.vars)
        if not self._stored and all(v is not None for v in self._values):  # all: store them
            self.memo.remember(self._key, [v for v in self._values if v is not None])
        return value


def _reusable(bound: BoundAssert) -> bool:
    """Whether ``bound``'s values may be reused (see the module's docstring)."""
    scorer = bound.scorer
    own = type(scorer).__module__.startswith("harness.scorers.")
    plain = not isinstance(scorer, CaseScorer | ModelScorer)
    return scorer.reuse_scores and own and plain and bound.transform is None and bool(bound.config)


def _key(scorers: str, output: str, row: CaseRow) -> str:
    inputs = json.dumps([row.expected, row.vars], sort_keys=True, default=str)
    text = f"{scorers}\0{inputs}\0{output}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(text).hexdigest()
