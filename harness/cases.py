"""Expand a suite into cases: prompt version x provider x row, rendered up front.

Everything that can be wrong with a suite (a missing column, an undefined template
variable, an unknown scorer) surfaces here, before the first model call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Template

from harness.data.tables import SUFFIXES, read_rows
from harness.errors import ScorerError, SuiteError
from harness.perturb.registry import perturbed_rows
from harness.providers.base import Message, ModelRequest, Provider
from harness.runner.refs import check_models, declared_models
from harness.scorers.base import ModelScorer, Scorer
from harness.scorers.registry import get_scorer
from harness.suite.loader import LoadedSuite, did_you_mean, parse_model
from harness.suite.schema import (
    AssertSpec,
    CaseSpec,
    DatasetSpec,
    GenerationParams,
    PromptVersion,
)
from harness.suite.templates import TemplateRenderError, compile_template, render
from harness.suite.yaml_lines import TEXT, line_of, read_text

MAIN_SET = "main"

#: A place in a file: the suite, a dataset or a bad-case file, and a line when known.
Where = tuple[Path, int | None]


@dataclass(frozen=True)
class BoundAssert:
    """A scorer built from an assertion, with its effective threshold."""

    scorer: Scorer
    threshold: float


@dataclass(frozen=True)
class CaseRow:
    """A source row, resolved: the same for every prompt version and provider."""

    row_id: str
    case_set: str
    vars: dict[str, Any]
    expected: list[str]
    tags: list[str]
    asserts: list[BoundAssert]
    description: str | None
    where: str
    #: For a perturbed copy (robustness): the row it was made from, and the perturbation id.
    clean_row_id: str | None = None
    perturbation: str | None = None


@dataclass(frozen=True)
class Case:
    """One model call to make and score."""

    case_id: str
    request_key: str
    prompt_id: str
    provider: Provider
    row: CaseRow
    request: ModelRequest
    #: The prompt version's family (paraphrases of one instruction), if it declares one.
    prompt_family: str | None = None


@dataclass
class Plan:
    """Every case of a run, in a stable order."""

    cases: list[Case] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Identifies the set of cases: re-running an unchanged suite resumes its run."""
        return _hash(sorted(c.case_id for c in self.cases))


def _hash(obj: Any, length: int = 16) -> str:
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:length]


def request_key(provider: Provider, request: ModelRequest) -> str:
    """The cache key: provider identity + full request; never a secret or a retry setting."""
    return _hash({"provider": provider.identity(), "request": request.model_dump(mode="json")}, 64)


def build_plan(loaded: LoadedSuite, providers: list[Provider]) -> Plan:
    """All cases of the suite; raises SuiteError naming file, line, case and variable."""
    scorers = _ScorerCache(loaded)
    rows = _main_rows(loaded, scorers)
    for i, bad in enumerate(loaded.suite.bad_cases):
        path = _table_path(loaded, bad.file, "bad-case file", "bad_cases", i, "file")
        for row in read_rows(path):
            lines = row.lines or {(): row.line}
            data = _vars_columns(row.data) if path.suffix.lower() == ".csv" else row.data
            spec = parse_model(CaseSpec, data, lines, path, root="this case")
            own = [(a, (path, line_of(lines, ("assert", j)))) for j, a in enumerate(spec.assert_)]
            rows.append(_resolve(spec, bad.name, (path, row.line), loaded, scorers, own))
    _dedupe_row_ids(rows)
    rows += perturbed_rows(loaded, rows, MAIN_SET)
    templates = [(p, *_compile(loaded, i, p)) for i, p in enumerate(loaded.suite.prompts)]
    params = [_params(c, loaded.suite.defaults.params) for c in loaded.suite.providers]
    plan = Plan()
    for prompt, system, user in templates:
        for row in rows:
            messages = _render(prompt, system, user, row, loaded.suite.name)
            for provider, params_dict in zip(providers, params, strict=True):
                request = ModelRequest(
                    messages=messages,
                    params=params_dict,
                    metadata={"vars": row.vars, "row_id": row.row_id, "prompt_id": prompt.id},
                )
                key = request_key(provider, request)
                case_id = _hash([row.case_set, row.row_id, prompt.id, provider.id, key])
                plan.cases.append(
                    Case(case_id, key, prompt.id, provider, row, request, prompt.family)
                )
    return plan


def _vars_columns(data: dict[str, Any]) -> dict[str, Any]:
    """A flat CSV bad case: ``vars.question`` columns become the case's ``vars``."""
    dotted = {k: v for k, v in data.items() if k.startswith("vars.")}
    if not dotted:
        return data
    rest = {k: v for k, v in data.items() if k not in dotted}
    return rest | {"vars": {k.removeprefix("vars."): v for k, v in dotted.items()}}


