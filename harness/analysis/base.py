"""The contract of run-level analyses: numbers about a whole run, not one case.

Fairness across groups, classification metrics, robustness to perturbations, prompt
sensitivity, attack success rates, judge agreement and pairwise judging all look at
many cases at once. Each is an :class:`Analysis` declared under ``analyses:`` in the
suite, run after the cases (with the run's judges, for those that need a model), and
its :class:`AnalysisResult` (tables, charts, flags, raw numbers) is stored with the
run and rendered in the HTML report by one generic renderer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from harness.results.models import CaseResult
    from harness.scorers.context import ScoringContext

#: One value of a report table (outcomes.Cell is something else: a prompt x provider pair).
TableValue = str | int | float | bool | None


class Table(BaseModel):
    """A table of the report; numbers are formatted by the renderer."""

    title: str
    columns: list[str]
    rows: list[list[TableValue]]
    note: str | None = None
    #: Indexes of rows to highlight (e.g. a group over the fairness threshold).
    flagged_rows: list[int] = Field(default_factory=list)


class BarChart(BaseModel):
    """One bar per category, with an optional interval (e.g. a 95 % CI) per bar."""

    kind: Literal["bar"] = "bar"
    title: str
    categories: list[str]
    values: list[float | None]
    low: list[float | None] | None = None
    high: list[float | None] | None = None
    #: Axis label, e.g. "pass rate".
    unit: str = ""
    #: Draw a reference line at this value (e.g. the clean score, or 0).
    reference: float | None = None


class MatrixChart(BaseModel):
    """A heatmap, e.g. a confusion matrix (rows: true label, columns: predicted)."""

    kind: Literal["matrix"] = "matrix"
    title: str
    row_labels: list[str]
    col_labels: list[str]
    values: list[list[float]]
    row_title: str = ""
    col_title: str = ""


Chart = Annotated[BarChart | MatrixChart, Field(discriminator="kind")]


class AnalysisResult(BaseModel):
    """What one analysis found in one run."""

    id: str
    type: str
    title: str
    #: One or two sentences a reader sees first.
    summary: str | None = None
    tables: list[Table] = Field(default_factory=list)
    charts: list[Chart] = Field(default_factory=list)
    #: Findings over the suite's thresholds; the run's exit code turns 1 when
    #: the analysis was declared with ``fail_on_flag: true``.
    flags: list[str] = Field(default_factory=list)
    #: The raw numbers, for exports and for tests.
    data: dict[str, Any] = Field(default_factory=dict)
    #: Set when the analysis could not run (e.g. a group column is missing).
    error: str | None = None
    #: Library versions that computed the numbers (e.g. {"fairlearn": "0.13.0"}).
    versions: dict[str, str] = Field(default_factory=dict)
    #: Set by the runner: declared ``fail_on_flag`` and flagged (or could not run).
    fails_run: bool = False

    # As a gate outcome (harness.ci.junit.GateOutcome): one JUnit testcase / summary line each.
    @property
    def name(self) -> str:
        return f"analysis {self.id}"

    @property
    def passed(self) -> bool:
        return not self.fails_run

    @property
    def message(self) -> str:
        if self.error:
            return f"{self.title}: could not run: {self.error}"
        return "; ".join([f"{self.title}: {self.summary or 'done'}", *self.flags])


class AnalysisParams(BaseModel):
    """Parameters every analysis accepts; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")

    #: Turn a flag into a failed run (exit code 1), like a gate.
    fail_on_flag: bool = False
    #: The case set analysed ("main": the suite's cases).
    case_set: str = "main"


@dataclass(frozen=True)
class Needs:
    """What an analysis reads from a run, as (parameter, name) pairs: checked against the
    suite's cases when it loads, so a typo fails before any model is paid for."""

    #: Case variables; at least one case of the analysed case set must have each.
    vars: list[tuple[str, str]] = field(default_factory=list)
    #: Prompt version ids, provider ids and prompt families of the suite.
    prompts: list[tuple[str, str]] = field(default_factory=list)
    providers: list[tuple[str, str]] = field(default_factory=list)
    families: list[tuple[str, str]] = field(default_factory=list)
    #: Scorer names asserted on the analysed case set.
    scorers: list[tuple[str, str]] = field(default_factory=list)

    def __add__(self, other: Needs) -> Needs:
        return Needs(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Needs)))


class Analysis(ABC):
    """One configured analysis; subclasses set ``name``, ``title`` and ``Params``."""

    name: ClassVar[str]
    title: ClassVar[str]
    Params: ClassVar[type[AnalysisParams]] = AnalysisParams

    def __init__(self, id: str, params: AnalysisParams) -> None:
        self.id = id
        self.params = params

    def judges(self) -> list[str | None]:
        """Judge ids this analysis calls (``[None]``: the suite's only judge)."""
        return []

    def needs(self) -> Needs:
        """The variables, prompts, providers and scorers this analysis reads."""
        return Needs()

    def select(self, results: list[CaseResult]) -> list[CaseResult]:
        """The results of the analysed case set."""
        return [r for r in results if r.case_set == self.params.case_set]

    def result(self, **fields: Any) -> AnalysisResult:
        """An :class:`AnalysisResult` carrying this analysis' id, type and title."""
        return AnalysisResult(
            id=self.id, type=self.name, title=fields.pop("title", self.title), **fields
        )

    @abstractmethod
    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        """Analyse the run's results (every case set; use :meth:`select`)."""
