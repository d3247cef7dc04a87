"""Aggregate one run's case results per (case set, prompt version, provider) and per tag.

Reports, gates and comparisons all read these numbers, so they are computed in one
place. A number that has no data behind it (no cost reported, no scorer value) is
``None``: a missing value must never pass for a measured zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, Field

from harness.analysis.corpus import CorpusInput, CorpusScore, corpus_scores, result_corpus_inputs
from harness.jsontext import model_of, utf8_safe
from harness.results.models import CaseResult
from harness.results.store import read_as

#: The columns that identify one cell of the summary.
GROUP_KEYS = ["case_set", "prompt_id", "provider_id"]
#: What the summary reads of a case (a stored run's messages and vars are never built).
_READ = model_of(
    CaseResult, "case_set", "prompt_id", "provider_id", "tags", "perturbation", "passed",
    "error", "scores", "output", "expected", "cost_usd", "latency_s", "prompt_tokens",
    "completion_tokens",
)  # fmt: skip


class GroupSummary(BaseModel):
    """The numbers of one (case set, prompt, provider) cell, optionally restricted to one tag."""

    case_set: str
    prompt_id: str
    provider_id: str
    tag: str | None = None
    n: int
    #: Cases whose model call failed.
    n_errors: int
    #: Cases with an assertion that could not be scored (a judge reply that did not parse, a
    #: row without contexts...): failed, but not for a low score.
    n_score_errors: int = 0
    pass_rate: float
    #: Mean value per assertion name; None where it produced no value in this cell.
    metrics: dict[str, float | None]
    #: Per assertion name: the cases its mean is over (those with a value). Fewer than
    #: ``n`` when calls errored, scoring failed or some cases lack the assertion.
    metric_n: dict[str, int] = Field(default_factory=dict)
    #: Sum and mean over the cases that reported a cost; None when none did.
    cost_total: float | None
    cost_mean: float | None
    latency_mean: float | None
    latency_p95: float | None
    #: Prompt plus completion tokens over the cases that reported any; None when none did.
    tokens_total: int | None
    #: Per bleu/chrf assertion name: sacrebleu's corpus score over the cell's scored cases.
    corpus: dict[str, CorpusScore] = Field(default_factory=dict)

    def scored_note(self, name: str) -> str | None:
        """``"18 of 20 scored"`` when the mean of ``name`` is over fewer cases than the cell
        has (None when over all): a mean never hides the cases left out of it."""
        return _scored_note(self.metric_n.get(name, self.n), self.n)

    def corpus_note(self, name: str) -> str | None:
        """:meth:`scored_note` of the corpus score of ``name``."""
        score = self.corpus.get(name)
        return None if score is None else _scored_note(score.n, self.n)


def _scored_note(scored: int, n: int) -> str | None:
    return None if scored == n else f"{scored} of {n} scored"


class RunSummary(BaseModel):
    """Every cell of one run, per group and per tag, plus the metric order to show."""

    groups: list[GroupSummary]
    by_tag: list[GroupSummary]
    #: Assertion names in the order they first appear in the results (suite order).
    headline: list[str]
    #: Per assertion name: whether a higher value is better.
    higher_is_better: dict[str, bool] = Field(default_factory=dict)

    @property
    def corpus_metrics(self) -> list[str]:
        """The assertion names with a corpus score (bleu, chrf), in headline order."""
        found = {name for g in (*self.groups, *self.by_tag) for name in g.corpus}
        return [name for name in self.headline if name in found]

    def corpus_signatures(self, name: str) -> list[str]:
        """The distinct signatures of ``name``'s corpus scores over the groups, in group order:
        several when cells differ in ``nrefs`` or ``tokenize: auto`` chose ``zh`` for some."""
        found = (g.corpus[name].signature for g in self.groups if name in g.corpus)
        return list(dict.fromkeys(s for s in found if s is not None))

    def group(self, case_set: str, prompt_id: str, provider_id: str) -> GroupSummary | None:
        """The cell for one (case set, prompt, provider), or None when the run has none."""
        for g in self.groups:
            if (g.case_set, g.prompt_id, g.provider_id) == (case_set, prompt_id, provider_id):
                return g
        return None


def summarize(results: Iterable[CaseResult], *, corpus: bool = True) -> RunSummary:
    """Aggregate ``results`` per (case set, prompt, provider) and per tag within those;
    ``corpus=False`` skips the corpus scores (they re-tokenize every output).

    ``results`` is read once, one case at a time (a
    :class:`~harness.results.store.StoredResults` is never held whole), into running sums
    per cell: building a pandas frame cost more than the run loop of a cached re-run, and
    importing pandas ~0.5 s of every ``harness run``. Counts, pass rates and token totals
    are exact as before; means are compensated sums (as pandas' were, to within the last
    bits: pandas adds a group's values in an order of its own) and the p95 is pandas'
    linear quantile."""
    headline: list[str] = []
    higher: dict[str, bool] = {}
    corpus_items: list[tuple[tuple[str, ...], CorpusInput]] = []
    groups: dict[tuple[str, ...], _Cell] = {}
    by_tag: dict[tuple[str, ...], _Cell] = {}
    safe = _SafeText()
    for r in read_as(results, _READ):
        for s in r.scores:
            if s.name not in higher:
                headline.append(s.name)
                higher[s.name] = s.higher_is_better
        if corpus:
            corpus_items.extend(_corpus_items(r))
        key = (safe(r.case_set), safe(r.prompt_id), safe(r.provider_id))
        # Headline cells are over clean cases: perturbed copies (robustness) show per tag and
        # in the robustness analysis, so declaring perturbations never moves the headline or
        # a gate.
        cells = [] if r.perturbation else [_cell(groups, key)]
        tags = [_cell(by_tag, (*key, tag)) for tag in r.tags]
        for cell in dict.fromkeys([*cells, *tags]):  # a case counts once per cell...
            cell.add_case(r)
        for cell in [*cells, *tags]:  # ...its scores once per tag it lists (pandas' explode)
            cell.add_scores(r)
    scores = corpus_scores(corpus_items)
    out = [[c.summary(k, headline) for k, c in cells.items()] for cells in (groups, by_tag)]
    for g in (*out[0], *out[1]):
        key = (g.case_set, g.prompt_id, g.provider_id)
        g.corpus = scores.get(key if g.tag is None else (*key, g.tag), {})
    return RunSummary(groups=out[0], by_tag=out[1], headline=headline, higher_is_better=higher)


def _corpus_items(r: CaseResult) -> list[tuple[tuple[str, ...], CorpusInput]]:
    """The case's corpus inputs keyed by the cells it is in: its group (a clean case only,
    as the headline cells) and each of its tags."""
    key = (r.case_set, r.prompt_id, r.provider_id)
    keys = [] if r.perturbation else [key]
    keys += [(*key, tag) for tag in dict.fromkeys(r.tags)]
    return [(k, item) for item in result_corpus_inputs(r) for k in keys]


class _SafeText:
    """:func:`utf8_safe` of each id, once per distinct id (the cells' ids are as the frame
    held them, whose arrow strings refused lone surrogates)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = utf8_safe(text)
        return found


