"""Differences between groups of cases (gender, region, dialect...), through fairlearn.

What y_true / y_pred are for an LLM eval:

* **verdict mode** (no ``positive_label``): y_pred is the case verdict (or the pass of
  the ``metric`` scorer) and y_true is 1 for every case (each case *should* pass). The
  selection rate is then the pass rate, so demographic parity difference/ratio are the
  gap and ratio between the groups' pass rates. Equalized odds needs a real ground truth
  and is left out.
* **label mode** (``positive_label`` set, e.g. ``yes`` or ``approve``): y_true is whether
  the expected label is the positive one and y_pred whether the predicted label is
  (labels normalised as in the classification analysis). Demographic parity compares
  how often each group gets the positive answer, equalized odds the groups' true and
  false positive rates, accuracy is of the binarised labels.

Each group's accuracy (its pass rate in verdict mode) gets a percentile-bootstrap
interval. A difference above ``threshold`` (or a ratio under ``min_ratio``) is flagged.
"""

from __future__ import annotations

import fairlearn
import fairlearn.metrics as fm
import numpy as np
from pydantic import BaseModel, Field
from sklearn.metrics import accuracy_score

from harness.analysis.base import Analysis, AnalysisResult, BarChart, Needs, Table
from harness.analysis.labels import LabelParams, LabelReader, label_needs
from harness.analysis.outcomes import (
    Cell,
    MetricParams,
    by_cell,
    cell_label,
    clean,
    mean_ci,
    metric_needs,
    missing_metric,
    rounded,
    verdict,
)
from harness.results.models import CaseResult
from harness.scorers.context import ScoringContext

#: Group of a case that lacks the group variable.
MISSING_GROUP = "(missing)"


class FairnessParams(LabelParams, MetricParams):
    #: The case variable (dataset column) that names each case's group.
    group: str = Field(min_length=1)
    #: Flag a demographic parity, equalized odds or accuracy difference above this.
    threshold: float = Field(default=0.1, ge=0, le=1)
    #: Flag a demographic parity ratio below this (e.g. 0.8, the four-fifths rule).
    min_ratio: float | None = Field(default=None, ge=0, le=1)
    #: Label mode: the label that counts as the positive outcome.
    positive_label: str | None = None


class GroupRow(BaseModel):
    group: str
    n: int
    accuracy: float
    accuracy_low: float | None
    accuracy_high: float | None
    selection_rate: float
    true_positive_rate: float | None = None
    false_positive_rate: float | None = None


class CellFairness(BaseModel):
    prompt_id: str
    provider_id: str
    groups: list[GroupRow]
    demographic_parity_difference: float
    demographic_parity_ratio: float | None
    equalized_odds_difference: float | None
    accuracy_difference: float


