"""The ``harness`` command line.

Exit codes: 0 ok, 1 a gate, regression or error budget failed, 2 bad input or config,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
User errors print one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.console import (
    EXIT_GATE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    console,
    out,
    positive_int,
)
from harness.console import escape as _escape
from harness.errors import HarnessError
from harness.heap import settle_heap

# Imported where used, not here: `harness --help` and `validate` must not load rich's
# progress and tables, pydantic models or pandas before they need them (start-up time).
if TYPE_CHECKING:
    from harness.analysis.base import AnalysisResult
    from harness.analysis.errors import ErrorBudget, Outcome
    from harness.analysis.repeats import RepeatSummary, Sample
    from harness.analysis.summary import GroupSummary, RunSummary
    from harness.api import RunOutcome
    from harness.ci.junit import GateOutcome
    from harness.compare import Comparison, GateResult, RecordSet
    from harness.compare.corpus import CorpusRow
    from harness.quick_replay import Invocation, Recording
    from harness.replay import Inputs, Replay, Replayable, StampedStore
    from harness.results.models import CaseResult, RunRecord
    from harness.results.store import ResultStore, StoredResults
    from harness.selection import Selection
    from harness.sharding import Shard


def main(argv: Sequence[str] | None = None) -> int:
    terminated = _on_sigterm_interrupt()
    try:
        args = _parser().parse_args(argv)
        args.command_line = tuple(sys.argv[1:] if argv is None else argv)
        if args.func is not _cmd_run:  # a run settles once its store loaded
            settle_heap()
        with _options_as_env(args):
            return args.func(args)
    except HarnessError as e:
        console.print(f"[bold red]error:[/] {_escape(str(e))}")
        return e.exit_code
    except KeyboardInterrupt:
        why = "terminated (SIGTERM)" if terminated else "interrupted"
        console.print(f"[yellow]{why}[/]: finished cases are saved; the same command resumes.")
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _on_sigterm_interrupt() -> list[bool]:
    """Make SIGTERM (CI cancelling a job, ``kill``) stop a run the way Ctrl-C does: the run is
    marked interrupted and its finished cases kept. Returns a list that holds True once
    SIGTERM arrived (outside the main thread, e.g. in tests, nothing is installed)."""
    import signal
    import threading

    seen: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        return seen

    def handler(signum: int, frame: object) -> None:
        seen.append(True)
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)  # asyncio cancels the run's tasks cleanly
        else:  # SIGINT ignored (a background job): interrupt directly
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    return seen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite and write its HTML report")
    run.add_argument("suite", type=Path)
    run.add_argument("--no-cache", action="store_true", help="do not read the response cache")
    run.add_argument(
        "--rerun",
        action="store_true",
        help="run the suite even when nothing changed since its last clean run (a new run, "
        "or its unfinished one resumed; answers still come from the cache)",
    )
    run.add_argument("--resume", metavar="RUN_ID", help="complete this unfinished run")
    run.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per provider")
    run.add_argument("--report", type=Path, metavar="PATH", help="HTML report path")
    _add_ci_options(run)
    _add_selection_options(run)
    _add_db_option(run)
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster of hf providers' workers (e.g. auto, ray://head:10001); "
        "default $HARNESS_RAY_ADDRESS, else a local one",
    )
    run.set_defaults(func=_cmd_run)

    validate = sub.add_parser("validate", help="check a suite and count its cases; calls no model")
    validate.add_argument("suite", type=Path)
    validate.set_defaults(func=_cmd_validate)

    report = sub.add_parser("report", help="re-render the HTML report of a stored run")
    report.add_argument("run_id")
    report.add_argument("-o", "--output", type=Path, metavar="PATH")
    _add_db_option(report)
    report.set_defaults(func=_cmd_report)

    runs = sub.add_parser("runs", help="list stored runs (--suite, --since, --provider, --limit)")
    from harness.history import add_run_filters, add_trend_parser  # harness.history

    add_run_filters(runs)
    _add_db_option(runs)
    runs.set_defaults(func=_cmd_runs)
    _add_db_option(add_trend_parser(sub))

    export = sub.add_parser("export", help="export a run's results (csv, jsonl, parquet)")
    export.add_argument("run_id")
    export.add_argument("--format", default="csv", choices=["csv", "jsonl", "parquet"])
    export.add_argument("-o", "--output", type=Path, metavar="PATH")
    export.add_argument(
        "--analyses",
        type=Path,
        metavar="PATH",
        help="also write the run's analyses (tables, flags, raw numbers) as one JSON file",
    )
    _add_db_option(export)
    export.set_defaults(func=_cmd_export)
    _add_badcases_parser(sub)
    _add_compare_parsers(sub)
    _add_catalog_parsers(sub)
    _add_init_parser(sub)
    from harness.bench.command import add_bench_parser, add_perplexity_parser  # harness.bench

    add_bench_parser(sub)
    add_perplexity_parser(sub)
    from harness.view.command import add_agreement_parser, add_view_parser  # harness.view

    _add_db_option(add_view_parser(sub))
    _add_db_option(add_agreement_parser(sub))
    return parser


def _add_db_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--db",
        dest="db_url",
        metavar="URL",
        help="the results store: a database URL (postgresql+psycopg://user@host/dbname) or a "
        "SQLite file; default $HARNESS_DB_URL, else $HARNESS_HOME/results.db",
    )


#: Options passed on as environment variables while a command runs.
_ENV_OPTIONS = {"db_url": "HARNESS_DB_URL", "ray_address": "HARNESS_RAY_ADDRESS"}


@contextmanager
def _options_as_env(args: argparse.Namespace) -> Iterator[None]:
    """``--db URL`` as ``$HARNESS_DB_URL`` and ``--ray-address`` as ``$HARNESS_RAY_ADDRESS``
    while the command runs, so every store it opens (``default_store()``, a benchmark
    suite's too) is that one, and every hf provider's Ray workers run on that cluster."""
    given = {env: getattr(args, option, None) for option, env in _ENV_OPTIONS.items()}
    given = {env: value for env, value in given.items() if value is not None}
    before = {env: os.environ.get(env) for env in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for env, value in before.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


def _cmd_run(args: argparse.Namespace) -> int:
    import harness.results.store  # noqa: F401 - loaded before the collector is back on
    from harness.bench.command import run_suite_benchmarks
    from harness.locations import default_store

    settle_heap()  # what a run, its replay or its benchmarks need is in (harness.heap)
    if run_suite_benchmarks(args.suite, use_cache=not args.no_cache):  # benchmarks only
        return EXIT_OK
    store = default_store()
    inputs = _replay_inputs(args, store)
    looks_up = inputs is not None and inputs.cacheable and not (args.no_cache or args.rerun)
    if looks_up:
        found = _find_replay(inputs, store)
        if found is not None:
            return _show_replay(args, store, inputs, found)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from harness.api import run_suite  # what running cases needs: not for a replay

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed, {task.fields[errored]} errored"),
        TimeElapsedColumn(),
        console=console,
    )
    task = None

    def on_start(run: RunRecord, total: int, done: int) -> None:
        nonlocal task
        verb = "Resuming" if done else "Running"
        part = f" (shard {args.shard})" if args.shard else ""
        console.print(
            f"{verb} run [bold]{run.run_id}[/]{part} of suite '{_escape(run.suite_name)}': "
            f"{total} cases" + (f", {done} already done" if done else "")
        )
        if args.shard and not total:
            console.print(
                f"[yellow]note:[/] shard {args.shard} has no case: the run has only "
                f"{run.n_cases} for {args.shard.count} shards"
            )
        task = progress.add_task(run.suite_name, total=total, completed=done, failed=0, errored=0)
        if inputs is not None:  # the user's code as this run loaded it
            inputs.add_user_code()

    def on_result(result: CaseResult) -> None:
        fields = progress.tasks[0].fields
        errored = result.error is not None
        failed = fields["failed"] + (not result.passed and not errored)
        progress.update(task, advance=1, failed=failed, errored=fields["errored"] + errored)

    with progress, _watching(inputs):
        outcome = run_suite(
            args.suite,
            store=store,
            use_cache=not args.no_cache,
            resume=args.resume,
            concurrency=args.concurrency,
            select=_selection(args),
            repeat=args.repeat,
            retry_errors=args.retry_errors,
            shard=args.shard,
            run_id=args.run_id,
            on_start=on_start,
            on_result=on_result,
        )
    stats = outcome.stats
    console.print(
        f"{stats.finished} cases run: {stats.requests} requests, {stats.cached} from cache, "
        f"{stats.retries} retries, {stats.errors} errors"
    )
    from harness.analysis.errors import case_errors
    from harness.compare.records import iter_records

    # Every output below reads the results from the store, a case at a time (the full
    # results of a 100k-case run would take ~600 MB): never `outcome.results`.
    run, results = outcome.run, outcome.stored
    summary = _print_summary(results, run.prompts)
    repeats = _print_repeats(iter_records(store, run.run_id))
    _print_partial(run, len(results))
    _print_analyses(outcome.analyses)
    gates: list[GateOutcome] = []
    if run.status == "complete":
        gates += _check_gates(args.suite, run, store)
    budget = _check_errors(
        case_errors(store.iter_fields(run.run_id, ["$.provider_id", "$.error", "$.scores"])),
        outcome.max_error_rate,
    )
    if budget.errored:  # a run without errors gets no extra check to read
        gates.append(budget)
    report = args.report
    if report is None and run.status == "partial" and args.shard is not None:
        report = Path("reports") / f"{run.run_id}-{args.shard.name}.html"  # shards at once
    path = _write_report(run, results, report, outcome.analyses, gates, summary, repeats)
    out.print(f"Report: [bold]{path}[/]")
    checks = [*gates, *outcome.analyses]
    _write_ci_outputs(args, run, results, checks, summary)
    kept = _remember(inputs, run, summary, outcome, bool(repeats), gates, path) if inputs else None
    if kept is not None and looks_up:  # what its replay will show, for this command again
        from harness.replay import Replay

        try:
            again = Replay(store.get_run(run.run_id), kept)
            _show_replay(args, store, inputs, again, echo=False)
        except Exception as e:  # the run and its outputs are done
            _replay_note("not kept for a quick replay", e)
    return EXIT_GATE if any(not c.passed for c in checks) else EXIT_OK


# --- a run of unchanged inputs (harness.replay) ---


def _replay_inputs(args: argparse.Namespace, store: ResultStore) -> Inputs | None:
    """What a plain run (every case, a new or resumed run of its own) is made from; None for
    a run that picks its cases or its run, which is never replayed."""
    picked = args.shard or args.run_id or args.resume or args.retry_errors
    if picked or not _selection(args).is_everything():
        return None
    from harness.replay import inputs

    return inputs(args.suite, args.repeat, store)


@contextmanager
def _watching(inputs: Inputs | None) -> Iterator[None]:
    """Record the files a run reads into ``inputs`` (nothing to record without)."""
    if inputs is None:
        yield
        return
    from harness.replay import watch

    with watch(inputs):
        yield


def _find_replay(inputs: Inputs, store: ResultStore) -> Replay | None:
    """The stored run a plain run of ``inputs`` would repeat; a replay that cannot be looked
    up (an unreadable cache) only means running the cases."""
    from harness.replay import find

    try:
        return find(store, inputs.key)
    except Exception as e:  # the run itself does not depend on it
        _replay_note("not replayed", e)
        return None


def _remember(
    inputs: Inputs,
    run: RunRecord,
    summary: RunSummary,
    outcome: RunOutcome,
    repeated: bool,
    gates: Sequence[GateOutcome],
    report: Path,
) -> Replayable | None:
    """Keep a replayable run for the next plain run (returns what is kept); failing to only
    loses that replay."""
    from harness.replay import remember, replayable

    if not replayable(run, summary, outcome, inputs):
        return None
    try:
        return remember(inputs, run, summary, repeated, gates, report)
    except Exception as e:  # the run and its outputs are done
        _replay_note("not kept for replay", e)
        return None


def _replay_note(what: str, error: Exception) -> None:
    console.print(f"[yellow]note:[/] {what}: {_escape(f'{type(error).__name__}: {error}')}")


def _show_replay(
    args: argparse.Namespace,
    store: ResultStore,
    inputs: Inputs,
    found: Replay,
    *,
    echo: bool = True,
) -> int:
    """What `harness run` shows for a run of unchanged inputs, recorded for the same command
    next time where a quick replay can check it (harness.quick_replay). ``echo``: printed
    too (a run just finished records what its replay will show, printing nothing). Only
    for a command that looks a replay up: never under --rerun or --no-cache, which run."""
    from harness.quick_replay import Recording, current
    from harness.replay import quickly_replayable, stamped_store

    invocation = current(args.command_line)
    ci_files = args.junit_xml is not None or args.summary_md is not None
    if invocation is None or ci_files or not quickly_replayable(found, store, args.suite):
        return _print_replay(args, store, found)[0] if echo else EXIT_OK
    recording = Recording()
    with stamped_store(store, found.run) as stamped, recording.capturing(echo=echo):
        code, rewrote = _print_replay(args, stamped.store, found)
    if not rewrote:  # the report is the one recorded with the run
        _keep_quick(invocation, stamped, inputs, found, recording, code)
    return code


def _print_replay(args: argparse.Namespace, store: ResultStore, found: Replay) -> tuple[int, bool]:
    """The stored run, its gates checked again, its report (written again only where it is
    missing or its gates moved); the exit code, and whether the report was written."""
    from harness.compare.records import iter_records
    from harness.replay import gates_digest
    from harness.results.store import StoredResults

    run, record = found.run, found.record
    when = f"{run.finished_at:%Y-%m-%d %H:%M:%S} UTC" if run.finished_at else "earlier"
    console.print(
        f"Unchanged since run [bold]{run.run_id}[/] of suite '{_escape(run.suite_name)}' "
        f"({when}): the suite, its files, code and models are as they were, so its "
        f"{run.n_cases} results stand and no case ran (--rerun runs them again)"
    )
    results = StoredResults(store, run.run_id)
    summary = record.summary
    _print_summary_table(summary, run.prompts)
    repeats = _print_repeats(iter_records(store, run.run_id)) if record.repeated else []
    analyses = store.analyses(run.run_id)
    _print_analyses(analyses)
    gates: list[GateOutcome] = list(_check_gates(args.suite, run, store))
    path = args.report or Path("reports") / f"{run.run_id}.html"  # where a run writes it
    rewrite = not found.report_for(path, gates_digest(gates))
    if rewrite:
        path = _write_report(run, results, path, analyses, gates, summary, repeats)
    out.print(f"Report: [bold]{path}[/]")
    checks = [*gates, *analyses]
    _write_ci_outputs(args, run, results, checks, summary)
    return EXIT_GATE if any(not c.passed for c in checks) else EXIT_OK, rewrite


def _keep_quick(
    invocation: Invocation,
    stamped: StampedStore,
    inputs: Inputs,
    found: Replay,
    recording: Recording,
    code: int,
) -> None:
    """Record a replay's output for the quick replay; failing to only loses that shortcut."""
    from harness.quick_replay import keep
    from harness.replay import quick_files

    try:
        files = quick_files(found, stamped, inputs)
        if files:
            keep(invocation, recording, files, code)
    except Exception as e:  # the run and its outputs are done
        _replay_note("not kept for a quick replay", e)


def _check_errors(results: Iterable[Outcome], max_error_rate: float) -> ErrorBudget:
    """Say which calls failed and why, and whether the suite allows that many."""
    from harness.analysis.errors import error_budget

    budget = error_budget(results, max_error_rate)
    if not budget.errored:
        return budget
    style = "bold red" if not budget.passed else "yellow"
    console.print(f"[{style}]{_escape(budget.message)}[/]")
    for group in budget.groups[:_MAX_ERROR_LINES]:
        console.print(f"  {_escape(group.line())}", soft_wrap=True)
    if len(budget.groups) > _MAX_ERROR_LINES:
        console.print(f"  ... and {len(budget.groups) - _MAX_ERROR_LINES} more distinct errors")
    return budget


#: Distinct error messages printed after a run (all of them are in the report).
_MAX_ERROR_LINES = 5


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.api import prepare
    from harness.compare.baseline import gate_baseline
    from harness.providers.from_suite import missing_keys

    prepared = prepare(args.suite, require_keys=False)
    suite = prepared.loaded.suite
    for i, gate in enumerate(suite.gates):
        if gate.baseline is not None:
            gate_baseline(prepared.loaded, i)
    for variable, owner in missing_keys(prepared.loaded):
        console.print(
            f"[yellow]warning:[/] ${_escape(variable)} is not set ({_escape(owner)}): "
            "`harness run` needs it (export it, or put it in a .env file beside the suite)"
        )
    out.print(
        f"{args.suite}: ok: {len(suite.prompts)} prompt version(s) x {len(suite.providers)} "
        f"provider(s), {len(prepared.plan.cases)} cases"
        + (f", {len(prepared.judges)} judge(s)" if prepared.judges else "")
        + (f", {len(prepared.analyses)} analyses" if prepared.analyses else "")
    )
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.locations import default_store
    from harness.results.store import StoredResults

    store = default_store(existing=True)
    run = store.get_run(args.run_id)
    results = StoredResults(store, run.run_id)  # read a case at a time, never held whole
    path = _write_report(run, results, args.output, store.analyses(run.run_id))
    out.print(f"Report: [bold]{path}[/]")
    return EXIT_OK


def _cmd_runs(args: argparse.Namespace) -> int:
    from rich.table import Column, Table

    from harness.analysis.summary import summarize
    from harness.history import no_match_note, run_filter, select_runs
    from harness.locations import default_store
    from harness.perturb.registry import is_perturbed
    from harness.results.store import StoredResults

    store = default_store(existing=True)
    table = Table("suite", "when (UTC)", "status", "providers", "cases", "pass rate", "errors")
    table.columns.insert(0, Column("run id", no_wrap=True))
    table.add_column("headline")
    table.add_column("cost")
    stored = store.list_runs()
    listed = select_runs(stored, where := run_filter(args))
    for run in listed:
        # the suite's own clean cases, as the report's headline (bad cases are shown apart),
        # from the small digests; the summary reads the results a case at a time
        digests = [d for _, d in store.iter_digests(run.run_id)]
        own = [d[5] for d in digests if d[0] in (None, "main") and not is_perturbed(d[4] or ())]
        errored = sum(d[6] is not None for d in digests)
        summary = summarize(StoredResults(store, run.run_id), corpus=False)  # a mean
        costs = [g.cost_total for g in summary.groups if g.cost_total is not None]
        total_cost = sum(costs) if costs else None
        table.add_row(
            run.run_id,
            _escape(run.suite_name),
            f"{run.created_at:%Y-%m-%d %H:%M}",
            run.status + (" (partial)" if run.selection else ""),
            _escape(", ".join(p["id"] for p in run.providers)),
            f"{len(digests)}/{run.n_cases}",
            f"{sum(p is True for p in own) / len(own):.1%}" if own else "-",
            f"[bold red]{errored}[/]" if errored else "0",
            _escape(_headline(summary)),
            f"${total_cost:.4f}" if total_cost is not None else "-",
        )
    if listed:
        out.print(table)
    else:
        console.print(f"[yellow]note:[/] {_escape(no_match_note(stored, where))}")
    return EXIT_OK


def _headline(summary: RunSummary) -> str:
    """The first metric's mean over the suite's own cases, per prompt x provider."""
    if not summary.headline:
        return "-"
    metric = summary.headline[0]
    parts = [
        f"{g.prompt_id}/{g.provider_id} {_metric(g, metric)}"
        for g in summary.groups
        if g.case_set == "main"
    ]
    return f"{metric}: " + ", ".join(parts)


def _cmd_export(args: argparse.Namespace) -> int:
    from harness.locations import default_store
    from harness.results.export import export_analyses, export_results
    from harness.results.store import StoredResults

    store = default_store(existing=True)
    run = store.get_run(args.run_id)
    path = args.output or Path("reports") / f"{run.run_id}.{args.format}"
    names = (s[0] for _, d in store.iter_digests(run.run_id) for s in d[7])
    results = StoredResults(store, run.run_id)
    export_results(results, args.format, path, score_names=[*dict.fromkeys(names)])
    out.print(f"Exported {run.run_id} to [bold]{path}[/]")
    if args.analyses is not None:
        export_analyses(store.analyses(run.run_id), args.analyses)
        out.print(f"Analyses: [bold]{args.analyses}[/]")
    return EXIT_OK


def _print_summary(results: Iterable[CaseResult], prompts: list[str]) -> RunSummary:
    """The summary table; returns the summary, which the report and CI files reuse."""
    from harness.analysis.summary import summarize

    summary = summarize(results)
    _print_summary_table(summary, prompts)
    return summary


def _print_summary_table(summary: RunSummary, prompts: list[str]) -> None:
    from rich.table import Table

    metrics = summary.headline
    corpus = summary.corpus_metrics
    columns = [(m, c) for m in metrics for c in ((False, True) if m in corpus else (False,))]
    head = ["set", "prompt", "provider", "n", "pass rate"]
    head += [_escape(f"{m} corpus" if c else m) for m, c in columns]
    table = Table(*head, "errors", "cost", "latency")
    order = {p: i for i, p in enumerate(prompts)}
    groups = sorted(summary.groups, key=lambda g: (g.case_set != "main", order.get(g.prompt_id, 0)))
    for g in groups:
        table.add_row(
            g.case_set,
            g.prompt_id,
            g.provider_id,
            str(g.n),
            f"{g.pass_rate:.1%}",
            *(_corpus(g, m) if c else _metric(g, m) for m, c in columns),
            str(g.n_errors) + (f" (+{g.n_score_errors} scoring)" if g.n_score_errors else ""),
            f"${g.cost_total:.4f}" if g.cost_total is not None else "-",
            f"{g.latency_mean:.2f}s" if g.latency_mean is not None else "-",
        )
    out.print(table)
    for name in corpus:
        for signature in summary.corpus_signatures(name):
            out.print(f"{_escape(name)} corpus: sacrebleu {_escape(signature)}", soft_wrap=True)
        for g in groups:
            if (score := g.corpus.get(name)) is not None and score.note:
                where = f"{g.prompt_id}/{g.provider_id}"
                out.print(f"[yellow]note:[/] {_escape(f'{name} corpus, {where}: {score.note}')}")


def _print_analyses(analyses: list[AnalysisResult]) -> None:
    """One line per analysis, then its flags; an analysis that failed the run says so."""
    for a in analyses:
        mark = "[red]FAIL[/] " if a.fails_run else ""
        line = a.summary or ("could not run: " + a.error if a.error else "")
        title = a.title if a.id == a.type else f"{a.title} ({a.id})"
        out.print(f"{mark}[bold]{_escape(title)}[/]: {_escape(line)}")
        for flag in a.flags:
            out.print(f"  [yellow]⚠[/] {_escape(flag)}")


def _write_report(
    run: RunRecord,
    results: Iterable[CaseResult],
    path: Path | None,
    analyses: list[AnalysisResult] | None = None,
    gates: Sequence[GateOutcome] | None = None,
    summary: RunSummary | None = None,
    repeats: Sequence[RepeatSummary] = (),
) -> Path:
    from harness.report.html import write_report

    target = path or Path("reports") / f"{run.run_id}.html"
    return write_report(
        run, results, target, analyses, gates=gates, summary=summary, repeats=repeats
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _metric(group: GroupSummary, name: str) -> str:
    """The mean of assertion ``name`` in ``group``, and over how many cases when not all."""
    note = group.scored_note(name)
    return _fmt(group.metrics.get(name)) + (f" ({note})" if note else "")


def _corpus(group: GroupSummary, name: str) -> str:
    """The corpus score of assertion ``name`` in ``group``, and over how many cases when not
    all."""
    score, note = group.corpus.get(name), group.corpus_note(name)
    return _fmt(None if score is None else score.value) + (f" ({note})" if note else "")


# --- CI outputs and the bad-case loop (harness.ci) ---


def _add_ci_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--junit-xml", type=Path, metavar="PATH", help="JUnit XML: one testcase per case and gate"
    )
    run.add_argument(
        "--summary-md",
        type=Path,
        metavar="PATH",
        help="Markdown summary for a PR comment; also appended to $GITHUB_STEP_SUMMARY when set",
    )


def _write_ci_outputs(
    args: argparse.Namespace,
    run: RunRecord,
    results: StoredResults,
    gates: Sequence[GateOutcome],
    summary: RunSummary,
) -> None:
    """The files ``--junit-xml`` and ``--summary-md`` ask for (gates: one testcase each)."""
    if args.junit_xml is not None:
        from harness.ci.junit import write_junit

        path = write_junit(run, results, args.junit_xml, gates)
        out.print(f"JUnit XML: [bold]{_escape(str(path))}[/]", soft_wrap=True)
    if args.summary_md is not None:
        from harness.ci.summary_md import write_summary_md

        for path in write_summary_md(run, results, args.summary_md, gates, summary=summary):
            out.print(f"Summary: [bold]{_escape(str(path))}[/]", soft_wrap=True)


def _add_badcases_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    badcases = sub.add_parser("badcases", help="keep failures as bad cases that run every time")
    actions = badcases.add_subparsers(required=True, metavar="ACTION")
    harvest = actions.add_parser(
        "harvest",
        help="append a run's failed cases to the suite's bad-case set, with provenance",
        description="Append the failed cases of a run to a bad-case file, with provenance "
        "(run, date, model, prompt version, the bad output, the failing scores); cases whose "
        "vars and expected answers are already in one of the suite's bad-case files are "
        "skipped.",
    )
    harvest.add_argument("run_id", metavar="RUN_ID")
    harvest.add_argument(
        "--suite", type=Path, metavar="PATH", help="the run's suite file (default: as recorded)"
    )
    harvest.add_argument(
        "--into",
        type=Path,
        metavar="PATH",
        help="bad-case file to append to (default: the suite's only bad-case set, or "
        "SUITE.badcases.yaml beside the suite)",
    )
    harvest.add_argument("--set", dest="set_name", metavar="NAME", help="the bad-case set to use")
    harvest.add_argument(
        "--interactive",
        action="store_true",
        help="accept, reject or correct the expected answer of each case",
    )
    harvest.add_argument(
        "--include-errors", action="store_true", help="also keep cases whose model call errored"
    )
    harvest.add_argument(
        "--reviewed",
        action="store_true",
        help="keep the cases marked bad in `harness view` (with their correct answers) instead",
    )
    harvest.add_argument("--dry-run", action="store_true", help="show the cases; write nothing")
    _add_db_option(harvest)
    harvest.set_defaults(func=_cmd_badcases_harvest)


def _cmd_badcases_harvest(args: argparse.Namespace) -> int:
    import os

    import yaml

    from harness.ci.badcases import harvest
    from harness.locations import default_store

    report = harvest(
        default_store(existing=True),
        args.run_id,
        args.suite,
        into=args.into,
        set_name=args.set_name,
        interactive=args.interactive,
        include_errors=args.include_errors,
        reviewed=args.reviewed,
        dry_run=args.dry_run,
    )
    if args.dry_run and report.added:
        print(yaml.safe_dump({"cases": report.added}, sort_keys=False, allow_unicode=True))
    verb = "Would add" if args.dry_run else "Added"
    noun = "case" if len(report.added) == 1 else "cases"
    skipped = f"{report.already_there} already kept"
    if report.rejected:
        skipped += f", {report.rejected} rejected"
    try:
        shown = report.path.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = report.path
    out.print(
        f"{verb} {len(report.added)} bad {noun} to [bold]{_escape(str(shown))}[/] ({skipped})",
        soft_wrap=True,
    )
    if report.added and not report.in_suite:
        console.print(
            "[yellow]note:[/] the suite does not run this file yet; add it to the suite:\n"
            f"bad_cases:\n  - name: {_escape(report.set_name)}\n"
            f"    file: {_escape(os.path.relpath(report.path, report.suite.parent))}"
        )
    return EXIT_OK


# --- what a suite may use: scorers and provider types (harness.catalog) ---


def _add_catalog_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scorers = sub.add_parser(
        "scorers", help="list every scorer (built-in and plugin): parameters, defaults, threshold"
    )
    scorers.set_defaults(func=_cmd_scorers)
    providers = sub.add_parser("providers", help="list every provider type and its parameters")
    providers.set_defaults(func=_cmd_providers)


def _cmd_scorers(args: argparse.Namespace) -> int:
    from harness.catalog import scorers_table

    out.print(scorers_table())
    return EXIT_OK


def _cmd_providers(args: argparse.Namespace) -> int:
    from harness.catalog import providers_table

    out.print(providers_table())
    return EXIT_OK


# --- comparisons, baselines and gates (harness.compare) ---


def _add_compare_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compare = sub.add_parser(
        "compare",
        help="compare two runs case by case, or a run's prompt versions or providers",
        description="Paired comparison: per metric and tag, both means, the difference with a "
        "bootstrap CI and a paired test; regressions and fixes with word diffs; an HTML report.",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="the reference run (or a baseline file)")
    compare.add_argument("run_b", metavar="RUN_B", nargs="?", help="the run compared with it")
    within = compare.add_mutually_exclusive_group()
    within.add_argument("--prompts", metavar="REF", help="each prompt version of RUN_A vs REF")
    within.add_argument("--providers", metavar="REF", help="each provider of RUN_A vs REF")
    compare.add_argument(
        "--metric", action="append", metavar="NAME", help="only this scorer (repeatable)"
    )
    compare.add_argument("-o", "--output", type=Path, metavar="PATH", help="HTML report path")
    compare.add_argument("--resamples", type=int, default=10_000, metavar="N", help="bootstrap")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    compare.add_argument(
        "--corpus-test",
        choices=["bs", "ar"],
        default="bs",
        help="sacrebleu's paired test of corpus BLEU/chrF: bootstrap (bs) or randomization (ar)",
    )
    _add_db_option(compare)
    compare.set_defaults(func=_cmd_compare)

    baseline = sub.add_parser("baseline", help="save a run as the baseline that gates compare with")
    actions = baseline.add_subparsers(required=True, metavar="ACTION")
    save = actions.add_parser("save", help="write a run's per-case results to a baseline file")
    save.add_argument("run_id", metavar="RUN_ID")
    save.add_argument("-o", "--output", type=Path, metavar="PATH")
    _add_db_option(save)
    save.set_defaults(func=_cmd_baseline_save)


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare, join_prompts, join_providers, join_runs
    from harness.errors import CompareError
    from harness.locations import default_store
    from harness.report.compare_html import write_compare_report

    if (args.run_b is None) == (args.prompts is None and args.providers is None):
        raise CompareError(
            "give either RUN_B (compare two runs) or --prompts REF / --providers REF "
            "(compare inside RUN_A), not both or neither"
        )
    store = default_store(existing=True)
    if args.run_b is not None:
        a, b = _records(store, [args.run_a, args.run_b])
        joins = [join_runs(a, b)]
        higher = a.higher_is_better | b.higher_is_better
        title = f"{b.label} vs {a.label}"
        default = f"compare-{_slug(b.label)}-vs-{_slug(a.label)}.html"  # as titled
        runs = [r.run for r in (a, b) if r.run is not None]
    else:
        (a,) = _records(store, [args.run_a])
        kind, ref = ("prompts", args.prompts) if args.prompts else ("providers", args.providers)
        joins = join_prompts(a, ref) if kind == "prompts" else join_providers(a, ref)
        higher, title = a.higher_is_better, f"{kind.title()} vs {ref} · {a.label}"
        default = f"compare-{_slug(a.label)}-{kind}.html"
        runs = [a.run] if a.run is not None else []
    comparisons = [
        compare(
            j,
            higher,
            metrics=args.metric,
            resamples=args.resamples,
            seed=args.seed,
            corpus_test=args.corpus_test,
        )
        for j in joins
    ]
    for c in comparisons:
        _print_comparison(c)
    path = write_compare_report(
        comparisons, args.output or Path("reports") / default, title=title, runs=runs
    )
    out.print(f"Report: [bold]{_escape(str(path))}[/]")
    return EXIT_OK


def _cmd_baseline_save(args: argparse.Namespace) -> int:
    import os

    from harness.compare import baseline_from, from_store, write_baseline
    from harness.locations import default_store

    records = from_store(default_store(existing=True), args.run_id)
    baseline = baseline_from(records)
    path = args.output or Path("baselines") / f"{_slug(baseline.suite_name)}.json"
    write_baseline(baseline, path)
    suite_dir = Path(records.run.suite_path).parent if records.run else Path.cwd()
    out.print(
        f"Baseline of run {baseline.run_id} ({len(baseline.cases)} cases) written to "
        f"[bold]{_escape(str(path))}[/]. Commit it, and gate on it in the suite:\n"
        f"gates:\n  - baseline: {_escape(os.path.relpath(path.resolve(), suite_dir.resolve()))}"
        "  # relative to the suite file\n    max_drop: 0.02\n    significance: 0.05"
    )
    return EXIT_OK


def _records(store: ResultStore, refs: list[str]) -> list[RecordSet]:
    """Stored runs (read side by side), or baseline files where a ref names a .json file."""
    from harness.compare import baseline_records, load_baseline, read_runs

    is_file = [ref.endswith(".json") and Path(ref).is_file() for ref in refs]
    runs = iter(read_runs(store, [ref for ref, f in zip(refs, is_file, strict=True) if not f]))
    return [
        baseline_records(load_baseline(ref), ref) if f else next(runs)
        for ref, f in zip(refs, is_file, strict=True)
    ]


def _print_comparison(c: Comparison) -> None:
    from rich.table import Table

    from harness.compare import ALL

    out.print(f"\n[bold]{_escape(c.label_b)}[/] vs [bold]{_escape(c.label_a)}[/]")
    table = Table("metric", "A", "B", "B - A", f"{c.confidence:.0%} CI", "p", "test", "n")
    notes = []
    for m in c.metrics:
        s = c.stats(m.name, ALL)
        assert s is not None
        pct = m.name == "pass"
        moved = s.diff is not None and s.diff != 0 and s.significant(c.alpha)
        worse = moved and s.diff is not None and (s.diff < 0) == m.higher_is_better
        style = "red" if worse else "green" if moved else "default"
        table.add_row(
            m.name,
            _mean(s.mean_a, pct),
            _mean(s.mean_b, pct),
            f"[{style}]{_delta(s.diff, pct)}[/]",
            "-" if s.ci_low is None else f"{_delta(s.ci_low, pct)} .. {_delta(s.ci_high, pct)}",
            "-" if s.p_value is None else f"{s.p_value:.3g}",
            s.test or "-",
            str(s.n) if s.n_clusters is None else f"{s.n} ({s.n_clusters} cases)",
        )
        if s.note:
            notes.append(f"[yellow]note:[/] {m.name}: {_escape(s.note)}")
    for row in (r for r in c.corpus if r.slice == ALL):
        table.add_row(*_corpus_cells(row, c))
        if row.signature:
            notes.append(f"{_escape(row.metric)} corpus: sacrebleu {_escape(row.signature)}")
        if row.note:
            notes.append(f"[yellow]note:[/] {_escape(row.metric)} corpus: {_escape(row.note)}")
    out.print(table)
    for note in notes:
        out.print(note, soft_wrap=True)
    if note := c.joined.unmatched_note():
        out.print(f"[yellow]note:[/] {_escape(note)}")
    out.print(f"[red]{len(c.regressions)} regressions[/], [green]{len(c.fixes)} fixes[/]")
    for p in c.regressions[:10]:
        where = f"{p.b.prompt_id} · {p.b.provider_id}"
        out.print(f"  [red]-[/] {_escape(p.b.row_id)} ({_escape(where)})")
    if len(c.regressions) > 10:
        out.print(f"  ... and {len(c.regressions) - 10} more in the report")


def _corpus_cells(row: CorpusRow, c: Comparison) -> list[str]:
    """A corpus row of the comparison table: sacrebleu's scores, each side's 95 % CI
    half-width (sacrebleu's bootstrap), its p-value and test."""
    higher = c.metric(row.metric).higher_is_better
    moved = row.diff is not None and row.diff != 0 and row.significant(c.alpha)
    style = "default" if not moved else "green" if ((row.diff or 0) > 0) == higher else "red"
    ci = "-"
    if row.ci_a is not None and row.ci_b is not None:
        ci = f"±{row.ci_a:.3f} / ±{row.ci_b:.3f}"
    return [
        _escape(f"{row.metric} corpus"),
        _mean(row.score_a, False),
        _mean(row.score_b, False),
        f"[{style}]{_delta(row.diff, False)}[/]",
        ci,
        "-" if row.p_value is None else f"{row.p_value:.3g}",
        row.test or "-",
        str(row.n),
    ]


def _mean(x: float | None, pct: bool) -> str:
    return "-" if x is None else f"{x:.1%}" if pct else f"{x:.3f}"


def _delta(x: float | None, pct: bool) -> str:
    return "-" if x is None else f"{x * 100:+.1f}pp" if pct else f"{x:+.3f}"


def _check_gates(suite: Path, run: RunRecord, store: ResultStore) -> list[GateResult]:
    """Evaluate the suite's gates on the finished run (its records read from the stored
    digests) and print each verdict."""
    from harness.suite.loader import load_suite

    loaded = load_suite(suite)
    if not loaded.suite.gates:
        return []
    from harness.compare import evaluate_gates, from_store  # scipy: only when needed

    records = from_store(store, run.run_id, allow_empty=True)
    gates = evaluate_gates(loaded, records, store=store)
    for g in gates:
        mark = "[green]PASS[/]" if g.passed else "[bold red]FAIL[/]"
        out.print(f"{mark} {_escape(g.name)}: {_escape(g.message)}", soft_wrap=True)
        if g.details:  # the CI, p-value and small-suite note explain a pass as much as a fail
            for line in g.details.splitlines():
                out.print(f"     {_escape(line)}", soft_wrap=True)
    failed = sum(not g.passed for g in gates)
    if failed:
        console.print(f"[bold red]{failed} of {len(gates)} gate check(s) failed[/]")
    return gates


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", Path(text).stem if text.endswith(".json") else text).strip("-")


# --- run filters and repeats (harness.selection, harness.analysis.repeats) ---


def _add_selection_options(run: argparse.ArgumentParser) -> None:
    pick = run.add_argument_group(
        "selecting and repeating cases",
        "a filtered run is a run of its own (never resumed as the whole suite's); filters "
        "combine with 'and', a repeated filter's values with 'or'",
    )
    pick.add_argument(
        "--limit", type=positive_int, metavar="N", help="the first N rows of the main set"
    )
    pick.add_argument("--tag", action="append", default=[], metavar="T", help="cases tagged T")
    pick.add_argument("--prompt", action="append", default=[], metavar="ID", help="this prompt")
    pick.add_argument("--provider", action="append", default=[], metavar="ID", help="this provider")
    pick.add_argument(
        "--var",
        action="append",
        default=[],
        type=_var_filter,
        metavar="KEY=VALUE",
        help="cases whose variable KEY is VALUE (every --var must match)",
    )
    pick.add_argument(
        "--filter-failing", metavar="RUN_ID", help="the cases that failed in RUN_ID (errors too)"
    )
    pick.add_argument("--filter-errors", metavar="RUN_ID", help="the cases that errored in RUN_ID")
    pick.add_argument(
        "--retry-errors",
        action="store_true",
        help="re-run only the errored cases of the latest complete run, into that run",
    )
    pick.add_argument(
        "--repeat", type=positive_int, metavar="N", help="run each case N times (distinct seeds)"
    )
    split = run.add_argument_group(
        "splitting a run over jobs",
        "n jobs (CI shards) run one suite into one run in a shared store (--db)",
    )
    split.add_argument(
        "--shard", type=_shard, metavar="I/N", help="run the I-th of N deterministic parts"
    )
    split.add_argument(
        "--run-id", metavar="ID", help="name the run (the same in every shard's job)"
    )


def _shard(text: str) -> Shard:
    from harness.sharding import parse_shard

    try:
        return parse_shard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _var_filter(text: str) -> tuple[str, str]:
    from harness.selection import parse_var

    try:
        return parse_var(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _selection(args: argparse.Namespace) -> Selection:
    from harness.errors import SelectionError
    from harness.selection import Selection

    if args.retry_errors and args.resume:
        raise SelectionError("give --resume RUN_ID or --retry-errors, not both")
    return Selection(
        limit=args.limit,
        tags=tuple(args.tag),
        prompts=tuple(args.prompt),
        providers=tuple(args.provider),
        vars=tuple(args.var),
        failing_in=args.filter_failing,
        errored_in=args.filter_errors,
    )


def _print_partial(run: RunRecord, n_results: int) -> None:
    if run.status == "partial":
        out.print(
            f"[yellow]note:[/] run {run.run_id} has {n_results} of its {run.n_cases} cases: the "
            "other shards' are still to come. Gates and analyses are checked by the job that "
            f"completes it (or: `harness run` without --shard, `harness report {run.run_id}`)"
        )
    if run.selection is not None:
        out.print(
            f"[yellow]note:[/] partial run ({_escape(run.selection)}): {run.n_cases} cases; "
            "pass rates, gates and analyses cover only these"
        )


#: Flaky cases listed after a repeated run (the report and export have them all).
_MAX_FLAKY_LINES = 10


def _print_repeats(results: Iterable[Sample]) -> list[RepeatSummary]:
    """Per group of a repeated run: pass@1, pass@k, pass^k and the flaky cases."""
    from rich.table import Table

    from harness.analysis.repeats import repeat_summaries

    summaries = repeat_summaries(results)
    if not summaries:
        return summaries
    table = Table("set", "prompt", "provider", "cases", "k", "pass@1", "pass@k", "pass^k", "flaky")
    flaky = []
    for s in summaries:
        table.add_row(
            _escape(s.case_set),
            _escape(s.prompt_id),
            _escape(s.provider_id),
            str(len(s.cases)),
            str(s.k),
            f"{s.pass_rate:.1%}",
            f"{s.pass_at_k:.1%}",
            f"{s.pass_hat_k:.1%}",
            str(len(s.flaky)),
        )
        flaky += s.flaky
    out.print(table)
    if flaky:
        out.print(f"[yellow]{len(flaky)} flaky case(s)[/] (passed some samples, not all):")
    for c in flaky[:_MAX_FLAKY_LINES]:
        where = f"{c.prompt_id} · {c.provider_id}"
        if c.case_set != "main":
            where += f" · {c.case_set}"
        out.print(f"  {_escape(c.row_id)} ({_escape(where)}): {c.passed}/{c.n} passed")
    if len(flaky) > _MAX_FLAKY_LINES:
        out.print(f"  ... and {len(flaky) - _MAX_FLAKY_LINES} more")
    return summaries


# --- harness init (harness.starter) ---


def _add_init_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init", help="write a starter suite (prompts, dataset, assertions, a gate) into DIR"
    )
    init.add_argument("dir", type=Path, nargs="?", default=Path("."), metavar="DIR")
    init.set_defaults(func=_cmd_init)


def _cmd_init(args: argparse.Namespace) -> int:
    from harness.starter import write_starter

    written = write_starter(args.dir)
    for path in written:
        out.print(f"wrote [bold]{_escape(str(path))}[/]")
    suite = _escape(str(written[0]))
    out.print(f"next: harness validate {suite} && harness run {suite}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
