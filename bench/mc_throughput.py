"""Multiple-choice (loglikelihood) scoring throughput: ``harness bench`` vs lm-eval's own
HF backend, on the same checkpoint, rows, prompts and batch size, in one process.

Both score the shared MMLU + C-Eval subjects (``../shared/datasets``) from the same task
folder (written once by harness): "ours" is :func:`harness.bench.run_bench` (lm-eval
builds the prompts, :class:`HFProvider` computes the loglikelihoods), "lm-eval" is
``lm_eval.simple_evaluate(model="hf", ...)``. Each time covers loading the model and
scoring; the run checks that both give the same verdict on every question.

    .venv/bin/python bench/mc_throughput.py                      # SmolLM2-135M, 5-shot, CPU
    .venv/bin/python bench/mc_throughput.py --limit 0 --device cuda --model DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness.bench.run import BenchConfig, offline_env, prepare, run_models
from harness.providers.hf_models import _dequantised, device_and_dtype, resolve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TASKS = "mmlu,ceval"


def _checkpoint(model: str) -> str:
    """A transformers folder both sides can load (a GGUF's dequantised copy)."""
    source = resolve(model)
    return str(_dequantised(source) if source.gguf_file else source.folder)


def _lm_eval(folder: str, config: BenchConfig, work: Path) -> tuple[float, dict]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    task_dir = prepare(config, work)
    started = time.perf_counter()
    output = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={folder},dtype={config.dtype}",
        device=config.device,
        tasks=task_dir.names,
        num_fewshot=config.shots,
        batch_size=config.batch_size,
        log_samples=True,
        task_manager=TaskManager(include_path=str(task_dir.include_path), include_defaults=False),
    )
    return time.perf_counter() - started, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--limit", type=int, default=8, help="questions per subject (0: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    offline_env()
    import logging

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
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
        theirs_s, theirs = _lm_eval(folder, config, Path(tmp) / "lm-eval")
        started = time.perf_counter()
        [ours] = run_models([folder], config)
        ours_s = time.perf_counter() - started
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
          f"{args.shots}-shot, batch {args.batch_size}, device {ours.model.device}")  # fmt: skip
    print(f"{'':10}{'seconds':>10}{'questions/s':>14}")
    for name, seconds in (("lm-eval", theirs_s), ("harness", ours_s)):
        print(f"{name:10}{seconds:10.1f}{n / seconds:14.2f}")
    print(f"speed-up {theirs_s / ours_s:.2f}x; same verdict on {same}/{n} questions; "
          f"largest loglikelihood gap {gap:.2e}; micro acc {ours.micro_acc:.3f}")  # fmt: skip
    if same != n:
        sys.exit("the verdicts differ from lm-eval's")


if __name__ == "__main__":
    main()
