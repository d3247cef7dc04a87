"""Export a run's results as CSV, JSONL or Parquet through pandas."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.analysis.base import AnalysisResult
from harness.errors import HarnessError
from harness.results.models import CaseResult

FORMATS = ("csv", "jsonl", "parquet")


def results_table(results: list[CaseResult]) -> pd.DataFrame:
    """One row per case; each score as ``score.<scorer>`` and ``passed.<scorer>`` columns."""
    records = []
    for r in results:
        record = r.model_dump(mode="json", exclude={"scores", "messages", "vars"})
        record["prompt"] = "\n\n".join(f"[{m.role}] {m.content}" for m in r.messages)
        record["vars"] = json.dumps(r.vars, ensure_ascii=False)
        record["expected"] = json.dumps(r.expected, ensure_ascii=False)
        record["tags"] = ",".join(r.tags)
        for s in r.scores:
            record[f"score.{s.scorer}"] = s.value
            record[f"passed.{s.scorer}"] = s.passed
            record[f"error.{s.scorer}"] = s.error
        records.append(record)
    return pd.DataFrame.from_records(records)


def export_results(results: list[CaseResult], fmt: str, path: Path) -> Path:
    if fmt not in FORMATS:
        raise HarnessError(f"unknown export format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    frame = results_table(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def export_analyses(analyses: list[AnalysisResult], path: Path) -> Path:
    """The run's analyses as one JSON list (the stored records, raw numbers included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [a.model_dump(mode="json") for a in analyses]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
