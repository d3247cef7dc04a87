"""Run-level analyses as the report shows them: formatted cells and inline charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from harness.analysis.base import AnalysisResult, BarChart, Table, TableValue
from harness.report.analysis_svg import bar_chart, matrix_chart


@dataclass(frozen=True)
class _Cell:
    text: str
    num: bool


@dataclass(frozen=True)
class _Table:
    title: str
    columns: list[str]
    rows: list[list[_Cell]]
    note: str | None
    flagged_rows: list[int]


def analysis_views(analyses: list[AnalysisResult]) -> list[dict[str, Any]]:
    """What the ``_analyses.html.j2`` partial renders, one entry per analysis."""
    return [
        {
            "id": a.id,
            "type": a.type,
            "title": a.title,
            "summary": a.summary,
            "error": a.error,
            "flags": a.flags,
            "versions": a.versions,
            "charts": [_chart(c) for c in a.charts],
            "tables": [_table(t) for t in a.tables],
        }
        for a in analyses
    ]


def _chart(chart: Any) -> Markup:
    return bar_chart(chart) if isinstance(chart, BarChart) else matrix_chart(chart)


def _table(table: Table) -> _Table:
    rows = [[_cell(v) for v in row] for row in table.rows]
    return _Table(table.title, table.columns, rows, table.note, table.flagged_rows)


def _cell(value: TableValue) -> _Cell:
    if value is None:
        return _Cell("—", True)
    if isinstance(value, bool):
        return _Cell("yes" if value else "no", False)
    if isinstance(value, int):
        return _Cell(str(value), True)
    if isinstance(value, float):
        return _Cell(f"{value:.4g}" if value == value else "—", True)
    return _Cell(value, False)
