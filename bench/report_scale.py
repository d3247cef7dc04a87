"""Render the run report of N synthetic cases: its size, render time and peak RSS.

The cases look like a real `outputs` run: 2 prompt versions x 1 provider over N/2 rows,
a system and a user message, short outputs (8 to 40 words, some Chinese), an ``exact``
verdict and a continuous ``rougeL`` per case, about 58 % failing. Building them is not timed;
rendering is (what ``harness report`` does after reading the store). Peak RSS is the
whole process's; the RSS once the cases are built is printed beside it.

    .venv/bin/python bench/report_scale.py                 # 100k cases
    .venv/bin/python bench/report_scale.py --n 5000 -o /tmp/report.html
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.providers.base import Message  # noqa: E402
from harness.report.html import render_html  # noqa: E402
from harness.results.models import CaseResult, RunRecord, Score  # noqa: E402

TARGET_MB = 15
PROMPTS = ("v1", "v2")
TAGS = ["math", "geo", "history", "code", "中文"]
WORDS = ["the", "a", "answer", "is", "of", "to", "in", "model", "paris", "blue", "four", "river",
         "北京", "上海", "year", "because"]  # fmt: skip
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def build(n: int) -> tuple[RunRecord, list[CaseResult]]:
    """A complete run of ``n`` cases (``n // 2`` rows x 2 prompt versions, one provider)."""
    rng = random.Random(0)
    results = []
    for i in range(n):
        row, prompt = divmod(i, len(PROMPTS))
        exact = rng.random() < 0.6
        rouge = round(rng.betavariate(2, 1.2), 3)
        scores = [
            Score(scorer="exact", version="exact@1", value=float(exact), threshold=1.0,
                  passed=exact, answer=None if exact else "paris"),
            Score(scorer="rougeL", version="rougeL@1", value=rouge, threshold=0.5,
                  passed=rouge >= 0.5),
        ]  # fmt: skip
        results.append(
            CaseResult(
                run_id="scale",
                case_id=f"main-{PROMPTS[prompt]}-model-{row:06d}",
                request_key=f"key-{i}",
                prompt_id=PROMPTS[prompt],
                provider_id="model",
                model="bench-model",
                row_id=f"row-{row:06d}",
                tags=rng.sample(TAGS, rng.choice((1, 1, 2))),
                messages=[
                    Message(role="system", content="Answer in one short sentence."),
                    Message(role="user", content=f"Question {row}: {_words(rng, 6, 16)}?"),
                ],
                expected=["paris"],
                output=_words(rng, 8, 40),
                latency_s=round(rng.uniform(0.2, 2.0), 3),
                cost_usd=round(rng.uniform(1e-5, 1e-4), 7),
                prompt_tokens=40,
                completion_tokens=30,
                scores=scores,
                passed=exact and rouge >= 0.5,
                finished_at=T0,
            )
        )
    run = RunRecord(
        run_id="scale",
        suite_name="report-scale",
        suite_path="scale.yaml",
        suite_hash="h",
        created_at=T0,
        finished_at=T0,
        status="complete",
        harness_version="bench",
        providers=[{"id": "model", "type": "outputs", "model": "bench-model"}],
        prompts=list(PROMPTS),
        n_cases=n,
    )
    return run, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases (default 100,000)")
    parser.add_argument("-o", "--output", type=Path, help="also write the report here")
    args = parser.parse_args()
    started = time.perf_counter()
    run, results = build(args.n)
    built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"setup: {args.n:,} cases built in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    html = render_html(run, results)
    elapsed = time.perf_counter() - started
    size = len(html.encode("utf-8")) / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.output:
        args.output.write_text(html, encoding="utf-8")
    print(f"report {size:.1f} MB (target < {TARGET_MB} MB), rendered in {elapsed:.2f} s, "
          f"peak RSS {peak:.0f} MB ({built:.0f} MB of it before rendering)")  # fmt: skip
    print("target:", "met" if size < TARGET_MB else "NOT met")


if __name__ == "__main__":
    main()
