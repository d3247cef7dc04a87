"""Data parallel over Ray: ``workers`` copies of a local model, each in a Ray actor.

The provider keeps its own queue and micro-batching; each batch it forms goes to whichever
worker is free (:class:`ActorPool`), so the runner still gets one answer per call and
commits each case as that call returns. Loglikelihood requests are planned into forward
batches once (by a worker, from the tokens), and the batches are shared out: a batch
scores the same rows, padded the same way, wherever it runs, so the numbers equal a
single-process run's.

A worker that dies (killed, out of memory) before it answers is restarted by Ray, and
what it was running goes to the next free worker: nothing is lost, and since only an
answer that arrives is used, nothing is answered twice. A call whose worker died
:data:`MAX_ATTEMPTS` times fails (a request that crashes every worker must not go round
forever).

The cluster is the provider's ``ray_address``, else ``$HARNESS_RAY_ADDRESS`` (what
``--ray-address`` sets), else a local cluster started on first use, which ends with the
process. Ray is imported only here, when a pool starts: never for ``harness --help``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError, PermanentProviderError
from harness.providers.base import Generation, ModelRequest
from harness.providers.hf_loglik import (
    Batch,
    Plan,
    Progress,
    RollingScore,
    RollingWindows,
    Scores,
)
from harness.suite.schema import GenerationParams

#: The environment variable naming the Ray cluster when a provider names none.
RAY_ADDRESS_ENV = "HARNESS_RAY_ADDRESS"
#: Workers one call may lose before it fails.
MAX_ATTEMPTS = 3
#: Times Ray restarts a worker that died.
MAX_RESTARTS = 3
#: Where a Ray node keeps its processes' logs (by default).
LOGS = "/tmp/ray/session_latest/logs"
#: Seconds to wait for a cluster's address to accept a connection.
CONNECT_TIMEOUT_S = 5.0

_connecting = threading.Lock()


def cluster_address(configured: str | None) -> str | None:
    """The Ray cluster to use: the configured one, else ``$HARNESS_RAY_ADDRESS``; None
    for a local cluster of this machine."""
    return configured or os.environ.get(RAY_ADDRESS_ENV) or None


def on_ray(workers: int, address: str | None) -> bool:
    """Whether a model with ``workers`` copies and this configured address runs on Ray."""
    return workers > 1 or cluster_address(address) is not None


def connect(address: str | None) -> Any:
    """The ``ray`` module, connected to ``address`` (None: a local cluster started now,
    unless this process is connected already)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read when ray is imported
    import ray

    with _connecting:
        if ray.is_initialized():
            return ray
        # Workers' output would tear through the progress bar; errors come back as values.
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address is None:
                ray.init(address="local", include_dashboard=False, **options)
            else:
                ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise PermanentProviderError(
                f"cannot start or reach {where}: {_first_line(e)}"
            ) from None
    return ray


