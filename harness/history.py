"""Run history on the command line: which stored runs ``harness runs`` lists (``--suite``,
``--since``, ``--provider``, ``--limit``), and ``harness trend``: one metric over a suite's
last runs, per prompt x provider, with intervals and the significant moves marked.

The filters run over ``ResultStore.list_runs()`` (run records are small; results are never
read to filter). Kept out of :mod:`harness.cli` so that both commands share them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.console import EXIT_OK, out, positive_int
from harness.console import escape as _escape
from harness.errors import CompareError

if TYPE_CHECKING:
    from harness.compare.trend import Change, Point, Trend
    from harness.results.models import RunRecord

#: Runs a trend covers unless ``--last`` says otherwise.
DEFAULT_LAST = 20


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list; None: any. Filters combine with 'and'."""

    suite: str | None = None
    provider: str | None = None
    #: Runs created at or after this instant (timezone-aware).
    since: datetime | None = None
    #: At most this many, the newest.
    limit: int | None = None

    def matches(self, run: RunRecord) -> bool:
        if self.suite is not None and run.suite_name != self.suite:
            return False
        if self.provider is not None and self.provider not in provider_ids(run):
            return False
        return self.since is None or _aware(run.created_at) >= self.since

    def describe(self) -> str:
        """The filters as typed on the command line (``--suite qa --since 2026-11-30``)."""
        parts = [
            f"--{flag} {value}"
            for flag, value in (
                ("suite", self.suite),
                ("provider", self.provider),
                ("since", self.since and self.since.isoformat()),
            )
            if value is not None
        ]
        return " ".join(parts)


def provider_ids(run: RunRecord) -> list[str]:
    return [str(p.get("id")) for p in run.providers]


def parse_since(text: str) -> datetime:
    """An ISO date (``2026-11-30``: from midnight UTC) or date and time (``2026-11-30T14:00``,
    ``...+02:00``; UTC when no offset is given)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date such as 2026-11-30 or 2026-11-30T14:00, got {text!r}"
        ) from None
    return _aware(when)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def select_runs(runs: Iterable[RunRecord], where: RunFilter) -> list[RunRecord]:
    """The runs ``where`` keeps, in the order given (the store lists the newest first)."""
    kept = [r for r in runs if where.matches(r)]
    return kept if where.limit is None else kept[: where.limit]


def no_match_note(runs: list[RunRecord], where: RunFilter) -> str:
    """Why no run matched: the suite or provider no stored run has (with the ones there are),
    or else the filters that left nothing."""
    if not runs:
        return "no runs stored yet; `harness run SUITE` stores one"
    if where.suite is not None:
        suites = sorted({r.suite_name for r in runs})
        if where.suite not in suites:
            return _unknown("suite", where.suite, suites)
    if where.provider is not None:
        providers = sorted({p for r in runs for p in provider_ids(r)})
        if where.provider not in providers:
            return _unknown("provider", where.provider, providers)
    return f"no run matches {where.describe()}"


def _unknown(what: str, name: str, known: list[str]) -> str:
    from harness.suite.loader import did_you_mean  # pydantic and yaml: not to build the parser

    return (
        f"no run has the {what} '{name}'.{did_you_mean(name, known)} {what.title()}s stored: "
        + (", ".join(known))
    )


# --- harness runs ---


def add_run_filters(runs: argparse.ArgumentParser) -> None:
    """``harness runs``' filters; they combine with 'and'."""
    runs.add_argument("--suite", metavar="NAME", help="runs of this suite (its `name:`)")
    runs.add_argument("--provider", metavar="ID", help="runs that called this provider id")
    runs.add_argument(
        "--since",
        type=parse_since,
        metavar="DATE",
        help="runs started at or after DATE (ISO: 2026-11-30 or 2026-11-30T14:00; UTC by default)",
    )
    runs.add_argument("--limit", type=positive_int, metavar="N", help="the newest N runs only")


def run_filter(args: argparse.Namespace) -> RunFilter:
    return RunFilter(suite=args.suite, provider=args.provider, since=args.since, limit=args.limit)


# --- harness trend ---


