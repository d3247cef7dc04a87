"""The scorer contract.

A scorer is built once per assertion by a factory (``factory(**params) -> Scorer``)
and then called on every output. It declares whether higher is better and how its
values aggregate, so comparisons know what a regression is, and returns a rich
:class:`ScoreValue` (value, extracted answer, explanation) that reports and
bad-case sets can show.
"""

from __future__ import annotations

import functools
import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from harness.errors import ScorerError

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext


@functools.cache
def package_version(name: str) -> str:
    """The installed version of package ``name``, read once: a ``version_string`` is asked for
    every score, and importlib.metadata parses the package's metadata each time (~1 ms)."""
    return importlib.metadata.version(name)


class ScoreValue(BaseModel):
    """What one scorer says about one output. ``value`` is in [0, 1] unless documented."""

    value: float
    answer: str | None = None
    explanation: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: The scorer's own verdict where it decides pass/fail itself (a user's ``python``
    #: check returning True/False); None: ``value`` against the threshold.
    passed: bool | None = None


class Scorer(ABC):
    """One configured assertion type. Subclasses set the class attributes."""

    #: Registry name, e.g. ``"rougeL"``.
    name: ClassVar[str]
    #: Bumped when the scorer's numbers change; stored with every score.
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    aggregation: ClassVar[Literal["mean"]] = "mean"
    #: Pass threshold used when the suite gives none.
    default_threshold: ClassVar[float] = 1.0
    #: The values ``score`` returns; a threshold outside them is refused when the suite loads.
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    #: True when the scorer cannot work without an expected answer (checked when the suite
    #: loads); an instance may set it from its parameters.
    needs_expected: bool = False
    #: True where a value costs more to compute than a stored one to look up (~20 us: ROUGE,
    #: BLEU, chrF), for a value that depends on nothing but the version, the parameters, the
    #: output and the case's expected answers and variables: a re-run of the same inputs
    #: then reuses it (harness.runner.memo).
    reuse_scores: ClassVar[bool] = False

    @property
    def version_string(self) -> str:
        """``name@version`` plus library versions/signatures where a library computes it."""
        return f"{self.name}@{self.version}"

    @abstractmethod
    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        """Score ``output`` against the acceptable answers ``expected`` (may be empty)."""

    def require_expected(self, expected: Sequence[str]) -> Sequence[str]:
        """``expected``, or a :class:`ScorerError` when this scorer got none."""
        if not expected:
            raise ScorerError(f"Scorer {self.name!r} needs an expected answer; the case has none")
        return expected

    def load(self, suite_dir: Path) -> None:  # noqa: B027 - optional hook
        """Resolve what the parameters name relative to the suite file (a user's module), once,
        when the suite loads: a missing file is an error before the first call."""

    def vars_needed(self) -> list[str]:
        """Case variables this scorer reads: every case must have them (checked when the suite
        loads, so a misnamed column fails before the first call)."""
        return []

    def contexts_vars(self) -> list[str]:
        """Of :meth:`vars_needed`, the passages an application's own ``contexts`` replace (the
        RAG scorers judge what the app retrieved): needed of every case only when some
        provider of the suite cannot return contexts."""
        return []

    def passes(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.higher_is_better else value <= threshold


class ModelScorer(Scorer):
    """A scorer that calls models (a judge, an embedder) through the runner.

    The runner awaits :meth:`ascore` with a :class:`~harness.scorers.context.ScoringContext`
    whose calls share the run's cache, retries and cost accounting; :meth:`judges` and
    :meth:`embedders` name what the scorer will call (None: the suite's only one), so a
    suite that lacks them is refused before the first call.
    """

    def judges(self) -> list[str | None]:
        """Judge ids this scorer calls; ``[None]`` means the suite's only judge."""
        return []

    def embedders(self) -> list[str | None]:
        """Embedder ids this scorer calls; ``[None]`` means the suite's only embedder."""
        return []

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        raise ScorerError(f"scorer {self.name!r} calls a model: the runner awaits ascore()")

    @abstractmethod
    async def ascore(
        self,
        output: str,
        expected: Sequence[str],
        vars: Mapping[str, Any],
        ctx: ScoringContext,
    ) -> ScoreValue:
        """Score ``output``, calling models only through ``ctx``."""
