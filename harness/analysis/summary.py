"""Aggregate one run's case results per (case set, prompt version, provider) and per tag.

Reports, gates and comparisons all read these numbers, so they are computed in one
place. A number that has no data behind it (no cost reported, no scorer value) is
``None``: a missing value must never pass for a measured zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from harness.analysis.corpus import CorpusInput, CorpusScore, corpus_scores, result_corpus_inputs
from harness.jsontext import utf8_safe
from harness.results.models import CaseResult

#: The columns that identify one cell of the summary.
GROUP_KEYS = ["case_set", "prompt_id", "provider_id"]

_CASE_COLUMNS = [
    "case_index",
    "case_id",
    "row_id",
    *GROUP_KEYS,
    "model",
    "tags",
    "passed",
    "error",
    "latency_s",
    "cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "cached",
]
_SCORE_COLUMNS = [
    "name", "scorer", "scorer_version", "value", "threshold", "score_passed", "score_error"
]  # fmt: skip


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


def results_frame(
    results: Iterable[CaseResult], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per (case, score); a case without scores still gets one row (name None).

    ``case_index`` is the case's position in ``results``, so cases stay distinct even
    when a case id recurs (the same case in a bad-case set and in the main set).
    ``columns``: only these (the summary reads half of them; every column of a 100k-case
    run's frame costs memory while it is built).
    """
    wanted = set(_CASE_COLUMNS + _SCORE_COLUMNS if columns is None else columns)
    case_columns = [(j, c) for j, c in enumerate(_CASE_COLUMNS) if c in wanted]
    score_columns = [(j, c) for j, c in enumerate(_SCORE_COLUMNS) if c in wanted]
    # Built column by column: a dict per row would cost several KB each at 100k cases.
    data: dict[str, list[Any]] = {c: [] for _, c in case_columns + score_columns}
    no_score = (None,) * len(_SCORE_COLUMNS)
    for i, r in enumerate(results):
        case = (
            i, r.case_id, r.row_id, r.case_set, r.prompt_id, r.provider_id, r.model,
            list(r.tags), r.passed, r.error, r.latency_s, r.cost_usd, r.prompt_tokens,
            r.completion_tokens, r.cached,
        )  # fmt: skip
        for s in r.scores or [None]:
            for j, name in case_columns:
                data[name].append(case[j])
            score = (
                (s.name, s.scorer, s.version, s.value, s.threshold, s.passed, s.error)
                if s
                else no_score
            )
            for j, name in score_columns:
                data[name].append(score[j])
    # pandas' arrow strings refuse lone surrogates (an error message, a dataset id may hold one)
    for col in _TEXT_COLUMNS.intersection(data):
        data[col] = [v if v is None else utf8_safe(v) for v in data[col]]
    frame = pd.DataFrame(data)
    for col in ("value", "threshold", "latency_s", "cost_usd"):
        if col in frame:
            frame[col] = frame[col].astype("float64")
    return frame


#: Text columns: their lone surrogates are escaped for pandas.
_TEXT_COLUMNS = {
    "case_id",
    "row_id",
    "case_set",
    "prompt_id",
    "provider_id",
    "error",
    "score_error",
}
#: The columns the aggregation reads.
_SUMMARY_COLUMNS = [
    "case_index", *GROUP_KEYS, "tags", "passed", "error", "latency_s", "cost_usd",
    "prompt_tokens", "completion_tokens", "name", "value", "score_error",
]  # fmt: skip


