"""`harness run` end to end, as a user runs it, against the local OpenAI-compatible server.

Each run is a fresh `python -m harness run` process (start-up, run, summary and report
included) with a fresh HARNESS_HOME (nothing cached), against tests/fakeserver.py in its
own process. Prints the wall time at the given latency next to the ideal N x L / C and
the 1.3x target, then the CLI's CPU per case at ~0 latency (target <= 1 ms): the user +
sys time of the CLI process alone (``getrusage(RUSAGE_CHILDREN)`` around it; the server is
a child too but is only reaped afterwards, so none of its CPU is counted).

    .venv/bin/python bench/cli_throughput.py                     # N=2000, L=100 ms, C=32
    .venv/bin/python bench/cli_throughput.py --n 4000 --repeat 3
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

SERVE = """
import sys
sys.path.insert(0, {root!r})
from tests.fakeserver import FakeOpenAIServer
with FakeOpenAIServer(latency={latency}) as url:
    print(url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""

SUITE = """name: cli-throughput
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

#: Wall-time target over the ideal N x L / C, and CPU per case at zero latency (s).
WALL_TARGET = 1.3
CPU_TARGET = 0.001


def cli_run(n: int, latency: float, concurrency: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys) of one fresh `harness run` of N cases."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(root=str(ROOT), latency=latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            rows = "".join(json.dumps({"q": f"question {i}"}) + "\n" for i in range(n))
            (folder / "rows.jsonl").write_text(rows)
            (folder / "suite.yaml").write_text(SUITE.format(url=url, concurrency=concurrency))
            env = {**os.environ, "HARNESS_HOME": str(folder / "home")}
            command = [sys.executable, "-m", "harness", "run", "suite.yaml"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                sys.exit(f"harness run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is shown")
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    ideal = n * args.latency / c
    walls = [cli_run(n, args.latency, c)[0] for _ in range(args.repeat)]
    wall = min(walls)
    print(
        f"N={n}, L={args.latency * 1000:.0f} ms, C={c}, cache off: wall {wall:.2f} s, "
        f"ideal {ideal:.2f} s, {wall / ideal:.2f}x ideal (target <= {WALL_TARGET}x: "
        f"{ideal * WALL_TARGET:.2f} s)"
    )
    zero = [cli_run(n, 0.0, c) for _ in range(args.repeat)]
    zero_wall, cpu = min(zero, key=lambda r: r[1])
    print(
        f"N={n}, L=0, C={c}, cache off: wall {zero_wall:.2f} s, harness CPU {cpu:.2f} s = "
        f"{cpu / n * 1000:.2f} ms a case, start-up and report included (target <= "
        f"{CPU_TARGET * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