def add_trend_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    trend = sub.add_parser(
        "trend",
        help="one metric over a suite's last runs, per prompt x provider, drops marked",
        description="Per prompt x provider: the metric in each of the suite's last N runs "
        "(oldest first) with a 95% bootstrap CI, and each run against the one before it with "
        "the paired test `harness compare` uses (McNemar or Wilcoxon, on the shared cases). "
        "Prints a table and writes a self-contained HTML page with a chart.",
    )
    trend.add_argument("suite", metavar="SUITE", help="the suite's name (as `harness runs` shows)")
    trend.add_argument(
        "--metric",
        default="pass_rate",
        metavar="NAME",
        help="an assertion name as the run summary shows it, or pass_rate (the default)",
    )
    trend.add_argument(
        "--last",
        type=positive_int,
        default=DEFAULT_LAST,
        metavar="N",
        help=f"the suite's last N runs (default {DEFAULT_LAST})",
    )
    trend.add_argument("--provider", metavar="ID", help="only this provider")
    trend.add_argument("--prompt", metavar="ID", help="only this prompt version")
    trend.add_argument("-o", "--output", type=Path, metavar="PATH", help="HTML page path")
    trend.set_defaults(func=_cmd_trend)
    return trend


def _cmd_trend(args: argparse.Namespace) -> int:
    from harness.compare.trend import suite_trend
    from harness.locations import default_store
    from harness.report.trend_html import write_trend_report

    store = default_store(existing=True)
    try:
        stored = store.list_runs()
        where = RunFilter(suite=args.suite, provider=args.provider, limit=args.last)
        # complete runs only: a shard's partial run or an interrupted one is not a point
        done = [r for r in stored if r.status == "complete"]
        runs = select_runs(done, where)
        if not runs:
            raise CompareError(
                no_match_note(stored, where)
                if not select_runs(stored, where)
                else f"no complete run of suite '{args.suite}' yet"
            )
        trend = suite_trend(
            store, runs[::-1], args.metric, prompt=args.prompt, provider=args.provider
        )
    finally:
        store.close()
    print_trend(trend)
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in f"{args.suite}-{args.metric}")
    path = write_trend_report(trend, args.output or Path("reports") / f"trend-{slug}.html")
    out.print(f"Report: [bold]{_escape(str(path))}[/]")
    return EXIT_OK


def print_trend(trend: Trend) -> None:
    """The trend as a table: a section per prompt x provider, a row per run."""
    from rich.table import Table

    table = Table(
        "prompt · provider", "run", "when (UTC)", "n", _escape(trend.label),
        f"{trend.confidence:.0%} CI", "vs previous", "p", "test", "",
    )  # fmt: skip
    notes = []
    for series in trend.series:
        for i, point in enumerate(series.points):
            change = point.change
            stats = change.stats if change else None
            table.add_row(
                _escape(series.label) if i == 0 else "",
                _escape(point.run.run_id),
                f"{point.run.created_at:%Y-%m-%d %H:%M}",
                str(point.n) if point.n_clusters is None else f"{point.n} ({point.n_clusters})",
                trend.show(point.mean),
                "-"
                if point.ci_low is None
                else f"{trend.show(point.ci_low)} .. {trend.show(point.ci_high)}",
                "-" if stats is None else trend.show_diff(stats.diff) + _on_shared(change),
                "-" if stats is None or stats.p_value is None else f"{stats.p_value:.3g}",
                "-" if stats is None else stats.test or "-",
                _mark(point, trend),
            )
            if change and (note := change.shared_note()):
                notes.append(f"{series.label}, run {point.run.run_id}: {note}")
        table.add_section()
    out.print(
        f"[bold]{_escape(trend.suite)}[/]: {_escape(trend.label)} over {len(trend.runs)} runs"
    )
    out.print(table)
    for note in notes:
        out.print(f"[yellow]note:[/] {_escape(note)}", soft_wrap=True)
    for note in trend.notes:
        out.print(f"[yellow]note:[/] {_escape(note)}", soft_wrap=True)
    if worse := trend.worse_points():
        out.print(f"[bold red]{len(worse)} significant drop(s)[/] between consecutive runs")


def _on_shared(change: Change | None) -> str:
    """Marks a move measured on fewer cases than the two points (see its note)."""
    return f" (on {change.stats.n})" if change is not None and change.shared_note() else ""


def _mark(point: Point, trend: Trend) -> str:
    if point.change is None:
        return ""
    if point.change.worse:
        return "[bold red]▼ drop[/]" if trend.higher_is_better else "[bold red]▲ worse[/]"
    if point.change.better:
        return "[green]▲ up[/]" if trend.higher_is_better else "[green]▼ better[/]"
    return ""
