"""Benchmark questions sent to a provider through the runner's machinery.

Each request goes through a :class:`harness.runner.channel.Channel`, as a suite case does:
the same response cache (same request keys, so a re-run or a suite asking the same prompt
costs nothing), the provider's own retry policy, backoff and rate limits; concurrency is
bounded. An API benchmark behaves like any other run against that API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.providers.base import Generation, ModelRequest, Provider
from harness.runner.cache import ResponseCache
from harness.runner.channel import Channel


async def generate_all(
    provider: Provider,
    config: Any,
    requests: list[ModelRequest],
    cache: ResponseCache | None,
    concurrency: int,
) -> list[Generation]:
    """Each request's generation, from the cache or from ``provider`` (retried per
    ``config``); raises the first error that retries could not fix."""
    channel = Channel(provider, config, cache)
    width = asyncio.Semaphore(getattr(config, "concurrency", None) or concurrency)

    async def one(request: ModelRequest) -> Generation:
        async with width:
            generation, _ = await channel.generate(request)
        return generation

    return list(await asyncio.gather(*(one(r) for r in requests)))
