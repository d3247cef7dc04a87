"""The self-contained HTML report of one or more comparisons (A = the reference, B).

Built like the run report (see :mod:`harness.report.html`): one file, inline CSS, one
script allowed by hash, a CSP forbidding every request, and untrusted text (outputs,
expected answers, ids) travelling only in an escaped JSON island rendered with
``textContent``. Charts are inline SVG made here, with every label escaped.

Size stays bounded for 100k-case runs: every pair is in the island as compact columns
(ids, tags, change, score values), but outputs and word diffs only for at most
``max_details`` regressions, fixes and score drops per comparison, each output cut at
``max_chars``. The page shows the cases a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from harness import __version__
from harness.compare.comparison import ALL, Comparison, Metric
from harness.compare.corpus import CorpusRow
from harness.compare.diff import word_diff
from harness.compare.join import Pair
from harness.compare.records import PASS, load_texts
from harness.compare.stats import PairedStats
from harness.report.page import Strings, clip, environment, json_island, p_value, rounded
from harness.report.svg import Interval, ci_strip, forest, histograms
from harness.results.models import RunRecord

MAX_DETAILS = 200
MAX_CHARS = 3000
#: Change codes, in the order the case table sorts them.
REGRESSION, FIX, STILL_FAILING, STILL_PASSING = 0, 1, 2, 3
_OPS = {"equal": "=", "delete": "-", "insert": "+"}


@dataclass
class _MetricView:
    metric: Metric
    stats: PairedStats
    mean_a: str
    mean_b: str
    diff: str
    ci: str
    p: str
    tone: str
    strip: Markup


@dataclass
class _CorpusView:
    """A corpus metric on one slice, as shown: sacrebleu's scores, CIs and p-value."""

    row: CorpusRow
    score_a: str
    score_b: str
    diff: str
    ci: str
    p: str
    tone: str


@dataclass
class _SliceView:
    label: str
    kind: str
    n: int
    cells: list[_MetricView]
    corpus: list[_CorpusView]


@dataclass
class _View:
    index: int
    comparison: Comparison
    metrics: list[_MetricView]
    slices: list[_SliceView]
    forests: list[Markup]
    histograms: list[Markup]
    #: The bleu/chrf assertions with corpus rows, and their rows on all suite cases.
    corpus_names: list[str]
    corpus: list[_CorpusView]


def render_compare_html(
    comparisons: list[Comparison],
    *,
    title: str,
    runs: list[RunRecord] | None = None,
    max_details: int = MAX_DETAILS,
    max_chars: int = MAX_CHARS,
) -> str:
    """The report of ``comparisons`` (one for two runs; one per prompt or provider in a run)."""
    views = [_view(i, c) for i, c in enumerate(comparisons)]
    data = _island(comparisons, max_details, max_chars)
    template = environment().get_template("compare.html.j2")
    return template.render(
        title=title,
        runs=runs or [],
        views=views,
        data=json_island(data),
        n_pairs=sum(len(c.joined.pairs) for c in comparisons),
        metrics=comparisons[0].metrics if comparisons else [],
        version=__version__,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        max_details=max_details,
    )


