"""The self-contained HTML report of one run.

One file that opens anywhere, offline, forever: CSS and JS are inline, and a
Content-Security-Policy forbids every network request. Model outputs and dataset
rows are untrusted, so the template autoescapes and the per-case data travels as
JSON in a non-executed ``<script type="application/json">`` that the page's own
script renders with ``textContent`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.analysis.base import AnalysisResult
from harness.analysis.summary import GroupSummary, RunSummary, summarize
from harness.report.analyses import analysis_views
from harness.report.page import environment, json_island
from harness.report.page import num as _num
from harness.report.page import seconds as _seconds
from harness.report.page import usd as _usd
from harness.results.models import CaseResult, RunRecord

MAIN_SET = "main"
_STATUS_ORDER = {"fail": 0, "error": 1, "pass": 2}


def render_html(
    run: RunRecord, results: list[CaseResult], analyses: list[AnalysisResult] | None = None
) -> str:
    """The report of ``run`` (and its run-level analyses) as one HTML document (no external
    resources)."""
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
        cases_json=_cases_json(results),
        n_cases=len(results),
        scorer_versions=_scorer_versions(results),
        analyses=analysis_views(analyses or []),
    )


def write_report(
    run: RunRecord,
    results: list[CaseResult],
    path: str | Path,
    analyses: list[AnalysisResult] | None = None,
) -> Path:
    """Render the report and write it to ``path`` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(run, results, analyses), encoding="utf-8")
    return out


@dataclass
class _Row:
    prompt_id: str
    provider_id: str
    group: GroupSummary
    #: Column names ("pass_rate" or a scorer name) where this row holds the best value.
    best: set[str] = field(default_factory=set)


@dataclass
class _Section:
    case_set: str
    is_bad: bool
    metrics: list[tuple[str, bool]]
    #: Rows grouped by prompt version, for the row-spanning prompt column.
    by_prompt: list[tuple[str, list[_Row]]]


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
    for name, higher in columns + metrics:
        values = [_column(r.group, name) for r in rows]
        present = [v for v in values if v is not None]
        if len(present) < 2 or max(present) - min(present) < 1e-12:
            continue  # nothing to compare, or a tie everywhere
        best = max(present) if higher else min(present)
        for r, v in zip(rows, values, strict=True):
            if v is not None and math.isclose(v, best, abs_tol=1e-12):
                r.best.add(name)
    by_prompt = [(p, [r for r in rows if r.prompt_id == p]) for p in prompts]
    return _Section(case_set, case_set != MAIN_SET, metrics, [(p, rs) for p, rs in by_prompt if rs])


def _scorers(results: list[CaseResult], case_set: str) -> set[str]:
    """The scorers that scored (or tried to score) some case of ``case_set``."""
    return {s.scorer for r in results if r.case_set == case_set for s in r.scores}


def _column(group: GroupSummary, name: str) -> float | None:
    return group.pass_rate if name == "pass_rate" else group.metrics.get(name)


def _tag_matrix(summary: RunSummary, prompts: list[str], providers: list[str]) -> dict[str, Any]:
    """Pass rate per tag (rows) and (prompt, provider) (columns) on the main set."""
    cells = {
        (g.tag, g.prompt_id, g.provider_id): g for g in summary.by_tag if g.case_set == MAIN_SET
    }
    tags = sorted({tag for tag, _, _ in cells})
    columns = [(p, m) for p in prompts for m in providers if any((t, p, m) in cells for t in tags)]
    rows = [(t, [cells.get((t, p, m)) for p, m in columns]) for t in tags]
    return {"columns": columns, "rows": rows}


def _kpis(main: list[CaseResult]) -> dict[str, Any]:
    costs = [r.cost_usd for r in main if r.cost_usd is not None]
    return {
        "n": len(main),
        "pass_rate": sum(r.passed for r in main) / len(main) if main else None,
        "errors": sum(r.error is not None for r in main),
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


def _status(r: CaseResult) -> str:
    if r.error is not None:
        return "error"
    return "pass" if r.passed else "fail"


def _cases_json(results: list[CaseResult]) -> Markup:
    """The cases, failures first, as JSON safe to inline in a ``<script>`` element."""
    order = sorted(range(len(results)), key=lambda i: (_STATUS_ORDER[_status(results[i])], i))
    cases = [_case(results[i]) for i in order]
    return json_island(cases)


def _case(r: CaseResult) -> dict[str, Any]:
    return {
        "status": _status(r),
        "case_set": r.case_set,
        "prompt_id": r.prompt_id,
        "provider_id": r.provider_id,
        "model": r.model,
        "case_id": r.case_id,
        "row_id": r.row_id,
        "description": r.description,
        "tags": r.tags,
        "messages": [{"role": m.role, "content": m.content} for m in r.messages],
        "expected": r.expected,
        "output": r.output,
        "error": r.error,
        "latency": _seconds(r.latency_s),
        "cost": _usd(r.cost_usd),
        "cached": r.cached,
        "scores": [
            {
                "scorer": s.scorer,
                "value": _num(s.value),
                "threshold": _num(s.threshold),
                "op": "≥" if s.higher_is_better else "≤",
                "passed": s.passed,
                "answer": s.answer,
                "explanation": s.explanation,
                "error": s.error,
                "verdicts": s.metadata.get("verdicts") or [],
            }
            for s in r.scores
        ],
    }


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
