"""Runner throughput against a local OpenAI-compatible server with a fixed latency.

Prints, for each N, the wall time of `run_suite` (cache off, fresh store) next to the
ideal N x latency / concurrency, the overhead over ideal, and the peak RSS of a fresh
process running it (so memory growth with N is visible).

    .venv/bin/python bench/runner_throughput.py                 # N = 500 1000 2000 4000
    .venv/bin/python bench/runner_throughput.py --n 2000 --latency 0.1 --concurrency 32
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVE = """
import sys, time
sys.path.insert(0, {root!r})
from tests.fakeserver import FakeOpenAIServer
with FakeOpenAIServer(latency={latency}) as url:
    print(url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""

SUITE = """name: throughput
prompts:
  - id: p
    template: "{{{{ q }}}}"
providers:
  - id: api
    type: openai
    model: bench-model
    base_url: {url}
    api_key_env: null
    concurrency: {concurrency}
cases:
  file: rows.jsonl
defaults:
  assert:
    - type: contains
      value: ECHO
"""


def one_run(n: int, latency: float, concurrency: int, sleep: bool = False) -> dict[str, float]:
    """Run N cases in this process; return wall seconds and peak RSS.

    With ``sleep`` the provider's HTTP call is replaced by ``asyncio.sleep(latency)``: what is
    left is the runner's own cost (cache, scoring, store), without the HTTP client's."""
    import harness.scorers.text  # noqa: F401 - import time is not throughput
    from harness.api import run_suite
    from harness.providers import openai_compat
    from harness.results.store import ResultStore

    if sleep:
        openai_compat.OpenAIProvider.generate = _sleeping_generate(latency)
    # The server runs in its own process, as a real one would: it must not share our GIL.
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(root=str(ROOT), latency=latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = "".join(json.dumps({"q": f"question {i}"}) + "\n" for i in range(n))
        (folder / "rows.jsonl").write_text(rows)
        suite = folder / "suite.yaml"
        suite.write_text(SUITE.format(url=url, concurrency=concurrency))
        os.environ["HARNESS_HOME"] = str(folder / "home")
        store = ResultStore(folder / "home" / "results.db")
        started = time.perf_counter()
        outcome = run_suite(suite, store=store, use_cache=False)
        wall = time.perf_counter() - started
        assert outcome.stats.finished == n and outcome.stats.errors == 0
    server.stdin.close()
    server.wait()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": wall, "peak_mb": peak_mb}


def _sleeping_generate(latency: float):
    import asyncio

    from harness.providers.base import Generation

    async def generate(self, request):
        await asyncio.sleep(latency)
        text = "ECHO: " + request.messages[-1].content
        return Generation(text=text, prompt_tokens=5, completion_tokens=3, finish_reason="stop")

    return generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--sleep", action="store_true", help="replace the HTTP call by a sleep: the runner alone"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.n[0], args.latency, args.concurrency, args.sleep)))
        return
    what = "runner alone (HTTP call replaced by a sleep)" if args.sleep else "openai provider, HTTP"
    ms = args.latency * 1000
    print(f"{what}; latency {ms:.0f} ms, concurrency {args.concurrency}, cache off")
    print(f"{'N':>6} {'wall s':>8} {'ideal s':>8} {'overhead':>9} {'peak RSS MB':>12}")
    for n in args.n:
        cmd = [sys.executable, __file__, "--child", "--n", str(n)]
        cmd += ["--latency", str(args.latency), "--concurrency", str(args.concurrency)]
        cmd += ["--sleep"] if args.sleep else []
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        ideal = n * args.latency / args.concurrency
        overhead = result["wall"] / ideal - 1
        wall, peak = result["wall"], result["peak_mb"]
        print(f"{n:>6} {wall:>8.2f} {ideal:>8.2f} {overhead:>8.1%} {peak:>12.0f}")


if __name__ == "__main__":
    main()
