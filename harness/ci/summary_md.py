"""A short Markdown summary of a run, for a pull-request comment or a GitHub job summary.

The suite's own cases and each bad-case set are shown in separate tables, so a fixed
bad case never hides inside the headline pass rate; gates (when given) get a verdict
line each; the first failed cases are listed in a collapsed block.

When ``$GITHUB_STEP_SUMMARY`` is set (inside a GitHub Actions job) the summary is also
appended to that file, which GitHub renders on the run's page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.analysis.summary import GroupSummary, RunSummary, summarize
from harness.ci._format import case_label, failure_summary
from harness.ci.junit import GateOutcome
from harness.jsontext import model_of
from harness.results.models import CaseResult, RunRecord
from harness.results.store import StoredResults, read_as, reiterable

#: Failed cases listed at most (the rest are counted).
MAX_FAILURES = 10
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
#: What the counts read of a case (the few failed cases shown are read whole).
_COUNTED = model_of(CaseResult, "case_id", "passed", "error")


def summary_markdown(
    run: RunRecord,
    results: Iterable[CaseResult],
    gates: Sequence[GateOutcome] = (),
    *,
    max_failures: int = MAX_FAILURES,
    summary: RunSummary | None = None,
) -> str:
    """The Markdown summary of one run. ``results`` is read once, a case at a time, when
    ``summary`` (:func:`summarize` of the same results) is given, twice when not."""
    if summary is None:
        results = reiterable(results)
        summary = summarize(results)
    counts = _Counts(max_failures)
    for r in read_as(results, _COUNTED):
        counts.add(r)
    verdict = ""
    if gates:
        verdict = "✅ " if all(g.passed for g in gates) else "❌ "
    lines = [f"### {verdict}harness: {_cell(run.suite_name)}", ""]
    lines.append(
        f"Run `{run.run_id}` · {counts.n} cases · {counts.passed} passed · "
        f"{counts.errors} errors · status {run.status}"
    )
    order = {p: i for i, p in enumerate(run.prompts)}
    groups = sorted(summary.groups, key=lambda g: order.get(g.prompt_id, len(order)))
    main = [g for g in groups if g.case_set == "main"]
    bad = sorted((g for g in groups if g.case_set != "main"), key=lambda g: g.case_set)
    if main:
        lines += ["", *_main_table(main, summary.headline, summary.corpus_metrics)]
        lines += _corpus_lines(summary, main)
    if bad:
        lines += ["", "**Bad-case sets** (earlier failures kept as tests; shown apart)", ""]
        lines += _bad_table(bad)
    if gates:
        lines += ["", "**Gates**", "", "| | gate | result |", "|---|---|---|"]
        for g in gates:
            mark = "✅" if g.passed else "❌"
            lines.append(f"| {mark} | {_cell(g.name)} | {_cell(g.message, 300)} |")
    if counts.failed:
        lines += ["", *_failures(_whole(results, counts.first_failed), counts.failed)]
    return "\n".join(lines) + "\n"


class _Counts:
    """Cases, passes, errors and failures, counted one case at a time, with the first
    ``limit`` failed cases (the only ones the summary shows)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.n = self.passed = self.errors = self.failed = 0
        self.first_failed: list[CaseResult] = []

    def add(self, r: CaseResult) -> None:
        self.n += 1
        self.passed += r.passed
        self.errors += r.error is not None
        if not r.passed:
            self.failed += 1
            if len(self.first_failed) < self.limit:
                self.first_failed.append(r)


def _whole(results: Iterable[CaseResult], cases: list[CaseResult]) -> list[CaseResult]:
    """``cases`` of ``results`` as full results: a stored run's read again, by case id."""
    if isinstance(results, StoredResults):
        return list(results.by_case_ids([c.case_id for c in cases]))
    return cases


def write_summary_md(
    run: RunRecord,
    results: Iterable[CaseResult],
    path: str | Path | None = None,
    gates: Sequence[GateOutcome] = (),
    *,
    summary: RunSummary | None = None,
) -> list[Path]:
    """Write the summary to ``path`` (replacing it) and append it to ``$GITHUB_STEP_SUMMARY``
    when that is set; return the files written."""
    text = summary_markdown(run, results, gates, summary=summary)
    written = []
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    step_summary = github_step_summary_path()
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as f:
            f.write(text + "\n")
        written.append(step_summary)
    return written


