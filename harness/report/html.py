"""The self-contained HTML report of one run.

One file that opens anywhere, offline, forever: CSS and JS are inline, and a
Content-Security-Policy forbids every network request. Model outputs and dataset
rows are untrusted, so the template autoescapes and the per-case data travels as
JSON in a non-executed ``<script type="application/json">`` that the page's own
script renders with ``textContent`` only. The case table stays small at any size
(see :mod:`harness.report.case_table`).

The header says how the run went: errored cases turn the status badge to the error
colour and are listed by distinct message near the top, and the suite's gates (when
given) show what each checked, its bar, the measured value and the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from harness.analysis.base import AnalysisResult
from harness.analysis.errors import ErrorTally
from harness.analysis.repeats import RepeatSummary
from harness.analysis.summary import GroupSummary, RunSummary, summarize
from harness.ci.junit import GateOutcome
from harness.jsontext import model_of, utf8_safe
from harness.report.analyses import analysis_views
from harness.report.case_table import BUDGET, CaseTable
from harness.report.page import clip, environment, json_island
from harness.results.models import CaseResult, RunRecord
from harness.results.store import read_as, reiterable

MAIN_SET = "main"
#: Characters of an error message shown in the list of errors at the top.
_ERROR_CHARS = 500
#: What the report reads of a case: all but its request key, tokens, case score and
#: timestamps (a stored run's are never built).
_READ = model_of(
    CaseResult, "case_id", "case_set", "prompt_id", "provider_id", "model", "row_id",
    "description", "tags", "vars", "messages", "expected", "output", "error", "latency_s",
    "cost_usd", "cached", "judge_calls", "judge_cached", "judge_cost_usd", "scores", "passed",
    "perturbation", "contexts", "tool_calls",
)  # fmt: skip


class ReportedGate(GateOutcome, Protocol):
    """What the gates table reads: a :class:`~harness.compare.gates.GateResult`, the error
    budget, or any check that says as much."""

    @property
    def details(self) -> str | None: ...
    @property
    def checked(self) -> str: ...
    @property
    def threshold(self) -> float | None: ...
    @property
    def observed(self) -> float | None: ...
    @property
    def p_value(self) -> float | None: ...


def render_html(
    run: RunRecord,
    results: Iterable[CaseResult],
    analyses: list[AnalysisResult] | None = None,
    gates: Sequence[ReportedGate] | None = None,
    *,
    text_budget: int = BUDGET,
    summary: RunSummary | None = None,
    repeats: Sequence[RepeatSummary] = (),
) -> str:
    """The report of ``run`` (its run-level analyses and gate verdicts) as one HTML document
    (no external resources). ``text_budget``: bytes of case texts kept (failures first).

    ``results`` is read once, a case at a time, when ``summary`` (:func:`summarize` of the
    same results) is given, twice when not: a stored run streams and is never held whole."""
    if summary is None:
        results = reiterable(results)
        summary = summarize(results)
    facts = _Facts()
    island = _case_island(results, facts, text_budget)
    prompts = _ordered(run.prompts, facts.prompts)
    providers = _providers(run, facts.models)
    provider_ids = [p["id"] for p in providers]
    # the grid view's columns: every prompt version x provider with a case, in the run's order
    columns = [[p, m] for p in prompts for m in provider_ids if (p, m) in facts.columns]
    island["columns"] = columns
    n_texts, cases_json = len(island["texts"]), json_island(island)
    del island  # its columns are gone before the page is made: only the JSON is kept
    sections = [
        _section(summary, case_set, prompts, provider_ids, facts.scorers.get(case_set, set()))
        for case_set in _ordered([MAIN_SET], facts.case_sets)
        if any(g.case_set == case_set for g in summary.groups)
    ]
    template = environment().get_template("report.html.j2")
    return template.render(
        run=run,
        created=_date(run.created_at),
        finished=_date(run.finished_at),
        duration=_duration(run.created_at, run.finished_at),
        providers=providers,
        kpis=facts.headline.kpis(),
        sections=sections,
        tags=_tag_matrix(summary, prompts, provider_ids),
        errors=facts.errors_view(),
        gates=list(gates or []),
        repeats=list(repeats),
        flaky=[c for r in repeats for c in r.flaky],
        cases_json=cases_json,
        n_cases=facts.errors.total,
        n_texts=n_texts,
        grid_columns=columns,
        scorer_versions=sorted(v if name in v else f"{name}@{v}" for name, v in facts.versions),
        analyses=analysis_views(analyses or []),
    )


def _case_island(results: Iterable[CaseResult], facts: _Facts, budget: int) -> dict[str, Any]:
    """The case table's island, from one pass over ``results`` that also fills ``facts``;
    the table is gone before the page is made."""
    table = CaseTable(budget)
    for r in read_as(results, _READ):
        facts.add(r)
        table.add(r)
    return table.island()


def write_report(
    run: RunRecord,
    results: Iterable[CaseResult],
    path: str | Path,
    analyses: list[AnalysisResult] | None = None,
    gates: Sequence[ReportedGate] | None = None,
    *,
    text_budget: int = BUDGET,
    summary: RunSummary | None = None,
    repeats: Sequence[RepeatSummary] = (),
) -> Path:
    """Render the report and write it to ``path`` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(
        run, results, analyses, gates, text_budget=text_budget, summary=summary, repeats=repeats
    )
    out.write_text(utf8_safe(html), encoding="utf-8")  # a lone surrogate in a title, a message
    return out


