"""Perplexity of a local model on a text file or a dataset column, computed as lm-eval's
``wikitext`` task computes it.

Each document's loglikelihood comes from :meth:`HFProvider.loglikelihood_rolling`
(lm-eval's disjoint rolling windows, so long texts are scored whole); words are counted as
lm-eval counts them (``re.split(r"\\s+", text)``) and bytes as UTF-8, and the three figures
are lm-eval's aggregations over all documents pooled: word perplexity
``exp(-Σ loglik / Σ words)``, byte perplexity ``exp(-Σ loglik / Σ bytes)`` and bits per
byte ``-Σ loglik / Σ bytes / ln 2``. The text is scored as given (no detokenisation).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

from harness.errors import BenchError
from harness.extras import require
from harness.providers.hf_local import HFProvider
from harness.suite.schema import HFProviderConfig


class PerplexityResult(BaseModel):
    model: str
    source: str
    documents: int
    words: int
    bytes: int
    tokens: int
    windows: int
    #: Summed loglikelihood (natural log) of every document's tokens.
    loglikelihood: float
    word_perplexity: float
    byte_perplexity: float
    bits_per_byte: float


def read_texts(path: Path, column: str | None = None, limit: int | None = None) -> list[str]:
    """The documents: the whole file when ``column`` is None, else one per row of a CSV,
    JSONL or YAML table (empty cells are skipped: lm-eval cannot score an empty text)."""
    if limit is not None and limit < 1:
        raise BenchError(f"--limit must be 1 or more, got {limit}")
    if column is None:
        if path.suffix.lower() in (".csv", ".jsonl", ".yaml", ".yml"):
            raise BenchError(f"{path} is a table: name the text column with --column")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BenchError(f"cannot read {path}: {e}") from None
        if not text.strip():
            raise BenchError(f"{path} has no text to score")
        return [text]
    from harness.data.tables import read_rows

    rows = read_rows(path)
    if rows and column not in rows[0].data:
        raise BenchError(f"{path} has no column '{column}'; columns: {', '.join(rows[0].data)}")
    texts = [str(row.data[column]) for row in rows if row.data.get(column) not in (None, "")]
    if not texts:
        raise BenchError(f"{path} has no text in column '{column}'")
    return texts[:limit]


def perplexity(config: HFProviderConfig, texts: list[str], source: str = "") -> PerplexityResult:
    """Score ``texts`` with the ``hf`` model of ``config``."""
    require("bench", "harness perplexity", BenchError)
    from lm_eval.api.metrics import bits_per_byte, weighted_perplexity
    from lm_eval.api.task import ConfigurableTask

    scores = asyncio.run(_rolling(HFProvider(config), texts))
    logliks = [s.loglikelihood for s in scores]
    words = [ConfigurableTask.count_words(t) for t in texts]
    n_bytes = [ConfigurableTask.count_bytes(t) for t in texts]
    return PerplexityResult(
        model=config.model if config.adapter is None else f"{config.model} + {config.adapter}",
        source=source,
        documents=len(texts),
        words=sum(words),
        bytes=sum(n_bytes),
        tokens=sum(s.tokens for s in scores),
        windows=sum(s.windows for s in scores),
        loglikelihood=sum(logliks),
        word_perplexity=weighted_perplexity(list(zip(logliks, words, strict=True))),
        byte_perplexity=weighted_perplexity(list(zip(logliks, n_bytes, strict=True))),
        bits_per_byte=bits_per_byte(list(zip(logliks, n_bytes, strict=True))),
    )


async def _rolling(provider: HFProvider, texts: list[str]) -> list:
    try:
        return await provider.loglikelihood_rolling(texts)
    finally:
        await provider.aclose()
