"""Benchmark questions sent to a provider through the runner's machinery.

Each request goes through a :class:`harness.runner.channel.Channel`, as a suite case does:
the same response cache (same request keys, so a re-run or a suite asking the same prompt
costs nothing), the provider's own retry policy, backoff and rate limits; concurrency is
bounded. An API benchmark behaves like any other run against that API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
    progress: Callable[[int, int], None] | None = None,
) -> list[Generation]:
    """Each request's generation, from the cache or from ``provider`` (retried per
    ``config``); raises the first error that retries could not fix. ``progress`` hears
    ``(requests done, requests)`` as each one finishes."""
    channel = Channel(provider, config, cache)
    width = asyncio.Semaphore(getattr(config, "concurrency", None) or concurrency)
    done = 0

    async def one(request: ModelRequest) -> Generation:
        nonlocal done
        async with width:
            generation, _ = await channel.generate(request)
        done += 1
        if progress is not None:
            progress(done, len(requests))
        return generation

    return list(await asyncio.gather(*(one(r) for r in requests)))
