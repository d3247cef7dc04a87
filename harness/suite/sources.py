"""Where a suite's main cases come from: inline cases and dataset files, read and checked.

``cases:`` is a list of inline cases, one dataset mapping, or a list mixing both (an item
with a ``file`` is a dataset). Each case comes out as a :class:`SourcedCase`: the case,
the file and line it is written at, and its own assertions with theirs, so that every
later error (an unknown scorer in a row's assertion column, a repeated id across two
sources) points at the right file and line. Binding scorers is :mod:`harness.cases`'s job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from harness.data.tables import SUFFIXES, Row, parse_json_line, read_rows
from harness.errors import SuiteError
from harness.suite.loader import LoadedSuite, did_you_mean, parse_model
from harness.suite.schema import AssertSpec, CaseSpec, DatasetSpec
from harness.suite.yaml_lines import Loc, as_written, line_of

#: A place in a file: the suite, a dataset or a bad-case file, and a line when known.
Where = tuple[Path, int | None]
#: An assertion, where it is written, and where its ``threshold:`` is (or the assertion).
AssertSite = tuple[AssertSpec, Where, Where]


def place(where: Where) -> str:
    """``file:line`` (or the file alone), for messages."""
    path, line = where
    return f"{path}:{line}" if line else str(path)


class SourcedCase(NamedTuple):
    """A case as read, before its assertions are bound."""

    spec: CaseSpec
    #: The file and line the case (or its row) is written at.
    at: Where
    #: Its own assertions, besides the suite defaults: an inline case's, or its dataset's
    #: followed by its row's (``assert_column``).
    asserts: list[AssertSite]


def main_cases(loaded: LoadedSuite) -> list[SourcedCase]:
    """The suite's own cases, source by source in the order written."""
    cases = loaded.suite.cases
    if cases is None:
        return []
    if isinstance(cases, DatasetSpec):
        return dataset_cases(loaded, cases, ("cases",))
    out: list[SourcedCase] = []
    for i, item in enumerate(cases):
        if isinstance(item, DatasetSpec):
            out += dataset_cases(loaded, item, ("cases", i))
        else:
            own = assert_sites(item.assert_, loaded.path, loaded.lines, "cases", i)
            out.append(SourcedCase(item, (loaded.path, loaded.line("cases", i)), own))
    return out


def table_path(loaded: LoadedSuite, relative: str, what: str, *loc: str | int) -> Path:
    """A case table named by the suite; a missing file or unknown type points at ``loc``."""
    path = loaded.resolve(relative)
    if not path.is_file():
        raise loaded.error(f"{what} not found: {path}", *loc)
    if path.suffix.lower() not in SUFFIXES:
        raise loaded.error(
            f"unsupported {what} type '{path.suffix or '(none)'}' ({path.name}): "
            f"use one of {', '.join(SUFFIXES)}",
            *loc,
        )
    return path


def assert_sites(
    specs: list[AssertSpec], path: Path, lines: dict[Loc, int], *prefix: str | int
) -> list[AssertSite]:
    """Each assertion of ``prefix`` (a case, a dataset, the defaults) with where it is."""
    return _sites(specs, path, lines, (*prefix, "assert"))


def _sites(specs: list[AssertSpec], path: Path, lines: dict[Loc, int], at: Loc) -> list[AssertSite]:
    """Each assertion of the list at ``at`` with its line and its threshold's."""
    return [
        (a, (path, line_of(lines, (*at, j))), (path, line_of(lines, (*at, j, "threshold"))))
        for j, a in enumerate(specs)
    ]


