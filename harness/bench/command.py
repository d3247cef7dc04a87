"""``harness bench`` and ``harness perplexity``: options, tables and output files, and the
``benchmarks:`` section of a suite (run by ``harness run`` and ``harness bench --suite``).

Kept out of :mod:`harness.cli` so that file only registers it. Building the parser
imports no more than this module's own imports (argparse, rich, the result models): numpy,
torch and lm-eval are imported when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from harness.bench.defaults import DEFAULT_BINS
from harness.console import EXIT_OK, console, escape, out

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.table import Table

    from harness.bench.compare import Flips
    from harness.bench.models import BenchResult, Calibration
    from harness.bench.run import BenchConfig, BenchModel

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
        "--model",
        metavar="MODEL",
        help="checkpoint folder, .gguf, alias, openai:NAME for an OpenAI-compatible API, or "
        "vllm:FOLDER_OR_HUB_ID for vLLM's engine (lm-eval's vllm model; a GPU machine)",
    )
    bench.add_argument(
        "--model-args",
        metavar="K=V,...",
        help="settings of a vllm: model, e.g. tensor_parallel_size=2,gpu_memory_utilization=0.85,"
        "max_model_len=4096 (a vllm provider's keys; other keys go to vllm.LLM)",
    )
    bench.add_argument("--adapter", metavar="DIR", help="a PEFT/LoRA adapter folder for --model")
    bench.add_argument(
        "--mode",
        default="auto",
        choices=["auto", "loglikelihood", "logprobs", "generate"],
        help="auto: loglikelihood for local models, generate for APIs; logprobs: an API's "
        "top_logprobs of the answer letter; loglikelihood on an API: its completions "
        "endpoint's echoed prompt logprobs (vllm serve)",
    )
    bench.add_argument("--base-url", metavar="URL", help="the API of an openai:NAME model")
    bench.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key ('none' for a local server)",
    )
    bench.add_argument(
        "--max-tokens", type=int, default=64, metavar="N", help="answer length (generate mode)"
    )
    bench.add_argument("--no-cache", action="store_true", help="do not read the response cache")
    bench.add_argument(
        "--suite", type=Path, metavar="PATH", help="run the benchmarks: section of a suite file"
    )
    bench.add_argument(
        "--tasks",
        metavar="LIST",
        help="BENCHMARK:SUBJECT,... e.g. mmlu:abstract_algebra,ceval:computer_network "
        "(a bare BENCHMARK takes every subject in --data)",
    )
    bench.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"folder with mmlu/, ceval/, cmmlu/ in their official layouts (e.g. {DATA_HINT})",
    )
    bench.add_argument("--shots", type=int, default=5, metavar="N", help="few-shot (default 5)")
    bench.add_argument("--limit", type=int, metavar="N", help="score the first N per subject")
    bench.add_argument("--batch-size", type=int, default=8, metavar="N", help="(default 8)")
    bench.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="copies of a local model (Ray actors) sharing the scoring (default 1: in process)",
    )
    bench.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster of the workers (auto, ray://head:10001); default "
        "$HARNESS_RAY_ADDRESS, else a local one",
    )
    bench.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    bench.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    bench.add_argument(
        "--ece-bins",
        type=int,
        default=DEFAULT_BINS,
        metavar="N",
        help="ECE bins (default %(default)s)",
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
    from harness.bench.run import BenchConfig
    from harness.errors import BenchError

    if args.suite is not None:
        if args.model or args.tasks:
            raise BenchError("give either --suite or --model/--tasks/--data, not both")
        if args.workers != 1:
            raise BenchError(
                "--workers applies to --model; in a suite, set an hf provider's workers:"
            )
        run_suite_benchmarks(args.suite, use_cache=not args.no_cache)
        return EXIT_OK
    missing = [f"--{n}" for n in ("model", "tasks", "data") if getattr(args, n) is None]
    if missing:
        raise BenchError(f"harness bench needs {', '.join(missing)} (or --suite)")
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
        mode=args.mode,
        max_tokens=args.max_tokens,
        use_cache=not args.no_cache,
        workers=args.workers,
    )
    model = _cli_model(args, config, args.model, args.adapter)
    models = [model] + (
        [_cli_model(args, config, args.compare_to, None)] if args.compare_to else []
    )
    if args.model_args and model.type != "vllm":
        raise BenchError("--model-args applies to a vllm:... model")
    if args.workers != 1 and any(m.type == "vllm" for m in models):
        raise BenchError(
            "--workers is for local hf models; vLLM spreads a model over GPUs itself "
            "(--model-args tensor_parallel_size=N)"
        )
    if args.adapter and model.type != "hf":
        raise BenchError("--adapter applies to a local model, not an API")
    if len(models) > 1 and models[0].id == models[1].id:
        raise BenchError(f"--compare-to names the same model as --model ({model.id})")
    labels = ["candidate (--model)", "reference (--compare-to)"] if args.compare_to else ["model"]
    run_and_report(
        models, config, labels, output=args.output, json_path=args.json, name="harness bench"
    )
    return EXIT_OK


def _cli_model(
    args: argparse.Namespace, config: BenchConfig, name: str, adapter: str | None
) -> BenchModel:
    """``openai:NAME`` is an OpenAI-compatible API, ``vllm:MODEL`` vLLM's engine; anything
    else a local model."""
    from harness.bench.run import local_model
    from harness.suite.schema import OpenAIProviderConfig

    if name.startswith("vllm:"):
        return _vllm_model(name, args.dtype, args.model_args or "")
    if not name.startswith("openai:"):
        return local_model(name, config, adapter)
    key_env = None if args.api_key_env.lower() == "none" else args.api_key_env
    return OpenAIProviderConfig(
        type="openai",
        id=name,
        model=name.removeprefix("openai:"),
        base_url=args.base_url,
        api_key_env=key_env,
    )


def _vllm_model(name: str, dtype: str, model_args: str) -> BenchModel:
    """A ``vllm`` provider config from ``--model vllm:MODEL --model-args K=V,...`` (values
    read as YAML scalars), or a BenchError naming the bad setting."""
    import yaml
    from pydantic import ValidationError

    from harness.errors import BenchError
    from harness.suite.schema import VLLMProviderConfig

    settings: dict[str, object] = {"dtype": dtype, "engine_args": {}}
    for item in filter(None, (part.strip() for part in model_args.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--model-args: expected KEY=VALUE, got {item!r}")
        key = key.strip()
        if key in ("type", "id", "model"):  # --model names the model
            raise BenchError(f"--model-args: {key} is set by --model vllm:MODEL, not here")
        target = settings if key in VLLMProviderConfig.model_fields else settings["engine_args"]
        target[key] = yaml.safe_load(value)  # type: ignore[index]
    try:
        return VLLMProviderConfig(
            type="vllm", id=name, model=name.removeprefix("vllm:"), **settings
        )
    except ValidationError as e:
        bad = "; ".join(
            f"{'.'.join(map(str, err['loc']))} {err['msg'].lower()}" for err in e.errors()
        )
        raise BenchError(f"--model-args: {bad}") from None


def run_and_report(
    models: list[BenchModel],
    config: BenchConfig,
    labels: list[str],
    *,
    output: Path | None,
    json_path: Path | None,
    name: str,
    suite_path: str = "",
) -> list[BenchResult]:
    """Benchmark ``models`` (the second, if any, is the reference), print the tables (each
    headed by its entry of ``labels``), write the report (and JSON), and store the run in
    the results store."""
    from harness.bench.compare import flips as find_flips
    from harness.bench.progress import BenchProgress
    from harness.bench.run import offline_env, run_models
    from harness.bench.store import save_bench
    from harness.locations import default_store
    from harness.report.bench_html import write_bench_report

    offline_env()  # before anything imports `datasets`
    _quiet_libraries()
    with BenchProgress(console) as progress:
        results = run_models(models, config, progress.hooks())
    for label, r in zip(labels, results, strict=True):
        out.print(_table(r, label))
    result, reference = results[0], results[1] if len(results) > 1 else None
    flips = find_flips(reference, result) if reference is not None else None
    if flips is not None:
        for s in flips.subjects:
            out.print(
                f"{escape(s.key)}: [red]{len(s.right_to_wrong)} right → wrong[/], "
                f"[green]{len(s.wrong_to_right)} wrong → right[/] "
                f"(McNemar p {s.p_value:.3g}, {s.n} paired)"
            )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if json_path is not None:
        _write_json(json_path, result, reference, flips)
        out.print(f"JSON: [bold]{escape(str(json_path))}[/]")
    path = output or Path("reports") / f"bench-{_slug(models[0].id)}.html"
    write_bench_report(result, path, reference=reference, flips=flips)
    out.print(f"Report: [bold]{escape(str(path))}[/]")
    store = default_store()
    try:
        run = save_bench(store, results, name=name, path=suite_path)
    finally:
        store.close()
    out.print(f"Stored as run [bold]{run.run_id}[/] (harness runs / export / compare)")
    return results


def run_suite_benchmarks(path: Path, *, use_cache: bool = True) -> bool:
    """Run the ``benchmarks:`` of the suite at ``path``, each compared to its
    ``compare_to`` provider when it names one; True when the suite has no cases."""
    from harness.providers.registry import _resolve_paths
    from harness.suite.loader import load_suite

    loaded = load_suite(path)
    suite = loaded.suite
    if suite.benchmarks:  # the benchmark code (~0.2 s to import) only for suites with some
        from harness.bench.run import BenchConfig
    by_id = {p.id: p for p in suite.providers}
    for i, spec in enumerate(suite.benchmarks):
        ids = [p for p in spec.providers or list(by_id) if p != spec.compare_to]
        for pid in ids:
            models = [by_id[pid]] + ([by_id[spec.compare_to]] if spec.compare_to else [])
            config = BenchConfig(
                tasks=spec.tasks,
                data=loaded.base_dir / spec.data,
                shots=spec.shots,
                limit=spec.limit,
                ece_bins=spec.ece_bins,
                mode=spec.mode,
                max_tokens=spec.max_tokens,
                concurrency=suite.concurrency,
                use_cache=use_cache,
            )
            report = loaded.base_dir / spec.report if spec.report else None
            if report is not None and len(ids) > 1:
                report = report.with_name(f"{report.stem}-{_slug(pid)}{report.suffix}")
            labels = [f"{pid} (candidate)", f"{spec.compare_to} (compare_to)"]
            run_and_report(
                [_resolve_paths(m, loaded.base_dir) for m in models],
                config,
                labels if spec.compare_to else [pid],
                output=report
                or Path("reports") / f"bench-{_slug(suite.name)}-{i + 1}-{_slug(pid)}.html",
                json_path=None,
                name=f"{suite.name} · benchmarks[{i}]",
                suite_path=str(loaded.path),
            )
    return suite.cases in (None, []) and not suite.bad_cases


def _table(result: BenchResult, label: str) -> Table:
    """Per subject, then macro and micro: accuracy, acc_norm (a column only when lm-eval
    reports it for some subject) and calibration."""
    from rich.table import Table

    norm = any(s.acc_norm is not None for s in result.subjects)
    title = f"{escape(label)}: {escape(result.model.name)} · {result.shots}-shot"
    table = Table(
        "subject", "n", "acc", "stderr", *(["acc_norm"] if norm else []), "ECE", "Brier", "AURC",
        title=f"{title} · {result.seconds:.1f} s",
    )  # fmt: skip

    def row(
        key: str, n: int, acc: float, stderr: float | None, norm_acc: float | None,
        c: Calibration | None,
    ) -> None:  # fmt: skip
        cal = ["", "", ""] if c is None else [_num(c.ece), _num(c.brier), _num(c.aurc)]
        figures = [f"{acc:.1%}", _pct(stderr), *([_pct(norm_acc)] if norm else [])]
        table.add_row(escape(key), str(n), *figures, *cal)

    for s in result.subjects:
        row(s.key, s.n, s.acc, s.acc_stderr, s.acc_norm, s.calibration)
    c = result.calibration
    table.add_section()
    row("macro", c.n, result.macro_acc, result.macro_stderr, result.macro_acc_norm, None)
    row("micro", c.n, result.micro_acc, result.micro_stderr, result.micro_acc_norm, c)
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


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", Path(text.rstrip("/")).name).strip("-") or "model"


def add_perplexity_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ppl = sub.add_parser(
        "perplexity",
        help="perplexity of a local model on a text file or a dataset column (lm-eval's way)",
        description="Word perplexity, byte perplexity and bits per byte of a local model on a "
        "text (the whole file is one document) or on a column of a CSV/JSONL/YAML table (one "
        "document per row), computed as lm-eval's wikitext task computes them, with its "
        "rolling windows for texts longer than the model's context.",
    )
    ppl.add_argument("--model", required=True, metavar="PATH_OR_ALIAS", help="local model")
    ppl.add_argument("--adapter", metavar="DIR", help="a PEFT/LoRA adapter folder")
    ppl.add_argument("--file", required=True, type=Path, metavar="PATH", help="text or table")
    ppl.add_argument("--column", metavar="NAME", help="the text column of a table file")
    ppl.add_argument("--limit", type=int, metavar="N", help="only the first N documents")
    ppl.add_argument("--max-length", type=int, metavar="N", help="window (default: the model's)")
    ppl.add_argument("--batch-size", type=int, default=8, metavar="N", help="(default 8)")
    ppl.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    ppl.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    ppl.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    ppl.set_defaults(func=run_perplexity)


def run_perplexity(args: argparse.Namespace) -> int:
    from harness.bench.perplexity import perplexity, read_texts
    from harness.bench.run import hf_config, offline_env

    offline_env()
    texts = read_texts(args.file, args.column, args.limit)
    config = hf_config(
        args.model,
        adapter=args.adapter,
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
    )
    result = perplexity(config, texts, source=str(args.file))
    from rich.table import Table

    table = Table(
        "documents", "words", "bytes", "tokens", "windows", "word ppl", "byte ppl", "bits/byte"
    )
    table.add_row(
        str(result.documents), str(result.words), str(result.bytes), str(result.tokens),
        str(result.windows), f"{result.word_perplexity:.4f}", f"{result.byte_perplexity:.4f}",
        f"{result.bits_per_byte:.4f}",
    )  # fmt: skip
    table.title = f"{escape(result.model)} on {escape(result.source)}"
    out.print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.model_dump_json(indent=1), encoding="utf-8")
        out.print(f"JSON: [bold]{escape(str(args.json))}[/]")
    return EXIT_OK