def write_compare_report(comparisons: list[Comparison], path: str | Path, **kwargs: Any) -> Path:
    """Render the comparison report and write it to ``path`` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_compare_html(comparisons, **kwargs), encoding="utf-8")
    return out


def _view(index: int, c: Comparison) -> _View:
    metrics = [_cell(c, m, c.stats(m.name, ALL)) for m in c.metrics]
    corpus_names = list(dict.fromkeys(r.metric for r in c.corpus))
    slices = []
    for s in c.slices:
        cells = [_cell(c, m, c.stats(m.name, s.name)) for m in c.metrics]
        corpus = [_corpus_cell(c, row) for n in corpus_names if (row := c.corpus_row(n, s.name))]
        slices.append(_SliceView(s.label, s.kind, len(s.index), cells, corpus))
    forests = []
    for m in c.metrics:
        rows = [
            Interval(
                f"{s.kind}: {s.label}" if s.kind != "all" else "all suite cases",
                cell.stats.diff,
                cell.stats.ci_low,
                cell.stats.ci_high,
                cell.tone,
                f"  (n={cell.stats.n})",
            )
            for s in slices
            if (cell := s.cells[c.metrics.index(m)]).stats.diff is not None
        ]
        if len(rows) > 1:
            forests.append(forest(rows, title=f"{m.name}: B − A by slice, {c.confidence:.0%} CI"))
    hists = []
    main = next(s for s in c.slices if s.name == ALL).index
    for m in c.metrics:
        if m.binary:
            continue
        a, b = (side[main] for side in c.values[m.name])
        hists.append(histograms(a, b, title=m.name, label_a=c.label_a, label_b=c.label_b))
    corpus = [_corpus_cell(c, row) for n in corpus_names if (row := c.corpus_row(n, ALL))]
    hists = [h for h in hists if h]
    return _View(index, c, metrics, slices, forests, hists, corpus_names, corpus)


def _corpus_cell(c: Comparison, row: CorpusRow) -> _CorpusView:
    tone = "flat"
    if row.diff is not None and row.diff != 0 and row.significant(c.alpha):
        tone = "good" if (row.diff > 0) == c.metric(row.metric).higher_is_better else "bad"
    ci = "—"
    if row.ci_a is not None and row.ci_b is not None:
        ci = f"A ±{row.ci_a:.3f} · B ±{row.ci_b:.3f}"
    return _CorpusView(
        row=row,
        score_a=_mean(row.score_a, False),
        score_b=_mean(row.score_b, False),
        diff=_delta(row.diff, False),
        ci=ci,
        p=p_value(row.p_value) or "—",
        tone=tone,
    )


def _cell(c: Comparison, m: Metric, s: PairedStats | None) -> _MetricView:
    assert s is not None
    pct = m.name == PASS
    tone = "flat"
    if s.diff is not None and s.significant(c.alpha) and s.diff != 0:
        tone = "good" if (s.diff > 0) == m.higher_is_better else "bad"
    span = max(abs(v) for v in (s.diff or 0, s.ci_low or 0, s.ci_high or 0)) or 1.0
    return _MetricView(
        metric=m,
        stats=s,
        mean_a=_mean(s.mean_a, pct),
        mean_b=_mean(s.mean_b, pct),
        diff=_delta(s.diff, pct),
        ci="—" if s.ci_low is None else f"{_delta(s.ci_low, pct)} … {_delta(s.ci_high, pct)}",
        p=p_value(s.p_value) or "—",
        tone=tone,
        strip=Markup("")
        if s.diff is None
        else ci_strip(s.diff, s.ci_low, s.ci_high, tone, span * 1.15),
    )


def _mean(x: float | None, pct: bool) -> str:
    if x is None:
        return "—"
    return f"{x:.1%}" if pct else f"{x:.3f}"


def _delta(x: float | None, pct: bool) -> str:
    if x is None:
        return "—"
    return f"{x * 100:+.1f} pp" if pct else f"{x:+.3f}"


def _island(comparisons: list[Comparison], max_details: int, max_chars: int) -> dict[str, Any]:
    """Everything the page's script needs, as compact columns plus the chosen details.

    Built column by column (not pair by pair): this runs over every pair of 100k-case runs.
    """
    strings = Strings("sets", "prompts", "providers", "tags")
    metrics = [m for m in (comparisons[0].metrics if comparisons else []) if m.name != PASS]
    cols: dict[str, list[Any]] = {
        k: [] for k in ("cmp", "set", "row", "pa", "pb", "va", "vb", "tags", "change", "detail")
    }
    values: dict[str, dict[str, list[Any]]] = {m.name: {"a": [], "b": []} for m in metrics}
    details: list[dict[str, Any]] = []
    lists = []
    for ci, c in enumerate(comparisons):
        pairs = c.joined.pairs
        base = len(cols["row"])
        a, b = [p.a for p in pairs], [p.b for p in pairs]
        cols["cmp"] += [ci] * len(pairs)
        cols["set"] += strings.codes("sets", [r.case_set for r in b])
        cols["row"] += [r.row_id for r in b]
        cols["pa"] += strings.codes("prompts", [r.prompt_id for r in a])
        cols["pb"] += strings.codes("prompts", [r.prompt_id for r in b])
        cols["va"] += strings.codes("providers", [r.provider_id for r in a])
        cols["vb"] += strings.codes("providers", [r.provider_id for r in b])
        cols["tags"] += [
            strings.codes("tags", dict.fromkeys((*x.tags, *y.tags)))
            for x, y in zip(a, b, strict=True)
        ]
        cols["change"] += _changes(c).tolist()
        cols["detail"] += [-1] * len(pairs)
        for m in metrics:
            va, vb = c.values.get(m.name) or (np.full(len(pairs), np.nan),) * 2
            values[m.name]["a"] += _numbers(va)
            values[m.name]["b"] += _numbers(vb)
        chosen = _chosen(c, max_details)
        load_texts(r for chosen_pairs in chosen.values() for p in chosen_pairs for r in (p.a, p.b))
        position = {id(p): base + i for i, p in enumerate(pairs)}
        shown: dict[str, list[int]] = {}
        names = [m.name for m in c.metrics]
        for kind, chosen_pairs in chosen.items():
            shown[kind] = []
            for pair in chosen_pairs:
                at = position[id(pair)]
                cols["detail"][at] = len(details)
                shown[kind].append(len(details))
                details.append(_detail(kind, pair, at, max_chars, names))
        lists.append(
            {
                "a": c.label_a,
                "b": c.label_b,
                "regressions": shown["regression"],
                "fixes": shown["fix"],
                "n_regressions": len(c.regressions),
                "n_fixes": len(c.fixes),
            }
        )
    return {
        "metrics": [{"name": m.name, "higher": m.higher_is_better} for m in metrics],
        "comparisons": lists,
        "strings": strings.tables(),
        "pairs": cols,
        "values": values,
        "details": details,
    }


def _changes(c: Comparison) -> np.ndarray:
    """The change code of every pair, from the two sides' verdicts."""
    a, b = (side == 1.0 for side in c.values[PASS])
    return np.where(a, np.where(b, STILL_PASSING, REGRESSION), np.where(b, FIX, STILL_FAILING))


