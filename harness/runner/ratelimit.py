"""Per-provider request and token rate limits (token buckets)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Refills at ``per_minute / 60`` per second up to ``burst``; ``acquire`` waits for room."""

    def __init__(self, per_minute: float, burst: float | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = burst if burst is not None else max(1.0, self.rate)
        self._level = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        # A request larger than the bucket could never start: it waits for a full bucket.
        amount = min(amount, self.capacity)
        async with self._lock:
            while True:
                now = time.monotonic()
                self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
                self._updated = now
                if self._level >= amount:
                    self._level -= amount
                    return
                await asyncio.sleep((amount - self._level) / self.rate)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits of one provider (either may be None)."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self._requests = TokenBucket(rpm) if rpm else None
        self._tokens = TokenBucket(tpm, burst=tpm / 60.0 * 10) if tpm else None

    async def acquire(self, estimated_tokens: int) -> None:
        if self._requests is not None:
            await self._requests.acquire()
        if self._tokens is not None:
            await self._tokens.acquire(estimated_tokens)


def estimate_tokens(prompt_chars: int, max_tokens: int | None) -> int:
    """A rough pre-call token count (4 characters a token) for the TPM limit."""
    return prompt_chars // 4 + (max_tokens or 256)
