"""The response cache keeps any text exactly and forgets an answer on request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from harness.keys import request_key
from harness.providers.base import Generation, Message, ModelRequest
from harness.providers.openai_compat import OpenAIProvider
from harness.runner.cache import ResponseCache
from harness.runner.channel import Channel
from harness.suite.schema import OpenAIProviderConfig
from tests.fakeserver import FakeOpenAIServer

REQUEST = ModelRequest(messages=(Message(role="user", content="say something odd"),))


def channel_at(base_url: str, cache: ResponseCache) -> Channel:
    config = OpenAIProviderConfig(
        id="api", type="openai", model="m", base_url=base_url, api_key_env=None
    )
    return Channel(OpenAIProvider(config), config, cache)


def call(channel: Channel) -> tuple[Generation, bool]:
    async def go() -> tuple[Generation, bool]:
        try:
            return await channel.generate(REQUEST)
        finally:
            await channel.provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("text", ["\ud800", "lone \udfff low, \ud83d half an emoji", "é 中文 😀"])
def test_a_server_answer_with_lone_surrogates_is_cached_and_returned_unchanged(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "cache.db"
    # The fake server writes "\ud800" as a JSON escape, as a real server may.
    with FakeOpenAIServer(responder=lambda body: text) as url:
        answer, cached = call(channel_at(url, ResponseCache(path)))
        assert (answer.text, cached) == (text, False)
        again, cached = call(channel_at(url, ResponseCache(path)))
    assert (again.text, cached) == (text, True)
    assert again == answer
    # Stored as valid UTF-8 (ASCII escapes), readable by any SQLite tool.
    with contextlib.closing(sqlite3.connect(path)) as db:
        (raw,) = db.execute("SELECT CAST(generation AS BLOB) FROM responses").fetchone()
    assert json.loads(raw.decode("utf-8"))["text"] == text


def test_forget_drops_one_answer(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.db")
    with FakeOpenAIServer() as url:
        channel = channel_at(url, cache)
        call(channel)
        key = request_key(channel.provider, REQUEST)
        cache.put("other", Generation(text="kept"))
        channel.forget(REQUEST)
    assert cache.get(key) is None
    assert cache.get("other") == Generation(text="kept")