def _numbers(values: np.ndarray) -> list[float | None]:
    """Rounded for the page; NaN (no value) as null, which JSON can carry."""
    return [None if v != v else v for v in np.round(values, 4).tolist()]


def _chosen(c: Comparison, cap: int) -> dict[str, list[Pair]]:
    """The pairs shown with outputs: regressions, fixes, and the worst drops of the first
    continuous score among the others."""
    drops: list[Pair] = []
    scored = [m for m in c.metrics if m.name != PASS]
    scored = [m for m in scored if not m.binary] or scored
    if scored:
        m = scored[0]
        a, b = c.values[m.name]
        pass_a, pass_b = c.values[PASS]
        worse = (a - b) if m.higher_is_better else (b - a)
        worse = np.where((pass_a == pass_b) & ~np.isnan(worse), worse, 0.0)
        candidates = np.flatnonzero(worse > 0)
        order = candidates[np.argsort(-worse[candidates], kind="stable")][:cap]
        drops = [c.joined.pairs[i] for i in order.tolist()]
    return {"regression": c.regressions[:cap], "fix": c.fixes[:cap], "drop": drops}


def _detail(kind: str, p: Pair, at: int, max_chars: int, metrics: list[str]) -> dict[str, Any]:
    a, b = clip(p.a.output, max_chars), clip(p.b.output, max_chars)
    return {
        "kind": kind,
        "pair": at,
        "diff": [[_OPS[s.op], s.text] for s in word_diff(a, b)],
        "clipped": (a != p.a.output) or (b != p.b.output),
        "missing_a": p.a.output is None,
        "missing_b": p.b.output is None,
        "error_a": p.a.error,
        "error_b": p.b.error,
        "expected": list(p.b.expected or p.a.expected),
        "scores": [[m, rounded(p.a.value(m)), rounded(p.b.value(m))] for m in metrics],
    }