def github_step_summary_path() -> Path | None:
    """``$GITHUB_STEP_SUMMARY`` as a path, or None outside GitHub Actions."""
    value = os.environ.get("GITHUB_STEP_SUMMARY", "").strip()
    return Path(value) if value else None


def _main_table(groups: list[GroupSummary], metrics: list[str], corpus: list[str]) -> list[str]:
    columns = [(m, c) for m in metrics for c in ((False, True) if m in corpus else (False,))]
    names = [_cell(f"{m} corpus" if c else m) for m, c in columns]
    head = ["prompt", "provider", "n", "pass rate", *names, "errors", "cost"]
    lines = [_row(head), "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for g in groups:
        cost = f"${g.cost_total:.4f}" if g.cost_total is not None else "-"
        lines.append(
            _row(
                [
                    _cell(g.prompt_id),
                    _cell(g.provider_id),
                    str(g.n),
                    f"{g.pass_rate:.1%}",
                    *(_corpus(g, m) if c else _metric(g, m) for m, c in columns),
                    str(g.n_errors)
                    + (f" (+{g.n_score_errors} scoring)" if g.n_score_errors else ""),
                    cost,
                ]
            )
        )
    return lines


def _corpus_lines(summary: RunSummary, groups: list[GroupSummary]) -> list[str]:
    """sacrebleu's signature of each corpus column, and why a cell has no corpus score."""
    lines = []
    for name in summary.corpus_metrics:
        for signature in summary.corpus_signatures(name):
            lines.append(f"- {_cell(name)} corpus: sacrebleu `{signature}`")  # sacrebleu's own text
        for g in groups:
            if (score := g.corpus.get(name)) is not None and score.note:
                where = f"{g.prompt_id}/{g.provider_id}"
                lines.append(f"- {_cell(f'{name} corpus, {where}: {score.note}', 300)}")
    return ["", *lines] if lines else []


def _bad_table(groups: list[GroupSummary]) -> list[str]:
    lines = [_row(["set", "prompt", "provider", "passed", "pass rate"]), "|---|---|---|---:|---:|"]
    for g in groups:
        n_passed = round(g.pass_rate * g.n)
        lines.append(
            _row(
                [
                    _cell(g.case_set),
                    _cell(g.prompt_id),
                    _cell(g.provider_id),
                    f"{n_passed}/{g.n}",
                    f"{g.pass_rate:.1%}",
                ]
            )
        )
    return lines


def _failures(shown: list[CaseResult], failed: int) -> list[str]:
    """The collapsed list of failed cases: the first few shown, how many more."""
    noun = "case" if failed == 1 else "cases"
    lines = [
        f"<details><summary>{failed} failed {noun}</summary>",
        "",
        "| case | why | output |",
        "|---|---|---|",
    ]
    for r in shown:
        output = r.output if r.error is None else ""
        lines.append(
            _row([_cell(case_label(r)), _cell(failure_summary(r), 200), _cell(output or "", 120)])
        )
    if failed > len(shown):
        lines += ["", f"…and {failed - len(shown)} more."]
    lines += ["", "</details>"]
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(text: str, limit: int = 80) -> str:
    """Text made safe for one table cell: one line, no HTML, pipes escaped, cut to ``limit``."""
    text = _CONTROL.sub("", " ".join(text.split()))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(raw, safe)
    return text.replace("`", "\\`") or " "


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _metric(group: GroupSummary, name: str) -> str:
    """The mean of assertion ``name``, and over how many cases when not all of them."""
    note = group.scored_note(name)
    return _num(group.metrics.get(name)) + (f" ({note})" if note else "")


def _corpus(group: GroupSummary, name: str) -> str:
    """The corpus score of assertion ``name``, and over how many cases when not all of them."""
    score, note = group.corpus.get(name), group.corpus_note(name)
    return _num(None if score is None else score.value) + (f" ({note})" if note else "")
