"""The openai provider's own wire: no SDK on the way, the environment's proxy honoured."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from harness.errors import PermanentProviderError
from harness.providers.base import Message, ModelRequest
from harness.providers.openai_compat import OpenAIProvider
from harness.providers.openai_http import env_proxy
from harness.suite.schema import OpenAIProviderConfig
from tests.fakeserver import FakeOpenAIServer

ASK = ModelRequest(messages=(Message(role="user", content="2+2?"),))

#: One generate in a fresh interpreter, then which SDK modules it loaded.
ONE_CALL = """
import asyncio, sys
from harness.providers.base import Message, ModelRequest
from harness.providers.openai_compat import OpenAIProvider
from harness.suite.schema import OpenAIProviderConfig

config = OpenAIProviderConfig(id="api", type="openai", model="m", base_url=sys.argv[1],
                              api_key_env=None)
provider = OpenAIProvider(config)

async def call():
    try:
        return await provider.generate(ModelRequest(messages=(Message(role="user", content="hi"),)))
    finally:
        await provider.aclose()

print(asyncio.run(call()).text, sorted(m for m in sys.modules if m.split(".")[0] == "openai"))
"""


def provider(base_url: str) -> OpenAIProvider:
    return OpenAIProvider(
        OpenAIProviderConfig(
            id="api", type="openai", model="m", base_url=base_url, api_key_env=None
        )
    )


def test_a_call_loads_no_sdk() -> None:
    """Importing the SDK alone took ~0.5 s of every run, its layers ~1 ms of CPU a request."""
    with FakeOpenAIServer() as url:
        done = subprocess.run(
            [sys.executable, "-c", ONE_CALL, url], capture_output=True, text=True, check=True
        )
    assert done.stdout.strip() == "ECHO: hi []"


def test_the_proxy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy("https://api.example.com/v1") == "http://proxy.internal:3128"
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert env_proxy("https://api.example.com/v1") is None
    assert env_proxy("https://api.other.org/v1") == "http://proxy.internal:3128"


def test_requests_go_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = FakeOpenAIServer()
    with server as url:
        monkeypatch.setenv("HTTP_PROXY", url.removesuffix("/v1"))
        proxied = provider("http://model.invalid/v1")

        async def call() -> None:
            try:
                await proxied.generate(ASK)
            finally:
                await proxied.aclose()

        # The fake server, asked as a proxy, sees the target's absolute URL: not its own path.
        with pytest.raises(PermanentProviderError, match="404"):
            asyncio.run(call())
    assert [r.path for r in server.requests] == ["http://model.invalid/v1/chat/completions"]