def _cell(cells: dict[tuple[str, ...], _Cell], key: tuple[str, ...]) -> _Cell:
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = _Cell()
    return cell


class _Sum:
    """A compensated (Kahan) sum of the non-missing values, as pandas' groupby sum and mean
    compute theirs: a long run's mean does not drift with the order of its cases."""

    __slots__ = ("_carry", "n", "total")

    def __init__(self) -> None:
        self.n, self.total, self._carry = 0, 0.0, 0.0

    def add(self, value: float | None) -> None:
        if value is None or value != value:  # None and NaN are missing
            return
        self.n += 1
        y = value - self._carry
        t = self.total + y
        self._carry = t - self.total - y
        if self._carry != self._carry:  # an infinite value: keep it, not NaN
            self._carry = 0.0
        self.total = t

    def sum(self) -> float | None:
        return self.total if self.n else None

    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


class _Cell:
    """The running numbers of one cell of the summary."""

    __slots__ = (
        "cost",
        "errors",
        "latencies",
        "latency",
        "n",
        "passed",
        "score_errors",
        "tokens",
        "values",
    )  # fmt: skip

    def __init__(self) -> None:
        self.n = self.errors = self.passed = 0
        self.cost, self.latency = _Sum(), _Sum()
        self.latencies: list[float] = []
        self.tokens: int | None = None
        self.values: dict[str, _Sum] = {}
        self.score_errors = 0

    def add_case(self, r: CaseResult) -> None:
        self.n += 1
        self.errors += r.error is not None
        self.passed += bool(r.passed)
        self.cost.add(r.cost_usd)
        latency = r.latency_s
        if latency is not None and latency == latency:
            self.latency.add(float(latency))
            self.latencies.append(float(latency))
        counts = [t for t in (r.prompt_tokens, r.completion_tokens) if t is not None]
        if counts:
            self.tokens = (self.tokens or 0) + sum(counts)
        self.score_errors += any(s.error is not None for s in r.scores if s.name is not None)

    def add_scores(self, r: CaseResult) -> None:
        for s in r.scores:
            if s.name is not None:
                found = self.values.get(s.name)
                if found is None:
                    found = self.values[s.name] = _Sum()
                found.add(None if s.value is None else float(s.value))

    def summary(self, key: tuple[str, ...], headline: list[str]) -> GroupSummary:
        case_set, prompt_id, provider_id, *tag = key
        empty = _Sum()
        return GroupSummary(
            case_set=case_set,
            prompt_id=prompt_id,
            provider_id=provider_id,
            tag=tag[0] if tag else None,
            n=self.n,
            n_errors=self.errors,
            n_score_errors=self.score_errors,
            pass_rate=self.passed / self.n,
            metrics={name: self.values.get(name, empty).mean() for name in headline},
            metric_n={name: self.values.get(name, empty).n for name in headline},
            cost_total=self.cost.sum(),
            cost_mean=self.cost.mean(),
            latency_mean=self.latency.mean(),
            latency_p95=_quantile(self.latencies, 0.95),
            tokens_total=self.tokens,
        )


def _quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` by linear interpolation, numpy's default (as pandas'
    groupby ``quantile``), computed step for step as numpy computes it so that it is the same
    float (``tests/analysis/test_summary.py``); None without values. Not numpy itself: its
    import took ~0.17 s of every `harness run`, for one number a group."""
    if not values:
        return None
    if any(math.isnan(v) for v in values):
        return math.nan
    ordered = sorted(values)
    n = len(ordered)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return float(ordered[-1])
    if virtual < 0:
        return float(ordered[0])
    below = math.floor(virtual)
    a, b = ordered[below], ordered[below + 1]
    t, diff = virtual - below, b - a
    return float(b - diff * (1 - t) if t >= 0.5 else a + diff * t)
