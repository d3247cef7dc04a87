"""`harness run` on a large `outputs` suite, as a user runs it: time, peak memory, report size.

Builds N rows of stored outputs (2 prompt versions x 1 provider x N/2 rows, two scorers,
a pass-rate gate), then runs the CLI in a fresh process (start-up, run, summary, gate,
report, ``--junit-xml`` and ``--summary-md`` all included) and prints wall time, peak RSS,
memory per case and the HTML report's size, next to the targets (memory flat in N: under
500 MB at 100k cases; report under 15 MB). A second, fully cached re-run of the finished
suite is timed too.

    .venv/bin/python bench/run_scale.py                # N = 100000
    .venv/bin/python bench/run_scale.py --n 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SUITE = """name: scale
prompts:
  - id: v1
    template: "Q: {{ question }}"
  - id: v2
    template: "Question: {{ question }}"
providers:
  - id: stored
    type: outputs
    column: answer
cases:
  file: rows.jsonl
  id: id
  expected: expected
defaults:
  assert:
    - type: f1
      threshold: 0.5
    - type: contains
      value: Paris
gates:
  - min_pass_rate: 0.5
"""


def write_rows(folder: Path, rows: int) -> None:
    with (folder / "rows.jsonl").open("w") as f:
        for i in range(rows):
            answer = "Paris is the capital" if i % 3 else f"I think it is city number {i}"
            row = {"id": f"q{i}", "question": f"What is the capital of country {i}?",
                   "answer": answer, "expected": "Paris"}  # fmt: skip
            f.write(json.dumps(row) + "\n")


#: Runs the CLI and prints its own peak RSS (KB) last, whatever the exit code.
LAUNCH = """
import resource, sys
from harness.__main__ import main
sys.argv = ["harness", *sys.argv[1:]]
try:
    code = main()
finally:
    print("peak-rss-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_cli(folder: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `harness run` in a fresh process."""
    env = {**os.environ, "HARNESS_HOME": str(folder / "home")}
    # A user's install has its bytecode cached; this machine's environment turns that off.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCH, "run", "suite.yaml", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"harness run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("peak-rss-kb", 1)[1].split()[0])
    return wall, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases (2 per row)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "suite.yaml").write_text(SUITE)
        write_rows(folder, args.n // 2)
        ci = ("--junit-xml", "junit.xml", "--summary-md", "summary.md")
        wall, peak = run_cli(folder, "--report", "first.html", *ci)
        size = (folder / "first.html").stat().st_size / 1e6
        print(f"N={args.n}: first run {wall:.1f} s, peak RSS {peak:.0f} MB "
              f"({peak * 1024 / args.n:.1f} KB a case; target < 500 MB at 100k), "
              f"report {size:.1f} MB (target < 15 MB)")  # fmt: skip
        (folder / "suite.yaml").write_text(SUITE.replace("name: scale", "name: scale-again"))
        again, _ = run_cli(folder, "--report", "again.html", *ci)
        print(
            f"N={args.n}: re-run of the same outputs {again:.1f} s "
            f"({again / wall:.0%} of the first)"
        )


if __name__ == "__main__":
    main()
