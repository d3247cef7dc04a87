"""Embedder types by name, imported on first use (sentence-transformers loads torch)."""

from __future__ import annotations

import importlib
from pathlib import Path

from harness.embeddings.base import Embedder
from harness.suite.schema import EmbeddingsConfig

_TYPES = {
    "local": "harness.embeddings.local:LocalEmbedder",
    "openai": "harness.embeddings.openai_embed:OpenAIEmbedder",
}


def create_embedder(config: EmbeddingsConfig, base_dir: Path) -> Embedder:
    """The embedder ``config`` describes; cheap: models load on the first ``embed``."""
    module_name, _, attr = _TYPES[config.type].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls(config, base_dir)
