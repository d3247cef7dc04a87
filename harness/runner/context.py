"""What model-backed scorers and analyses may call: the suite's judges and embedders.

A judge is a provider declared under ``judges:`` in the suite; its calls go through a
:class:`~harness.runner.channel.Channel` (cache, retries, rate limits, prices) with
its own concurrency bound, and each case's scoring gets a fresh :class:`Usage` so the
results record what judging that case cost. Scorers and analyses see it through the
protocol :class:`harness.scorers.context.ScoringContext`, so they never import the runner.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from harness.embeddings.base import Embedder
from harness.providers.base import Generation, ModelRequest
from harness.runner.cache import ResponseCache
from harness.runner.channel import Channel
from harness.suite.refs import pick_model

T = TypeVar("T")

#: Judge calls in flight at once per judge when its config sets no ``concurrency``.
DEFAULT_JUDGE_CONCURRENCY = 8


@dataclass
class Usage:
    """Judge calls made while scoring one case (or running one analysis)."""

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: None once any call had no known price.
    cost_usd: float | None = 0.0

    def add(self, generation: Generation, cached: bool, cost: float | None) -> None:
        self.calls += 1
        self.cached += cached
        self.prompt_tokens += generation.prompt_tokens or 0
        self.completion_tokens += generation.completion_tokens or 0
        if cost is None or self.cost_usd is None:
            self.cost_usd = None  # one call without a price makes the total unknown
        elif not cached:  # a cache hit costs nothing now
            self.cost_usd += cost


@dataclass
class ScoringContext:
    """The judges and embedders of a run, shared by every case; ``usage`` is per case."""

    judges: dict[str, Channel] = field(default_factory=dict)
    embedders: dict[str, Embedder] = field(default_factory=dict)
    cache: ResponseCache | None = None
    #: False (``--no-cache``): vectors are computed afresh (and still cached), as judge
    #: channels made with ``read_cache=False`` ask their judge afresh.
    read_cache: bool = True
    usage: Usage = field(default_factory=Usage)
    _limits: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def for_case(self) -> ScoringContext:
        """The same judges, embedders and limits, counting usage afresh."""
        return replace(self, usage=Usage())

    def judge_id(self, judge: str | None) -> str:
        """``judge``, or the suite's only judge when None; a clear error otherwise."""
        return pick_model(judge, self.judges)

    async def generate(self, request: ModelRequest, judge: str | None = None) -> Generation:
        """The judge's answer to ``request`` (cached, retried, rate-limited, costed)."""
        judge = self.judge_id(judge)
        channel = self.judges[judge]
        if judge not in self._limits:
            width = getattr(channel.config, "concurrency", None) or DEFAULT_JUDGE_CONCURRENCY
            self._limits[judge] = asyncio.Semaphore(width)
        async with self._limits[judge]:
            generation, cached = await channel.generate(request)
        self.usage.add(generation, cached, channel.cost(generation))
        return generation

    async def ask(
        self, request: ModelRequest, read: Callable[[str], T], judge: str | None = None
    ) -> T:
        """What ``read`` makes of the judge's answer to ``request``. An answer ``read`` rejects
        (it raises) is dropped from the cache before the error goes on, so the next run asks
        the judge again instead of failing on the same cached reply for ever."""
        generation = await self.generate(request, judge)
        try:
            return read(generation.text)
        except Exception:
            self.judges[self.judge_id(judge)].forget(request)
            raise

    async def embed(self, texts: Sequence[str], embedder: str | None = None) -> list[list[float]]:
        """One vector per text; vectors already computed by this embedder come from the cache
        (unless ``read_cache`` is off)."""
        model = self.embedders[pick_model(embedder, self.embedders, "embedder", "embeddings")]
        identity = json.dumps(model.identity(), sort_keys=True)
        keys = _keys(identity, texts)
        found: dict[str, list[float] | None] = {}
        if self.cache is not None and self.read_cache:
            found = {k: self.cache.get_vector(k) for k in keys}
        missing = list(
            dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if not found.get(k))
        )
        if missing:
            vectors = await model.embed(missing)
            fresh = dict(zip(_keys(identity, missing), vectors, strict=True))
            if self.cache is not None:
                self.cache.put_vectors(fresh)
            found |= fresh
        return [found[k] for k in keys]  # type: ignore[misc]


def _keys(identity: str, texts: Sequence[str]) -> list[str]:
    return [hashlib.sha256(f"{identity}\n{t}".encode()).hexdigest() for t in texts]
