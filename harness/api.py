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
from harness.analysis.base import Analysis, AnalysisResult
from harness.analysis.registry import build_analyses, run_analysis
from harness.cases import Plan, build_plan
from harness.embeddings.registry import create_embedder
from harness.errors import HarnessError, StoreError
from harness.providers.base import Provider
from harness.providers.registry import create_provider
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore
from harness.runner.cache import ResponseCache
from harness.runner.context import ScoringContext
from harness.runner.refs import DEFAULT_EMBEDDER
from harness.runner.run import Runner, RunStats
from harness.scorers.base import ModelScorer
from harness.suite.loader import LoadedSuite, load_suite
from harness.suite.schema import EmbeddingsConfig


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
    analyses: list[AnalysisResult]


@dataclass
class Prepared:
    """A suite ready to run: validated, providers built, every case rendered."""

    loaded: LoadedSuite
    providers: list[Provider]
    plan: Plan
    judges: list[Provider]
    analyses: list[Analysis]


def prepare(suite_path: str | Path) -> Prepared:
    """Load, validate and expand a suite; no model is called."""
    loaded = load_suite(suite_path)
    providers = [create_provider(c, loaded.base_dir) for c in loaded.suite.providers]
    judges = [create_provider(c, loaded.base_dir) for c in loaded.suite.judges]
    for provider in [*providers, *judges]:
        provider.check()
    plan = build_plan(loaded, providers)
    return Prepared(loaded, providers, plan, judges, build_analyses(loaded, plan))


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
    runner.scoring = _scoring_context(runner, prepared, cache)
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
    results = store.results(run.run_id)
    return RunOutcome(run, results, stats, resumed, store.analyses(run.run_id))


def _event_loop_run(coro: Coroutine[Any, Any, RunStats]) -> RunStats:
    """uvloop where installed: it halves the event loop's CPU per request at high concurrency."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _scoring_context(
    runner: Runner, prepared: Prepared, cache: ResponseCache | None
) -> ScoringContext:
    """The suite's judges behind the run's cache and retries, and its embedders."""
    suite, base_dir = prepared.loaded.suite, prepared.loaded.base_dir
    judges = {
        p.id: runner.channel(p, c) for p, c in zip(prepared.judges, suite.judges, strict=True)
    }
    embedders = {}
    if _uses_embeddings(prepared.plan):  # the local model's import costs seconds
        configs = suite.embeddings or [EmbeddingsConfig(id=DEFAULT_EMBEDDER)]
        embedders = {c.id: create_embedder(c, base_dir) for c in configs}
    return ScoringContext(judges, embedders, cache)


def _uses_embeddings(plan: Plan) -> bool:
    scorers = {id(b.scorer): b.scorer for case in plan.cases for b in case.row.asserts}
    return any(isinstance(s, ModelScorer) and s.embedders() for s in scorers.values())


async def _run(runner: Runner, prepared: Prepared) -> RunStats:
    try:
        stats = await runner.run(prepared.plan.cases)
        if prepared.analyses:
            results = runner.store.results(runner.run_id)
            for analysis in prepared.analyses:
                found = await run_analysis(analysis, results, runner.scoring.for_case())
                runner.store.save_analysis(runner.run_id, found)
        return stats
    finally:
        for model in [*prepared.providers, *prepared.judges, *runner.scoring.embedders.values()]:
            await model.aclose()


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
