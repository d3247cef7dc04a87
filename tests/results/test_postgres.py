"""A store several processes share: many writers of one run on PostgreSQL lose and duplicate
nothing, a run held by a live process is refused on both backends, and `harness run` /
`runs` / `report` / `compare` / `export` work end to end on a PostgreSQL URL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import StoreError
from harness.results.store import ResultStore
from tests.fakeserver import FakeOpenAIServer

#: One writer: opens the (new) store when told to, all at once, and writes its cases of run
#: "r" in shuffled, overlapping batches.
WRITER = """
import random, sys, time
from pathlib import Path
from datetime import UTC, datetime
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore

url, me, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
now = datetime(2026, 11, 1, tzinfo=UTC)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
store = ResultStore(url)
store.save_run(RunRecord(run_id="r", suite_name="s", suite_path="s.yaml", suite_hash="h",
                         created_at=now, harness_version="t"))
ids = list(range(me * 40, me * 40 + 100))
random.Random(me).shuffle(ids)
for i in range(0, len(ids), 17):
    store.add_results([
        CaseResult(run_id="r", case_id=f"c{n:04d}", request_key="k", prompt_id="p",
                   provider_id="m", model="m", row_id=str(n), messages=[],
                   output=f"writer {me}", passed=True, finished_at=now)
        for n in ids[i : i + 17]
    ])
store.close()
"""

#: Holds the lock on run "r" until its stdin closes.
HOLDER = """
import sys
from harness.results.store import ResultStore
store = ResultStore(sys.argv[1])
store.lock_run("r")
print("locked", flush=True)
sys.stdin.read()
store.unlock_run("r")
store.close()
"""


@pytest.mark.slow
def test_writers_of_overlapping_batches_lose_and_duplicate_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, str(me), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(4)
    ]
    for w in writers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    go.touch()  # all at once: the new database is made once, the batches interleave
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    store = ResultStore(pg_url)
    results = store.results("r")
    expected = [f"c{n:04d}" for n in range(3 * 40 + 100)]
    assert [r.case_id for r in results] == expected and store.count_results("r") == len(expected)
    writers_of = {r.case_id: int(r.output.split()[1]) for r in results}  # type: ignore[union-attr]
    assert all(me * 40 <= int(c[1:]) < me * 40 + 100 for c, me in writers_of.items())
    store.close()


def test_a_run_held_by_a_live_process_is_refused(store_url: str) -> None:
    ResultStore(store_url).close()  # made before the holder starts
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    store = ResultStore(store_url)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=f"being run by process {holder.pid} on "):
            store.lock_run("r")
        with pytest.raises(StoreError, match="being run by process"):
            store.lock_run("r#shard-2-of-2")  # a part of the run another process runs whole
        store.lock_run("r2")  # another run: free
    finally:
        holder.communicate(timeout=30)
    store.lock_run("r")  # released by its holder
    store.close()


SUITE = """name: team-store
prompts: [{{id: p, template: "{{{{ q }}}}"}}]
providers: [{{id: api, type: openai, model: m, base_url: "{url}", api_key_env: null}}]
cases: {{file: rows.jsonl}}
defaults: {{assert: [{{type: contains, value: ECHO}}]}}
"""


@pytest.mark.slow
def test_run_runs_report_compare_and_export_on_a_postgresql_url(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_CACHE_URL", pg_url)  # the cache in the same database
    monkeypatch.chdir(tmp_path)
    rows = "".join(json.dumps({"q": f"question {i} \ud800"}) + "\n" for i in range(6))
    (tmp_path / "rows.jsonl").write_text(rows)
    server = FakeOpenAIServer()
    runs = []
    with server as url:
        (tmp_path / "suite.yaml").write_text(SUITE.format(url=url))
        for again in ([], ["--rerun"]):  # --rerun: a new run of the unchanged suite
            assert main(["run", "suite.yaml", "--db", pg_url, *again]) == 0
            err = capsys.readouterr().err
            runs.append(err.split("Running run ", 1)[1].split()[0])
            time.sleep(1.1)  # run ids are made of the second
        assert "6 cases run: 0 requests, 6 from cache" in err and len(server.requests) == 6
        assert main(["run", "suite.yaml", "--db", pg_url]) == 0  # replayed from PostgreSQL
        assert f"Unchanged since run {runs[1]}" in capsys.readouterr().err
    assert main(["runs", "--db", pg_url]) == 0
    listed = capsys.readouterr().out
    assert all(r in listed for r in runs) and "6/6" in listed
    assert main(["report", runs[0][:-2], "--db", pg_url, "-o", "r.html"]) == 0
    assert "team-store" in (tmp_path / "r.html").read_text()
    assert main(["compare", *runs, "--db", pg_url, "-o", "c.html"]) == 0
    assert (tmp_path / "c.html").exists()
    monkeypatch.setenv("HARNESS_DB_URL", pg_url)  # the variable instead of --db
    assert main(["export", runs[1], "--format", "jsonl", "-o", "e.jsonl"]) == 0
    exported = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert len(exported) == 6
    assert not (tmp_path / "home" / "results.db").exists()
    assert not (tmp_path / "home" / "cache.db").exists()


def test_database_urls_say_which_postgresql_driver_to_use() -> None:
    from harness.results.db import database_url

    for plain in ("postgres://u:pw@h/db", "postgresql://u:pw@h/db"):
        assert database_url(plain).render_as_string() == "postgresql+psycopg://u:***@h/db"
    with pytest.raises(StoreError, match=r"through psycopg 3; use postgresql\+psycopg://"):
        database_url("postgresql+psycopg2://u@h/db")
    with pytest.raises(StoreError, match=r"mysql database .* is not supported"):
        database_url("mysql://u@h/db")
    with pytest.raises(StoreError, match="is not a database URL"):
        database_url("postgresql://u@h:notaport/db")
