"""Export a run's results as CSV, JSONL or Parquet through pandas.

Given the run's score names up front (the CLI reads them from the store's small digests),
results are read and written :data:`CHUNK` at a time, so exporting a 100k-case run takes
the memory of one chunk, not of the run (~6 KB a case as models): CSV and JSONL are
appended chunk by chunk, Parquet gathers the chunks as Arrow tables (columnar, a fraction
of the models' size) and writes them as one table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.base import AnalysisResult
from harness.errors import HarnessError
from harness.jsontext import utf8_safe
from harness.results.models import CaseResult

FORMATS = ("csv", "jsonl", "parquet")
#: Results in memory at once when the score names are known.
CHUNK = 5000


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


def export_results(
    results: Iterable[CaseResult],
    fmt: str,
    path: Path,
    score_names: Sequence[str] | None = None,
) -> Path:
    """Write ``results`` to ``path``. Text is exported as it was stored, except where the
    format cannot carry it: a lone surrogate is a visible ``\\udXXX`` escape in CSV and
    Parquet (a JSON escape in JSONL, so nothing is lost), and a CSV cell that a spreadsheet
    would run as a formula is prefixed with ``'``.

    One row per case; each score as ``score.<name>``, ``passed.<name>`` and
    ``error.<name>`` columns (``name``: the assertion's); ``score`` is the case score. CSV and
    Parquet cells hold vars, expected answers and lists as JSON text; JSONL keeps them as
    JSON values. ``score_names``: every assertion name of the results, in order of first
    appearance (their columns, in that order); without them the results are read at once."""
    if fmt not in FORMATS:
        raise HarnessError(f"unknown export format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        # json, not pandas: pandas rounds floats to 15 digits and turns lists into text
        with path.open("w", encoding="utf-8") as f:
            for r in results:
                f.write(utf8_safe(json.dumps(_record(r, True), ensure_ascii=False)) + "\n")
        return path
    if score_names is None:
        results = list(results)
        score_names = [*dict.fromkeys(s.name for r in results for s in r.scores)]
    columns = [*_BASE_COLUMNS]
    for name in score_names:
        columns += [f"score.{name}", f"passed.{name}", f"error.{name}"]
    chunks = ([_row(r, columns) for r in chunk] for chunk in _chunks(results))
    if fmt == "csv":
        for i, rows in enumerate(chunks):
            frame = pd.DataFrame.from_records(rows, columns=columns).map(_no_formula)
            frame.to_csv(path, index=False, mode="a" if i else "w", header=not i)
        if not path.exists():  # a run without results
            pd.DataFrame(columns=columns).to_csv(path, index=False)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Arrow's own types, chunk by chunk: a column of None in one chunk (null) and of bools
    # in the next (bool) merge into bools, which pandas' NaN-filled floats would not
    tables = [pa.Table.from_pylist(rows) for rows in chunks]
    empty = pa.table({c: pa.array([], pa.null()) for c in columns})
    pq.write_table(pa.concat_tables([empty, *tables], promote_options="default"), path)
    return path


def _chunks(results: Iterable[CaseResult]) -> Iterator[list[CaseResult]]:
    it = iter(results)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def _row(r: CaseResult, columns: list[str]) -> dict[str, Any]:
    """The result's cells under every column of the export (None where it has none)."""
    record = _record(r, False)
    return {c: record.get(c) for c in columns}


#: The columns of :func:`_record` before the scores'.
_BASE_COLUMNS = [
    *(k for k in CaseResult.model_fields if k not in ("scores", "messages", "tags")),
    "prompt",
    "tags",
]


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
