"""The Python API: run a suite end to end and get its run record and results."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from harness import __version__
from harness.analysis.base import Analysis, AnalysisResult
from harness.analysis.registry import build_analyses, run_analysis
from harness.cases import Case, Plan, build_plan, repeat_cases
from harness.embeddings.registry import create_embedder
from harness.errors import HarnessError, SelectionError, StoreError
from harness.locations import default_cache, default_store
from harness.providers.base import Provider
from harness.providers.from_suite import prepare_models
from harness.results.models import CaseResult, RunRecord
from harness.results.store import ResultStore, StoredResults
from harness.runner.cache import ResponseCache
from harness.runner.context import ScoringContext
from harness.runner.run import Runner, RunStats
from harness.scorers.base import ModelScorer
from harness.selection import Selection, run_to_retry, select_cases
from harness.sharding import Shard
from harness.suite.gate_names import check_gate_names
from harness.suite.loader import LoadedSuite, load_suite
from harness.suite.refs import DEFAULT_EMBEDDER
from harness.suite.schema import EmbeddingsConfig


@dataclass
class RunOutcome:
    run: RunRecord
    #: The run's results in the store, read one at a time on each pass: what ``harness run``
    #: summarises and reports, in flat memory at any size.
    stored: StoredResults
    stats: RunStats
    resumed: bool
    analyses: list[AnalysisResult]
    #: The suite's allowance of errored cases (``max_error_rate``).
    max_error_rate: float = 0.0
    #: Whether scoring used an embedder (its weights are not part of a replay's inputs).
    used_embedders: bool = False

    @cached_property
    def results(self) -> list[CaseResult]:
        """Every result as one list, read from the store on first use (~6 KB a case: for
        small runs, tests and the pytest plugin; :attr:`stored` streams them)."""
        return list(self.stored)


@dataclass
class Prepared:
    """A suite ready to run: validated, providers built, every case rendered."""

    loaded: LoadedSuite
    providers: list[Provider]
    plan: Plan
    judges: list[Provider]
    analyses: list[Analysis]


def prepare(
    suite_path: str | Path, *, require_keys: bool = True, repeat: int | None = None
) -> Prepared:
    """Load, validate and expand a suite; no model is called.

    ``repeat`` (``--repeat N``) overrides the suite's ``repeat:``: each case that many times.

    API keys come from the environment, or from a ``.env`` file beside the suite or in the
    working directory (the environment wins). ``require_keys=False`` (``harness validate``)
    plans the cases of a provider whose key is unset instead of refusing it:
    :func:`harness.providers.from_suite.missing_keys` says which."""
    loaded = load_suite(suite_path)
    providers, judges = prepare_models(loaded, require_keys=require_keys)
    times = loaded.suite.repeat if repeat is None else repeat
    plan = repeat_cases(build_plan(loaded, providers), times)
    check_gate_names(loaded, plan.cases)
    return Prepared(loaded, providers, plan, judges, build_analyses(loaded, plan))


def run_suite(
    suite_path: str | Path,
    *,
    store: ResultStore | None = None,
    use_cache: bool = True,
    resume: str | None = None,
    concurrency: int | None = None,
    select: Selection | None = None,
    repeat: int | None = None,
    retry_errors: bool = False,
    shard: Shard | None = None,
    run_id: str | None = None,
    on_start: Callable[[RunRecord, int, int], None] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> RunOutcome:
    """Run every case of a suite, resuming an unfinished run of the same cases.

    ``select`` runs only some cases, as a run of their own (see :mod:`harness.selection`);
    ``repeat`` runs each case that many times; ``retry_errors`` reopens the latest complete
    run of these cases and re-runs only its errored ones. ``shard`` runs only that part of
    the cases, into the run named ``run_id`` that the other shards share (see
    :mod:`harness.sharding`); ``run_id`` alone names a new run or resumes that one.
    ``on_start(run, total, already_done)`` is called once the run is known.
    Interrupted runs (Ctrl-C) are marked so and re-raise ``KeyboardInterrupt``.
    """
    if run_id is not None and (resume is not None or retry_errors):
        raise SelectionError(
            "--run-id names the run to write; --resume and --retry-errors choose one already "
            "stored: give one or the other"
        )
    prepared = prepare(suite_path, repeat=repeat)
    store = store or default_store()
    if select is not None:
        prepared.plan = select_cases(prepared.loaded, prepared.plan, select, store)
    if retry_errors:
        resume = run_to_retry(store, prepared.plan, prepared.loaded.path).run_id
    if shard is not None and run_id is None:
        raise SelectionError(
            f"--shard {shard} needs --run-id ID, the same in every shard's job (e.g. "
            "--run-id ci-$GITHUB_RUN_ID), so the shards write one run"
        )
    run, resumed = _open_run(store, prepared, resume or run_id, create=run_id)
    mine = prepared.plan.cases if shard is None else shard.pick(prepared.plan.cases)
    lock = run.run_id if shard is None else shard.lock_key(run.run_id)
    store.lock_run(lock)
    try:
        finished = store.finished_case_ids(run.run_id)
        if on_start is not None:
            on_start(run, len(mine), sum(c.case_id in finished for c in mine))
        # --no-cache: nothing is read from the cache, and fresh answers still refresh it
        cache = default_cache()
        runner = Runner(
            run_id=run.run_id,
            store=store,
            cache=cache,
            provider_configs={c.id: c for c in prepared.loaded.suite.providers},
            default_concurrency=concurrency or prepared.loaded.suite.concurrency,
            read_cache=use_cache,
            on_result=on_result,
        )
        runner.scoring = _scoring_context(runner, prepared, cache)
        try:
            stats = _event_loop_run(_run(runner, prepared, mine))
            run.status = "complete" if _covered(store, run) else "partial"
        except KeyboardInterrupt:
            run.status = "interrupted"
            raise
        except HarnessError:
            run.status = "failed"
            raise
        finally:
            run.finished_at = datetime.now(UTC)
            store.save_run(run)
            cache.close()
    finally:
        store.unlock_run(lock)
    max_error_rate = prepared.loaded.suite.max_error_rate
    stored = StoredResults(store, run.run_id)
    analyses = store.analyses(run.run_id)
    embedded = bool(runner.scoring.embedders)
    return RunOutcome(run, stored, stats, resumed, analyses, max_error_rate, embedded)


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
    return ScoringContext(judges, embedders, cache, read_cache=runner.read_cache)


def _uses_embeddings(plan: Plan) -> bool:
    scorers = {id(b.scorer): b.scorer for case in plan.cases for b in case.row.asserts}
    return any(isinstance(s, ModelScorer) and s.embedders() for s in scorers.values())


def _covered(store: ResultStore, run: RunRecord) -> bool:
    """Whether every case of the run has a result: a shard's part may leave others to run."""
    return store.count_results(run.run_id) >= run.n_cases


