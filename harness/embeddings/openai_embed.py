"""An OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama, llama.cpp...)."""

from __future__ import annotations

from pathlib import Path

import openai

from harness.embeddings.base import Embedder
from harness.errors import ProviderError
from harness.providers.openai_compat import map_error, normalise_base_url, read_api_key
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

    def identity(self) -> dict[str, str]:
        return {"type": "openai", "base_url": self.base_url, "model": str(self.config.model)}

    async def embed(self, texts: list[str]) -> list[list[float]]:
        size = self.config.batch_size
        vectors: list[list[float]] = []
        for start in range(0, len(texts), size):
            batch = texts[start : start + size]
            try:
                reply = await self._client.embeddings.create(
                    model=str(self.config.model), input=batch
                )
            except openai.OpenAIError as e:
                raise map_error(e, secret=self._client.api_key) from e
            if len(reply.data) != len(batch):
                raise ProviderError(
                    f"embeddings {self.id!r}: {self.base_url} returned {len(reply.data)} "
                    f"vectors for {len(batch)} texts"
                )
            vectors += [list(d.embedding) for d in sorted(reply.data, key=lambda d: d.index)]
        return vectors

    async def aclose(self) -> None:
        await self._client.close()
