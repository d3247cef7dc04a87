"""An OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama, llama.cpp...)."""

from __future__ import annotations

import os
from pathlib import Path

import openai

from harness.embeddings.base import Embedder
from harness.errors import AuthError, ProviderError
from harness.providers.openai_compat import NO_KEY, map_error, normalise_base_url
from harness.suite.schema import EmbeddingsConfig


class OpenAIEmbedder(Embedder):
    """``config.model`` at ``config.base_url``, ``config.batch_size`` texts a request."""

    def __init__(self, config: EmbeddingsConfig, base_dir: Path) -> None:
        super().__init__(config.id)
        self.config = config
        self.base_url = normalise_base_url(config.base_url)
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=_key(config), max_retries=4, timeout=60
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


def _key(config: EmbeddingsConfig) -> str:
    if config.api_key_env is None:
        return NO_KEY
    key = os.environ.get(config.api_key_env)
    if not key:
        raise AuthError(
            f"No {config.api_key_env} in the environment (embeddings {config.id!r}, "
            "`api_key_env`); use `api_key_env: null` for a local server that needs no key"
        )
    return key
