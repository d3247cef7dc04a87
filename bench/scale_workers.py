"""Throughput of an hf model in 1 process vs N Ray workers (``workers: N``): greedy
generation through :class:`HFProvider` and multiple-choice scoring through ``run_bench``.

Generation: the same prompts, after a warm-up round that loads every worker, as completion
tokens per second of wall time; "same" counts the answers equal to the 1-process ones.
MC scoring: the shared MMLU + C-Eval subjects (``../shared/datasets``), questions per
second, loading included (each run starts its own workers); "same" counts the questions
with the 1-process verdict. Wall time only: the workers' CPU is not this process's. With
1 the model runs in this process (the default); with N each worker gets cores // N torch
threads, and the local Ray cluster is started once, before the timings.

``--store``: instead, the results store's insert throughput on SQLite and on PostgreSQL
with 1 and 4 writer processes at once (what n shards or CI jobs writing one store do):
each writer commits its share of ``--rows`` results ``add_results`` batch by batch (100 a
batch, as the runner's writer does), all starting together; rows per second of wall time,
and the count read back. PostgreSQL is ``$HARNESS_BENCH_PG_URL``'s, else a throwaway
server (tests/pg.py) with fsync on, like a real one; SQLite is a WAL file
(synchronous=NORMAL, the store's setting), whose writers take turns on one write lock.

    .venv/bin/python bench/scale_workers.py                         # SmolLM2-135M, CPU, 1 vs 2
    .venv/bin/python bench/scale_workers.py --workers 1 2 4 --device cuda --model DIR
    .venv/bin/python bench/scale_workers.py --store --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.generate_throughput import QUESTIONS
from harness.bench.run import BenchConfig, offline_env, run_bench
from harness.providers.base import Message, ModelRequest
from harness.providers.hf_local import HFProvider
from harness.providers.ray_pool import connect
from harness.results.models import CaseResult, RunRecord, Score
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


def _write_share(url: str, writer: int, writers: int, rows: int, start: float) -> None:
    """One writer process: wait for the common start, then commit every ``writers``-th row."""
    from harness.results.store import ResultStore

    store = ResultStore(url)
    batch = [_result(i) for i in range(writer, rows, writers)]
    time.sleep(max(0.0, start - time.time()))
    for i in range(0, len(batch), 100):
        store.add_results(batch[i : i + 100])
    store.close()


def _result(i: int) -> CaseResult:
    """A typical stored case (~1.5 KB): a short prompt and answer, two scores."""
    return CaseResult(
        run_id="bench", case_id=f"c{i:07d}", request_key=f"k{i}", prompt_id="v1",
        provider_id="p", model="m", row_id=f"r{i}", finished_at=datetime.now(UTC),
        vars={"question": f"question {i} " * 8},
        messages=[Message(role="user", content=f"Answer briefly: question {i} " * 4)],
        expected=[f"answer {i}"], output=f"the answer is {i} " * 6, passed=i % 3 > 0,
        scores=[Score(scorer="exact", name="exact", version="1", value=float(i % 3 > 0),
                      threshold=1.0, passed=i % 3 > 0),
                Score(scorer="f1", name="f1", version="1", value=0.5, threshold=0.5,
                      passed=True)],
    )  # fmt: skip


def _insert_rate(url: str, writers: int, rows: int) -> tuple[float, int]:
    """Rows per wall second with ``writers`` processes at once, and the rows read back."""
    import multiprocessing

    from harness.results.store import ResultStore

    store = ResultStore(url)  # made (and migrated) before the clock starts
    store.save_run(RunRecord(run_id="bench", suite_name="bench", suite_path="bench.yaml",
                             suite_hash="h", created_at=datetime.now(UTC),
                             harness_version="bench"))  # fmt: skip
    context = multiprocessing.get_context("spawn")
    start = time.time() + 3.0  # every process imported and its rows built by then
    procs = [context.Process(target=_write_share, args=(url, w, writers, rows, start))
             for w in range(writers)]  # fmt: skip
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a writer failed (exit {proc.exitcode})")
    wall = time.time() - start
    count = store.count_results("bench")
    store.close()
    return rows / wall, count


def store_main(args: argparse.Namespace) -> None:
    import contextlib
    import tempfile

    from tests.pg import PgServer, pg_binaries, throwaway_server

    with contextlib.ExitStack() as stack:
        pg = os.environ.get("HARNESS_BENCH_PG_URL")
        if pg is None:
            binaries = pg_binaries()
            if binaries is None:
                raise SystemExit("PostgreSQL is not installed; set HARNESS_BENCH_PG_URL")
            pg = stack.enter_context(throwaway_server(binaries, durable=True))
        server = PgServer(pg)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print(f"{args.rows} results of ~1.5 KB, batches of 100, {os.cpu_count()} cores")
        print(f"{'store':>10} {'writers':>7} {'rows/s':>8} {'read back':>9}")
        for backend in ("sqlite", "postgresql"):
            for writers in (1, 4):
                if backend == "sqlite":
                    url = f"sqlite:///{folder / f'w{writers}.db'}"
                else:
                    url = server.create_database()
                rate, count = _insert_rate(url, writers, args.rows)
                print(f"{backend:>10} {writers:>7} {rate:>8.0f} {count:>9}")


def main(args: argparse.Namespace) -> None:
    if args.store:
        return store_main(args)
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
    parser.add_argument("--store", action="store_true", help="time the store's inserts instead")
    parser.add_argument("--rows", type=int, default=20_000, help="results the --store writers add")
    main(parser.parse_args())
