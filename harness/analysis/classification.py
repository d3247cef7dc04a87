"""Precision, recall, F1 and the confusion matrix of label outputs, through scikit-learn.

Per (prompt, provider) cell, over the clean cases of the analysed set. Averages are over
the known labels (``labels``, else every true label of the analysed cases): a prediction
outside them is ``(other)``, which counts against recall and is no label's true positive;
accuracy is over every case. The
confusion matrix adds the ``(other)`` / ``(no output)`` columns when a prediction fell
there.
"""

from __future__ import annotations

import warnings

import sklearn
from pydantic import BaseModel
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from harness.analysis.base import (
    Analysis,
    AnalysisParams,
    AnalysisResult,
    BarChart,
    MatrixChart,
    Needs,
    Table,
)
from harness.analysis.labels import NO_OUTPUT, OTHER, LabelParams, LabelReader, label_needs
from harness.analysis.outcomes import Cell, by_cell, cell_label, clean, rounded
from harness.results.models import CaseResult
from harness.scorers.context import ScoringContext

AVERAGES = ("macro", "micro", "weighted")
_MEASURES = ("precision", "recall", "f1")


class ClassificationParams(LabelParams, AnalysisParams):
    #: Flag a cell whose macro F1 is below this.
    min_macro_f1: float | None = None


class LabelScores(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class LabelMetrics(BaseModel):
    """One cell's numbers; ``averaged`` maps e.g. ``f1_macro`` to its value."""

    n: int
    accuracy: float
    averaged: dict[str, float]
    per_label: dict[str, LabelScores]
    #: Rows (true) and columns (predicted) of ``confusion``.
    matrix_labels: list[str]
    confusion: list[list[int]]


def label_metrics(y_true: list[str], y_pred: list[str], labels: list[str]) -> LabelMetrics:
    """Accuracy, per-label and averaged precision/recall/F1 and the confusion matrix."""
    averaged = {}
    for average in AVERAGES:
        prf = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0.0
        )
        averaged |= {f"{m}_{average}": float(v) for m, v in zip(_MEASURES, prf, strict=False)}
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0.0
    )
    extra = [x for x in (OTHER, NO_OUTPUT) if x in y_pred and x not in labels]
    matrix_labels = [*labels, *extra]
    return LabelMetrics(
        n=len(y_true),
        accuracy=float(accuracy_score(y_true, y_pred)),
        averaged=averaged,
        per_label={
            label: LabelScores(precision=p[i], recall=r[i], f1=f[i], support=support[i])
            for i, label in enumerate(labels)
        },
        matrix_labels=matrix_labels,
        confusion=_confusion(y_true, y_pred, matrix_labels),
    )


def _confusion(y_true: list[str], y_pred: list[str], labels: list[str]) -> list[list[int]]:
    with warnings.catch_warnings():
        # sklearn warns on a 1 x 1 matrix even when, as here, every label is passed.
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        return confusion_matrix(y_true, y_pred, labels=labels).tolist()


class ClassificationAnalysis(Analysis):
    name = "classification"
    title = "Classification metrics"
    Params = ClassificationParams
    params: ClassificationParams

    def needs(self) -> Needs:
        return label_needs(self.params)

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        reader = LabelReader(self.params)
        results = clean(self.select(results))
        truths = [t for r in results if (t := reader.true_label(r)) is not None]
        known = reader.label_set(truths)
        if unlisted := sorted(set(truths) - set(known)):
            return self.result(
                error=f"true label(s) {', '.join(map(repr, unlisted))} not in labels "
                f"({', '.join(known)}): add them, or map them with synonyms"
            )
        cells: dict[Cell, LabelMetrics] = {}
        for cell, members in by_cell(results).items():
            labelled = [(r, t) for r in members if (t := reader.true_label(r)) is not None]
            if labelled:
                y_pred = [reader.predicted_label(r, known) for r, _ in labelled]
                cells[cell] = label_metrics([t for _, t in labelled], y_pred, known)
        if not cells:
            where = self.params.label_var or "expected"
            return self.result(error=f"no case has a true label (in '{where}')")
        return self._report(cells)

    def _report(self, cells: dict[Cell, LabelMetrics]) -> AnalysisResult:
        keys = [f"{m}_{a}" for a in AVERAGES for m in _MEASURES]
        summary = Table(
            title="Per prompt version × provider",
            columns=["prompt", "provider", "n", "accuracy", *keys],
            rows=[
                [*cell, m.n, rounded(m.accuracy), *(rounded(m.averaged[k]) for k in keys)]
                for cell, m in cells.items()
            ],
        )
        flags = []
        floor = self.params.min_macro_f1
        for i, (cell, m) in enumerate(cells.items()):
            if floor is not None and m.averaged["f1_macro"] < floor:
                summary.flagged_rows.append(i)
                flags.append(
                    f"{cell_label(cell)}: macro F1 {m.averaged['f1_macro']:.3f} < {floor:g}"
                )
        charts: list[BarChart | MatrixChart] = [_confusion_chart(c, m) for c, m in cells.items()]
        if len(cells) > 1:
            charts.insert(0, _f1_chart(cells))
        best_cell, best = max(cells.items(), key=lambda kv: kv[1].averaged["f1_macro"])
        return self.result(
            summary=f"Best macro F1 {best.averaged['f1_macro']:.3f} ({cell_label(best_cell)}) "
            f"over {len(cells)} prompt version × provider cell(s).",
            tables=[summary, *(_per_label_table(c, m) for c, m in cells.items())],
            charts=charts,
            flags=flags,
            data={
                "cells": [
                    {"prompt_id": c[0], "provider_id": c[1], **m.model_dump()}
                    for c, m in cells.items()
                ]
            },
            versions={"scikit-learn": sklearn.__version__},
        )


def _per_label_table(cell: Cell, m: LabelMetrics) -> Table:
    return Table(
        title=f"Per label: {cell_label(cell)}",
        columns=["label", "precision", "recall", "f1", "support"],
        rows=[
            [label, rounded(s.precision), rounded(s.recall), rounded(s.f1), s.support]
            for label, s in m.per_label.items()
        ],
    )


def _confusion_chart(cell: Cell, m: LabelMetrics) -> MatrixChart:
    return MatrixChart(
        title=f"Confusion matrix: {cell_label(cell)}",
        row_labels=m.matrix_labels,
        col_labels=m.matrix_labels,
        values=[[float(v) for v in row] for row in m.confusion],
        row_title="true label",
        col_title="predicted label",
    )


def _f1_chart(cells: dict[Cell, LabelMetrics]) -> BarChart:
    return BarChart(
        title="Macro F1 per prompt version × provider",
        categories=[cell_label(c) for c in cells],
        values=[m.averaged["f1_macro"] for m in cells.values()],
        unit="macro F1",
    )
