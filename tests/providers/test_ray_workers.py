"""``workers: N`` on hf providers: the model in N Ray actors on a local 2-CPU cluster (the
tiny Llama of test_hf_local), answering exactly as one process does, surviving a worker
killed mid-run, on an existing cluster named with ``--ray-address``, and a clear error
without ray installed."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # read when ray is imported
pytest.importorskip("torch")
pytest.importorskip("ray")

import ray
import torch

from harness.api import run_suite
from harness.cli import main
from harness.errors import PermanentProviderError
from harness.providers import ray_pool
from harness.providers.hf_local import HFProvider
from harness.results.store import ResultStore
from tests.providers import test_hf_local as tiny

hf_llama = tiny.hf_llama
WORKERS = 2
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    ray.init(
        num_cpus=WORKERS,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def worker_threads() -> Iterator[None]:
    """This process computes with a worker's torch threads (cores // workers) while it
    makes the single-process reference: on CPU some torch kernels (flash attention on short
    rows) round differently with another thread count, whatever runs them."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // WORKERS))
    yield
    torch.set_num_threads(before)


def _provider(folder: Path, **config: Any) -> HFProvider:
    return tiny._provider(folder, dtype="float32", batch_size=3, **config)


async def _everything(provider: HFProvider) -> tuple[list[Any], list[Any], list[Any]]:
    """Generations, loglikelihoods and rolling loglikelihoods from one provider."""
    requests = [tiny._request(f"{q} {i}", max_tokens=12) for i in range(4) for q in tiny.QUESTIONS]
    texts = [" ".join(tiny.SENTENCES * 6), *tiny.SENTENCES]  # the first: over 256 tokens
    try:
        generations = await asyncio.gather(*map(provider.generate, requests))
        scores = await provider.loglikelihood(tiny.LOGLIK_PAIRS + tiny.FEW_SHOT_PAIRS)
        rolling = await provider.loglikelihood_rolling(texts)
        return generations, scores, rolling
    finally:
        await provider.aclose()


@pytest.mark.slow
def test_workers_answer_exactly_what_one_process_answers(
    cluster: Any, hf_llama: Path, worker_threads: None
) -> None:
    one_generations, one_scores, one_rolling = asyncio.run(_everything(_provider(hf_llama)))
    provider = _provider(hf_llama, workers=WORKERS)
    assert provider.on_ray and provider.default_concurrency == 3 * 2 * WORKERS
    generations, scores, rolling = asyncio.run(_everything(provider))
    assert [g.text for g in generations] == [g.text for g in one_generations]
    assert [g.completion_tokens for g in generations] == [
        g.completion_tokens for g in one_generations
    ]
    assert len({g.text for g in generations}) > 1
    assert scores == one_scores and rolling == one_rolling  # ==, not approx
    assert rolling[0].windows > 1