@dataclass
class _Row:
    prompt_id: str
    provider_id: str
    group: GroupSummary
    #: Column names ("pass_rate" or a scorer name) where this row holds the best value.
    best: set[str] = field(default_factory=set)
    #: The same for the corpus columns (by scorer name).
    best_corpus: set[str] = field(default_factory=set)


@dataclass
class _Section:
    case_set: str
    is_bad: bool
    metrics: list[tuple[str, bool]]
    #: Rows grouped by prompt version, for the row-spanning prompt column.
    by_prompt: list[tuple[str, list[_Row]]]
    #: Per metric with a corpus column (bleu, chrf): sacrebleu's signatures in this section.
    corpus: dict[str, list[str]] = field(default_factory=dict)
    #: (metric, "prompt · provider", why) of each corpus cell without a value.
    corpus_notes: list[tuple[str, str, str]] = field(default_factory=list)


def _section(
    summary: RunSummary, case_set: str, prompts: list[str], providers: list[str], scorers: set[str]
) -> _Section:
    """The matrix of one case set, with the best cell of each metric marked."""
    rows = [
        _Row(p, m, g)
        for p in prompts
        for m in providers
        if (g := summary.group(case_set, p, m)) is not None
    ]
    columns = [("pass_rate", True)]
    metrics = [
        (name, summary.higher_is_better[name]) for name in summary.headline if name in scorers
    ]
    corpus = _corpus_signatures(rows, [name for name, _ in metrics])
    for name, higher in columns + metrics:
        for r in _best(rows, [_column(r.group, name) for r in rows], higher):
            r.best.add(name)
    for name, higher in metrics:
        if name in corpus:
            for r in _best(rows, [_corpus_value(r.group, name) for r in rows], higher):
                r.best_corpus.add(name)
    by_prompt = [(p, [r for r in rows if r.prompt_id == p]) for p in prompts]
    notes = [
        (name, f"{r.prompt_id} · {r.provider_id}", score.note)
        for name in corpus
        for r in rows
        if (score := r.group.corpus.get(name)) is not None and score.note
    ]
    return _Section(
        case_set,
        case_set != MAIN_SET,
        metrics,
        [(p, rs) for p, rs in by_prompt if rs],
        corpus,
        notes,
    )


def _best(rows: list[_Row], values: list[float | None], higher: bool) -> list[_Row]:
    """The rows holding the best of ``values``; none when fewer than two have a value or all
    tie."""
    present = [v for v in values if v is not None]
    if len(present) < 2 or max(present) - min(present) < 1e-12:
        return []
    best = max(present) if higher else min(present)
    return [
        r
        for r, v in zip(rows, values, strict=True)
        if v is not None and math.isclose(v, best, abs_tol=1e-12)
    ]


def _corpus_signatures(rows: list[_Row], names: list[str]) -> dict[str, list[str]]:
    """The metrics of ``names`` with a corpus score in some row, and their distinct signatures."""
    found: dict[str, dict[str, None]] = {}
    for name in names:
        for r in rows:
            if (score := r.group.corpus.get(name)) is not None:
                signatures = found.setdefault(name, {})
                if score.signature is not None:
                    signatures[score.signature] = None
    return {name: list(signatures) for name, signatures in found.items()}


def _column(group: GroupSummary, name: str) -> float | None:
    return group.pass_rate if name == "pass_rate" else group.metrics.get(name)


def _corpus_value(group: GroupSummary, name: str) -> float | None:
    score = group.corpus.get(name)
    return None if score is None else score.value


def _tag_matrix(summary: RunSummary, prompts: list[str], providers: list[str]) -> dict[str, Any]:
    """Pass rate (and corpus scores) per tag (rows) and (prompt, provider) (columns) on the
    main set."""
    cells = {
        (g.tag, g.prompt_id, g.provider_id): g for g in summary.by_tag if g.case_set == MAIN_SET
    }
    tags = sorted({tag for tag, _, _ in cells})
    columns = [(p, m) for p in prompts for m in providers if any((t, p, m) in cells for t in tags)]
    rows = [(t, [cells.get((t, p, m)) for p, m in columns]) for t in tags]
    corpus = [n for n in summary.corpus_metrics if any(n in g.corpus for g in cells.values())]
    return {"columns": columns, "rows": rows, "corpus": corpus}


