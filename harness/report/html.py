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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from harness.analysis.base import AnalysisResult
from harness.analysis.errors import error_groups
from harness.analysis.summary import GroupSummary, RunSummary, summarize
from harness.ci.junit import GateOutcome
from harness.jsontext import utf8_safe
from harness.report.analyses import analysis_views
from harness.report.case_table import BUDGET, case_table
from harness.report.page import clip, environment, json_island
from harness.results.models import CaseResult, RunRecord

MAIN_SET = "main"
#: Characters of an error message shown in the list of errors at the top.
_ERROR_CHARS = 500


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
    results: list[CaseResult],
    analyses: list[AnalysisResult] | None = None,
    gates: Sequence[ReportedGate] | None = None,
    *,
    text_budget: int = BUDGET,
) -> str:
    """The report of ``run`` (its run-level analyses and gate verdicts) as one HTML document
    (no external resources). ``text_budget``: bytes of case texts kept (failures first)."""
    summary = summarize(results)
    prompts = _ordered(run.prompts, (r.prompt_id for r in results))
    providers = _providers(run, results)
    provider_ids = [p["id"] for p in providers]
    case_sets = _ordered([MAIN_SET], (r.case_set for r in results))
    sections = [
        _section(summary, case_set, prompts, provider_ids, _scorers(results, case_set))
        for case_set in case_sets
        if any(g.case_set == case_set for g in summary.groups)
    ]
    main = [r for r in results if r.case_set == MAIN_SET and r.perturbation is None]
    table = case_table(results, text_budget)
    template = environment().get_template("report.html.j2")
    return template.render(
        run=run,
        created=_date(run.created_at),
        finished=_date(run.finished_at),
        duration=_duration(run.created_at, run.finished_at),
        providers=providers,
        kpis=_kpis(main),
        sections=sections,
        tags=_tag_matrix(summary, prompts, provider_ids),
        errors=_errors(results),
        gates=list(gates or []),
        cases_json=json_island(table),
        n_cases=len(results),
        n_texts=len(table["texts"]),
        scorer_versions=_scorer_versions(results),
        analyses=analysis_views(analyses or []),
    )


def write_report(
    run: RunRecord,
    results: list[CaseResult],
    path: str | Path,
    analyses: list[AnalysisResult] | None = None,
    gates: Sequence[ReportedGate] | None = None,
    *,
    text_budget: int = BUDGET,
) -> Path:
    """Render the report and write it to ``path`` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(run, results, analyses, gates, text_budget=text_budget)
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


def _scorers(results: list[CaseResult], case_set: str) -> set[str]:
    """The assertions that scored (or tried to score) some case of ``case_set``, by name."""
    return {s.name for r in results if r.case_set == case_set for s in r.scores}


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


def _errors(results: list[CaseResult]) -> dict[str, Any]:
    """Every case set's errored cases by distinct message, and the cases a scorer failed on."""
    groups = error_groups(results)
    return {
        "n": sum(g.count for g in groups),
        "groups": [(g.count, clip(g.message, _ERROR_CHARS), g.provider_id) for g in groups],
        "n_scoring": _scoring_errors(results),
    }


def _scoring_errors(results: list[CaseResult]) -> int:
    """Cases with an assertion that could not be scored (counted apart from errored calls)."""
    return sum(any(s.error is not None for s in r.scores) for r in results)


def _kpis(main: list[CaseResult]) -> dict[str, Any]:
    costs = [r.cost_usd for r in main if r.cost_usd is not None]
    return {
        "n": len(main),
        "pass_rate": sum(r.passed for r in main) / len(main) if main else None,
        "errors": sum(r.error is not None for r in main),
        "scoring_errors": _scoring_errors(main),
        "cost": sum(costs) if costs else None,
        "cached": sum(r.cached for r in main),
        **_judging(main),
    }


def _judging(results: list[CaseResult]) -> dict[str, Any]:
    """Judge calls and their cost; the cost is unknown (None) when any call had no price."""
    judged = [r for r in results if r.judge_calls]
    costs = [r.judge_cost_usd for r in judged]
    known = None if None in costs else sum(c for c in costs if c is not None)
    return {
        "judge_calls": sum(r.judge_calls for r in judged),
        "judge_cached": sum(r.judge_cached for r in judged),
        "judge_cost": known,
    }


def _scorer_versions(results: list[CaseResult]) -> list[str]:
    """Each distinct scorer version, named (``rougeL@2``) where the version does not say whose."""
    pairs = {(s.scorer, s.version) for r in results for s in r.scores}
    return sorted(v if name in v else f"{name}@{v}" for name, v in pairs)


def _providers(run: RunRecord, results: list[CaseResult]) -> list[dict[str, str]]:
    """Provider id, model and type: from the run record, then any only seen in results."""
    seen: dict[str, dict[str, str]] = {}
    for p in run.providers:
        pid = str(p.get("id", ""))
        if pid:
            seen[pid] = {
                "id": pid,
                "model": str(p.get("model", "")),
                "type": str(p.get("type", "")),
            }
    for r in results:
        seen.setdefault(r.provider_id, {"id": r.provider_id, "model": r.model, "type": ""})
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
