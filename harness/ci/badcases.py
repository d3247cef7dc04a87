"""The bad-case loop: turn a run's failures into bad cases, and find bad cases that came back.

Harvest::

    candidates = harvest_candidates(run, results, loaded)   # failed cases, one per row
    kept = review(candidates)                               # optional: a person decides
    report = harvest(store, "RUN_ID", "suites/x.yaml")      # all of it, into the bad-case file

A harvested case is a :class:`~harness.suite.schema.CaseSpec`-shaped dict (id, vars,
expected, tags, the row's own assertions) plus ``provenance``: the run, its date, the
model, provider and prompt version, the bad output and the failing scores. Cases are
de-duplicated by their content (vars + expected answers) against every bad-case file of
the suite, so harvesting the same run twice adds nothing.

Regressions::

    bad_case_regressions(current_results, previous_results)   # passed before, fail now
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.cases import MAIN_SET, own_assertions
from harness.ci._casefile import append_cases, content_key, existing_keys
from harness.ci._format import case_label, failure_details, failure_summary
from harness.errors import HarnessError
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore
from harness.suite.loader import LoadedSuite, load_suite
from harness.suite.schema import AssertSpec
from harness.view.reviews import Review, marked_bad


@dataclass
class BadCaseCandidate:
    """One failed row of a run, ready to be written as a bad case."""

    case: dict[str, Any]
    key: str
    #: The failing result the provenance was taken from (the first prompt x provider).
    result: CaseResult


@dataclass
class HarvestReport:
    """What ``harvest`` did."""

    path: Path
    #: The suite file the cases were harvested for.
    suite: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    already_there: int = 0
    rejected: int = 0
    #: False when the file is not one of the suite's ``bad_cases`` (it will not run yet).
    in_suite: bool = True
    #: The bad-case set name to use in the suite for this file.
    set_name: str = "bad-cases"


def harvest_candidates(
    run: RunRecord,
    results: Iterable[CaseResult],
    loaded: LoadedSuite | None = None,
    *,
    include_errors: bool = False,
    reviewed: dict[str, Review] | None = None,
) -> list[BadCaseCandidate]:
    """The failed cases of the suite's own set, one per row, ordered by row id (the first
    failing prompt x provider gives the provenance; the others are in ``also_failed``).

    Cases whose model call errored are infrastructure trouble, not bad answers: they are
    left out unless ``include_errors``. ``loaded`` (the suite) lets a case keep the
    assertions its dataset or inline case declared, and drops the suite's default tags.
    ``reviewed`` (case id -> a person's "bad" review): those cases instead, whatever their
    scores said, with the reviewer's correct answer as the expected one where written.
    """
    prompts = {p: i for i, p in enumerate(run.prompts)}
    providers = {p.get("id"): i for i, p in enumerate(run.providers)}
    failed = [
        r
        for r in results
        if r.case_set == MAIN_SET
        and (
            r.case_id in reviewed
            if reviewed is not None
            else not r.passed and (include_errors or r.error is None)
        )
    ]
    # rows by id, so the file grows in the same order however the cases finished
    failed.sort(
        key=lambda r: (r.row_id, prompts.get(r.prompt_id, 99), providers.get(r.provider_id, 99))
    )
    by_row: dict[str, list[CaseResult]] = {}
    for r in failed:
        by_row.setdefault(r.row_id, []).append(r)
    own = own_assertions(loaded) if loaded else {}
    out = []
    for first, *others in by_row.values():
        case = _case_dict(run, first, others, loaded, own.get(first.row_id, []))
        cand = BadCaseCandidate(case, content_key(case["vars"], case.get("expected")), first)
        out.append(cand if reviewed is None else _as_reviewed(cand, reviewed[first.case_id]))
    return out


def _as_reviewed(cand: BadCaseCandidate, mark: Review) -> BadCaseCandidate:
    """A candidate a person marked bad: who and when, and their correct answer if any."""
    if mark.correct_answer:
        cand = _with_expected(cand, [mark.correct_answer])
    when = mark.reviewed_at.isoformat(timespec="seconds")
    cand.case["provenance"]["review"] = f"marked bad by {mark.reviewer} at {when}"
    return cand


def _case_dict(
    run: RunRecord,
    r: CaseResult,
    others: list[CaseResult],
    loaded: LoadedSuite | None,
    own: list[AssertSpec],
) -> dict[str, Any]:
    """The bad case of a failed row. Like the suite's default tags, its default vars are
    left out (a bad case gets them anyway); ``own`` are the row's assertions besides the
    suite defaults."""
    case: dict[str, Any] = {"id": r.row_id}
    if r.description:
        case["description"] = r.description
    defaults = loaded.suite.defaults.vars if loaded else {}
    case["vars"] = {k: v for k, v in r.vars.items() if k not in defaults or defaults[k] != v}
    if r.expected:
        case["expected"] = r.expected[0] if len(r.expected) == 1 else list(r.expected)
    default_tags = set(loaded.suite.defaults.tags) if loaded else set()
    tags = [t for t in r.tags if t not in default_tags]
    if tags:
        case["tags"] = tags
    asserts = [a.model_dump(by_alias=True, exclude_defaults=True) for a in own]
    if asserts:
        case["assert"] = asserts
    default_threshold = loaded.suite.defaults.threshold if loaded else None
    if r.threshold is not None and r.threshold != default_threshold:
        case["threshold"] = r.threshold  # its own or its dataset's: the defaults' apply anyway
    provenance: dict[str, Any] = {
        "run_id": run.run_id,
        "date": run.created_at.isoformat(timespec="seconds"),
        "harvested": datetime.now(UTC).date().isoformat(),
        "suite": run.suite_name,
        "model": r.model,
        "provider": r.provider_id,
        "prompt_id": r.prompt_id,
        "bad_output": r.output,
    }
    if r.error is not None:
        provenance["error"] = r.error
    provenance["failing_scores"] = [
        {"name": s.name, "scorer": s.scorer, "value": s.value, "threshold": s.threshold}
        | ({"error": s.error} if s.error else {})
        for s in r.scores
        if s.passed is False
    ]
    if others:
        provenance["also_failed"] = [f"{o.prompt_id}/{o.provider_id}" for o in others]
    case["provenance"] = provenance
    return case


def review(
    candidates: Sequence[BadCaseCandidate],
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
) -> tuple[list[BadCaseCandidate], int]:
    """Ask a person about each candidate: keep, reject, or keep with a corrected expected
    answer; quit (or end of input) keeps what was decided so far. Returns the kept ones
    and how many were rejected or left undecided."""
    kept: list[BadCaseCandidate] = []
    for i, cand in enumerate(candidates, start=1):
        say(f"\n[{i}/{len(candidates)}] {failure_details(cand.result, max_text=1500)}")
        try:
            answer = _choice(ask)
            if answer == "q":
                break
            if answer == "n":
                continue
            review_note = "accepted"
            if answer == "e":
                expected = _read_expected(ask)
                if expected:
                    cand = _with_expected(cand, expected)
                    review_note = "edited"
        except EOFError:
            say("(end of input: the cases decided so far are kept)")
            break
        cand.case["provenance"]["review"] = review_note
        kept.append(cand)
    return kept, len(candidates) - len(kept)


def _choice(ask: Callable[[str], str]) -> str:
    while True:
        answer = ask("Keep as a bad case? [y]es / [n]o / [e]dit expected / [q]uit: ")
        answer = answer.strip().lower()[:1]
        if answer in ("y", "n", "e", "q"):
            return answer


def _read_expected(ask: Callable[[str], str]) -> list[str]:
    """Correct answers, one per line, ended by an empty line."""
    answers: list[str] = []
    while True:
        prompt = "Correct expected answer" + (" (another, or empty to finish)" if answers else "")
        line = ask(f"{prompt}: ").strip()
        if not line:
            return answers
        answers.append(line)


def _with_expected(cand: BadCaseCandidate, expected: list[str]) -> BadCaseCandidate:
    case = dict(cand.case)
    case["provenance"] = dict(case["provenance"], original_expected=case.get("expected"))
    case["expected"] = expected[0] if len(expected) == 1 else expected
    return BadCaseCandidate(case, content_key(case["vars"], case["expected"]), cand.result)


def target_file(
    loaded: LoadedSuite, into: str | Path | None = None, set_name: str | None = None
) -> tuple[Path, str, bool]:
    """Where harvested cases go: ``into``, the file of the bad-case set ``set_name``, the
    suite's only bad-case file, or ``<suite>.badcases.yaml`` beside the suite. Returns the
    path, the set name, and whether the suite already runs that file."""
    sets = loaded.suite.bad_cases
    if set_name is not None:
        chosen = [s for s in sets if s.name == set_name]
        if not chosen:
            names = ", ".join(s.name for s in sets) or "(none)"
            raise HarnessError(
                f"the suite {loaded.path} has no bad-case set '{set_name}'; its sets: {names}"
            )
        sets = chosen
    if into is not None:
        path = Path(into).resolve()
        for s in sets:
            if loaded.resolve(s.file) == path:
                return path, s.name, True
        return path, set_name or "bad-cases", False
    if len(sets) == 1:
        return loaded.resolve(sets[0].file), sets[0].name, True
    if sets:
        names = ", ".join(s.name for s in sets)
        raise HarnessError(
            f"the suite {loaded.path} has {len(sets)} bad-case sets ({names}): "
            "choose one with --set NAME, or give a file with --into PATH"
        )
    stem = loaded.path.name.removesuffix(loaded.path.suffix)
    return loaded.base_dir / f"{stem}.badcases.yaml", "bad-cases", False


def harvest(
    store: ResultStore,
    run_id: str,
    suite_path: str | Path | None = None,
    *,
    into: str | Path | None = None,
    set_name: str | None = None,
    interactive: bool = False,
    include_errors: bool = False,
    reviewed: bool = False,
    dry_run: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
) -> HarvestReport:
    """Append the failed cases of run ``run_id`` to the suite's bad-case file, skipping cases
    already in any of the suite's bad-case files (or the target file); ``reviewed``: the
    cases a person marked bad in ``harness view`` instead of the failed ones."""
    run = store.get_run(run_id)
    marks = marked_bad(store, run.run_id) if reviewed else None
    if marks == {}:
        raise HarnessError(
            f"no case of run {run.run_id} is marked bad: mark them in `harness view` first"
        )
    loaded = load_suite(suite_path or run.suite_path)
    if loaded.suite.name != run.suite_name:
        raise HarnessError(
            f"run {run.run_id} is of suite '{run.suite_name}', but {loaded.path} is suite "
            f"'{loaded.suite.name}': pass the suite the run was made from ({run.suite_path})"
        )
    path, name, in_suite = target_file(loaded, into, set_name)
    report = HarvestReport(path=path, suite=loaded.path, in_suite=in_suite, set_name=name)
    existing = existing_keys(path)
    for s in loaded.suite.bad_cases:
        existing |= existing_keys(loaded.resolve(s.file))
    results = store.results(run.run_id)
    fresh = _new_only(
        harvest_candidates(run, results, loaded, include_errors=include_errors, reviewed=marks),
        existing,
        report,
    )
    if interactive and fresh:
        kept, report.rejected = review(fresh, ask, say)
        fresh = _new_only(kept, existing, report)  # an edited answer may match a known case
    report.added = [c.case for c in fresh]
    if not dry_run:
        append_cases(path, report.added)
    return report


def _new_only(
    candidates: list[BadCaseCandidate], existing: set[str], report: HarvestReport
) -> list[BadCaseCandidate]:
    """Candidates whose content is neither in ``existing`` nor repeated; counts the others."""
    seen = set(existing)
    out = []
    for cand in candidates:
        if cand.key in seen:
            report.already_there += 1
        else:
            seen.add(cand.key)
            out.append(cand)
    return out


@dataclass(frozen=True)
class BadCaseRegression:
    """A bad case (one prompt x provider) that passed in an earlier run and fails now."""

    case_set: str
    row_id: str
    prompt_id: str
    provider_id: str
    #: The run in which it passed (the newest such, when several earlier runs are given).
    passed_in: str
    current: CaseResult

    @property
    def errored(self) -> bool:
        """True when it fails now because the model call errored, not on its answer."""
        return self.current.error is not None

    def describe(self) -> str:
        return (
            f"{case_label(self.current)}: passed in run {self.passed_in}, "
            f"fails now ({failure_summary(self.current)})"
        )


def bad_case_regressions(
    current: Iterable[CaseResult], previous: Iterable[CaseResult]
) -> list[BadCaseRegression]:
    """Bad cases failing in ``current`` that passed in ``previous``.

    Cases match on (case set, row id, prompt version, provider id); ``previous`` may hold
    the results of several earlier runs ("once passed" means passed in any of them).
    Suite cases (set "main") are not bad cases and are ignored.
    """
    passed: dict[tuple[str, str, str, str], CaseResult] = {}
    for r in previous:
        if r.case_set != MAIN_SET and r.passed:
            key = _regression_key(r)
            if key not in passed or r.finished_at > passed[key].finished_at:
                passed[key] = r
    out = []
    for r in current:
        key = _regression_key(r)
        if r.case_set != MAIN_SET and not r.passed and key in passed:
            out.append(BadCaseRegression(*key, passed_in=passed[key].run_id, current=r))
    return out


def _regression_key(r: CaseResult) -> tuple[str, str, str, str]:
    return (r.case_set, r.row_id, r.prompt_id, r.provider_id)


def earlier_runs(store: ResultStore, run: RunRecord, limit: int | None = 1) -> list[RunRecord]:
    """Complete runs of the same suite (by name) made before ``run``, newest first."""
    runs = [
        r
        for r in store.list_runs()
        if r.suite_name == run.suite_name
        and r.run_id != run.run_id
        and r.status == "complete"
        and r.created_at < run.created_at
    ]
    return runs if limit is None else runs[:limit]


def regressions_since(
    store: ResultStore, run_id: str, history: int | None = 1
) -> list[BadCaseRegression]:
    """Bad cases of run ``run_id`` that passed in one of the ``history`` previous complete
    runs of the same suite (all of them when None)."""
    run = store.get_run(run_id)
    # streamed: only the bad cases that passed, and those failing now, are kept
    previous = (r for e in earlier_runs(store, run, history) for r in store.iter_results(e.run_id))
    return bad_case_regressions(store.iter_results(run.run_id), previous)
