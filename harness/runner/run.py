"""The async run loop: cache first, bounded concurrency, retries, results committed in batches.

Each provider gets its own pool of workers (its concurrency) pulling from its own
queue of cases, so memory stays flat however many cases a run has, and a slow
local model does not hold back an API provider.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from harness.cases import Case
from harness.errors import AuthError, ProviderError, TransientProviderError
from harness.providers.base import Generation
from harness.results.models import CaseResult
from harness.results.store import ResultStore
from harness.runner.cache import ResponseCache
from harness.runner.channel import CallStats, Channel
from harness.runner.context import ScoringContext
from harness.runner.memo import ScoreMemo
from harness.runner.scoring import case_score, case_view, score_output
from harness.runner.writer import ResultWriter


@dataclass
class RunStats:
    """What a run did: how many cases ran, came from the cache, or failed."""

    finished: int = 0
    cached: int = 0
    errors: int = 0
    calls: CallStats = field(default_factory=CallStats)

    @property
    def requests(self) -> int:
        """Requests sent, judge calls included."""
        return self.calls.requests

    @property
    def retries(self) -> int:
        return self.calls.retries


@dataclass
class Runner:
    """Runs cases for one run id, writing results to ``store`` as they finish (in batches:
    see :mod:`harness.runner.writer`)."""

    run_id: str
    store: ResultStore
    cache: ResponseCache | None
    provider_configs: dict[str, Any]
    default_concurrency: int = 8
    read_cache: bool = True
    on_result: Callable[[CaseResult], None] | None = None
    on_retry: Callable[[str, TransientProviderError], None] | None = None
    #: The suite's judges and embedders, for model-backed scorers.
    scoring: ScoringContext = field(default_factory=ScoringContext)
    stats: RunStats = field(default_factory=RunStats)

    def __post_init__(self) -> None:
        #: Scores stored for the same inputs, reused (a re-run of unchanged outputs).
        self.memo = None if self.cache is None else ScoreMemo(self.cache, self.read_cache)

    async def run(self, cases: list[Case]) -> RunStats:
        """Run every case not yet finished in this run; raise AuthError at once on a bad key."""
        done = self.store.finished_case_ids(self.run_id)
        by_provider: dict[str, list[Case]] = defaultdict(list)
        for case in cases:
            if case.case_id not in done:
                by_provider[case.provider.id].append(case)
        writer = ResultWriter(self.store, on_flush=None if self.memo is None else self.memo.flush)
        try:
            async with asyncio.TaskGroup() as group:
                for pending in by_provider.values():
                    self._start_workers(group, pending, writer)
        except BaseExceptionGroup as eg:
            raise eg.exceptions[0] from None  # the error that stopped the run (e.g. AuthError)
        finally:  # also on Ctrl-C and SIGTERM, which cancel the run's tasks
            writer.flush()
        return self.stats

    def channel(self, provider: Any, config: Any) -> Channel:
        """``provider`` behind this run's cache and retries, its calls counted in ``stats``."""
        return Channel(provider, config, self.cache, self.read_cache, self.stats.calls)

    def _start_workers(
        self, group: asyncio.TaskGroup, pending: list[Case], writer: ResultWriter
    ) -> None:
        provider = pending[0].provider
        config = self.provider_configs[provider.id]
        width = getattr(config, "concurrency", None) or provider.default_concurrency
        width = min(width or self.default_concurrency, len(pending))
        channel = self.channel(provider, config)
        queue = _with_cached(pending, channel)
        for _ in range(width):
            group.create_task(self._worker(queue, channel, writer))

    async def _worker(
        self,
        queue: Iterator[tuple[Case, Generation | None]],
        channel: Channel,
        writer: ResultWriter,
    ) -> None:
        for case, hit in queue:
            result = await self._run_case(case, hit, channel)
            writer.add(result)
            self.stats.finished += 1
            self.stats.cached += result.cached
            self.stats.errors += result.error is not None
            if self.on_result is not None:
                self.on_result(result)

    async def _run_case(
        self, case: Case, generation: Generation | None, channel: Channel
    ) -> CaseResult:
        cached = generation is not None
        error = None
        if generation is None:
            try:
                generation = await channel.call(case.request, case.request_key, self._retried(case))
            except AuthError:
                raise
            except ProviderError as e:
                error = f"{type(e).__name__}: {e}"
        return await self._result(case, channel, generation, cached, error)

    def _retried(self, case: Case) -> Callable[[TransientProviderError], None] | None:
        if self.on_retry is None:
            return None
        on_retry = self.on_retry
        return lambda e: on_retry(case.case_id, e)

    async def _result(
        self,
        case: Case,
        channel: Channel,
        generation: Generation | None,
        cached: bool,
        error: str | None,
    ) -> CaseResult:
        row = case.row
        scores, passed = ([], False)
        judging = self.scoring.for_case()
        if generation is not None:
            view = partial(case_view, case, generation, channel.cost(generation))
            scores, passed = await score_output(row, generation.text, judging, view, self.memo)
        return CaseResult(
            run_id=self.run_id,
            case_id=case.case_id,
            request_key=case.request_key,
            prompt_id=case.prompt_id,
            provider_id=case.provider.id,
            model=case.provider.model,
            case_set=row.case_set,
            row_id=row.row_id,
            description=row.description,
            tags=row.tags,
            vars=row.vars,
            messages=list(case.request.messages),
            expected=row.expected,
            output=generation.text if generation else None,
            error=error,
            latency_s=generation.latency_s if generation else None,
            prompt_tokens=generation.prompt_tokens if generation else None,
            completion_tokens=generation.completion_tokens if generation else None,
            cost_usd=channel.cost(generation) if generation else None,
            cached=cached,
            judge_calls=judging.usage.calls,
            judge_cached=judging.usage.cached,
            judge_cost_usd=judging.usage.cost_usd if judging.usage.calls else None,
            scores=scores,
            passed=passed,
            score=case_score(scores) if generation is not None else None,
            threshold=row.threshold,
            finished_at=datetime.now(UTC),
            prompt_family=case.prompt_family,
            clean_row_id=row.clean_row_id,
            perturbation=row.perturbation,
            repeat=case.repeat,
            contexts=generation.contexts if generation else None,
            tool_calls=generation.tool_calls if generation else None,
            provider_metadata=generation.metadata if generation else {},
        )


#: Cases whose cached answers are read with one query.
LOOKUP_CHUNK = 256


def _with_cached(cases: list[Case], channel: Channel) -> Iterator[tuple[Case, Generation | None]]:
    """Each case with its cached answer (None: not cached), as a worker takes it; read a chunk
    at a time, since a fully cached re-run would otherwise spend a query on every case."""
    repeated = {k for k, n in Counter(c.request_key for c in cases).items() if n > 1}
    for i in range(0, len(cases), LOOKUP_CHUNK):
        chunk = cases[i : i + LOOKUP_CHUNK]
        hits = channel.cached_many([c.request_key for c in chunk])
        for case in chunk:
            key = case.request_key
            # The same request asked by an earlier case may have been answered since.
            yield case, hits.get(key) or (channel.cached(key) if key in repeated else None)
