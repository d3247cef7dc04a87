"""A scoring context whose judge is the fake OpenAI server, for scorer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.providers.openai_compat import OpenAIProvider
from harness.runner.cache import ResponseCache
from harness.runner.channel import CallStats, Channel
from harness.runner.context import ScoringContext
from harness.suite.schema import OpenAIProviderConfig

JUDGE = "judge"


def judge_context(
    base_url: str, cache: ResponseCache | None = None, **config: Any
) -> tuple[ScoringContext, CallStats]:
    """A context with one judge (id ``judge``) at ``base_url``; no key, fast retries."""
    settings = {"model": "fake-judge", "api_key_env": None, "backoff": 0.01} | config
    cfg = OpenAIProviderConfig(id=JUDGE, type="openai", base_url=base_url, **settings)
    stats = CallStats()
    channel = Channel(OpenAIProvider(cfg), cfg, cache, stats=stats)
    return ScoringContext({JUDGE: channel}, {}, cache), stats


def cache_at(tmp_path: Path) -> ResponseCache:
    return ResponseCache(tmp_path / "cache.db")


async def close(ctx: ScoringContext) -> None:
    for channel in ctx.judges.values():
        await channel.provider.aclose()
    for embedder in ctx.embedders.values():
        await embedder.aclose()
