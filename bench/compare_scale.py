"""Compare two stored runs of 100k cases each and render the comparison report.

Setup (not timed) writes two synthetic runs straight into a fresh results store: five
tags, an ``exact`` verdict and a continuous ``rougeL`` per case; run B changes 15 % of
the outputs (and so their scores). The timed part is what ``harness compare A B`` does:
read both runs from the store, pair them, compute every metric on every slice with a
10k-resample paired bootstrap, McNemar / Wilcoxon, and write the HTML report. It runs
in a fresh process, so its peak RSS (interpreter, numpy and scipy included) is its own.

    .venv/bin/python bench/compare_scale.py                  # 100k cases, 10k resamples
    .venv/bin/python bench/compare_scale.py --n 20000 --resamples 2000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TAGS = ["math", "geo", "history", "code", "中文"]
WORDS = ["the", "a", "answer", "is", "of", "to", "in", "model", "paris", "blue", "four", "river",
         "北京", "上海", "year", "because"]  # fmt: skip


def _output(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))


def _record(run_id: str, i: int, output: str, exact: bool, rouge: float, tags: list[str]) -> str:
    scores = [
        {"scorer": "exact", "version": "exact@1", "value": float(exact), "threshold": 1.0,
         "passed": exact, "higher_is_better": True},
        {"scorer": "rougeL", "version": "rougeL@1", "value": rouge, "threshold": 0.5,
         "passed": rouge >= 0.5, "higher_is_better": True},
    ]  # fmt: skip
    return json.dumps(
        {
            "schema_version": 1,
            "run_id": run_id,
            "case_id": f"{run_id}-{i}",
            "request_key": f"key-{run_id}-{i}",
            "prompt_id": "main",
            "provider_id": "model",
            "model": "bench-model",
            "case_set": "main",
            "row_id": f"row-{i:06d}",
            "tags": tags,
            "vars": {"q": f"question {i}"},
            "messages": [{"role": "user", "content": f"question {i}"}],
            "expected": ["paris"],
            "output": output,
            "scores": scores,
            "passed": exact and rouge >= 0.5,
            "finished_at": "2024-05-01T12:00:00Z",
        },
        ensure_ascii=False,
    )


def _row(run_id: str, i: int, record: str, digest: Any) -> tuple[Any, ...]:
    return (run_id, f"{run_id}-{i}", 0, json.dumps(digest(json.loads(record))), record)


def setup(db: Path, n: int, changed: float) -> tuple[str, str]:
    """Two complete runs of ``n`` cases in a new store; B changes ``changed`` of the outputs."""
    from harness.results.models import RunRecord
    from harness.results.store import RESULT_COLUMNS, ResultStore, digest

    store = ResultStore(db)
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for run_id in ("run-a", "run-b"):
        run = RunRecord(
            run_id=run_id,
            suite_name="scale",
            suite_path="scale.yaml",
            suite_hash="h",
            created_at=now,
            finished_at=now,
            status="complete",
            harness_version="bench",
            prompts=["main"],
            n_cases=n,
        )
        store.save_run(run)
    store.close()
    rng = random.Random(0)
    rows_a, rows_b = [], []
    for i in range(n):
        tags = rng.sample(TAGS, rng.choice((1, 1, 2)))
        out = _output(rng)
        rouge = round(rng.betavariate(2, 1.2), 3)
        exact = rng.random() < 0.7
        rows_a.append(_row("run-a", i, _record("run-a", i, out, exact, rouge, tags), digest))
        if rng.random() < changed:
            words = out.split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            out = " ".join(words) + " " + _output(rng)[:30]
            rouge = round(rng.betavariate(2, 1.3), 3)
            exact = rng.random() < 0.65
        rows_b.append(_row("run-b", i, _record("run-b", i, out, exact, rouge, tags), digest))
    with sqlite3.connect(db) as con:  # as ResultStore.add_result writes them, in bulk
        insert = f"INSERT INTO results ({RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
        con.executemany(insert, rows_a + rows_b)
    return "run-a", "run-b"


def measured(db: Path, out: Path, resamples: int) -> dict[str, float]:
    """What `harness compare` does, phase by phase, in this (fresh) process."""
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    from harness.compare import compare, join_runs, read_runs
    from harness.report.compare_html import write_compare_report
    from harness.results.store import ResultStore

    phases["import"] = time.perf_counter() - t0
    t = time.perf_counter()
    store = ResultStore(db)
    a, b = read_runs(store, ["run-a", "run-b"])
    phases["read"] = time.perf_counter() - t
    t = time.perf_counter()
    joined = join_runs(a, b)
    phases["join"] = time.perf_counter() - t
    t = time.perf_counter()
    comparison = compare(joined, a.higher_is_better, resamples=resamples)
    phases["stats"] = time.perf_counter() - t
    t = time.perf_counter()
    write_compare_report([comparison], out, title="scale", runs=[a.run, b.run])
    phases["report"] = time.perf_counter() - t
    phases["total"] = time.perf_counter() - t0
    phases["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    phases["pairs"] = len(joined.pairs)
    phases["slices"] = len(comparison.slices)
    phases["regressions"] = len(comparison.regressions)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases per run")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.15, help="share of B outputs changed")
    parser.add_argument("--child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measured(Path(args.child[0]), Path(args.child[1]), args.resamples)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db, out = Path(tmp) / "results.db", Path(tmp) / "compare.html"
        started = time.perf_counter()
        setup(db, args.n, args.changed)
        print(f"setup: 2 runs x {args.n:,} cases written in {time.perf_counter() - started:.1f} s")
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(db), str(out),
             "--resamples", str(args.resamples)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        m = json.loads(child.stdout)
        size = out.stat().st_size / 1e6
    print(
        f"compare: {int(m['pairs']):,} pairs, {int(m['slices'])} slices x 3 metrics, "
        f"{args.resamples:,} bootstrap resamples, {int(m['regressions']):,} regressions"
    )
    print(
        f"time {m['total']:.2f} s (import {m['import']:.2f}, read {m['read']:.2f}, "
        f"join {m['join']:.2f}, stats {m['stats']:.2f}, report {m['report']:.2f}); "
        f"peak RSS {m['peak_rss_mb']:.0f} MB; report {size:.1f} MB"
    )
    ok = m["total"] < 10 and m["peak_rss_mb"] < 1024 and size < 15
    print("targets (< 10 s, < 1 GB, report < 15 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
