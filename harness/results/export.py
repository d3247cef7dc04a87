"""Export a run's results as CSV, JSONL or Parquet through pandas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.base import AnalysisResult
from harness.errors import HarnessError
from harness.jsontext import utf8_safe
from harness.results.models import CaseResult

FORMATS = ("csv", "jsonl", "parquet")


def results_table(results: list[CaseResult], *, nested: bool = False) -> pd.DataFrame:
    """One row per case; each score as ``score.<name>``, ``passed.<name>`` and
    ``error.<name>`` columns (``name``: the assertion's); ``score`` is the case score.

    ``nested`` keeps vars, expected answers and tags as JSON values (for JSONL); otherwise
    they are JSON text (CSV and Parquet cells)."""
    return pd.DataFrame.from_records([_record(r, nested) for r in results])


def _record(r: CaseResult, nested: bool) -> dict[str, Any]:
    record = r.model_dump(mode="json", exclude={"scores", "messages", "tags"})
    record["prompt"] = "\n\n".join(f"[{m.role}] {m.content}" for m in r.messages)
    record["tags"] = r.tags if nested else ",".join(r.tags)
    if not nested:  # a cell holds UTF-8 text (pandas' arrow strings refuse lone surrogates)
        for key, value in record.items():
            if isinstance(value, list | dict):
                value = json.dumps(value, ensure_ascii=False)
            record[key] = utf8_safe(value) if isinstance(value, str) else value
    for s in r.scores:  # by assertion name: two chrf assertions are two columns
        record[f"score.{s.name}"] = s.value
        record[f"passed.{s.name}"] = s.passed
        record[f"error.{s.name}"] = s.error
    return record


def export_results(results: list[CaseResult], fmt: str, path: Path) -> Path:
    """Write ``results`` to ``path``. Text is exported as it was stored, except where the
    format cannot carry it: a lone surrogate is a visible ``\\udXXX`` escape in CSV and
    Parquet (a JSON escape in JSONL, so nothing is lost), and a CSV cell that a spreadsheet
    would run as a formula is prefixed with ``'``."""
    if fmt not in FORMATS:
        raise HarnessError(f"unknown export format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        # json, not pandas: pandas rounds floats to 15 digits and turns lists into text
        with path.open("w", encoding="utf-8") as f:
            for r in results:
                f.write(utf8_safe(json.dumps(_record(r, True), ensure_ascii=False)) + "\n")
        return path
    frame = results_table(results)
    if fmt == "csv":
        frame.map(_no_formula).to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


#: What spreadsheets (Excel, LibreOffice, Sheets) read as the start of a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _no_formula(value: object) -> object:
    """Model output is untrusted: ``=HYPERLINK(...)`` must reach a spreadsheet as text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_analyses(analyses: list[AnalysisResult], path: Path) -> Path:
    """The run's analyses as one JSON list (the stored records, raw numbers included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [a.model_dump(mode="json") for a in analyses]
    path.write_text(utf8_safe(json.dumps(data, ensure_ascii=False, indent=2)), encoding="utf-8")
    return path
