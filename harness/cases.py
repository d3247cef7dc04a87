"""Expand a suite into cases: prompt version x provider x row, rendered up front.

Everything that can be wrong with a suite (a missing column, an undefined template
variable, an unknown scorer) surfaces here, before the first model call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jinja2 import Template

from harness.data.tables import read_rows
from harness.errors import ScorerError, SuiteError
from harness.keys import request_key
from harness.keys import stable_hash as _hash
from harness.providers.base import ModelRequest, Provider
from harness.scorers.base import ModelScorer, Scorer
from harness.scorers.registry import get_scorer
from harness.suite.loader import LoadedSuite, parse_model
from harness.suite.prompts import compile_prompt
from harness.suite.refs import check_models, declared_models
from harness.suite.schema import (
    AssertSpec,
    CaseSpec,
    GenerationParams,
)
from harness.suite.sources import (
    AssertSite,
    Where,
    assert_sites,
    main_cases,
    place,
    table_path,
)
from harness.suite.templates import compile_expression
from harness.suite.tools import check_response_format, request_tools
from harness.suite.yaml_lines import as_written

MAIN_SET = "main"


@dataclass(frozen=True)
class BoundAssert:
    """A scorer built from an assertion, with its effective threshold and what else the
    assertion says: its name, ``not``, ``weight`` and ``transform`` (compiled)."""

    scorer: Scorer
    threshold: float
    #: What results call it: the assertion's ``name``, or its type.
    name: str
    #: Where the assertion is written.
    source: Where
    invert: bool = False
    weight: float = 1.0
    transform: Template | None = None
    #: The scorer's type and parameters as canonical JSON: with its version, what decides its
    #: values (a re-run reuses stored ones by it: harness.runner.memo).
    config: str = ""

    @property
    def where(self) -> str:
        return place(self.source)


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
    #: The file and line the row is written at.
    source: Where
    #: For a perturbed copy (robustness): the row it was made from, and the perturbation id.
    clean_row_id: str | None = None
    perturbation: str | None = None
    #: The case ``threshold`` on the weighted share of passed assertions (None: all pass).
    threshold: float | None = None

    @property
    def where(self) -> str:
        """``file:line`` of the row, for messages."""
        return place(self.source)


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
    #: Which sample of the case this is, 0 to N-1 under ``repeat: N`` (see :func:`repeat_cases`).
    repeat: int = 0


@dataclass
class Plan:
    """Every case of a run, in a stable order."""

    cases: list[Case] = field(default_factory=list)
    #: The run filters that chose these cases (``--tag geo``), or None for the whole suite.
    selection: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies the set of cases: re-running an unchanged suite resumes its run. A
        filtered plan's includes its filters, so it never resumes (or is resumed as) the
        whole suite's run, even when the filters happen to keep every case."""
        ids = sorted(c.case_id for c in self.cases)
        return _hash(ids if self.selection is None else {"cases": ids, "selection": self.selection})


def repeat_cases(plan: Plan, times: int) -> Plan:
    """Each case ``times`` times, in a row (``--repeat N``, ``repeat: N``). Sample ``i`` holds
    ``i`` in its case id and request key, so the cache never answers one sample with
    another's reply; a provider with sampling ``params`` gets ``seed`` = the suite's seed
    (0 when unset) + ``i``: samples differ where sampling does, and each reproduces."""
    if times < 1:
        raise ValueError(f"repeat must be at least 1, got {times}")
    if times == 1:
        return plan
    return Plan([_sample(c, i) for c in plan.cases for i in range(times)], plan.selection)


def _sample(case: Case, i: int) -> Case:
    params = case.request.params
    if "params" in type(case.provider.config).model_fields:
        params = {**params, "seed": (params.get("seed") or 0) + i}
    metadata = {**case.request.metadata, "repeat": i}
    request = case.request.model_copy(update={"params": params, "metadata": metadata})
    key = _hash({"request": request_key(case.provider, request), "repeat": i}, 64)
    return replace(
        case, case_id=_hash([case.case_id, i]), request_key=key, request=request, repeat=i
    )


