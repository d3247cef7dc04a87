"""Multiple-choice (loglikelihood) scoring throughput: ``harness bench`` vs lm-eval's own
HF backend, on the same checkpoint, rows, prompts and batch size, in one process.

Both score the shared MMLU + C-Eval subjects (``../shared/datasets``) from the same task
folder (written once by harness): "ours" is :func:`harness.bench.run_bench` (lm-eval
builds the prompts, :class:`HFProvider` computes the loglikelihoods, each subject's
few-shot prefix once), "lm-eval" is ``lm_eval.simple_evaluate(model="hf", ...)``. They
run back to back; each time covers loading the model and scoring, as wall seconds and as
this process's CPU seconds (all threads: the figure that other jobs on a shared machine
disturb least). The run checks that both give the same verdict on every question, and
exits non-zero when they do not. ``--bf16`` also scores ours in bfloat16 and reports its
accuracy and verdicts against float32 (and whether this CPU has bf16 instructions).

    .venv/bin/python bench/mc_throughput.py                      # SmolLM2-135M, 5-shot, CPU
    .venv/bin/python bench/mc_throughput.py --bf16
    .venv/bin/python bench/mc_throughput.py --limit 0 --device cuda --model DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness.bench.models import BenchResult
from harness.bench.run import BenchConfig, offline_env, prepare, run_models
from harness.providers.hf_models import _dequantised, cpu_dtype_warning, device_and_dtype, resolve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TASKS = "mmlu,ceval"
#: Questions/s over lm-eval's, on the same rows (issue #13).
TARGET = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class Timed:
    """Wall and CPU seconds of one side, and the load average around it."""

    wall_s: float
    cpu_s: float
    load: tuple[float, float]

    def row(self, name: str, n: int) -> str:
        return (
            f"{name:16}{self.wall_s:9.1f}{self.cpu_s:9.1f}{n / self.wall_s:14.3f}"
            f"{n / self.cpu_s:14.4f}   {self.load[0]:.1f} -> {self.load[1]:.1f}"
        )


def _timed(work: Callable[[], T]) -> tuple[Timed, T]:
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    result = work()
    timed = Timed(time.perf_counter() - wall, time.process_time() - cpu, (load, os.getloadavg()[0]))
    return timed, result


def _checkpoint(model: str) -> str:
    """A transformers folder both sides can load (a GGUF's dequantised copy)."""
    source = resolve(model)
    return str(_dequantised(source) if source.gguf_file else source.folder)


def _lm_eval(folder: str, config: BenchConfig, work: Path) -> tuple[Timed, dict]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    task_dir = prepare(config, work)
    return _timed(
        lambda: lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={folder},dtype={config.dtype}",
            device=config.device,
            tasks=task_dir.names,
            num_fewshot=config.shots,
            batch_size=config.batch_size,
            log_samples=True,
            task_manager=TaskManager(
                include_path=str(task_dir.include_path), include_defaults=False
            ),
        )
    )


def _ours(folder: str, config: BenchConfig) -> tuple[Timed, BenchResult]:
    timed, [result] = _timed(lambda: run_models([folder], config))
    return timed, result


def _bf16_report(folder: str, config: BenchConfig, fp32: BenchResult, n: int) -> None:
    """Ours again in bfloat16: speed, and accuracy and verdicts against float32."""
    import torch

    bf16_config = replace(config, dtype="bfloat16")
    warning = cpu_dtype_warning(torch, torch.device(config.device), torch.bfloat16)
    timed, bf16 = _ours(folder, bf16_config)
    print(timed.row("harness bf16", n))
    pairs = [
        (a, b)
        for s32, s16 in zip(fp32.subjects, bf16.subjects, strict=True)
        for a, b in zip(s32.questions, s16.questions, strict=True)
    ]
    same = sum(a.pred == b.pred for a, b in pairs)
    gap = max(abs(x - y) for a, b in pairs for x, y in zip(a.logliks, b.logliks, strict=True))
    print(f"bfloat16 vs float32: micro acc {bf16.micro_acc:.3f} vs {fp32.micro_acc:.3f} "
          f"({100 * (bf16.micro_acc - fp32.micro_acc):+.1f} points), the same letter on "
          f"{same}/{n} questions, largest loglikelihood gap {gap:.3f}")  # fmt: skip
    print(f"bf16 instructions: {'no: ' + warning if warning else 'yes'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--limit", type=int, default=8, help="questions per subject (0: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true", help="also score ours in bfloat16")
    args = parser.parse_args()
    offline_env()
    import logging

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # lm-eval's dataset loads, once per subject and side
    folder = _checkpoint(args.model)
    import torch

    device, dtype = device_and_dtype(torch, args.device, "auto")  # the same for both sides
    config = BenchConfig(
        tasks=TASKS,
        data=args.data,
        shots=args.shots,
        limit=args.limit or None,
        batch_size=args.batch_size,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        use_cache=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        theirs_t, theirs = _lm_eval(folder, config, Path(tmp) / "lm-eval")
    ours_t, ours = _ours(folder, config)
    n = sum(s.n for s in ours.subjects)
    pairs = [
        (q, x)
        for s in ours.subjects
        for q, x in zip(
            s.questions, sorted(theirs["samples"][s.task], key=lambda x: x["doc_id"]), strict=True
        )
    ]
    same = sum(q.correct == bool(x["acc"]) for q, x in pairs)
    # The loglikelihoods themselves, not only the verdicts they give.
    gap = max(
        abs(ours_ll - float(r[0]))
        for q, x in pairs
        for ours_ll, r in zip(q.logliks or [], x["filtered_resps"], strict=True)
    )
    print(f"model {args.model} ({folder}), {len(ours.subjects)} subjects, {n} questions, "
          f"{args.shots}-shot, batch {args.batch_size}, {ours.model.device} {ours.model.dtype}, "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads")  # fmt: skip
    print(f"{'':16}{'wall s':>9}{'CPU s':>9}{'questions/s':>14}{'q/CPU-s':>14}   load avg")
    print(theirs_t.row("lm-eval", n))
    print(ours_t.row("harness", n))
    wall_x, cpu_x = theirs_t.wall_s / ours_t.wall_s, theirs_t.cpu_s / ours_t.cpu_s
    met = "met" if min(wall_x, cpu_x) >= TARGET else "MISSED"
    print(f"speed-up {wall_x:.2f}x wall, {cpu_x:.2f}x CPU (target >= {TARGET:.0f}x: {met}); "
          f"same verdict on {same}/{n} questions; largest loglikelihood gap {gap:.2e}; "
          f"micro acc {ours.micro_acc:.3f}")  # fmt: skip
    if args.bf16:
        _bf16_report(folder, config, ours, n)
    if same != n:
        sys.exit("the verdicts differ from lm-eval's")


if __name__ == "__main__":
    main()