def summarize(results: Iterable[CaseResult], *, corpus: bool = True) -> RunSummary:
    """Aggregate ``results`` per (case set, prompt, provider) and per tag within those;
    ``corpus=False`` skips the corpus scores (they re-tokenize every output).

    ``results`` is read once, one case at a time (a
    :class:`~harness.results.store.StoredResults` is never held whole)."""
    headline: list[str] = []
    higher: dict[str, bool] = {}
    corpus_items: list[tuple[tuple[str, ...], CorpusInput]] = []
    perturbed: list[int] = []

    def read() -> Iterator[CaseResult]:
        """The results, noting on the way what the frame does not hold."""
        for i, r in enumerate(results):
            for s in r.scores:
                if s.name not in higher:
                    headline.append(s.name)
                    higher[s.name] = s.higher_is_better
            if corpus:
                corpus_items.extend(_corpus_items(r))
            if r.perturbation:
                perturbed.append(i)
            yield r

    frame = results_frame(read(), _SUMMARY_COLUMNS)
    tagged = frame.explode("tags").dropna(subset=["tags"]).rename(columns={"tags": "tag"})
    # Headline cells are over clean cases: perturbed copies (robustness) show per tag and in
    # the robustness analysis, so declaring perturbations never moves the headline or a gate.
    clean = frame[~frame["case_index"].isin(perturbed)]
    groups = _aggregate(clean, GROUP_KEYS, headline)
    by_tag = _aggregate(tagged, [*GROUP_KEYS, "tag"], headline)
    scores = corpus_scores(corpus_items)
    for g in (*groups, *by_tag):
        key = (g.case_set, g.prompt_id, g.provider_id)
        g.corpus = scores.get(key if g.tag is None else (*key, g.tag), {})
    return RunSummary(groups=groups, by_tag=by_tag, headline=headline, higher_is_better=higher)


def _corpus_items(r: CaseResult) -> list[tuple[tuple[str, ...], CorpusInput]]:
    """The case's corpus inputs keyed by the cells it is in: its group (a clean case only,
    as the headline cells) and each of its tags."""
    key = (r.case_set, r.prompt_id, r.provider_id)
    keys = [] if r.perturbation else [key]
    keys += [(*key, tag) for tag in dict.fromkeys(r.tags)]
    return [(k, item) for item in result_corpus_inputs(r) for k in keys]


def _aggregate(frame: pd.DataFrame, keys: list[str], headline: list[str]) -> list[GroupSummary]:
    if frame.empty:
        return []
    cases = frame.drop_duplicates([*keys, "case_index"])
    tokens = (
        cases[["prompt_tokens", "completion_tokens"]].astype("float64").sum(axis=1, min_count=1)
    )
    cases = cases.assign(tokens=tokens)
    grouped = cases.groupby(keys, sort=False)
    per_case = pd.DataFrame(
        {
            "n": grouped.size(),
            "n_errors": grouped["error"].count(),
            "pass_rate": grouped["passed"].mean(),
            "cost_total": grouped["cost_usd"].sum(min_count=1),
            "cost_mean": grouped["cost_usd"].mean(),
            "latency_mean": grouped["latency_s"].mean(),
            "latency_p95": grouped["latency_s"].quantile(0.95),
            "tokens_total": grouped["tokens"].sum(min_count=1),
        }
    )
    scored = frame.dropna(subset=["name"])
    values = scored.groupby([*keys, "name"], sort=False)["value"]
    means, counts = values.mean(), values.count()
    broken = scored.dropna(subset=["score_error"]).groupby(keys, sort=False)["case_index"]
    score_errors = broken.nunique()
    out = []
    for key, row in per_case.iterrows():
        ident = dict(zip(keys, key, strict=True))
        metrics = {name: _opt(means.get((*key, name))) for name in headline}
        metric_n = {name: int(counts.get((*key, name), 0)) for name in headline}
        tokens_total = _opt(row["tokens_total"])
        out.append(
            GroupSummary(
                **ident,
                n=int(row["n"]),
                n_errors=int(row["n_errors"]),
                n_score_errors=int(score_errors.get(key, 0)),
                pass_rate=float(row["pass_rate"]),
                metrics=metrics,
                metric_n=metric_n,
                cost_total=_opt(row["cost_total"]),
                cost_mean=_opt(row["cost_mean"]),
                latency_mean=_opt(row["latency_mean"]),
                latency_p95=_opt(row["latency_p95"]),
                tokens_total=None if tokens_total is None else round(tokens_total),
            )
        )
    return out


def _opt(x: object) -> float | None:
    """A float, or None for a missing/NaN value."""
    if x is None:
        return None
    value = float(x)  # type: ignore[arg-type]
    return None if math.isnan(value) else value