def _suite(folder: Path, cases: int, **provider: Any) -> Path:
    """A suite of ``cases`` questions for the tiny Llama."""
    suite = {
        "name": "workers",
        "prompts": [{"id": "v1", "template": "{{ q }}"}],
        "providers": [
            {"id": "tiny", "type": "hf", "dtype": "float32", "params": {"max_tokens": 24}}
            | provider
        ],
        "cases": [
            {"vars": {"q": f"{tiny.QUESTIONS[i % 6]} {i}"}, "expected": "-"} for i in range(cases)
        ],
        "defaults": {"assert": [{"type": "exact"}]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _outputs(store: ResultStore, run_id: str) -> dict[str, str | None]:
    results = list(store.iter_results(run_id))
    assert all(r.error is None for r in results), [r.error for r in results]
    return {r.case_id: r.output for r in results}


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_case_and_repeats_none(
    cluster: Any,
    hf_llama: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    worker_threads: None,
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    cases = 24
    store = ResultStore(tmp_path / "results.db")
    one = run_suite(_suite(tmp_path / "one", cases, model=str(hf_llama), batch_size=2), store=store)
    pools: list[ray_pool.ActorPool] = []
    pids: list[int] = []
    start = ray_pool.ActorPool.__init__

    def spy(self: ray_pool.ActorPool, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        pools.append(self)
        pids.extend(ray.get([actor.pid.remote() for actor in self.actors]))

    monkeypatch.setattr(ray_pool.ActorPool, "__init__", spy)
    seen: list[str] = []

    def kill_after_the_first(result: Any) -> None:
        if not seen:
            os.kill(pids[0], signal.SIGKILL)
        seen.append(result.case_id)

    path = _suite(tmp_path / "two", cases, model=str(hf_llama), batch_size=2, workers=WORKERS)
    two = run_suite(path, store=store, use_cache=False, on_result=kill_after_the_first)
    [pool] = pools
    assert pool.resent >= 1  # the dead worker's batch ran again elsewhere
    assert Counter(seen) == Counter(set(seen)) and len(seen) == cases  # each case once
    assert _outputs(store, two.run.run_id) == _outputs(store, one.run.run_id)
    assert two.stats.requests == cases


@pytest.mark.slow
def test_workers_that_die_every_time_fail_the_call_rather_than_hang(cluster: Any) -> None:
    """A request that kills whichever worker runs it (here: each dies as it starts) is
    retried on other workers a bounded number of times, then fails with a clear error."""
    workers = ray_pool.ModelWorkers(
        partial(os._exit, 3), WORKERS, address=None, gpus=False, label="harness-test-dies"
    )

    async def go() -> Any:
        try:
            return await asyncio.wait_for(workers.generate([tiny._request("hi")], None), 300)
        finally:
            await workers.close()

    with pytest.raises(PermanentProviderError, match="Ray worker"):
        asyncio.run(go())
    assert workers.pool.resent >= 1


def test_without_ray_one_line_names_the_extra(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = _suite(tmp_path, 1, model=str(hf_llama), workers=WORKERS)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: hf provider 'tiny' (workers: 2) needs the 'ray' extra (ray not installed): "
        "pip install -c constraints.txt -e '.[ray]'"
    ]


def test_an_address_nothing_listens_on_fails_at_once(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """(Ray itself would retry for minutes.) Also with one worker: an address means Ray."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = _suite(tmp_path, 1, model=str(hf_llama))
    assert main(["run", str(path), "--ray-address", f"127.0.0.1:{_free_port()}"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "cannot reach the Ray cluster at 127.0.0.1:" in line and "ray start --head" in line
    assert ray_pool.RAY_ADDRESS_ENV not in os.environ  # only while the command ran


def test_a_device_with_an_index_is_refused_with_workers(hf_llama: Path) -> None:
    with pytest.raises(PermanentProviderError, match="auto, cpu or cuda"):
        _provider(hf_llama, workers=2, device="cuda:1").check()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ray_address_runs_the_workers_on_an_existing_cluster(
    hf_llama: Path, tmp_path: Path
) -> None:
    """`ray start --head`, then `harness run --ray-address` in a process of its own (this
    one may be connected to the module's cluster already)."""
    port = _free_port()
    env = os.environ | {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",  # a throwaway cluster on this machine
        "HARNESS_HOME": str(tmp_path / "home"),
    }
    temp = Path("/tmp") / f"ray-{port}"  # Ray's socket paths must stay short
    ray_bin = Path(sys.executable).with_name("ray")
    path = _suite(tmp_path, 4, model=str(hf_llama), workers=WORKERS, batch_size=2)
    with subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its daemons in its process group, killed with it
    ) as head:  # fmt: skip
        try:
            assert head.stdout is not None
            assert any("Ray runtime started" in line for line in head.stdout)
            done = subprocess.run(
                [sys.executable, "-m", "harness", "run", str(path), "--ray-address",
                 f"127.0.0.1:{port}"],
                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
            )  # fmt: skip
            logs = {p.resolve() for p in temp.glob("session_*/logs/worker-*.out")}
            lines = [line for p in logs for line in p.read_text(errors="replace").splitlines()]
        finally:
            os.killpg(head.pid, signal.SIGKILL)
            shutil.rmtree(temp, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 cases run: 4 requests, 0 from cache, 0 retries, 0 errors" in done.stderr
    assert lines.count(":actor_name:ModelWorker") == WORKERS  # they ran on that cluster


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    from harness.providers.ray_pool import _first_line

    assert _first_line(RuntimeError("boom\nmore")) == "boom"
    assert _first_line(RuntimeError()) == "RuntimeError" and _first_line(None) == "?"
