"""Greedy generation throughput of the hf provider: one prompt at a time vs micro-batched.

Sends the same 16 short questions through :class:`HFProvider` (the runner's code path)
once per batch size, after a warm-up that loads the model, and prints completion tokens
per second of wall time and per second of this process's CPU time (which other load on
the machine does not inflate), the speed-up over batch 1, and how many answers match the
batch-1 answers. The first "load s" includes importing torch and transformers.

    .venv/bin/python bench/generate_throughput.py                       # SmolLM2-135M, CPU
    .venv/bin/python bench/generate_throughput.py --model DIR --batch-sizes 1 4 8 --device cuda
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

from harness.providers.base import Message, ModelRequest
from harness.providers.hf_local import HFProvider
from harness.suite.schema import HFProviderConfig

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What colour is the sky on a clear day?",
    "Name a planet in the solar system.",
    "What is 7 times 8?",
    "Who wrote Romeo and Juliet?",
    "What is the boiling point of water in Celsius?",
    "Translate 'thank you' into Spanish.",
    "What gas do plants absorb?",
    "Name a primary colour.",
    "What is the largest ocean?",
    "How many days are in a week?",
    "What language is spoken in Brazil?",
    "What is the opposite of hot?",
    "Which animal is known as the king of the jungle?",
    "What is the square root of 81?",
]


@dataclass
class Row:
    batch_size: int
    load_s: float
    wall_s: float
    cpu_s: float
    tokens: int
    texts: list[str]


async def _measure(args: argparse.Namespace, batch_size: int) -> Row:
    requests = [
        ModelRequest(
            messages=(Message(role="user", content=q),), params={"max_tokens": args.max_tokens}
        )
        for q in QUESTIONS
    ]
    config = HFProviderConfig(
        type="hf", id="bench", model=args.model, device=args.device, batch_size=batch_size
    )
    provider = HFProvider(config)
    try:
        started = time.perf_counter()
        await provider.generate(requests[0])  # load the model
        load_s = time.perf_counter() - started
        wall, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(provider.generate(r) for r in requests))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await provider.aclose()
    tokens = sum(g.completion_tokens or 0 for g in results)
    return Row(batch_size, load_s, wall, cpu, tokens, [g.text for g in results])


async def main(args: argparse.Namespace) -> None:
    rows = [await _measure(args, batch_size) for batch_size in args.batch_sizes]
    base = rows[0]
    print(f"model {args.model}, {len(QUESTIONS)} prompts, max_tokens {args.max_tokens}, greedy")
    print(
        f"{'batch':>5} {'load s':>7} {'wall s':>7} {'tokens':>6} {'tok/s':>7} {'speed-up':>8} "
        f"{'tok/cpu-s':>9} {'speed-up':>8} same"
    )
    for row in rows:
        same = sum(a == b for a, b in zip(row.texts, base.texts, strict=True))
        rate, cpu_rate = row.tokens / row.wall_s, row.tokens / row.cpu_s
        print(
            f"{row.batch_size:>5} {row.load_s:>7.1f} {row.wall_s:>7.2f} {row.tokens:>6} "
            f"{rate:>7.1f} {rate / (base.tokens / base.wall_s):>7.2f}x {cpu_rate:>9.1f} "
            f"{cpu_rate / (base.tokens / base.cpu_s):>7.2f}x {same}/{len(row.texts)}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    asyncio.run(main(parser.parse_args()))
