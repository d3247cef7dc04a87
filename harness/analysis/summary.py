"""Aggregate one run's case results per (case set, prompt version, provider) and per tag.

Reports, gates and comparisons all read these numbers, so they are computed in one
place. A number that has no data behind it (no cost reported, no scorer value) is
``None``: a missing value must never pass for a measured zero.
"""

from __future__ import annotations

import math

import pandas as pd
from pydantic import BaseModel, Field

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
_SCORE_COLUMNS = ["scorer", "scorer_version", "value", "threshold", "score_passed", "score_error"]


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
    #: Mean value per scorer name; None where the scorer produced no value in this cell.
    metrics: dict[str, float | None]
    #: Sum and mean over the cases that reported a cost; None when none did.
    cost_total: float | None
    cost_mean: float | None
    latency_mean: float | None
    latency_p95: float | None
    #: Prompt plus completion tokens over the cases that reported any; None when none did.
    tokens_total: int | None


class RunSummary(BaseModel):
    """Every cell of one run, per group and per tag, plus the metric order to show."""

    groups: list[GroupSummary]
    by_tag: list[GroupSummary]
    #: Scorer names in the order they first appear in the results (suite order).
    headline: list[str]
    #: Per scorer name: whether a higher value is better.
    higher_is_better: dict[str, bool] = Field(default_factory=dict)

    def group(self, case_set: str, prompt_id: str, provider_id: str) -> GroupSummary | None:
        """The cell for one (case set, prompt, provider), or None when the run has none."""
        for g in self.groups:
            if (g.case_set, g.prompt_id, g.provider_id) == (case_set, prompt_id, provider_id):
                return g
        return None


def results_frame(results: list[CaseResult]) -> pd.DataFrame:
    """One row per (case, score); a case without scores still gets one row (scorer None).

    ``case_index`` is the case's position in ``results``, so cases stay distinct even
    when a case id recurs (the same case in a bad-case set and in the main set).
    """
    rows = []
    for i, r in enumerate(results):
        case = {
            "case_index": i,
            "case_id": r.case_id,
            "row_id": r.row_id,
            "case_set": r.case_set,
            "prompt_id": r.prompt_id,
            "provider_id": r.provider_id,
            "model": r.model,
            "tags": list(r.tags),
            "passed": r.passed,
            "error": r.error,
            "latency_s": r.latency_s,
            "cost_usd": r.cost_usd,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "cached": r.cached,
        }
        for s in r.scores or [None]:
            rows.append(
                case
                | {
                    "scorer": s.scorer if s else None,
                    "scorer_version": s.version if s else None,
                    "value": s.value if s else None,
                    "threshold": s.threshold if s else None,
                    "score_passed": s.passed if s else None,
                    "score_error": s.error if s else None,
                }
            )
    frame = pd.DataFrame(rows, columns=_CASE_COLUMNS + _SCORE_COLUMNS)
    for col in ("value", "threshold", "latency_s", "cost_usd"):
        frame[col] = frame[col].astype("float64")
    return frame


def summarize(results: list[CaseResult]) -> RunSummary:
    """Aggregate ``results`` per (case set, prompt, provider) and per tag within those."""
    frame = results_frame(results)
    headline: list[str] = []
    higher: dict[str, bool] = {}
    for r in results:
        for s in r.scores:
            if s.scorer not in higher:
                headline.append(s.scorer)
                higher[s.scorer] = s.higher_is_better
    tagged = frame.explode("tags").dropna(subset=["tags"]).rename(columns={"tags": "tag"})
    # Headline cells are over clean cases: perturbed copies (robustness) show per tag and in
    # the robustness analysis, so declaring perturbations never moves the headline or a gate.
    clean = frame[~frame["case_index"].isin([i for i, r in enumerate(results) if r.perturbation])]
    return RunSummary(
        groups=_aggregate(clean, GROUP_KEYS, headline),
        by_tag=_aggregate(tagged, [*GROUP_KEYS, "tag"], headline),
        headline=headline,
        higher_is_better=higher,
    )


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
    scored = frame.dropna(subset=["scorer"])
    means = scored.groupby([*keys, "scorer"], sort=False)["value"].mean()
    broken = scored.dropna(subset=["score_error"]).groupby(keys, sort=False)["case_index"]
    score_errors = broken.nunique()
    out = []
    for key, row in per_case.iterrows():
        ident = dict(zip(keys, key, strict=True))
        metrics = {name: _opt(means.get((*key, name))) for name in headline}
        tokens_total = _opt(row["tokens_total"])
        out.append(
            GroupSummary(
                **ident,
                n=int(row["n"]),
                n_errors=int(row["n_errors"]),
                n_score_errors=int(score_errors.get(key, 0)),
                pass_rate=float(row["pass_rate"]),
                metrics=metrics,
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