def build_plan(loaded: LoadedSuite, providers: list[Provider]) -> Plan:
    """All cases of the suite; raises SuiteError naming file, line, case and variable."""
    scorers = _ScorerCache(loaded, bool(providers) and all(p.returns_contexts for p in providers))
    rows = _main_rows(loaded, scorers)
    for i, bad in enumerate(loaded.suite.bad_cases):
        path = table_path(loaded, bad.file, "bad-case file", "bad_cases", i, "file")
        for row in read_rows(path):
            lines = row.lines or {(): row.line}
            data = _vars_columns(row.data) if path.suffix.lower() == ".csv" else row.data
            if "expected" in data:
                data = {**data, "expected": as_written(data["expected"], row.texts, ("expected",))}
            spec = parse_model(CaseSpec, data, lines, path, root="this case")
            own = assert_sites(spec.assert_, path, lines)
            rows.append(_resolve(spec, bad.name, (path, row.line), loaded, scorers, own))
    if loaded.suite.perturbations:  # imported here: most suites have none
        from harness.perturb.registry import perturbed_rows

        rows += perturbed_rows(loaded, rows, MAIN_SET)
    _check_unique_rows(rows)
    prompts = [compile_prompt(loaded, i) for i in range(len(loaded.suite.prompts))]
    params = [_params(c, loaded.suite.defaults.params) for c in loaded.suite.providers]
    check_response_format(loaded, providers, params)
    tools = request_tools(loaded, providers)
    plan = Plan()
    for compiled, prompt_tools in zip(prompts, tools, strict=True):
        prompt = compiled.prompt
        for row in rows:
            messages = compiled.render(row.vars, row.source)
            for provider, params_dict, tool_fields in zip(
                providers, params, prompt_tools, strict=True
            ):
                request = ModelRequest(
                    messages=messages,
                    params=params_dict,
                    metadata={"vars": row.vars, "row_id": row.row_id, "prompt_id": prompt.id},
                    **tool_fields,
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
    return [
        _resolve(c.spec, MAIN_SET, c.at, loaded, scorers, c.asserts) for c in main_cases(loaded)
    ]


def own_assertions(loaded: LoadedSuite) -> dict[str, list[AssertSpec]]:
    """Each main-set row's assertions besides the suite defaults, by row id: what a bad case
    harvested from the row keeps (the defaults apply to bad cases anyway)."""
    return {_row_id(loaded, c.spec): [a for a, *_ in c.asserts] for c in main_cases(loaded)}


def _resolve(
    spec: CaseSpec,
    case_set: str,
    at: Where,
    loaded: LoadedSuite,
    scorers: _ScorerCache,
    own_asserts: Sequence[AssertSite],
) -> CaseRow:
    """Bind a case's assertions (``own_asserts``: its own or its dataset's, each with where it
    is written) after the suite defaults; errors point at the assertion or the case."""
    expected = _expected_list(spec.expected)
    variables = _case_vars(loaded, spec)
    specs = [*scorers.defaults, *own_asserts]
    if not specs:
        raise SuiteError(
            "case has no assertions: add an 'assert' list to it, to its dataset, or to "
            "'defaults' (e.g. assert: [{type: exact}])",
            *at,
        )
    asserts = [scorers.get(*site) for site in specs]
    _check_names(asserts)
    if all(bound.weight == 0 for bound in asserts):
        raise SuiteError(
            "every assertion of this case has weight 0 (informational), so nothing could fail "
            "it: give one a weight above 0",
            *at,
        )
    for bound in asserts:
        # An app returns what it retrieved with each answer, so a RAG scorer's contexts column
        # is a fallback, not a must, when every provider can return contexts. Should one be a
        # model (it cannot), its cases would have nothing to judge against: the column stays
        # required, and a run-time case with neither is that case's scoring error.
        replaced = bound.scorer.contexts_vars() if scorers.apps_return_contexts else []
        missing = [
            v for v in bound.scorer.vars_needed() if v not in variables and v not in replaced
        ]
        if missing:
            raise SuiteError(
                f"scorer '{bound.scorer.name}' reads the case variable(s) "
                f"{', '.join(repr(v) for v in missing)}, which this case lacks (its variables: "
                f"{', '.join(sorted(variables)) or 'none'}): add the column, or map it with the "
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
    return CaseRow(
        row_id=_row_id(loaded, spec),
        case_set=case_set,
        vars=variables,
        expected=expected,
        tags=[*loaded.suite.defaults.tags, *spec.tags]
        + ([case_set] if case_set != MAIN_SET else []),
        asserts=asserts,
        description=spec.description,
        source=at,
        threshold=loaded.suite.defaults.threshold if spec.threshold is None else spec.threshold,
    )


def _check_names(asserts: list[BoundAssert]) -> None:
    """One name per assertion of a case (defaults and its own together): two of one name
    would pool into one column of every summary, export, comparison and gate."""
    first: dict[str, int] = {}
    for i, bound in enumerate(asserts):
        j = first.setdefault(bound.name, i)
        if j != i:
            raise SuiteError(
                f"two assertions of one case are named '{bound.name}' (here and at "
                f"{asserts[j].where}): give each its own 'name:' (e.g. name: {bound.name}_2), "
                "or their numbers would mix in every summary, export and comparison",
                *bound.source,
            )


def _expected_list(value: str | list[str] | None) -> list[str]:
    """The acceptable answers, repeats dropped (SQuAD lists one answer per annotator): every
    scorer takes the best match over them, so a repeat only clutters the report."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(dict.fromkeys(str(v) for v in value))


def _case_vars(loaded: LoadedSuite, spec: CaseSpec) -> dict[str, Any]:
    """The case's variables over ``defaults.vars``: its own (or its row's columns) win."""
    return {**loaded.suite.defaults.vars, **spec.vars}


def _row_id(loaded: LoadedSuite, spec: CaseSpec) -> str:
    """The case's id, or a hash of what it asks (defaults included) and expects."""
    return spec.id or _content_id(_case_vars(loaded, spec), _expected_list(spec.expected))


def _content_id(variables: dict[str, Any], expected: list[str]) -> str:
    """The id of a case that has none: a hash of what it asks and expects."""
    return _hash({"vars": variables, "expected": expected}, 12)


def _check_unique_rows(rows: list[CaseRow]) -> None:
    """Every (case set, row id) once: a repeat would share its case ids with the first, and
    one result overwrite the other. Two cases without ids that ask and expect the same are
    a repeat too (nothing to learn from the second, and it would count twice): an error
    naming both, rather than a silent dedupe."""
    first: dict[tuple[str, str], CaseRow] = {}
    for row in rows:
        other = first.setdefault((row.case_set, row.row_id), row)
        if other is row:
            continue
        if row.perturbation is not None:
            raise SuiteError(
                f"case id '{row.row_id}' is also the id of the perturbed copy of the case at "
                f"{row.where}: rename this case",
                *other.source,
            )
        if row.row_id == _content_id(row.vars, row.expected):
            raise SuiteError(
                f"this case asks and expects the same as the case at {other.where} (cases "
                "without an 'id' are told apart by their variables and expected answer): "
                "remove the repeat, or give the cases ids",
                *row.source,
            )
        raise SuiteError(
            f"duplicate case id '{row.row_id}' (first used by the case at {other.where}): "
            "every case of a case set needs its own id, or one result would overwrite "
            "the other",
            *row.source,
        )


class _ScorerCache:
    """Builds each distinct assertion once and reports bad ones with their location."""

    def __init__(self, loaded: LoadedSuite, apps_return_contexts: bool = False) -> None:
        #: Whether every provider may return the contexts it retrieved (an app).
        self.apps_return_contexts = apps_return_contexts
        self._built: dict[str, tuple[Scorer, float]] = {}
        self._bound: dict[tuple[str, Where], BoundAssert] = {}
        self._models = declared_models(loaded)
        self._suite_dir = loaded.base_dir
        #: The suite defaults' assertions with where each is written, shared by every case.
        self.defaults = assert_sites(
            loaded.suite.defaults.assert_, loaded.path, loaded.lines, "defaults"
        )
        #: Per assertion object (kept, so its id is not reused) and place: its binding. A
        #: default or dataset assertion is the same object in every case: its canonical
        #: JSON, which binds it, is computed once rather than per case.
        self._same: dict[tuple[int, Where], tuple[AssertSpec, BoundAssert]] = {}

    def get(self, spec: AssertSpec, at: Where, threshold_at: Where) -> BoundAssert:
        """The assertion bound once per place it is written (the defaults' once for all)."""
        seen = self._same.get((id(spec), at))
        if seen is not None and seen[0] is spec:
            return seen[1]
        bound = self._bind(spec, at, threshold_at)
        self._same[id(spec), at] = (spec, bound)
        return bound

    def _bind(self, spec: AssertSpec, at: Where, threshold_at: Where) -> BoundAssert:
        key = (json.dumps(spec.model_dump(by_alias=True), sort_keys=True, default=str), at)
        if key not in self._bound:
            scorer, threshold, config = self._scorer(spec, at, threshold_at)
            transform = None
            if spec.transform is not None:
                what = f"the transform of assertion '{spec.label}'"
                transform = compile_expression(spec.transform, *at, what)
            self._bound[key] = BoundAssert(
                scorer, threshold, spec.label, at, spec.not_, spec.weight, transform, config
            )
        return self._bound[key]

    def _scorer(
        self, spec: AssertSpec, at: Where, threshold_at: Where
    ) -> tuple[Scorer, float, str]:
        """Each distinct scorer configuration built once, whatever its assertions' names; with
        the configuration's canonical JSON."""
        own = spec.model_dump(by_alias=True, exclude={"name", "not_", "weight", "transform"})
        key = json.dumps(own, sort_keys=True, default=str)
        if key not in self._built:
            try:
                scorer = get_scorer(spec.type, spec.params, self._suite_dir)
                if isinstance(scorer, ModelScorer):
                    check_models(self._models, scorer.judges(), scorer.embedders())
            except ScorerError as e:
                raise SuiteError(str(e), *at) from None
            threshold = scorer.default_threshold if spec.threshold is None else spec.threshold
            low, high = scorer.value_range
            if not low <= threshold <= high:
                raise SuiteError(
                    f"threshold {threshold:g} is outside the range of '{scorer.name}' "
                    f"scores ({low:g} to {high:g}): no score could reach it, or every one would",
                    *threshold_at,
                )
            self._built[key] = (scorer, threshold)
        return (*self._built[key], key)
