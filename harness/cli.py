"""The ``harness`` command line.

Exit codes: 0 ok, 1 a gate or regression failed, 2 bad input or config, 130 interrupted.
User errors print one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from harness import __version__
from harness.errors import HarnessError
from harness.results.models import CaseResult, RunRecord

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as e:
        console.print(f"[bold red]error:[/] {_escape(str(e))}")
        return e.exit_code
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished cases are saved; run again to resume.")
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite and write its HTML report")
    run.add_argument("suite", type=Path)
    run.add_argument("--no-cache", action="store_true", help="do not read the response cache")
    run.add_argument("--resume", metavar="RUN_ID", help="complete this unfinished run")
    run.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per provider")
    run.add_argument("--report", type=Path, metavar="PATH", help="HTML report path")
    run.set_defaults(func=_cmd_run)

    validate = sub.add_parser("validate", help="check a suite and count its cases; calls no model")
    validate.add_argument("suite", type=Path)
    validate.set_defaults(func=_cmd_validate)

    report = sub.add_parser("report", help="re-render the HTML report of a stored run")
    report.add_argument("run_id")
    report.add_argument("-o", "--output", type=Path, metavar="PATH")
    report.set_defaults(func=_cmd_report)

    runs = sub.add_parser("runs", help="list stored runs")
    runs.set_defaults(func=_cmd_runs)

    export = sub.add_parser("export", help="export a run's results (csv, jsonl, parquet)")
    export.add_argument("run_id")
    export.add_argument("--format", default="csv", choices=["csv", "jsonl", "parquet"])
    export.add_argument("-o", "--output", type=Path, metavar="PATH")
    export.set_defaults(func=_cmd_export)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.api import default_store, run_suite

    store = default_store()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
    )
    task = None

    def on_start(run: RunRecord, total: int, done: int) -> None:
        nonlocal task
        verb = "Resuming" if done else "Running"
        console.print(
            f"{verb} run [bold]{run.run_id}[/] of suite '{_escape(run.suite_name)}': "
            f"{total} cases" + (f", {done} already done" if done else "")
        )
        task = progress.add_task(run.suite_name, total=total, completed=done, failed=0)

    def on_result(result: CaseResult) -> None:
        failed = progress.tasks[0].fields["failed"] + (not result.passed)
        progress.update(task, advance=1, failed=failed)

    with progress:
        outcome = run_suite(
            args.suite,
            store=store,
            use_cache=not args.no_cache,
            resume=args.resume,
            concurrency=args.concurrency,
            on_start=on_start,
            on_result=on_result,
        )
    stats = outcome.stats
    console.print(
        f"{stats.finished} cases run: {stats.requests} requests, {stats.cached} from cache, "
        f"{stats.retries} retries, {stats.errors} errors"
    )
    _print_summary(outcome.results, outcome.run.prompts)
    path = _write_report(outcome.run, outcome.results, args.report)
    out.print(f"Report: [bold]{path}[/]")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.api import prepare

    prepared = prepare(args.suite)
    suite = prepared.loaded.suite
    out.print(
        f"{args.suite}: ok: {len(suite.prompts)} prompt version(s) x {len(suite.providers)} "
        f"provider(s), {len(prepared.plan.cases)} cases"
    )
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.api import default_store

    store = default_store()
    run = store.get_run(args.run_id)
    path = _write_report(run, store.results(run.run_id), args.output)
    out.print(f"Report: [bold]{path}[/]")
    return EXIT_OK


def _cmd_runs(args: argparse.Namespace) -> int:
    from harness.analysis.summary import summarize
    from harness.api import default_store

    store = default_store()
    table = Table("suite", "when (UTC)", "status", "providers", "cases", "pass rate", "cost")
    table.columns.insert(0, Column("run id", no_wrap=True))
    for run in store.list_runs():
        results = store.results(run.run_id)
        passed = sum(r.passed for r in results)
        costs = [g.cost_total for g in summarize(results).groups if g.cost_total is not None]
        total_cost = sum(costs) if costs else None
        table.add_row(
            run.run_id,
            _escape(run.suite_name),
            f"{run.created_at:%Y-%m-%d %H:%M}",
            run.status,
            ", ".join(p["id"] for p in run.providers),
            f"{len(results)}/{run.n_cases}",
            f"{passed / len(results):.1%}" if results else "-",
            f"${total_cost:.4f}" if total_cost is not None else "-",
        )
    out.print(table)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from harness.api import default_store
    from harness.results.export import export_results

    store = default_store()
    run = store.get_run(args.run_id)
    path = args.output or Path("reports") / f"{run.run_id}.{args.format}"
    export_results(store.results(run.run_id), args.format, path)
    out.print(f"Exported {run.run_id} to [bold]{path}[/]")
    return EXIT_OK


def _print_summary(results: list[CaseResult], prompts: list[str]) -> None:
    from harness.analysis.summary import summarize

    summary = summarize(results)
    metrics = summary.headline
    table = Table(
        "set", "prompt", "provider", "n", "pass rate", *metrics, "errors", "cost", "latency"
    )
    order = {p: i for i, p in enumerate(prompts)}
    groups = sorted(summary.groups, key=lambda g: (g.case_set != "main", order.get(g.prompt_id, 0)))
    for g in groups:
        table.add_row(
            g.case_set,
            g.prompt_id,
            g.provider_id,
            str(g.n),
            f"{g.pass_rate:.1%}",
            *(_fmt(g.metrics.get(m)) for m in metrics),
            str(g.n_errors),
            f"${g.cost_total:.4f}" if g.cost_total is not None else "-",
            f"{g.latency_mean:.2f}s" if g.latency_mean is not None else "-",
        )
    out.print(table)


def _write_report(run: RunRecord, results: list[CaseResult], path: Path | None) -> Path:
    from harness.report.html import write_report

    return write_report(run, results, path or Path("reports") / f"{run.run_id}.html")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _escape(text: str) -> str:
    """Model and suite text may hold rich markup: print it literally."""
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":
    sys.exit(main())
