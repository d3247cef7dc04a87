"""Expand a suite into cases: prompt version x provider x row, rendered up front.

Everything that can be wrong with a suite (a missing column, an undefined template
variable, an unknown scorer) surfaces here, before the first model call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template

from harness.data.tables import Row, read_rows
from harness.errors import ScorerError, SuiteError
from harness.providers.base import Message, ModelRequest, Provider
from harness.scorers.base import Scorer
from harness.scorers.registry import get_scorer
from harness.suite.loader import LoadedSuite, parse_model
from harness.suite.schema import (
    AssertSpec,
    CaseSpec,
    DatasetSpec,
    GenerationParams,
    PromptVersion,
)
from harness.suite.templates import TemplateRenderError, compile_template, render
from harness.suite.yaml_lines import read_text

MAIN_SET = "main"


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


@dataclass(frozen=True)
class Case:
    """One model call to make and score."""

    case_id: str
    request_key: str
    prompt_id: str
    provider: Provider
    row: CaseRow
    request: ModelRequest


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
    return _hash(
        {"provider": provider.identity(), "request": request.model_dump(mode="json")}, 64
    )


def build_plan(loaded: LoadedSuite, providers: list[Provider]) -> Plan:
    """All cases of the suite; raises SuiteError naming file, line, case and variable."""
    scorers = _ScorerCache(loaded)
    rows = _main_rows(loaded, scorers)
    for i, bad in enumerate(loaded.suite.bad_cases):
        path = loaded.resolve(bad.file)
        if not path.is_file():
            raise loaded.error(f"bad-case file not found: {path}", "bad_cases", i, "file")
        for row in read_rows(path):
            spec = parse_model(CaseSpec, row.data, row.lines or {(): row.line}, path)
            rows.append(_resolve(spec, bad.name, f"{path}:{row.line}", loaded, scorers, row))
    _dedupe_row_ids(rows)
    templates = [(p, *_compile(loaded, i, p)) for i, p in enumerate(loaded.suite.prompts)]
    params = [_params(c, loaded.suite.defaults.params) for c in loaded.suite.providers]
    plan = Plan()
    for prompt, system, user in templates:
        for row in rows:
            messages = _render(prompt, system, user, row, loaded)
            for provider, params_dict in zip(providers, params, strict=True):
                request = ModelRequest(
                    messages=messages,
                    params=params_dict,
                    metadata={"vars": row.vars, "row_id": row.row_id},
                )
                key = request_key(provider, request)
                case_id = _hash([row.case_set, row.row_id, prompt.id, provider.id, key])
                plan.cases.append(Case(case_id, key, prompt.id, provider, row, request))
    return plan


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
    return [
        _resolve(spec, MAIN_SET, f"{loaded.path}:{loaded.line('cases', i)}", loaded, scorers)
        for i, spec in enumerate(cases)
    ]


def _dataset_rows(loaded: LoadedSuite, spec: DatasetSpec, scorers: _ScorerCache) -> list[CaseRow]:
    path = loaded.resolve(spec.file)
    if not path.is_file():
        raise loaded.error(f"dataset file not found: {path}", "cases", "file")
    table = read_rows(path)
    if spec.limit:
        table = table[: spec.limit]
    if not table:
        raise loaded.error(f"dataset file has no rows: {path}", "cases", "file")
    columns = set().union(*(r.data for r in table))
    mapped = {"expected": spec.expected, "id": spec.id, "tags_column": spec.tags_column}
    mapped |= {f"vars.{var}": col for var, col in spec.vars.items()}
    for key, column in mapped.items():
        if column is not None and column not in columns:
            raise loaded.error(
                f"column '{column}' not found in {path.name} (columns: {', '.join(sorted(columns))})",
                "cases",
                *key.split("."),
            )
    out = []
    for row in table:
        renamed = {var: row.data.get(col) for var, col in spec.vars.items()}
        variables = {k: v for k, v in row.data.items() if k not in spec.vars.values()} | renamed
        tags = list(spec.tags)
        if spec.tags_column:
            tags += _as_tags(row.data.get(spec.tags_column))
        case = CaseSpec.model_validate(
            {
                "id": str(row.data[spec.id]) if spec.id else None,
                "vars": variables,
                "expected": _as_expected(row.data.get(spec.expected)) if spec.expected else None,
                "tags": tags,
            }
        )
        where = f"{path}:{row.line}"
        out.append(_resolve(case, MAIN_SET, where, loaded, scorers, row, spec.assert_))
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
    where: str,
    loaded: LoadedSuite,
    scorers: _ScorerCache,
    row: Row | None = None,
    extra_asserts: Sequence[AssertSpec] = (),
) -> CaseRow:
    expected = [] if spec.expected is None else _expected_list(spec.expected)
    specs = [*loaded.suite.defaults.assert_, *extra_asserts, *spec.assert_]
    if not specs:
        raise SuiteError(
            f"case has no assertions: add 'assert' to it, its dataset, or 'defaults' ({where})",
            loaded.path,
        )
    asserts = [scorers.get(a, where) for a in specs]
    for bound in asserts:
        if bound.scorer.needs_expected and not expected:
            raise SuiteError(
                f"scorer '{bound.scorer.name}' needs an expected answer, "
                f"but the case at {where} has none",
                loaded.path,
            )
    row_id = spec.id or _hash({"vars": spec.vars, "expected": expected}, 12)
    return CaseRow(
        row_id=row_id,
        case_set=case_set,
        vars=spec.vars,
        expected=expected,
        tags=[*loaded.suite.defaults.tags, *spec.tags] + ([case_set] if case_set != MAIN_SET else []),
        asserts=asserts,
        description=spec.description,
        where=where,
    )


def _expected_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


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
        self._loaded = loaded
        self._built: dict[str, BoundAssert] = {}

    def get(self, spec: AssertSpec, where: str) -> BoundAssert:
        key = json.dumps(spec.model_dump(by_alias=True), sort_keys=True, default=str)
        if key not in self._built:
            try:
                scorer = get_scorer(spec.type, spec.params)
            except ScorerError as e:
                raise SuiteError(f"{e} (assertion of the case at {where})", self._loaded.path) from None
            threshold = scorer.default_threshold if spec.threshold is None else spec.threshold
            self._built[key] = BoundAssert(scorer, threshold)
        return self._built[key]


def _compile(
    loaded: LoadedSuite, index: int, prompt: PromptVersion
) -> tuple[Template | None, Template]:
    system = None
    if prompt.system is not None:
        system = compile_template(prompt.system, loaded.path, loaded.line("prompts", index, "system"))
    if prompt.file is not None:
        path = loaded.resolve(prompt.file)
        if not path.is_file():
            raise loaded.error(f"template file not found: {path}", "prompts", index, "file")
        return system, compile_template(read_text(path, "template file"), path, 1)
    assert prompt.template is not None  # guaranteed by PromptVersion's validator
    line = loaded.line("prompts", index, "template")
    return system, compile_template(prompt.template, loaded.path, line)


def _render(
    prompt: PromptVersion,
    system: Template | None,
    user: Template,
    row: CaseRow,
    loaded: LoadedSuite,
) -> tuple[Message, ...]:
    try:
        messages = [Message(role="user", content=render(user, row.vars))]
        if system is not None:
            messages.insert(0, Message(role="system", content=render(system, row.vars)))
    except TemplateRenderError as e:
        raise SuiteError(
            f"suite '{loaded.suite.name}', prompt '{prompt.id}', case at {row.where}: {e}. "
            f"Available variables: {', '.join(sorted(row.vars)) or '(none)'}",
            loaded.path,
        ) from None
    return tuple(messages)
