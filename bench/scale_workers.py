"""Throughput of an hf model in 1 process vs N Ray workers (``workers: N``): greedy
generation through :class:`HFProvider` and multiple-choice scoring through ``run_bench``.

Generation: the same prompts, after a warm-up round that loads every worker, as completion
tokens per second of wall time; "same" counts the answers equal to the 1-process ones.
MC scoring: the shared MMLU + C-Eval subjects (``../shared/datasets``), questions per
second, loading included (each run starts its own workers); "same" counts the questions
with the 1-process verdict. Wall time only: the workers' CPU is not this process's. With
1 the model runs in this process (the default); with N each worker gets cores // N torch
threads, and the local Ray cluster is started once, before the timings.

This measures the Ray part only; timing the results store's inserts is not covered here.

    .venv/bin/python bench/scale_workers.py                         # SmolLM2-135M, CPU, 1 vs 2
    .venv/bin/python bench/scale_workers.py --workers 1 2 4 --device cuda --model DIR
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.generate_throughput import QUESTIONS
from harness.bench.run import BenchConfig, offline_env, run_bench
from harness.providers.base import Message, ModelRequest
from harness.providers.hf_local import HFProvider
from harness.providers.ray_pool import connect
from harness.suite.schema import HFProviderConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass
class Row:
    workers: int
    tokens_per_s: float
    texts: list[str]
    questions_per_s: float
    verdicts: list[bool]


async def _generate(args: argparse.Namespace, workers: int) -> tuple[float, list[str]]:
    """Completion tokens per wall second, and the answers."""
    params = {"max_tokens": args.max_tokens}
    prompts = [f"{q} ({i})" for i in range(args.rounds) for q in QUESTIONS]
    requests = [ModelRequest(messages=(Message(role="user", content=p),), params=params)
                for p in prompts]  # fmt: skip
    config = HFProviderConfig(
        type="hf", id="scale", model=args.model, device=args.device,
        batch_size=args.batch_size, workers=workers,
    )  # fmt: skip
    provider = HFProvider(config)
    try:
        # One batch per worker first, so every worker has loaded the model.
        await asyncio.gather(*map(provider.generate, requests[: args.batch_size * workers]))
        started = time.perf_counter()
        results = await asyncio.gather(*map(provider.generate, requests))
        wall = time.perf_counter() - started
    finally:
        await provider.aclose()
    return sum(g.completion_tokens or 0 for g in results) / wall, [g.text for g in results]


def _score(args: argparse.Namespace, workers: int) -> tuple[float, list[bool]]:
    """Questions per wall second (loading included), and each question's verdict."""
    config = BenchConfig(
        tasks=args.tasks, data=args.data, shots=args.shots, limit=args.limit,
        batch_size=args.batch_size, device=args.device, workers=workers,
    )  # fmt: skip
    started = time.perf_counter()
    result = run_bench(args.model, config)
    wall = time.perf_counter() - started
    verdicts = [q.correct for s in result.subjects for q in s.questions]
    return len(verdicts) / wall, verdicts


def main(args: argparse.Namespace) -> None:
    offline_env()
    if any(n > 1 for n in args.workers):
        connect(None)  # the local cluster's start-up is not part of any figure
    rows = []
    for workers in args.workers:
        rate, texts = asyncio.run(_generate(args, workers))
        questions, verdicts = _score(args, workers)
        rows.append(Row(workers, rate, texts, questions, verdicts))
    base = rows[0]
    print(
        f"model {args.model} on {args.device}, {os.cpu_count()} cores; generation: "
        f"{len(base.texts)} prompts, max_tokens {args.max_tokens}, batch {args.batch_size}; "
        f"MC: {args.tasks}, {args.shots}-shot, {len(base.verdicts)} questions"
    )
    print(f"{'workers':>7} {'tok/s':>7} {'speed-up':>8} {'same':>7} "
          f"{'q/s':>6} {'speed-up':>8} {'same':>7}")  # fmt: skip
    for row in rows:
        same_texts = sum(a == b for a, b in zip(row.texts, base.texts, strict=True))
        same_verdicts = sum(a == b for a, b in zip(row.verdicts, base.verdicts, strict=True))
        print(
            f"{row.workers:>7} {row.tokens_per_s:>7.1f} "
            f"{row.tokens_per_s / base.tokens_per_s:>7.2f}x "
            f"{f'{same_texts}/{len(row.texts)}':>7} {row.questions_per_s:>6.2f} "
            f"{row.questions_per_s / base.questions_per_s:>7.2f}x "
            f"{f'{same_verdicts}/{len(row.verdicts)}':>7}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="times each prompt is sent")
    parser.add_argument("--tasks", default="mmlu,ceval")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--limit", type=int, default=10, help="questions per subject")
    main(parser.parse_args())
