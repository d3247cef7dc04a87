"""`harness run` end to end, as a user runs it, against the local OpenAI-compatible server.

Each run is a fresh `python -m harness run` process (start-up, run, summary and report
included) with a fresh HARNESS_HOME (nothing cached), against tests/fakeserver.py in its
own process. Prints the wall time at the given latency next to the ideal N x L / C and
the 1.3x target; the time of the same command run again at once (nothing changed: the
run's replay is printed as recorded, harness/quick_replay.py; target < 5 % of the first),
again in an environment with one more variable (the long way: the replay of
harness/replay.py) and with ``--rerun`` (a new run, every answer from the cache); then
the CLI's CPU per case at ~0 latency (target <= 1 ms): the user + sys time of the CLI
process alone
(``getrusage(RUSAGE_CHILDREN)`` around it; the server is a child too but is only reaped
afterwards, so none of its CPU is counted).

    .venv/bin/python bench/cli_throughput.py                     # N=2000, L=100 ms, C=32
    .venv/bin/python bench/cli_throughput.py --n 4000 --repeat 3
    .venv/bin/python bench/cli_throughput.py --baseline 2e07191 --repeat 3

``--baseline REV`` measures only the CPU a case at zero latency, alternating between this
tree and the ``harness/`` of git revision REV (first on ``PYTHONPATH``): this VM's speed
drifts, so only figures taken back to back compare.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The same server and suite as the in-process runner bench (bench/ is on sys.path when a
# script in it runs).
from runner_throughput import SERVE, SUITE  # noqa: E402

#: The CLI, timing the run loop itself too (Runner.run: from the first case to the last
#: commit): what start-up, the summary and the report add is the rest of the wall time.
LAUNCH = """
import importlib.abc, importlib.util, sys, time

spent = []


def timed(run):
    async def timed_run(self, cases):
        started = time.perf_counter()
        try:
            return await run(self, cases)
        finally:
            spent.append(time.perf_counter() - started)

    return timed_run


class TimeRunner(importlib.abc.MetaPathFinder):
    # Patches Runner.run when harness.runner.run is first imported, so that a command that
    # never runs cases (a replay) imports no more than it would.
    def find_spec(self, name, path, target=None):
        if name != "harness.runner.run":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            module.Runner.run = timed(module.Runner.run)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, TimeRunner())
from harness.__main__ import main

sys.argv = ["harness", *sys.argv[1:]]
try:
    code = main()
finally:
    print("runner-s", sum(spent), file=sys.stderr)
sys.exit(code)
"""

#: Wall-time target over the ideal N x L / C, CPU per case at zero latency (s), and a fully
#: cached re-run's share of the first run's time.
WALL_TARGET = 1.3
CPU_TARGET = 0.001
CACHED_TARGET = 0.05


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """The local OpenAI-compatible server in its own process (it must not share our GIL)."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(root=str(ROOT), latency=latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait()


def write_suite(folder: Path, n: int, url: str, concurrency: int) -> None:
    rows = "".join(json.dumps({"q": f"question {i}"}) + "\n" for i in range(n))
    (folder / "rows.jsonl").write_text(rows)
    (folder / "suite.yaml").write_text(SUITE.format(url=url, concurrency=concurrency))


@dataclass
class Timing:
    wall: float
    cpu: float
    #: Seconds in the run loop (Runner.run).
    runner: float


@contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """``harness/`` as it was at ``revision``, in a folder to put first on ``PYTHONPATH``."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", revision, "harness"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


def compare_cpu(n: int, concurrency: int, revision: str, repeat: int) -> None:
    """CPU a case at zero latency, this tree and ``revision`` alternating."""
    found: dict[str, list[float]] = {"this tree": [], revision: []}
    with checked_out(revision) as old, fake_server(0.0) as url:
        for _ in range(repeat):
            for name, path in (("this tree", None), (revision, old)):
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp)
                    write_suite(folder, n, url, concurrency)
                    found[name].append(
                        cli_run(folder, *([f"PYTHONPATH={path}"] if path else [])).cpu
                    )
    for name, cpus in found.items():
        each = ", ".join(f"{c / n * 1000:.2f}" for c in cpus)
        best = min(cpus) / n * 1000
        print(f"N={n}, L=0, C={concurrency}: {name}: {each} ms a case (best {best:.2f})")


def cli_run(folder: Path, *options: str) -> Timing:
    """Wall, CPU (user + sys) and run-loop seconds of one fresh `harness run` in ``folder``
    (an option ``VAR=VALUE`` is set in its environment instead)."""
    variables = dict(o.split("=", 1) for o in options if "=" in o)
    options = tuple(o for o in options if "=" not in o)
    env = {**os.environ, **variables, "HARNESS_HOME": str(folder / "home")}
    # A user's install has its bytecode cached; this machine's environment turns that off.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-c", LAUNCH, "run", "suite.yaml", *options]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"harness run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    runner = float(proc.stderr.rsplit("runner-s", 1)[1].split()[0])
    return Timing(wall, cpu, runner)


def runs(n: int, latency: float, concurrency: int, *again: tuple[str, ...]) -> list[Timing]:
    """A first run (nothing cached), then the same suite run again right after with each
    of ``again``'s options."""
    with fake_server(latency) as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_suite(folder, n, url, concurrency)
        return [cli_run(folder), *(cli_run(folder, *options) for options in again)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is shown")
    parser.add_argument(
        "--baseline", metavar="REV", help="compare the CPU a case with this revision"
    )
    args = parser.parse_args()
    n, c = args.n, args.concurrency
    if args.baseline:
        return compare_cpu(n, c, args.baseline, args.repeat)
    ideal = n * args.latency / c
    again = ((), ("BENCH_OTHER_VARIABLE=1",), ("--rerun",))
    tries = (runs(n, args.latency, c, *again) for _ in range(args.repeat))
    first, quick, replay, rerun = min(tries, key=lambda r: r[0].wall)
    print(
        f"N={n}, L={args.latency * 1000:.0f} ms, C={c}, cache off: wall {first.wall:.2f} s "
        f"(run loop {first.runner:.2f} s), ideal {ideal:.2f} s, {first.wall / ideal:.2f}x ideal "
        f"(target <= {WALL_TARGET}x: {ideal * WALL_TARGET:.2f} s)"
    )
    print(
        f"N={n}: the same command again, nothing changed (quick replay): wall {quick.wall:.2f} "
        f"s = {quick.wall / first.wall:.1%} of the first (target < {CACHED_TARGET:.0%}); in an "
        f"environment with one more variable (replayed the long way): wall {replay.wall:.2f} s "
        f"= {replay.wall / first.wall:.1%}"
    )
    print(
        f"N={n}: again with --rerun, every answer cached: wall {rerun.wall:.2f} s = "
        f"{rerun.wall / first.wall:.1%} of the first; run loop {rerun.runner:.2f} s = "
        f"{rerun.runner / first.runner:.1%} of the first's"
    )
    zero = min((runs(n, 0.0, c)[0] for _ in range(args.repeat)), key=lambda r: r.cpu)
    print(
        f"N={n}, L=0, C={c}, cache off: wall {zero.wall:.2f} s, harness CPU {zero.cpu:.2f} s = "
        f"{zero.cpu / n * 1000:.2f} ms a case, start-up and report included (target <= "
        f"{CPU_TARGET * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