def _params(config: Any, defaults: GenerationParams | None) -> dict[str, Any]:
    """The provider's sampling parameters over the suite defaults (none for stored outputs)."""
    own = getattr(config, "params", None)
    if own is None:
        return {}
    return own.merged_over(defaults).model_dump(exclude_none=True)


def _main_rows(loaded: LoadedSuite, scorers: _ScorerCache) -> list[CaseRow]:
    cases = loaded.suite.cases
    if cases is None:
        return []
    if isinstance(cases, DatasetSpec):
        return _dataset_rows(loaded, cases, scorers)
    rows = []
    for i, spec in enumerate(cases):
        own = [
            (a, (loaded.path, loaded.line("cases", i, "assert", j)))
            for j, a in enumerate(spec.assert_)
        ]
        rows.append(
            _resolve(spec, MAIN_SET, (loaded.path, loaded.line("cases", i)), loaded, scorers, own)
        )
    return rows


def _table_path(loaded: LoadedSuite, relative: str, what: str, *loc: str | int) -> Path:
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


def _dataset_rows(loaded: LoadedSuite, spec: DatasetSpec, scorers: _ScorerCache) -> list[CaseRow]:
    path = _table_path(loaded, spec.file, "dataset file", "cases", "file")
    table = read_rows(path)
    if spec.limit:
        table = table[: spec.limit]
    if not table:
        raise loaded.error(f"dataset file has no rows: {path}", "cases", "file")
    columns = sorted(set().union(*(r.data for r in table)))
    mapped = {("expected",): spec.expected, ("id",): spec.id, ("tags_column",): spec.tags_column}
    mapped |= {("vars", var): col for var, col in spec.vars.items()}
    for loc, column in mapped.items():
        if column is not None and column not in columns:
            raise loaded.error(
                f"column '{column}' not found in {path.name}.{did_you_mean(column, columns)} "
                f"Columns: {', '.join(columns)}",
                "cases",
                *loc,
            )
    asserts = [
        (a, (loaded.path, loaded.line("cases", "assert", j))) for j, a in enumerate(spec.assert_)
    ]
    out = []
    first_line: dict[str, int | None] = {}
    for row in table:
        renamed = {var: row.data[col] for var, col in spec.vars.items() if col in row.data}
        variables = {k: v for k, v in row.data.items() if k not in spec.vars.values()} | renamed
        tags = list(spec.tags)
        if spec.tags_column:
            tags += _as_tags(row.data.get(spec.tags_column))
        row_id = None
        if spec.id:
            row_id = row.data.get(spec.id)
            if row_id is None or str(row_id).strip() == "":
                raise SuiteError(
                    f"this row has no value in the id column '{spec.id}': give every row an id, "
                    "or remove 'id' from the dataset in the suite",
                    path,
                    row.line,
                )
            row_id = str(row_id)
            if row_id in first_line:
                raise SuiteError(
                    f"duplicate id '{row_id}' in the id column '{spec.id}' (first on line "
                    f"{first_line[row_id]}): every row needs its own id, or results of "
                    "different rows would be compared as one",
                    path,
                    row.line,
                )
            first_line[row_id] = row.line
        case = CaseSpec.model_validate(
            {
                "id": None if row_id is None else str(row_id),
                "vars": variables,
                "expected": _as_expected(row.data.get(spec.expected)) if spec.expected else None,
                "tags": tags,
            }
        )
        out.append(_resolve(case, MAIN_SET, (path, row.line), loaded, scorers, asserts))
    return out


def _as_expected(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value)


def _as_tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [t.strip() for t in str(value or "").split(",") if t.strip()]


