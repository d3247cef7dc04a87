"""One provider behind the runner's response cache, rate limits and retries.

Cases and judge calls go through the same :class:`Channel`, so a judge model gets the
same cache (a re-scored run pays nothing twice), the same backoff on 429s and the same
cost accounting as the model under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import TransientProviderError
from harness.keys import request_key
from harness.providers.base import Generation, ModelRequest, Provider
from harness.runner.cache import ResponseCache
from harness.runner.pricing import cost, price_for
from harness.runner.ratelimit import RateLimiter, estimate_tokens
from harness.runner.retry import RetryPolicy, with_retries


@dataclass
class CallStats:
    """Requests sent and retries made (shared by every channel of a run)."""

    requests: int = 0
    retries: int = 0


@dataclass
class Channel:
    """Calls ``provider`` as configured by ``config`` (its rpm/tpm, retries and prices)."""

    provider: Provider
    config: Any
    cache: ResponseCache | None
    read_cache: bool = True
    stats: CallStats = field(default_factory=CallStats)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(
            getattr(self.config, "rpm", None), getattr(self.config, "tpm", None)
        )
        self.policy = RetryPolicy(
            max_retries=getattr(self.config, "max_retries", 0),
            base_delay=getattr(self.config, "backoff", RetryPolicy.base_delay),
        )
        self.prices = price_for(self.config)
        #: Whether answers are cached: not for stored outputs, nor for an application whose
        #: suite entry says ``cache: false`` (its answers may differ from call to call).
        #: Read once: a config without the field answers getattr with a pydantic error.
        self.caching = bool(
            self.cache is not None
            and self.provider.cacheable
            and getattr(self.config, "cache", True)
        )

    def cached(self, key: str) -> Generation | None:
        """The cached answer for ``key``, when reading the cache is allowed."""
        if not (self.caching and self.read_cache):
            return None
        assert self.cache is not None
        return self.cache.get(key)

    def cached_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """:meth:`cached` for many keys in one query: those found."""
        if not (self.caching and self.read_cache):
            return {}
        assert self.cache is not None
        return self.cache.get_many(keys)

    def forget(self, request: ModelRequest) -> None:
        """Drop the cached answer to ``request``: its reader could not use it (a judge reply
        no scorer can parse), and a cached bad answer would fail the same way every run."""
        if self.caching:
            assert self.cache is not None
            self.cache.forget(request_key(self.provider, request))

    async def generate(
        self, request: ModelRequest, key: str | None = None
    ) -> tuple[Generation, bool]:
        """The answer to ``request`` and whether it came from the cache."""
        key = key or request_key(self.provider, request)
        hit = self.cached(key)
        if hit is not None:
            return hit, True
        return await self.call(request, key), False

    async def call(
        self,
        request: ModelRequest,
        key: str,
        on_retry: Callable[[TransientProviderError], None] | None = None,
    ) -> Generation:
        """Call the provider (with retries) and cache the answer before anyone scores it."""
        chars = sum(len(m.content) for m in request.messages)
        estimate = estimate_tokens(chars, request.params.get("max_tokens"))

        async def attempt() -> Generation:
            await self.limiter.acquire(estimate)
            self.stats.requests += self.provider.cacheable  # stored outputs are no request
            started = time.perf_counter()
            generation = await self.provider.generate(request)
            if generation.latency_s is not None:  # a batching provider measured its own compute
                return generation
            return generation.model_copy(update={"latency_s": time.perf_counter() - started})

        def retried(n: int, e: TransientProviderError) -> None:
            self.stats.retries += 1
            if on_retry is not None:
                on_retry(e)

        generation = await with_retries(attempt, self.policy, retried)
        if self.caching:
            assert self.cache is not None
            await self.cache.commit(key, generation)  # before scoring: never pay twice
        return generation

    def cost(self, generation: Generation) -> float | None:
        if generation.cost_usd is not None:  # the provider reported what the call cost
            return generation.cost_usd
        return cost(self.prices, generation.prompt_tokens, generation.completion_tokens)