def dataset_cases(loaded: LoadedSuite, spec: DatasetSpec, at: Loc) -> list[SourcedCase]:
    """The rows of the dataset at ``at`` in the suite (``("cases",)``, or one item of the
    ``cases:`` list) as cases, each at its row's line."""
    path = table_path(loaded, spec.file, "dataset file", *at, "file")
    table = read_rows(path)
    if spec.limit:
        table = table[: spec.limit]
    if not table:
        raise loaded.error(f"dataset file has no rows: {path}", *at, "file")
    _check_columns(loaded, spec, table, path, at)
    asserts = assert_sites(spec.assert_, loaded.path, loaded.lines, *at)
    consumed = {*spec.vars.values(), spec.assert_column}
    first_line: dict[str, int] = {}
    out = []
    for row in table:
        renamed = {var: row.data[col] for var, col in spec.vars.items() if col in row.data}
        variables = {k: v for k, v in row.data.items() if k not in consumed} | renamed
        tags = list(spec.tags)
        if spec.tags_column:
            tags += _as_tags(row.data.get(spec.tags_column))
        case = CaseSpec.model_validate(
            {
                "id": _row_id(spec, row, first_line),
                "vars": variables,
                "expected": _row_expected(spec, row),
                "tags": tags,
                "threshold": spec.threshold,
            }
        )
        out.append(SourcedCase(case, (path, row.line), [*asserts, *_row_asserts(spec, row)]))
    return out


def _check_columns(
    loaded: LoadedSuite, spec: DatasetSpec, table: list[Row], path: Path, at: Loc
) -> None:
    """Every column the dataset names is in the file: else an error at the name's line."""
    columns = sorted(set().union(*(r.data for r in table)))
    named: dict[Loc, str | None] = (
        {("expected", j): col for j, col in enumerate(spec.expected)}
        if isinstance(spec.expected, list)
        else {("expected",): spec.expected}
    )
    named |= {("id",): spec.id, ("tags_column",): spec.tags_column}
    named |= {("assert_column",): spec.assert_column}
    named |= {("vars", var): col for var, col in spec.vars.items()}
    for loc, column in named.items():
        if column is not None and column not in columns:
            raise loaded.error(
                f"column '{column}' not found in {path.name}.{did_you_mean(column, columns)} "
                f"Columns: {', '.join(columns)}",
                *at,
                *loc,
            )


def _row_id(spec: DatasetSpec, row: Row, first_line: dict[str, int]) -> str | None:
    """The row's value in the id column (None without one); a blank or repeated id is an
    error at the row, since results of different rows would be compared as one."""
    if not spec.id:
        return None
    value = row.data.get(spec.id)
    if value is None or str(value).strip() == "":
        raise SuiteError(
            f"this row has no value in the id column '{spec.id}': give every row an id, "
            "or remove 'id' from the dataset in the suite",
            row.path,
            row.line,
        )
    row_id = str(value)
    if row_id in first_line:
        raise SuiteError(
            f"duplicate id '{row_id}' in the id column '{spec.id}' (first on line "
            f"{first_line[row_id]}): every row needs its own id, or results of "
            "different rows would be compared as one",
            row.path,
            row.line,
        )
    first_line[row_id] = row.line
    return row_id


def _row_expected(spec: DatasetSpec, row: Row) -> list[str] | None:
    """The row's answers from every ``expected`` column, in order (numbers as written): a
    list value is several answers, and an empty cell none (not the answer "")."""
    answers: list[str] = []
    for column in spec.expected_columns:
        value = as_written(row.data.get(column), row.texts, (column,))
        for answer in value if isinstance(value, list) else [value]:
            if answer is not None and str(answer).strip():
                answers.append(str(answer))
    return answers or None


def _as_tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [t.strip() for t in str(value or "").split(",") if t.strip()]


def _row_asserts(spec: DatasetSpec, row: Row) -> list[AssertSite]:
    """The row's own assertions, from ``assert_column``: a list (in CSV, a JSON string of
    one), validated like inline assertions, each at its row's line (its own in YAML)."""
    column = spec.assert_column
    value = None if column is None else row.data.get(column)
    if column is None or value is None or (isinstance(value, str) and not value.strip()):
        return []
    what = f"the assertions column '{column}'"
    if isinstance(value, str):
        try:
            value, _ = parse_json_line(value, row.path, row.line)
        except SuiteError as e:
            raise SuiteError(f"{what} is not JSON: {e.message}", row.path, row.line) from None
    if not isinstance(value, list):
        raise SuiteError(
            f'{what} must hold a list of assertions, e.g. [{{"type": "contains", "value": '
            f'"Paris"}}], got {type(value).__name__} {value!r:.60}',
            row.path,
            row.line,
        )
    lines = {(): row.line, **(row.lines or {})}
    specs = parse_model(dict[str, list[AssertSpec]], {column: value}, lines, row.path)[column]
    return _sites(specs, row.path, lines, (column,))
