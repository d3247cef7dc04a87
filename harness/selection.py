"""Run filters: which cases of a suite one run covers (``harness run --tag geo``, pytest ``-k``).

A filtered run is a run of its own. Its record names the filters (``RunRecord.selection``)
and its plan's fingerprint includes them, so it never resumes the whole suite's run, nor is
it resumed by ``harness run SUITE``; the same filters again resume it. A filter that names
what the suite does not have (a prompt, provider, tag or variable) is an error with a
did-you-mean, and so is one that leaves no case: a run of nothing would pass every gate.

Filters combine with "and"; the values of one repeatable filter with "or" (``--tag a --tag
b``: cases tagged a or b), except ``--var``, where each must match. ``--limit`` applies last.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from harness.cases import MAIN_SET, Case, Plan
from harness.errors import SelectionError
from harness.results.models import RunRecord
from harness.results.store import ResultStore
from harness.suite.loader import LoadedSuite, did_you_mean

#: What pairs a case with the same case of an earlier run: not ``case_id``, which hashes
#: the request and so changes with the prompt's text (a fixed prompt must still match).
_RunKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Selection:
    """The filters of one run; the default selects every case."""

    #: The first N rows of the main set (their perturbed copies with them); bad-case sets
    #: are not cut.
    limit: int | None = None
    #: Cases with any of these tags (a bad-case set's name is a tag of its cases).
    tags: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    #: ``(variable, text)``: cases whose variable reads as that text (non-strings as JSON).
    vars: tuple[tuple[str, str], ...] = ()
    #: A run id: only the cases that failed in that run, errored ones included...
    failing_in: str | None = None
    #: ...or only those whose call errored.
    errored_in: str | None = None
    #: Exactly these case ids (the pytest plugin: the items left after ``-k`` / ``--lf``).
    case_ids: frozenset[str] | None = None

    def describe(self) -> str | None:
        """The filters as ``harness run`` options, for the run record; None when there are none."""
        parts = [
            *(("--prompt", p) for p in self.prompts),
            *(("--provider", p) for p in self.providers),
            *(("--tag", t) for t in self.tags),
            *(("--var", f"{k}={v}") for k, v in self.vars),
        ]
        if self.failing_in is not None:
            parts.append(("--filter-failing", self.failing_in))
        if self.errored_in is not None:
            parts.append(("--filter-errors", self.errored_in))
        if self.limit is not None:
            parts.append(("--limit", str(self.limit)))
        text = " ".join(f"{flag} {shlex.quote(value)}" for flag, value in parts)
        if self.case_ids is not None:
            text = f"{text} pytest: {len(self.case_ids)} selected case(s)".strip()
        return text or None

    def is_everything(self) -> bool:
        return all(getattr(self, f.name) == f.default for f in fields(self))


def parse_var(text: str) -> tuple[str, str]:
    """``key=value`` of ``--var`` (the value may hold ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE (e.g. --var lang=fr), got {text!r}")
    return key, value


def select_cases(loaded: LoadedSuite, plan: Plan, selection: Selection, store: ResultStore) -> Plan:
    """The cases of ``plan`` that ``selection`` keeps, as a plan that says which filters made it.

    Raises :class:`SelectionError` for a name the suite lacks or a filter that keeps nothing.
    """
    if selection.is_everything():
        return plan
    suite = loaded.suite
    cases = plan.cases
    steps: list[tuple[str, Callable[[Case], bool]]] = []
    if selection.prompts:
        wanted = _known(selection.prompts, [p.id for p in suite.prompts], "prompt version")
        steps.append(("--prompt", lambda c: c.prompt_id in wanted))
    if selection.providers:
        wanted_p = _known(selection.providers, [p.id for p in suite.providers], "provider")
        steps.append(("--provider", lambda c: c.provider.id in wanted_p))
    if selection.tags:
        tags = _known(selection.tags, _distinct(t for c in cases for t in c.row.tags), "tag")
        steps.append(("--tag", lambda c: not tags.isdisjoint(c.row.tags)))
    if selection.vars:
        names = _distinct(k for c in cases for k in c.row.vars)
        _known(tuple(k for k, _ in selection.vars), names, "case variable")
        steps.append(("--var", lambda c: all(_text(c.row.vars, k) == v for k, v in selection.vars)))
    for field_name, errored, flag in (
        ("failing_in", False, "--filter-failing"),
        ("errored_in", True, "--filter-errors"),
    ):
        if getattr(selection, field_name) is not None:
            run_id, keys = _cases_of_run(store, getattr(selection, field_name), loaded, errored)
            selection = replace(selection, **{field_name: run_id})  # the full id, for the record
            steps.append((flag, lambda c, keys=keys: _run_key(c) in keys))
    if selection.case_ids is not None:
        ids = selection.case_ids
        steps.append(("the pytest selection", lambda c: c.case_id in ids))
    for flag, keep in steps:
        kept = [c for c in cases if keep(c)]
        if not kept:
            raise SelectionError(
                f"{flag} selects none of the {len(cases)} case(s) "
                f"{'of' if cases is plan.cases else 'left by the filters before it in'} "
                f"{loaded.path}: nothing to run"
            )
        cases = kept
    if selection.limit is not None:
        cases = _first_rows(cases, selection.limit)
    return Plan(cases, selection.describe())


def run_to_retry(store: ResultStore, plan: Plan, suite_path: object) -> RunRecord:
    """The run ``--retry-errors`` reopens: the latest one of exactly these cases, which must
    be complete (an unfinished one is resumed by a plain re-run, errored cases included)
    and have errored cases. Resuming it re-runs those alone: the others have results."""
    run = store.latest_run(plan.fingerprint)
    if run is None:
        raise SelectionError(
            f"--retry-errors: no earlier run of these cases of {suite_path}: run the suite "
            "first (with the same filters)"
        )
    if run.status != "complete":
        raise SelectionError(
            f"--retry-errors: run {run.run_id} is {run.status}: `harness run {suite_path}` "
            "(without --retry-errors) resumes it, errored cases included"
        )
    if not any(d[6] is not None for _, d in store.iter_digests(run.run_id)):
        raise SelectionError(f"--retry-errors: run {run.run_id} has no errored case to retry")
    return run


def _known(given: tuple[str, ...], known: list[str], what: str) -> frozenset[str]:
    for name in given:
        if name not in known:
            raise SelectionError(
                f"unknown {what} '{name}'.{did_you_mean(name, known)} "
                f"The suite's {what}s: {', '.join(known) or '(none)'}"
            )
    return frozenset(given)


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _text(variables: dict[str, Any], name: str) -> str | None:
    """A variable as ``--var`` compares it: strings as they are, anything else as JSON."""
    if name not in variables:
        return None
    value = variables[name]
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _run_key(case: Case) -> _RunKey:
    return (case.row.case_set, case.row.row_id, case.prompt_id, case.provider.id)


def _cases_of_run(
    store: ResultStore, run_id: str, loaded: LoadedSuite, errored: bool
) -> tuple[str, frozenset[_RunKey]]:
    """The full id of a stored run of this suite (``run_id`` may be a prefix) and its failed
    (or errored) cases."""
    run = store.get_run(run_id)
    if run.suite_name != loaded.suite.name:
        raise SelectionError(
            f"run {run.run_id} is a run of suite '{run.suite_name}', not of "
            f"'{loaded.suite.name}' ({loaded.path})"
        )
    keys = set()
    for _, (
        case_set,
        row_id,
        prompt_id,
        provider_id,
        _tags,
        passed,
        error,
        *_,
    ) in store.iter_digests(run.run_id):
        if error is not None if errored else passed is not True:
            keys.add((case_set or MAIN_SET, row_id, prompt_id, provider_id))
    if not keys:
        what = "errored" if errored else "failed"
        raise SelectionError(f"run {run.run_id} has no {what} case: nothing to re-run")
    return run.run_id, frozenset(keys)


def _first_rows(cases: list[Case], limit: int) -> list[Case]:
    """The cases of the first ``limit`` main-set rows (a perturbed copy goes with its row),
    and every case of the other sets."""

    def row(c: Case) -> str:
        return c.row.clean_row_id or c.row.row_id

    first = set(_distinct(row(c) for c in cases if c.row.case_set == MAIN_SET)[:limit])
    return [c for c in cases if c.row.case_set != MAIN_SET or row(c) in first]