def fairness_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, label_mode: bool
) -> dict[str, float | dict[str, dict[str, float]] | None]:
    """fairlearn's disparity metrics and a MetricFrame of per-group metrics."""
    metrics = {"accuracy": accuracy_score, "selection_rate": fm.selection_rate, "n": fm.count}
    if label_mode:
        metrics |= {
            "true_positive_rate": fm.true_positive_rate,
            "false_positive_rate": fm.false_positive_rate,
        }
    frame = fm.MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    features = {"sensitive_features": groups}
    return {
        "by_group": frame.by_group.to_dict(orient="index"),
        "demographic_parity_difference": fm.demographic_parity_difference(
            y_true, y_pred, **features
        ),
        # 0 / 0 (NaN) when no group is ever selected: no ratio to speak of.
        "demographic_parity_ratio": _finite(
            fm.demographic_parity_ratio(y_true, y_pred, **features)
        ),
        "equalized_odds_difference": fm.equalized_odds_difference(y_true, y_pred, **features)
        if label_mode
        else None,
        "accuracy_difference": float(frame.difference()["accuracy"]),
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class FairnessAnalysis(Analysis):
    name = "fairness"
    title = "Fairness across groups"
    Params = FairnessParams
    params: FairnessParams

    def needs(self) -> Needs:
        p = self.params
        return metric_needs(p) + label_needs(p) + Needs(vars=[("group", p.group)])

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        results = clean(self.select(results))
        p = self.params
        if not any(p.group in r.vars for r in results):
            seen = sorted({v for r in results for v in r.vars})
            return self.result(
                error=f"no case has the group variable '{p.group}'; variables: {', '.join(seen)}"
            )
        if p.positive_label is None and (error := missing_metric(results, p.metric)):
            return self.result(error=error)
        cells = [self._cell(cell, members) for cell, members in by_cell(results).items()]
        cells = [c for c in cells if c is not None]
        if not cells:
            return self.result(error="no case has a true label to compare with positive_label")
        return self._report(cells)

    def _outcomes(self, members: list[CaseResult]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """y_true, y_pred (0/1) and the indexes of the cases they come from."""
        p = self.params
        if p.positive_label is None:
            y_pred = np.array([verdict(r, p.metric) for r in members], dtype=int)
            return np.ones(len(members), dtype=int), y_pred, list(range(len(members)))
        reader = LabelReader(p)
        positive = reader.canonical(p.positive_label)
        kept = [i for i, r in enumerate(members) if reader.true_label(r) is not None]
        y_true = np.array([reader.true_label(members[i]) == positive for i in kept], dtype=int)
        y_pred = np.array(
            [reader.canonical(reader.predicted_raw(members[i]) or "") == positive for i in kept],
            dtype=int,
        )
        return y_true, y_pred, kept

    def _cell(self, cell: Cell, members: list[CaseResult]) -> CellFairness | None:
        y_true, y_pred, kept = self._outcomes(members)
        if not kept:
            return None
        groups = np.array(
            [str(members[i].vars.get(self.params.group, MISSING_GROUP)) for i in kept]
        )
        label_mode = self.params.positive_label is not None
        m = fairness_metrics(y_true, y_pred, groups, label_mode)
        correct = (y_true == y_pred).astype(float)
        rows = []
        for name, g in m["by_group"].items():  # type: ignore[union-attr]
            _, low, high = mean_ci(correct[groups == name], self.params)
            rows.append(
                GroupRow(
                    group=str(name),
                    n=int(g["n"]),
                    accuracy=g["accuracy"],
                    accuracy_low=low,
                    accuracy_high=high,
                    selection_rate=g["selection_rate"],
                    true_positive_rate=g.get("true_positive_rate"),
                    false_positive_rate=g.get("false_positive_rate"),
                )
            )
        return CellFairness(
            prompt_id=cell[0],
            provider_id=cell[1],
            groups=rows,
            **{k: v for k, v in m.items() if k != "by_group"},  # type: ignore[arg-type]
        )

    def _accuracy_name(self) -> str:
        return "pass rate" if self.params.positive_label is None else "accuracy"

    def _flags(self, c: CellFairness) -> list[str]:
        p, where = self.params, cell_label((c.prompt_id, c.provider_id))
        checks = [
            ("demographic parity difference", c.demographic_parity_difference),
            ("equalized odds difference", c.equalized_odds_difference),
        ]
        if p.positive_label is not None:  # in verdict mode accuracy is the selection rate
            checks.append((f"{self._accuracy_name()} difference", c.accuracy_difference))
        flags = [
            f"{where}: {name} {value:.3f} > {p.threshold:g}"
            for name, value in checks
            if value is not None and value > p.threshold
        ]
        ratio = c.demographic_parity_ratio
        if p.min_ratio is not None and ratio is not None and ratio < p.min_ratio:
            flags.append(f"{where}: demographic parity ratio {ratio:.3f} < {p.min_ratio:g}")
        return flags

    def _report(self, cells: list[CellFairness]) -> AnalysisResult:
        label_mode = self.params.positive_label is not None
        accuracy = self._accuracy_name()
        disparity = Table(
            title="Disparities per prompt version × provider",
            columns=[
                "prompt",
                "provider",
                "demographic parity difference",
                "demographic parity ratio",
                "equalized odds difference",
                f"{accuracy} difference",
            ],
            rows=[],
            note=None
            if label_mode
            else "Verdict mode: the selection rate is the pass rate; equalized odds needs "
            "positive_label.",
        )
        group_columns = [
            "prompt",
            "provider",
            self.params.group,
            "n",
            accuracy,
            "CI low",
            "CI high",
            "selection rate",
        ]
        if label_mode:
            group_columns += ["true positive rate", "false positive rate"]
        per_group = Table(title="Per group", columns=group_columns, rows=[])
        flags: list[str] = []
        charts = []
        for i, c in enumerate(cells):
            disparity.rows.append(
                [
                    c.prompt_id,
                    c.provider_id,
                    rounded(c.demographic_parity_difference),
                    rounded(c.demographic_parity_ratio),
                    rounded(c.equalized_odds_difference),
                    rounded(c.accuracy_difference),
                ]
            )
            found = self._flags(c)
            if found:
                disparity.flagged_rows.append(i)
            flags += found
            for g in c.groups:
                row = [
                    c.prompt_id,
                    c.provider_id,
                    g.group,
                    g.n,
                    rounded(g.accuracy),
                    rounded(g.accuracy_low),
                    rounded(g.accuracy_high),
                    rounded(g.selection_rate),
                ]
                if label_mode:
                    row += [rounded(g.true_positive_rate), rounded(g.false_positive_rate)]
                per_group.rows.append(row)
            charts.append(
                BarChart(
                    title=f"{accuracy.capitalize()} per {self.params.group}: "
                    f"{cell_label((c.prompt_id, c.provider_id))}",
                    categories=[g.group for g in c.groups],
                    values=[g.accuracy for g in c.groups],
                    low=[g.accuracy_low for g in c.groups],
                    high=[g.accuracy_high for g in c.groups],
                    unit=accuracy,
                )
            )
        worst = max(cells, key=lambda c: c.demographic_parity_difference)
        return self.result(
            summary=f"Largest demographic parity difference across '{self.params.group}': "
            f"{worst.demographic_parity_difference:.3f} "
            f"({cell_label((worst.prompt_id, worst.provider_id))}); threshold "
            f"{self.params.threshold:g}.",
            tables=[disparity, per_group],
            charts=charts,
            flags=flags,
            data={
                "mode": "label" if label_mode else "verdict",
                "cells": [c.model_dump() for c in cells],
            },
            versions={"fairlearn": fairlearn.__version__},
        )
