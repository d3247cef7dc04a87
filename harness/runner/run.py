"""The async run loop: cache first, bounded concurrency, retries, one commit per finished case.

Each provider gets its own pool of workers (its concurrency) pulling from its own
queue of cases, so memory stays flat however many cases a run has, and a slow
local model does not hold back an API provider.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.cases import Case
from harness.errors import AuthError, ProviderError, TransientProviderError
from harness.providers.base import Generation, Provider
from harness.results.models import CaseResult
from harness.results.store import ResultStore
from harness.runner.cache import ResponseCache
from harness.runner.pricing import cost, price_for
from harness.runner.ratelimit import RateLimiter, estimate_tokens
from harness.runner.retry import RetryPolicy, with_retries
from harness.runner.scoring import score_output


@dataclass
class RunStats:
    """What a run did: how many cases ran, came from the cache, or failed."""

    finished: int = 0
    cached: int = 0
    errors: int = 0
    requests: int = 0
    retries: int = 0


@dataclass
class Runner:
    """Runs cases for one run id, writing each result to ``store`` as it finishes."""

    run_id: str
    store: ResultStore
    cache: ResponseCache | None
    provider_configs: dict[str, Any]
    default_concurrency: int = 8
    read_cache: bool = True
    on_result: Callable[[CaseResult], None] | None = None
    on_retry: Callable[[str, TransientProviderError], None] | None = None
    stats: RunStats = field(default_factory=RunStats)

    async def run(self, cases: list[Case]) -> RunStats:
        """Run every case not yet finished in this run; raise AuthError at once on a bad key."""
        done = self.store.finished_case_ids(self.run_id)
        by_provider: dict[str, list[Case]] = defaultdict(list)
        for case in cases:
            if case.case_id not in done:
                by_provider[case.provider.id].append(case)
        try:
            async with asyncio.TaskGroup() as group:
                for pending in by_provider.values():
                    self._start_workers(group, pending)
        except BaseExceptionGroup as eg:
            raise eg.exceptions[0] from None  # the error that stopped the run (e.g. AuthError)
        return self.stats

    def _start_workers(self, group: asyncio.TaskGroup, pending: list[Case]) -> None:
        provider = pending[0].provider
        config = self.provider_configs[provider.id]
        width = getattr(config, "concurrency", None) or provider.default_concurrency
        width = min(width or self.default_concurrency, len(pending))
        limiter = RateLimiter(getattr(config, "rpm", None), getattr(config, "tpm", None))
        policy = RetryPolicy(
            max_retries=getattr(config, "max_retries", 0),
            base_delay=getattr(config, "backoff", RetryPolicy.base_delay),
        )
        queue = iter(pending)
        for _ in range(width):
            group.create_task(self._worker(queue, limiter, policy))

    async def _worker(
        self, queue: Iterator[Case], limiter: RateLimiter, policy: RetryPolicy
    ) -> None:
        for case in queue:
            await self._run_case(case, limiter, policy)

    async def _run_case(self, case: Case, limiter: RateLimiter, policy: RetryPolicy) -> None:
        provider = case.provider
        generation: Generation | None = None
        cached = False
        error = None
        if self.cache is not None and provider.cacheable and self.read_cache:
            generation = self.cache.get(case.request_key)
            cached = generation is not None
        if generation is None:
            try:
                generation = await self._call(case, provider, limiter, policy)
            except AuthError:
                raise
            except ProviderError as e:
                error = f"{type(e).__name__}: {e}"
        result = self._result(case, generation, cached, error)
        self.store.add_result(result)
        self.stats.finished += 1
        self.stats.cached += cached
        self.stats.errors += error is not None
        if self.on_result is not None:
            self.on_result(result)

    async def _call(
        self, case: Case, provider: Provider, limiter: RateLimiter, policy: RetryPolicy
    ) -> Generation:
        chars = sum(len(m.content) for m in case.request.messages)
        estimate = estimate_tokens(chars, case.request.params.get("max_tokens"))

        async def attempt() -> Generation:
            await limiter.acquire(estimate)
            self.stats.requests += 1
            started = time.perf_counter()
            generation = await provider.generate(case.request)
            if generation.latency_s is not None:  # a batching provider measured its own compute
                return generation
            return generation.model_copy(update={"latency_s": time.perf_counter() - started})

        def retried(n: int, e: TransientProviderError) -> None:
            self.stats.retries += 1
            if self.on_retry is not None:
                self.on_retry(case.case_id, e)

        generation = await with_retries(attempt, policy, retried)
        if self.cache is not None and provider.cacheable:
            self.cache.put(case.request_key, generation)  # before scoring: never pay twice
        return generation

    def _result(
        self, case: Case, generation: Generation | None, cached: bool, error: str | None
    ) -> CaseResult:
        row = case.row
        scores, passed = ([], False)
        if generation is not None:
            scores, passed = score_output(row, generation.text)
        prices = price_for(self.provider_configs[case.provider.id])
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
            cost_usd=cost(prices, generation.prompt_tokens, generation.completion_tokens)
            if generation
            else None,
            cached=cached,
            scores=scores,
            passed=passed,
            finished_at=datetime.now(UTC),
        )
