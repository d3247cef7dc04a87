"""A small retrieval app under test: BM25 (rank-bm25) over the RAG demo's 30 passages, answered
by the embedded SmolLM2-135M-Instruct through harness' own ``hf`` provider code (local, batched,
no network). The suite calls it as a ``type: python`` provider: ``answer(messages, vars, config)``.

``config`` (part of the cache key, so each setting has its own cached answers):

- ``top_k``: passages retrieved and given to the generator (default 3);
- ``generator``: ``hf`` (default), the model ``model`` names (any ``model:`` an ``hf`` provider
  takes; default ``smollm2-135m-instruct``) writing at most ``max_tokens`` (default 48); or
  ``extractive``, no model: the retrieved sentence that shares the most words with the question
  (a baseline that needs neither torch nor time, and what the tests run).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from rank_bm25 import BM25Okapi

import harness
from harness.providers.base import Generation, Message, ModelRequest
from harness.providers.hf_local import HFProvider
from harness.suite.schema import GenerationParams, HFProviderConfig

CORPUS = Path(__file__).resolve().parents[2] / "datasets" / "rag" / "halueval_qa_30.jsonl"
SYSTEM = "Answer the question from the passages only, in one short sentence."
_WORD = re.compile(r"\w+")
#: A sentence ends at . ! or ? after a small letter, digit or bracket (not "U.S."); HaluEval's
#: passages often run two sentences together ("...century.First for Women").
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"'][.!?])\s*(?=[A-Z])")


def tokens(text: str) -> list[str]:
    """BM25's terms: the lower-cased words of ``text``."""
    return _WORD.findall(text.casefold())


class Index:
    """The passages, and BM25 (Okapi, rank-bm25's defaults) over their words."""

    def __init__(self, passages: list[str]) -> None:
        self.passages = passages
        self._bm25 = BM25Okapi([tokens(p) for p in passages])

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best passages as (position, BM25 score), best first; ties in corpus order."""
        scores = self._bm25.get_scores(tokens(query))
        ranked = sorted(range(len(self.passages)), key=lambda i: (-scores[i], i))
        return [(i, float(scores[i])) for i in ranked[:k]]


@functools.cache
def index() -> Index:
    """The demo's passages (each row's context, repeats dropped), indexed once per process."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return Index(list(dict.fromkeys(p for row in rows for p in row["contexts"])))


async def answer(
    messages: list[dict[str, str]], vars: dict[str, Any], config: dict[str, Any]
) -> harness.ProviderResponse:
    """Retrieve for the question (the last user message), answer from what was retrieved, and
    return both: the RAG scorers judge the answer against these ``contexts``."""
    question = messages[-1]["content"]
    found = index().search(question, int(config.get("top_k", 3)))
    passages = [index().passages[i] for i, _ in found]
    generated = await generate(question, passages, config)
    return harness.ProviderResponse(
        output=generated.text.strip(),
        contexts=passages,
        prompt_tokens=generated.prompt_tokens,
        completion_tokens=generated.completion_tokens,
        metadata={"passages": [i for i, _ in found], "bm25": [round(s, 4) for _, s in found]},
    )


async def generate(question: str, passages: list[str], config: dict[str, Any]) -> Generation:
    """The answer from the generator ``config`` names."""
    name = config.get("generator", "hf")
    if name == "extractive":
        return extractive(question, passages)
    if name != "hf":
        raise ValueError(f"unknown generator {name!r}: use hf or extractive")
    model = local_model(config.get("model", "smollm2-135m-instruct"), config.get("max_tokens", 48))
    listed = "\n".join(f"[{n}] {p}" for n, p in enumerate(passages, 1))
    request = ModelRequest(
        messages=(
            Message(role="system", content=SYSTEM),
            Message(role="user", content=f"Passages:\n{listed}\n\nQuestion: {question}"),
        )
    )
    return await model.generate(request)


@functools.cache
def local_model(model: str, max_tokens: int) -> HFProvider:
    """One model per process, shared by every call: the hf provider batches concurrent calls
    and loads the weights once (the bundled GGUF is dequantised into the cache the first time)."""
    params = GenerationParams(temperature=0, max_tokens=max_tokens, stop=["\n"])
    return HFProvider(HFProviderConfig(type="hf", id="rag-app", model=model, params=params))


def extractive(question: str, passages: list[str]) -> Generation:
    """The sentence of ``passages`` sharing the most words with ``question`` (the first one,
    so the best-ranked passage's, on a tie)."""
    asked = set(tokens(question))
    sentences = [s.strip() for p in passages for s in _SENTENCE_END.split(p) if s.strip()]
    return Generation(text=max(sentences, key=lambda s: len(asked & set(tokens(s)))))
