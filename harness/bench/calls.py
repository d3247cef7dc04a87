"""Benchmark questions sent to a provider through the runner's machinery.

The same response cache as suite runs (same request keys, so a re-run or a suite asking the
same prompt costs nothing), the provider's own retry policy, backoff and rate limits, and
bounded concurrency: an API benchmark behaves like any other run against that API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.cases import request_key
from harness.providers.base import Generation, ModelRequest, Provider
from harness.runner.cache import ResponseCache
from harness.runner.ratelimit import RateLimiter, estimate_tokens
from harness.runner.retry import RetryPolicy, with_retries


async def generate_all(
    provider: Provider,
    config: Any,
    requests: list[ModelRequest],
    cache: ResponseCache | None,
    concurrency: int,
) -> list[Generation]:
    """Each request's generation, from the cache or from ``provider`` (retried per
    ``config``); raises the first error that retries could not fix."""
    limiter = RateLimiter(getattr(config, "rpm", None), getattr(config, "tpm", None))
    policy = RetryPolicy(
        max_retries=getattr(config, "max_retries", 0),
        base_delay=getattr(config, "backoff", RetryPolicy.base_delay),
    )
    width = asyncio.Semaphore(getattr(config, "concurrency", None) or concurrency)

    async def one(request: ModelRequest) -> Generation:
        key = request_key(provider, request)
        cached = cache.get(key) if cache is not None and provider.cacheable else None
        if cached is not None:
            return cached
        chars = sum(len(m.content) for m in request.messages)
        estimate = estimate_tokens(chars, request.params.get("max_tokens"))

        async def attempt() -> Generation:
            await limiter.acquire(estimate)
            return await provider.generate(request)

        async with width:
            generation = await with_retries(attempt, policy)
        if cache is not None and provider.cacheable:
            cache.put(key, generation)
        return generation

    return list(await asyncio.gather(*(one(r) for r in requests)))
