"""`harness view` on a 100k-case run: how long its pages take to answer.

Builds a store with one run of N cases (N/4 rows x 2 prompt versions x 2 providers, ~2 KB
records written as ResultStore.add_result writes them, in bulk), opens the app on it (which
adds the grid's index once, timed apart) and times each page through Starlette's TestClient:
the runs page, the grid's first, middle and last page, the failed-rows filter, one case, and
searched grid pages. What happens once per run is timed apart, cold: the first case page
(finding the run's rubric criteria) and the first search (building the run's FTS5 index).

    .venv/bin/python bench/view_scale.py              # N=100000
    .venv/bin/python bench/view_scale.py --n 20000
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPTS, PROVIDERS = ("v1", "v2"), ("model-a", "model-b")
CITIES = ("paris", "berlin", "madrid", "rome", "vienna", "prague", "lisbon", "dublin", "oslo",
          "warsaw", "athens", "sofia", "riga", "tallinn", "vilnius", "bern", "brussels",
          "amsterdam", "copenhagen", "helsinki")  # fmt: skip


def _record(i: int, rng: random.Random) -> str:
    row, cell = divmod(i, 4)
    prompt, provider = PROMPTS[cell // 2], PROVIDERS[cell % 2]
    exact = rng.random() < 0.7
    grade = rng.randint(1, 5)
    city = rng.choice(CITIES)
    return json.dumps(
        {
            "schema_version": 1, "run_id": "run-big", "case_id": f"c{i:07d}",
            "request_key": f"k{i}", "prompt_id": prompt, "provider_id": provider,
            "model": provider, "case_set": "main", "row_id": f"row-{row:06d}",
            "vars": {"q": f"question {row} " + "lorem ipsum " * 20},
            "messages": [{"role": "user", "content": f"question {row} " + "lorem ipsum " * 60}],
            "expected": [city],
            "output": f"ref-{i:07d}: " + f"the answer is {city} " * rng.randint(5, 30),
            "scores": [{"scorer": "exact", "version": "1", "value": float(exact),
                        "threshold": 1.0, "passed": exact},
                       {"name": "accuracy", "scorer": "judge", "version": "judge@1",
                        "value": (grade - 1) / 4, "threshold": 0.75, "passed": grade >= 4,
                        "metadata": {"grade": grade, "scale": [1, 5], "pass_grade": 4,
                                     "rubric": "accuracy"}}],
            "passed": exact, "cost_usd": 0.0001, "finished_at": "2026-05-01T12:00:00Z",
        }
    )  # fmt: skip


def setup(db: Path, n: int) -> None:
    from harness.results.models import RunRecord
    from harness.results.store import ResultStore, digest

    store = ResultStore(db)
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    store.save_run(
        RunRecord(
            run_id="run-big", suite_name="scale", suite_path="scale.yaml", suite_hash="h",
            created_at=now, finished_at=now, status="complete", harness_version="bench",
            prompts=list(PROMPTS), providers=[{"id": p} for p in PROVIDERS], n_cases=n,
        )
    )  # fmt: skip
    store.close()
    rng = random.Random(0)
    rows = []
    for i in range(n):
        record = _record(i, rng)
        rows.append(("run-big", f"c{i:07d}", 0, json.dumps(digest(json.loads(record))), record))
    with sqlite3.connect(db) as con:
        con.executemany(
            "INSERT INTO results (run_id, case_id, errored, digest, record) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    from harness.view import create_app

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "results.db"
        t = time.perf_counter()
        setup(db, args.n)
        print(f"store: {args.n} cases, {db.stat().st_size / 1e6:.0f} MB, "
              f"built in {time.perf_counter() - t:.1f} s")  # fmt: skip
        t = time.perf_counter()
        client = TestClient(create_app(db, reviewer="bench"), base_url="http://127.0.0.1")
        print(f"index (first start only): {time.perf_counter() - t:.2f} s")
        for name, path in {
            "case, first (criteria)": "/runs/run-big/cases/c0000001",
            "search, first (index)": "/runs/run-big?q=paris",
        }.items():
            t = time.perf_counter()
            assert client.get(path).status_code == 200, path
            print(f"{name:28} {(time.perf_counter() - t) * 1000:7.0f} ms  (once per run)")
        size = sum(f.stat().st_size for f in db.parent.iterdir())
        print(f"store with the search index: {size / 1e6:.0f} MB")
        last = -(-args.n // 4 // 50)
        pages = {
            "runs": "/",
            "grid page 1": "/runs/run-big",
            "grid middle page": f"/runs/run-big?page={last // 2}",
            "grid last page": f"/runs/run-big?page={last}",
            "grid failed rows": "/runs/run-big?status=failed&page=10",
            "case": "/runs/run-big/cases/c0000042",
            "search one case": "/runs/run-big?q=ref-0004242",
            "search a city": "/runs/run-big?q=berlin",
            "search a city, page 40": "/runs/run-big?q=berlin&page=40",
            "search every case": "/runs/run-big?q=answer&in=output",
            "search a phrase + failed": '/runs/run-big?q="is+rome"&status=failed',
            "search a short term": "/runs/run-big?q=42",
        }
        for name, path in pages.items():
            client.get(path)  # warm the page cache, as a browsing user has
            t = time.perf_counter()
            response = client.get(path)
            took = time.perf_counter() - t
            assert response.status_code == 200, (path, response.status_code)
            print(f"{name:28} {took * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
