"""``harness bench --workers N`` and a suite's benchmarks on an hf provider with ``workers:``:
the scoring shared over Ray actors (a local 2-CPU cluster, the tiny Llama of conftest),
with exactly the single-process numbers; and the errors without ray or with --suite."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from harness.bench import BenchConfig, BenchResult, run_bench
from harness.cli import main
from harness.results.store import ResultStore

pytest.importorskip("ray")
pytest.importorskip("torch")

from tests.providers.test_ray_workers import WORKERS, cluster, worker_threads

__all__ = ["cluster", "worker_threads"]  # fixtures, used by name

TASKS = "mmlu:abstract_algebra,ceval:computer_network,cmmlu:chinese_history"


def _scored(result: BenchResult) -> list[tuple[str, str, list[float] | None, str | None]]:
    return [(s.key, q.row_id, q.logliks, q.pred) for s in result.subjects for q in s.questions]


def _bench(model: Path, data: Path, *args: str) -> list[str]:
    return ["bench", "--model", str(model), "--tasks", TASKS, "--data", str(data), *args]


def _suite(folder: Path, model: Path, data: Path) -> Path:
    provider = {"batch_size": 2, "workers": WORKERS}
    suite = {
        "name": "bench-workers",
        "providers": [
            {"id": "tiny", "type": "hf", "model": str(model), "dtype": "float32"} | provider
        ],
        "benchmarks": [{"tasks": TASKS, "data": str(data), "shots": 2, "report": "b.html"}],
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, allow_unicode=True), "utf-8")
    return path


@pytest.mark.slow
def test_workers_score_exactly_what_one_process_scores(
    cluster: object,
    worker_threads: None,
    tiny_model: Path,
    dialect_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    config = BenchConfig(TASKS, dialect_data, shots=2, batch_size=2, dtype="float32")
    single = run_bench(str(tiny_model), config)
    js = tmp_path / "r.json"
    argv = _bench(tiny_model, dialect_data, "--shots", "2", "--batch-size", "2")
    argv += ["--dtype", "float32", "--workers", str(WORKERS), "--json", str(js)]
    assert main([*argv, "-o", str(tmp_path / "r.html")]) == 0
    shared = BenchResult.model_validate(json.loads(js.read_text("utf-8"))["result"])
    assert _scored(shared) == _scored(single)  # every loglikelihood ==, not approx
    assert [s.acc for s in shared.subjects] == [s.acc for s in single.subjects]
    assert shared.micro_acc == single.micro_acc and shared.calibration == single.calibration

    assert main(["run", str(_suite(tmp_path, tiny_model, dialect_data))]) == 0
    store = ResultStore(tmp_path / "home" / "results.db")
    suite_run = store.list_runs()[0]
    stored = {r.row_id: r for r in store.results(suite_run.run_id)}
    store.close()
    for s in single.subjects:
        for q in s.questions:
            answer = stored[f"{s.key}/{q.row_id}"]
            assert answer.passed == q.correct and answer.scores[0].answer == q.pred


def test_without_ray_one_line_names_the_extra(
    tiny_model: Path,
    dialect_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert main(_bench(tiny_model, dialect_data, "--workers", "2")) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: model '{tiny_model}' (workers: 2) needs the 'ray' extra (ray not installed): "
        "pip install -c constraints.txt -e '.[ray]'"
    ]


def test_workers_are_for_a_model_not_a_suite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "--suite", str(tmp_path / "s.yaml"), "--workers", "2"]) == 2
    assert "set an hf provider's workers:" in capsys.readouterr().err
