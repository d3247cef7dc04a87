"""The OpenAI-compatible embedder takes the chat provider's one error path: the key an
echoing server sends back never reaches an error, and an unreadable reply is a clear one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.embeddings.openai_embed import OpenAIEmbedder
from harness.errors import AuthError, PermanentProviderError, ProviderError, TransientProviderError
from harness.suite.schema import EmbeddingsConfig
from tests.fakeserver import FakeOpenAIServer, embedding_key
from tests.leaks import assert_no_key

KEY = "sk-embed-9d1f0c5a77"
TEXTS = ["first text", "second text"]


def embed(base_url: str, **config: str | None) -> list[list[float]]:
    settings = {"model": "fake-embed", "base_url": base_url, "api_key_env": "EMBED_KEY"} | config
    embedder = OpenAIEmbedder(EmbeddingsConfig(id="api", type="openai", **settings), Path("."))

    async def go() -> list[list[float]]:
        try:
            return await embedder.embed(TEXTS)
        finally:
            await embedder.aclose()

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_KEY", KEY)


def test_vectors_come_back_in_order() -> None:
    with FakeOpenAIServer(echo_auth=True) as url:
        assert len(embed(url)) == 2


# The SDK retries 5xx itself for embeddings (with seconds of backoff): those are left out.
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("no_choices", TransientProviderError),
        ("truncated", TransientProviderError),
        ("html", TransientProviderError),
        ("sse", TransientProviderError),
        (400, PermanentProviderError),
        (401, AuthError),
        (404, PermanentProviderError),
    ],
)
def test_an_echoing_server_never_gets_the_key_into_an_error(
    fault: str | int, expected: type[ProviderError]
) -> None:
    server = FakeOpenAIServer(echo_auth=True, faults={embedding_key(TEXTS): [fault]})
    with server as url, pytest.raises(ProviderError) as info:
        embed(url)
    assert type(info.value) is expected
    assert_no_key(info.value, KEY)
    if isinstance(fault, str) and fault != "truncated":
        assert "malformed response: no data in" in str(info.value)


def test_a_wrong_key_echoed_in_the_401_is_scrubbed() -> None:
    server = FakeOpenAIServer(echo_auth=True, expected_api_key="sk-other")
    with server as url, pytest.raises(AuthError) as info:
        embed(url)
    assert "Bearer ***" in str(info.value)
    assert_no_key(info.value, KEY)