@dataclass
class _Headline:
    """The header's figures over the suite's own clean cases, counted one case at a time."""

    n: int = 0
    passed: int = 0
    errors: int = 0
    scoring_errors: int = 0
    cached: int = 0
    #: Cases that reported a cost, and the sum (added in case order, as ``sum`` would).
    n_costs: int = 0
    cost: float = 0
    judge_calls: int = 0
    judge_cached: int = 0
    #: None once a judged case has no price.
    judge_cost: float | None = 0

    def add(self, r: CaseResult, scoring_error: bool) -> None:
        self.n += 1
        self.passed += r.passed
        self.errors += r.error is not None
        self.scoring_errors += scoring_error
        self.cached += r.cached
        if r.cost_usd is not None:
            self.n_costs += 1
            self.cost += r.cost_usd
        if r.judge_calls:
            self.judge_calls += r.judge_calls
            self.judge_cached += r.judge_cached
            known = self.judge_cost is not None and r.judge_cost_usd is not None
            self.judge_cost = self.judge_cost + r.judge_cost_usd if known else None

    def kpis(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "pass_rate": self.passed / self.n if self.n else None,
            "errors": self.errors,
            "scoring_errors": self.scoring_errors,
            "cost": self.cost if self.n_costs else None,
            "cached": self.cached,
            "judge_calls": self.judge_calls,
            "judge_cached": self.judge_cached,
            "judge_cost": self.judge_cost,
        }


@dataclass
class _Facts:
    """What the report's header and tables read of the cases, gathered one case at a time."""

    #: Prompt ids, case sets, and each provider's first model, in order of appearance.
    prompts: dict[str, None] = field(default_factory=dict)
    case_sets: dict[str, None] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    #: (prompt id, provider id) pairs with a case: the grid view's columns.
    columns: set[tuple[str, str]] = field(default_factory=set)
    #: Per case set, the assertions that scored (or tried to score) some case, by name.
    scorers: dict[str, set[str]] = field(default_factory=dict)
    #: (scorer, version) pairs.
    versions: set[tuple[str, str]] = field(default_factory=set)
    errors: ErrorTally = field(default_factory=ErrorTally)
    #: Cases with an assertion that could not be scored (counted apart from errored calls).
    n_scoring: int = 0
    headline: _Headline = field(default_factory=_Headline)

    def add(self, r: CaseResult) -> None:
        self.prompts[r.prompt_id] = None
        self.case_sets[r.case_set] = None
        self.models.setdefault(r.provider_id, r.model)
        self.columns.add((r.prompt_id, r.provider_id))
        self.scorers.setdefault(r.case_set, set()).update(s.name for s in r.scores)
        self.versions.update((s.scorer, s.version) for s in r.scores)
        self.errors.add(r)
        scoring_error = any(s.error is not None for s in r.scores)
        self.n_scoring += scoring_error
        if r.case_set == MAIN_SET and r.perturbation is None:
            self.headline.add(r, scoring_error)

    def errors_view(self) -> dict[str, Any]:
        """Every case set's errored cases by distinct message, and the scoring errors."""
        groups = self.errors.groups()
        return {
            "n": sum(g.count for g in groups),
            "groups": [(g.count, clip(g.message, _ERROR_CHARS), g.provider_id) for g in groups],
            "n_scoring": self.n_scoring,
        }


def _providers(run: RunRecord, models: dict[str, str]) -> list[dict[str, str]]:
    """Provider id, model and type: from the run record, then any only seen in results
    (``models``: each provider's first model)."""
    seen: dict[str, dict[str, str]] = {}
    for p in run.providers:
        pid = str(p.get("id", ""))
        if pid:
            seen[pid] = {
                "id": pid,
                "model": str(p.get("model", "")),
                "type": str(p.get("type", "")),
            }
    for pid, model in models.items():
        seen.setdefault(pid, {"id": pid, "model": model, "type": ""})
    return list(seen.values())


def _ordered(first: list[str], more: Any) -> list[str]:
    """``first`` then every other value of ``more``, each once, in order of appearance."""
    return list(dict.fromkeys([*first, *more]))


def _date(d: datetime | None) -> str | None:
    if d is None:
        return None
    if d.utcoffset() == timedelta(0):
        return f"{d:%Y-%m-%d %H:%M:%S} UTC"
    return d.isoformat(sep=" ", timespec="seconds")


def _duration(start: datetime, end: datetime | None) -> str | None:
    if end is None:
        return None
    seconds = int((end - start).total_seconds())
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m {rest % 60:02d}s" if h else f"{rest // 60}m {rest % 60:02d}s"