def _resolve(
    spec: CaseSpec,
    case_set: str,
    at: Where,
    loaded: LoadedSuite,
    scorers: _ScorerCache,
    own_asserts: Sequence[tuple[AssertSpec, Where]],
) -> CaseRow:
    """Bind a case's assertions (``own_asserts``: its own or its dataset's, each with where it
    is written) after the suite defaults; errors point at the assertion or the case."""
    where = f"{at[0]}:{at[1]}" if at[1] else str(at[0])
    expected = [] if spec.expected is None else _expected_list(spec.expected)
    defaults = [
        (a, (loaded.path, loaded.line("defaults", "assert", j)))
        for j, a in enumerate(loaded.suite.defaults.assert_)
    ]
    specs = [*defaults, *own_asserts]
    if not specs:
        raise SuiteError(
            "case has no assertions: add an 'assert' list to it, to its dataset, or to "
            "'defaults' (e.g. assert: [{type: exact}])",
            *at,
        )
    asserts = [scorers.get(a, a_at) for a, a_at in specs]
    for bound in asserts:
        missing = [v for v in bound.scorer.vars_needed() if v not in spec.vars]
        if missing:
            raise SuiteError(
                f"scorer '{bound.scorer.name}' reads the case variable(s) "
                f"{', '.join(repr(v) for v in missing)}, which this case lacks (its variables: "
                f"{', '.join(sorted(spec.vars)) or 'none'}): add the column, or map it with the "
                "scorer's *_var parameters",
                *at,
            )
        if bound.scorer.needs_expected and not expected:
            raise SuiteError(
                f"scorer '{bound.scorer.name}' needs an expected answer, but this case has "
                "none: give it 'expected' (for a dataset, name the answer column in "
                "'expected'), or use a scorer that needs none",
                *at,
            )
    row_id = spec.id or _hash({"vars": spec.vars, "expected": expected}, 12)
    return CaseRow(
        row_id=row_id,
        case_set=case_set,
        vars=spec.vars,
        expected=expected,
        tags=[*loaded.suite.defaults.tags, *spec.tags]
        + ([case_set] if case_set != MAIN_SET else []),
        asserts=asserts,
        description=spec.description,
        where=where,
    )


def _expected_list(value: str | list[str]) -> list[str]:
    """The acceptable answers, repeats dropped (SQuAD lists one answer per annotator): every
    scorer takes the best match over them, so a repeat only clutters the report."""
    return [value] if isinstance(value, str) else list(dict.fromkeys(str(v) for v in value))


def _dedupe_row_ids(rows: list[CaseRow]) -> None:
    """Identical rows get ``-2``, ``-3`` suffixes so every case id stays unique."""
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        key = (row.case_set, row.row_id)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            rows[i] = CaseRow(**{**row.__dict__, "row_id": f"{row.row_id}-{seen[key]}"})


class _ScorerCache:
    """Builds each distinct assertion once and reports bad ones with their location."""

    def __init__(self, loaded: LoadedSuite) -> None:
        self._built: dict[str, BoundAssert] = {}
        self._models = declared_models(loaded)

    def get(self, spec: AssertSpec, at: Where) -> BoundAssert:
        key = json.dumps(spec.model_dump(by_alias=True), sort_keys=True, default=str)
        if key not in self._built:
            try:
                scorer = get_scorer(spec.type, spec.params)
                if isinstance(scorer, ModelScorer):
                    check_models(self._models, scorer.judges(), scorer.embedders())
            except ScorerError as e:
                raise SuiteError(str(e), *at) from None
            threshold = scorer.default_threshold if spec.threshold is None else spec.threshold
            self._built[key] = BoundAssert(scorer, threshold)
        return self._built[key]


@dataclass(frozen=True)
class _Source:
    """A compiled template and where its text starts, for errors while rendering it."""

    template: Template
    path: Path
    first_line: int | None


def _compile(
    loaded: LoadedSuite, index: int, prompt: PromptVersion
) -> tuple[_Source | None, _Source]:
    system = None
    if prompt.system is not None:
        line = loaded.line("prompts", index, "system", TEXT)
        system = _Source(compile_template(prompt.system, loaded.path, line), loaded.path, line)
    if prompt.file is not None:
        path = loaded.resolve(prompt.file)
        if not path.is_file():
            raise loaded.error(f"template file not found: {path}", "prompts", index, "file")
        return system, _Source(compile_template(read_text(path, "template file"), path, 1), path, 1)
    assert prompt.template is not None  # guaranteed by PromptVersion's validator
    line = loaded.line("prompts", index, "template", TEXT)
    return system, _Source(compile_template(prompt.template, loaded.path, line), loaded.path, line)


def _render(
    prompt: PromptVersion,
    system: _Source | None,
    user: _Source,
    row: CaseRow,
    suite_name: str,
) -> tuple[Message, ...]:
    messages = []
    for role, source in (("system", system), ("user", user)):
        if source is None:
            continue
        try:
            messages.append(Message(role=role, content=render(source.template, row.vars)))
        except TemplateRenderError as e:
            line = source.first_line
            if line is not None and e.line is not None:
                line += e.line - 1
            hint = ""
            if e.undefined:
                hint = (
                    f". Variables of this case: {', '.join(sorted(row.vars)) or '(none)'}; "
                    "add the variable to the case (or the dataset column) or fix the template"
                )
            raise SuiteError(
                f"suite '{suite_name}', prompt '{prompt.id}' ({role} template), "
                f"case at {row.where}: {e}{hint}",
                source.path,
                line,
            ) from None
    return tuple(messages)