class ActorPool:
    """``size`` actors of ``cls``, built with ``args``; each call goes to a free one.

    Each actor asks the cluster for an equal share of its CPUs (at most one) and, when
    ``gpus`` and the cluster has GPUs, of those (one each when there are enough); it is
    told to use ``threads`` = this machine's cores // ``size`` threads.
    """

    def __init__(
        self,
        cls: type,
        args: tuple[Any, ...],
        size: int,
        *,
        address: str | None,
        gpus: bool,
        label: str,
    ) -> None:
        ray = connect(address)
        self._errors = ray.exceptions
        self._cancel = ray.cancel
        self._kill = ray.kill
        resources = ray.cluster_resources()
        cluster_gpus = resources.get("GPU", 0) if gpus else 0
        options = {
            "num_cpus": min(1.0, resources.get("CPU", 1) / size),
            "num_gpus": min(1.0, cluster_gpus / size),
            "max_restarts": MAX_RESTARTS,
            "max_task_retries": 0,  # a call lost with its worker is sent on by call()
        }
        threads = max(1, (os.cpu_count() or 1) // size)
        remote = ray.remote(cls)
        run = uuid.uuid4().hex[:8]
        self.actors = [
            remote.options(**options, name=f"{label}-{run}-{i}").remote(*args, threads=threads)
            for i in range(size)
        ]
        self.alive = list(self.actors)
        #: Calls sent on because the worker running them died.
        self.resent = 0
        self._free: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def call(self, method: str, *args: Any) -> Any:
        """``method(*args)`` on a free actor; on another one if that one dies first. An
        error the method raises is raised here as itself."""
        died: Exception | None = None
        for _ in range(MAX_ATTEMPTS):
            actor = await self._take()
            ref = getattr(actor, method).remote(*args)
            try:
                result = await asyncio.wrap_future(ref.future())
            except asyncio.CancelledError:
                self._cancel(ref)
                self._give_back(actor)
                raise
            except self._errors.RayTaskError as e:
                self._give_back(actor)
                raise e.cause if isinstance(e.cause, Exception) else e from None
            except self._errors.ActorDiedError as e:  # restarts used up: gone for good
                died = e
                self._lose(actor)
            except self._errors.RayActorError as e:  # killed: Ray restarts it
                died = e
                self._give_back(actor)
            else:
                self._give_back(actor)
                return result
            self.resent += 1
        raise PermanentProviderError(
            f"{method} lost its Ray worker {MAX_ATTEMPTS} times (their logs: the cluster's "
            f"{LOGS}); last: {_first_line(died)}"
        )

    async def close(self) -> None:
        """Kill every actor (its memory, GPU included, is freed now)."""
        for actor in self.actors:
            self._kill(actor, no_restart=True)
        self.alive = []

    async def _take(self) -> Any:
        queue = self._queue()
        actor = await queue.get()
        if actor is None:  # every actor is gone; wake the next waiter too
            queue.put_nowait(None)
            raise PermanentProviderError(
                f"all {len(self.actors)} Ray workers died, each restarted {MAX_RESTARTS} times "
                f"(their logs: the cluster's {LOGS})"
            )
        return actor

    def _give_back(self, actor: Any) -> None:
        self._queue().put_nowait(actor)

    def _lose(self, actor: Any) -> None:
        self.alive.remove(actor)
        if not self.alive:
            self._queue().put_nowait(None)

    def _queue(self) -> asyncio.Queue[Any]:
        """The free actors, queued in this event loop (a pool outlives an
        ``asyncio.run``; the actors busy in an earlier loop are free again)."""
        loop = asyncio.get_running_loop()
        if self._free is None or self._loop is not loop:
            self._free, self._loop = asyncio.Queue(), loop
            for actor in self.alive or [None]:
                self._free.put_nowait(actor)
        return self._free


class ModelWorker:
    """One copy of the model, inside a Ray actor: ``load()`` builds it there (a failed load
    answers every call with its error rather than killing the actor)."""

    def __init__(self, load: Callable[[], Any], *, threads: int) -> None:
        self.runtime: Any = None
        self.error: HarnessError | None = None
        try:
            self.runtime = load()
        except HarnessError as e:
            self.error = e
            return
        import torch

        torch.set_num_threads(threads)

    def pid(self) -> int:
        return os.getpid()

    def generate(
        self, requests: list[ModelRequest], params: GenerationParams
    ) -> list[Generation | Exception]:
        if self.error is not None:
            return [self.error] * len(requests)
        return self.runtime.generate_batch(requests, params)

    def plan_pairs(self, pairs: list[tuple[str, str]]) -> Plan:
        return self._scorer().plan_pairs(pairs)

    def plan_rolling(self, texts: list[str]) -> tuple[RollingWindows, Plan]:
        scorer = self._scorer()
        windows = scorer.rolling_windows(texts)
        return windows, scorer.plan(windows.pairs)

    def run(self, batch: Batch) -> Scores:
        return self._scorer().run(batch)

    def _scorer(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.runtime.scorer


class ModelWorkers:
    """A model's :class:`ModelWorker` actors, answering as the in-process model does."""

    def __init__(self, load: Callable[[], Any], size: int, **pool: Any) -> None:
        self.pool = ActorPool(ModelWorker, (load,), size, **pool)

    async def generate(
        self, requests: list[ModelRequest], params: GenerationParams
    ) -> list[Generation | Exception]:
        return await self.pool.call("generate", requests, params)

    async def loglikelihood(
        self, pairs: list[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        plan = await self.pool.call("plan_pairs", pairs)
        return await self._execute(plan, progress)

    async def loglikelihood_rolling(self, texts: list[str]) -> list[RollingScore]:
        windows, plan = await self.pool.call("plan_rolling", texts)
        return windows.totals(await self._execute(plan))

    async def _execute(
        self, plan: Plan, progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """Every batch of ``plan``, in order, each on the next free worker."""
        scores: Scores = {}
        done = 0

        async def one(batch: Batch) -> None:
            nonlocal done
            scores.update(await self.pool.call("run", batch))
            done += len(batch.rows)
            if progress is not None:
                progress(done, plan.rows)

        tasks = [asyncio.ensure_future(one(batch)) for batch in plan.batches]
        try:
            await asyncio.gather(*tasks)
        finally:  # one failed (or the caller gave up): the others stop too
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return plan.results(scores)

    async def close(self) -> None:
        await self.pool.close()


def check_reachable(address: str) -> None:
    """Fail at once on a ``host:port`` (or ``ray://host:port``) nothing listens on: Ray
    itself would keep retrying for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and the like: Ray finds the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise PermanentProviderError(
            f"cannot reach the Ray cluster at {address} ({e}); start one there with "
            "`ray start --head` or fix the address"
        ) from None


def _first_line(error: Exception | None) -> str:
    if error is None:
        return "?"
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
