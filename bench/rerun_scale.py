"""A re-run of a finished `outputs` suite, as a user runs it.

bench/run_scale.py's suite and rows (N cases: 2 prompt versions x N/2 rows of stored
outputs), its `f1` assertion swapped for ``--scorer``, each run a fresh `harness run`
process (start-up, run, summary, gate and report included). Prints the first run's wall
time, then two re-runs': the same suite again (nothing changed: the finished run's replay
is printed as recorded, see harness/quick_replay.py; target under 10 s at 100k cases), and
the same outputs in a renamed suite (a new run: every case scored again, where with
`rougeL` (the default) or `bleu`/`chrf` each case's stored scores are read back from the
cache db instead of computed, harness/runner/memo.py; with `f1` it scores again, cheaper
than the lookup on short answers).

    .venv/bin/python bench/rerun_scale.py --n 20000
    .venv/bin/python bench/rerun_scale.py --n 100000 --scorer f1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from run_scale import SUITE, run_cli, write_rows

#: Seconds a re-run of 100k cases may take.
TARGET_100K = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases (2 per row)")
    parser.add_argument("--scorer", default="rougeL", help="replaces run_scale's f1")
    args = parser.parse_args()
    suite = SUITE.replace("type: f1", f"type: {args.scorer}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "suite.yaml").write_text(suite)
        write_rows(folder, args.n // 2)
        first, _ = run_cli(folder)
        again, _ = run_cli(folder)
        (folder / "suite.yaml").write_text(suite.replace("name: scale", "name: scale-again"))
        renamed, _ = run_cli(folder)
    print(
        f"N={args.n}, {args.scorer} + contains: first run {first:.1f} s; the same suite again "
        f"(replayed) {again:.1f} s ({again / first:.0%} of the first; target < "
        f"{TARGET_100K:.0f} s at 100k); the same outputs in a renamed suite (a new run) "
        f"{renamed:.1f} s ({renamed / first:.0%})"
    )


if __name__ == "__main__":
    main()
