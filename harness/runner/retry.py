"""Retries with exponential backoff and full jitter, honouring Retry-After."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from harness.errors import TransientProviderError

T = TypeVar("T")

#: The longest Retry-After we honour before treating it as a cap (seconds).
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """Transient errors are retried up to ``max_retries`` times; permanent ones never."""

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, error: TransientProviderError) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), MAX_RETRY_AFTER)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[int, TransientProviderError], None] | None = None,
) -> T:
    """Await ``call()``, retrying transient provider errors per ``policy``."""
    attempt = 0
    while True:
        try:
            return await call()
        except TransientProviderError as e:
            if attempt >= policy.max_retries:
                raise
            if on_retry is not None:
                on_retry(attempt, e)
            await asyncio.sleep(policy.delay(attempt, e))
            attempt += 1
