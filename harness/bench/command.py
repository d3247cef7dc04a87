"""``harness bench``: the subcommand's options, its table and its output files.

Kept out of :mod:`harness.cli` so that file only registers it; torch and lm-eval are
imported when the command runs, never when the parser is built.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from harness.bench.calibration import DEFAULT_BINS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harness.bench.compare import Flips
    from harness.bench.models import BenchResult

DATA_HINT = "../shared/datasets in this repository's checkout"


def add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser(
        "bench",
        help="run MMLU / C-Eval / CMMLU subjects on a local model (lm-eval scoring)",
        description="Score a local model on multiple-choice benchmarks in their official file "
        "layouts with lm-eval (loglikelihood of the answer letters), with calibration "
        "(ECE, Brier, selective accuracy) and, with --compare-to, the questions that flipped.",
    )
    bench.add_argument(
        "--model", required=True, metavar="PATH_OR_ALIAS", help="checkpoint folder, .gguf, alias"
    )
    bench.add_argument(
        "--tasks",
        required=True,
        metavar="LIST",
        help="BENCHMARK:SUBJECT,... e.g. mmlu:abstract_algebra,ceval:computer_network "
        "(a bare BENCHMARK takes every subject in --data)",
    )
    bench.add_argument(
        "--data",
        required=True,
        type=Path,
        metavar="DIR",
        help=f"folder with mmlu/, ceval/, cmmlu/ in their official layouts (e.g. {DATA_HINT})",
    )
    bench.add_argument("--shots", type=int, default=5, metavar="N", help="few-shot (default 5)")
    bench.add_argument("--limit", type=int, metavar="N", help="score the first N per subject")
    bench.add_argument("--batch-size", type=int, default=8, metavar="N", help="(default 8)")
    bench.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    bench.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    bench.add_argument(
        "--ece-bins", type=int, default=DEFAULT_BINS, metavar="N", help="ECE bins (default 10)"
    )
    bench.add_argument(
        "--compare-to",
        metavar="PATH_OR_ALIAS",
        help="reference checkpoint: list the questions that flipped from it to --model",
    )
    bench.add_argument("-o", "--output", type=Path, metavar="PATH", help="HTML report path")
    bench.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    bench.add_argument(
        "--work-dir", type=Path, metavar="DIR", help="keep the generated lm-eval tasks here"
    )
    bench.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from harness.bench.compare import flips as find_flips
    from harness.bench.run import BenchConfig, offline_env, run_models
    from harness.cli import EXIT_OK, console, out
    from harness.report.bench_html import write_bench_report

    config = BenchConfig(
        tasks=args.tasks,
        data=args.data,
        shots=args.shots,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        ece_bins=args.ece_bins,
        work_dir=args.work_dir,
    )
    models = [args.model] + ([args.compare_to] if args.compare_to else [])
    offline_env()  # before anything imports `datasets`
    _quiet_libraries()
    results = run_models(
        models, config, on_model=lambda m: console.print(f"Benchmarking [bold]{_esc(m)}[/] ...")
    )
    result, reference = results[0], results[1] if len(results) > 1 else None
    flips = find_flips(reference, result) if reference is not None else None
    out.print(_table(result, "model" if reference is None else "candidate (--model)"))
    if reference is not None and flips is not None:
        out.print(_table(reference, "reference (--compare-to)"))
        for s in flips.subjects:
            out.print(
                f"{_esc(s.key)}: [red]{len(s.right_to_wrong)} right → wrong[/], "
                f"[green]{len(s.wrong_to_right)} wrong → right[/] "
                f"(McNemar p {s.p_value:.3g}, {s.n} paired)"
            )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {_esc(note)}")
    if args.json is not None:
        _write_json(args.json, result, reference, flips)
        out.print(f"JSON: [bold]{_esc(str(args.json))}[/]")
    path = args.output or Path("reports") / f"bench-{_slug(args.model)}.html"
    write_bench_report(result, path, reference=reference, flips=flips)
    out.print(f"Report: [bold]{_esc(str(path))}[/]")
    return EXIT_OK


def _table(result: BenchResult, label: str) -> Table:
    table = Table(
        "subject", "n", "acc", "stderr", "ECE", "Brier", "AURC",
        title=f"{label}: {_esc(result.model.name)} · {result.shots}-shot · {result.seconds:.1f} s",
    )  # fmt: skip
    for s in result.subjects:
        c = s.calibration
        table.add_row(
            _esc(s.key), str(s.n), f"{s.acc:.1%}", _pct(s.acc_stderr), _num(c.ece),
            _num(c.brier), _num(c.aurc),
        )  # fmt: skip
    c = result.calibration
    n = str(c.n)
    table.add_section()
    table.add_row("macro", n, f"{result.macro_acc:.1%}", _pct(result.macro_stderr), "", "", "")
    table.add_row(
        "micro", n, f"{result.micro_acc:.1%}", _pct(result.micro_stderr), _num(c.ece),
        _num(c.brier), _num(c.aurc),
    )  # fmt: skip
    return table


def _write_json(
    path: Path, result: BenchResult, reference: BenchResult | None, flips: Flips | None
) -> None:
    """``{"result": ..., "reference": ..., "flips": ...}``; the last two null without
    --compare-to. ``BenchResult.model_validate(data["result"])`` reads a result back."""
    import json

    def dump(x: BaseModel | None) -> object:
        return None if x is None else x.model_dump(mode="json")

    data = {"result": dump(result), "reference": dump(reference), "flips": dump(flips)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _quiet_libraries() -> None:
    """lm-eval logs each task's setup at WARNING (e.g. "Overwriting default num_fewshot")."""
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    try:
        from datasets.utils.logging import disable_progress_bar
    except ImportError:
        return
    disable_progress_bar()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", Path(text.rstrip("/")).name).strip("-") or "model"
