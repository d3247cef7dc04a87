"""The embedder contract: texts in, one vector per text out.

Embedders are to scorers what providers are to cases: the scoring context caches
their vectors by :meth:`Embedder.identity` and text, so a re-scored run embeds nothing
twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Embedder(ABC):
    """One embeddings model (an OpenAI-compatible endpoint or a local folder)."""

    def __init__(self, id: str) -> None:
        self.id = id

    @abstractmethod
    def identity(self) -> dict[str, str]:
        """What makes the vectors what they are (type, endpoint, model); never a secret."""

    @abstractmethod
    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or model memory."""
