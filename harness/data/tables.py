"""Read case tables (CSV / JSONL / YAML) into rows that remember their line."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import SuiteError
from harness.suite.yaml_lines import Loc, load_yaml, read_text

SUFFIXES = (".csv", ".jsonl", ".yaml", ".yml")


@dataclass(frozen=True)
class Row:
    """One record of a table file; ``lines`` maps keys to lines (YAML) where known."""

    path: Path
    line: int
    data: dict[str, Any]
    lines: dict[Loc, int] | None = None


def read_rows(path: Path) -> list[Row]:
    """All records of ``path``, chosen by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SuiteError(
            f"unsupported data file type '{suffix or '(none)'}': expected one of "
            f"{', '.join(SUFFIXES)}",
            path,
        )
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".jsonl":
        return _read_jsonl(path)
    return _read_yaml(path)


def _read_csv(path: Path) -> list[Row]:
    text = read_text(path, "CSV file").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise SuiteError("CSV file is empty (expected a header row)", path, 1) from None
    except csv.Error as e:
        raise SuiteError(f"CSV error: {e}", path, 1) from None
    header = [h.strip() for h in header]
    if not any(header):
        raise SuiteError("CSV header row is empty", path, 1)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise SuiteError(f"CSV header repeats column(s): {', '.join(dupes)}", path, 1)
    rows: list[Row] = []
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            hint = "; a quoted value that starts on this row is never closed"
            hint = hint if "end of data" in str(e) else ""
            raise SuiteError(f"CSV error: {e}{hint}", path, start) from None
        if record and any(cell.strip() for cell in record):
            if len(record) != len(header):
                raise SuiteError(
                    f"row has {len(record)} fields, the header has {len(header)} "
                    f"({', '.join(header)}); quote values that contain a comma",
                    path,
                    start,
                )
            rows.append(Row(path, start, dict(zip(header, record, strict=True))))
        start = reader.line_num + 1
    return rows


def _read_jsonl(path: Path) -> list[Row]:
    rows: list[Row] = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other line breaks.
    for number, line in enumerate(read_text(path, "JSONL file").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise SuiteError(f"invalid JSON: {e.msg} (column {e.colno})", path, number) from None
        if not isinstance(data, dict):
            raise SuiteError(
                f'each line must be a JSON object ({{"column": value, ...}}), '
                f"got {type(data).__name__}",
                path,
                number,
            )
        rows.append(Row(path, number, data))
    return rows


def _read_yaml(path: Path) -> list[Row]:
    data, lines = load_yaml(path)
    prefix: Loc = ()
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        data, prefix = data["cases"], ("cases",)
    if not isinstance(data, list):
        raise SuiteError("expected a list of cases (or a mapping with a 'cases' list)", path, 1)
    rows: list[Row] = []
    for i, item in enumerate(data):
        loc = (*prefix, i)
        if not isinstance(item, dict):
            raise SuiteError(
                f"each case must be a mapping, got {type(item).__name__}", path, lines.get(loc)
            )
        sub = {k[len(loc) :]: v for k, v in lines.items() if k[: len(loc)] == loc}
        rows.append(Row(path, lines.get(loc, 1), item, sub))
    return rows
