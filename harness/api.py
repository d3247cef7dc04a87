"""The Python API: run a suite end to end and get its run record and results."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.cases import Plan, build_plan
from harness.errors import HarnessError, StoreError
from harness.providers.base import Provider
from harness.providers.registry import create_provider
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore
from harness.runner.cache import ResponseCache
from harness.runner.run import Runner, RunStats
from harness.suite.loader import LoadedSuite, load_suite


def harness_home() -> Path:
    """Where the results store and response cache live (``$HARNESS_HOME``, default ``.harness``)."""
    return Path(os.environ.get("HARNESS_HOME", ".harness"))


def default_store() -> ResultStore:
    return ResultStore(harness_home() / "results.db")


@dataclass
class RunOutcome:
    run: RunRecord
    results: list[CaseResult]
    stats: RunStats
    resumed: bool


@dataclass
class Prepared:
    """A suite ready to run: validated, providers built, every case rendered."""

    loaded: LoadedSuite
    providers: list[Provider]
    plan: Plan


def prepare(suite_path: str | Path) -> Prepared:
    """Load, validate and expand a suite; no model is called."""
    loaded = load_suite(suite_path)
    providers = [create_provider(c, loaded.base_dir) for c in loaded.suite.providers]
    for provider in providers:
        provider.check()
    return Prepared(loaded, providers, build_plan(loaded, providers))


def run_suite(
    suite_path: str | Path,
    *,
    store: ResultStore | None = None,
    use_cache: bool = True,
    resume: str | None = None,
    concurrency: int | None = None,
    on_start: Callable[[RunRecord, int, int], None] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> RunOutcome:
    """Run every case of a suite, resuming an unfinished run of the same cases.

    ``on_start(run, total, already_done)`` is called once the run is known.
    Interrupted runs (Ctrl-C) are marked so and re-raise ``KeyboardInterrupt``.
    """
    prepared = prepare(suite_path)
    store = store or default_store()
    run, resumed = _open_run(store, prepared, resume)
    done = len(store.finished_case_ids(run.run_id))
    if on_start is not None:
        on_start(run, len(prepared.plan.cases), done)
    cache = ResponseCache(harness_home() / "cache.db") if use_cache else None
    runner = Runner(
        run_id=run.run_id,
        store=store,
        cache=cache,
        provider_configs={c.id: c for c in prepared.loaded.suite.providers},
        default_concurrency=concurrency or prepared.loaded.suite.concurrency,
        on_result=on_result,
    )
    try:
        stats = _event_loop_run(_run(runner, prepared))
        run.status = "complete"
    except KeyboardInterrupt:
        run.status = "interrupted"
        raise
    except HarnessError:
        run.status = "failed"
        raise
    finally:
        run.finished_at = datetime.now(UTC)
        store.save_run(run)
        if cache is not None:
            cache.close()
    return RunOutcome(run, store.results(run.run_id), stats, resumed)


def _event_loop_run(coro: Coroutine[Any, Any, RunStats]) -> RunStats:
    """uvloop where installed: it halves the event loop's CPU per request at high concurrency."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _run(runner: Runner, prepared: Prepared) -> RunStats:
    try:
        return await runner.run(prepared.plan.cases)
    finally:
        for provider in prepared.providers:
            await provider.aclose()


def _open_run(store: ResultStore, prepared: Prepared, resume: str | None) -> tuple[RunRecord, bool]:
    suite = prepared.loaded.suite
    fingerprint = prepared.plan.fingerprint
    if resume is not None:
        run = store.get_run(resume)
        if run.suite_hash != fingerprint:
            raise StoreError(
                f"run {run.run_id} was made from different cases than {prepared.loaded.path} "
                "has now; run the suite without --resume to start a new run"
            )
    else:
        run = store.latest_unfinished(fingerprint)
    if run is not None:
        run.status = "running"
        store.save_run(run)
        return run, True
    now = datetime.now(UTC)
    run = RunRecord(
        run_id=f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        suite_name=suite.name,
        suite_path=str(prepared.loaded.path),
        suite_hash=fingerprint,
        created_at=now,
        harness_version=__version__,
        providers=[{"id": p.id, **p.identity()} for p in prepared.providers],
        prompts=[p.id for p in suite.prompts],
        n_cases=len(prepared.plan.cases),
    )
    store.save_run(run)
    return run, False
