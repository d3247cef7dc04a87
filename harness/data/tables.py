"""Read case tables (CSV / JSONL / YAML) into rows that remember their line."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import SuiteError
from harness.suite.yaml_lines import MAX_DEPTH, Loc, load_yaml, read_text

SUFFIXES = (".csv", ".jsonl", ".yaml", ".yml")

V = TypeVar("V")


@dataclass(frozen=True)
class Row:
    """One record of a table file; ``lines`` maps keys to lines (YAML) where known, and
    ``texts`` keys to the source text of numbers (YAML and JSONL: ``0.10``, not ``0.1``)."""

    path: Path
    line: int
    data: dict[str, Any]
    lines: dict[Loc, int] | None = None
    texts: dict[Loc, str] = field(default_factory=dict)


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
    for number, line in jsonl_lines(read_text(path, "JSONL file")):
        data, texts = parse_json_line(line, path, number)
        if not isinstance(data, dict):
            raise SuiteError(
                f'each line must be a JSON object ({{"column": value, ...}}), '
                f"got {type(data).__name__}",
                path,
                number,
            )
        rows.append(Row(path, number, data, texts=texts))
    return rows


def jsonl_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a JSONL text with their numbers. Split on ``\n`` only (a
    ``\r`` before it is JSON whitespace): not splitlines(), since JSON strings may hold
    U+2028 and other characters it splits on."""
    lines = enumerate(text.split("\n"), start=1)
    return [(number, line) for number, line in lines if line.strip()]


class _Number(str):
    """A JSON number's source text, until :func:`_numbers` turns it into the number."""


def parse_json_line(line: str, path: Path, number: int) -> tuple[Any, dict[Loc, str]]:
    """One JSON value and the source text of each number in it (``0.10`` stays "0.10" where
    text is wanted); nesting deeper than MAX_DEPTH is refused, like in YAML."""
    try:
        raw = json.loads(line, parse_float=_Number, parse_int=_Number)
    except json.JSONDecodeError as e:
        raise SuiteError(f"invalid JSON: {e.msg} (column {e.colno})", path, number) from None
    except RecursionError:  # json's own limit, near 1000 levels
        raise SuiteError(_TOO_DEEP, path, number) from None
    texts: dict[Loc, str] = {}
    try:
        return _numbers(raw, (), texts), texts
    except _TooDeep:
        raise SuiteError(_TOO_DEEP, path, number) from None


class _TooDeep(Exception):
    pass


_TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep: flatten the data"


def _numbers(value: Any, loc: Loc, texts: dict[Loc, str]) -> Any:
    """``value`` with each number's text (:class:`_Number`) recorded and made a number."""
    if len(loc) > MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, _Number):
        texts[loc] = str(value)
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if isinstance(value, dict):
        return {k: _numbers(v, (*loc, k), texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v, (*loc, i), texts) for i, v in enumerate(value)]
    return value


def _read_yaml(path: Path) -> list[Row]:
    data, lines, texts = load_yaml(path)
    prefix: Loc = ()
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        data, prefix = data["cases"], ("cases",)
    if not isinstance(data, list):
        raise SuiteError("expected a list of cases (or a mapping with a 'cases' list)", path, 1)
    row_lines, row_texts = _per_item(lines, prefix), _per_item(texts, prefix)
    rows: list[Row] = []
    for i, item in enumerate(data):
        loc = (*prefix, i)
        if not isinstance(item, dict):
            raise SuiteError(
                f"each case must be a mapping, got {type(item).__name__}", path, lines.get(loc)
            )
        rows.append(Row(path, lines.get(loc, 1), item, row_lines.get(i, {}), row_texts.get(i, {})))
    return rows


def _per_item(by_loc: dict[Loc, V], prefix: Loc) -> dict[int, dict[Loc, V]]:
    """``by_loc`` split by list item under ``prefix``, each with locs relative to its item
    (one pass: a file of 10000 cases is not walked 10000 times)."""
    out: dict[int, dict[Loc, V]] = {}
    n = len(prefix)
    for loc, value in by_loc.items():
        if len(loc) > n and loc[:n] == prefix and isinstance(loc[n], int):
            out.setdefault(loc[n], {})[loc[n + 1 :]] = value
    return out