async def _run(runner: Runner, prepared: Prepared, cases: list[Case]) -> RunStats:
    """Run ``cases`` (the plan's, or a shard's), then the suite's run-level analyses once
    the whole run has its results."""
    try:
        stats = await runner.run(cases)
        if prepared.analyses and runner.store.count_results(runner.run_id) >= len(
            prepared.plan.cases
        ):  # the whole run has its results (a shard may leave others' to come)
            results = runner.store.results(runner.run_id)
            for analysis in prepared.analyses:
                found = await run_analysis(analysis, results, runner.scoring.for_case())
                runner.store.save_analysis(runner.run_id, found)
        return stats
    finally:
        for model in [*prepared.providers, *prepared.judges, *runner.scoring.embedders.values()]:
            await model.aclose()


def _open_run(
    store: ResultStore, prepared: Prepared, resume: str | None, create: str | None = None
) -> tuple[RunRecord, bool]:
    """The run to write to: ``resume``, else the newest unfinished run of these cases, else
    a new one (named ``create`` when given: a ``--run-id`` that does not exist yet)."""
    suite = prepared.loaded.suite
    fingerprint = prepared.plan.fingerprint
    if create is not None and not store.has_run(create):
        run = None
    elif resume is not None:
        run = store.get_run(resume)
        if run.suite_hash != fingerprint:
            raise StoreError(
                f"run {run.run_id} was made from different cases than {prepared.loaded.path} "
                "has now; start a new run (without --resume, or with a new --run-id)"
            )
    else:
        run = store.latest_unfinished(fingerprint)
    if run is not None:
        run.status = "running"
        store.save_run(run)
        return run, True
    now = datetime.now(UTC)
    run = RunRecord(
        run_id=create or f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        suite_name=suite.name,
        suite_path=str(prepared.loaded.path),
        suite_hash=fingerprint,
        created_at=now,
        harness_version=__version__,
        providers=[{"id": p.id, **p.identity()} for p in prepared.providers],
        prompts=[p.id for p in suite.prompts],
        n_cases=len(prepared.plan.cases),
        selection=prepared.plan.selection,
    )
    store.save_run(run)
    return run, False
