"""An OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama, llama.cpp...)."""

from __future__ import annotations

from pathlib import Path

import openai

from harness.embeddings.base import Embedder
from harness.errors import TransientProviderError
from harness.providers.openai_compat import (
    KeyScrubber,
    as_text,
    normalise_base_url,
    provider_errors,
    read_api_key,
)
from harness.suite.schema import EmbeddingsConfig


class OpenAIEmbedder(Embedder):
    """``config.model`` at ``config.base_url``, ``config.batch_size`` texts a request."""

    def __init__(self, config: EmbeddingsConfig, base_dir: Path) -> None:
        super().__init__(config.id)
        self.config = config
        self.base_url = normalise_base_url(config.base_url)
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=read_api_key(config.api_key_env, f"embeddings {config.id!r}"),
            max_retries=4,
            timeout=60,
        )
        # The chat provider's one error path: SDK errors and unreadable replies alike.
        self._scrub = KeyScrubber(self._client.api_key if config.api_key_env else None)

    def identity(self) -> dict[str, str]:
        return {"type": "openai", "base_url": self.base_url, "model": str(self.config.model)}

    async def embed(self, texts: list[str]) -> list[list[float]]:
        size = self.config.batch_size
        vectors: list[list[float]] = []
        for start in range(0, len(texts), size):
            with provider_errors(self._scrub):
                vectors += await self._embed_batch(texts[start : start + size])
        return vectors

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        # Floats, not the SDK's default base64: its base64 decoder reads `data` before we can
        # check that the reply has any (an HTML page, an event stream), and every
        # OpenAI-compatible server speaks floats.
        reply = await self._client.embeddings.create(
            model=str(self.config.model), input=batch, encoding_format="float"
        )
        data = getattr(reply, "data", None)
        if not isinstance(data, list):
            raise TransientProviderError(f"malformed response: no data in {as_text(reply)}")
        if len(data) != len(batch):
            raise TransientProviderError(
                f"embeddings {self.id!r}: {self.base_url} returned {len(data)} "
                f"vectors for {len(batch)} texts"
            )
        return [list(d.embedding) for d in sorted(data, key=lambda d: d.index)]

    async def aclose(self) -> None:
        await self._client.close()
