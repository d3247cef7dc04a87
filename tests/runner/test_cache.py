"""The response cache keeps any text exactly and forgets an answer on request, on SQLite
and on PostgreSQL (``store_url``); a cache made before migrations is upgraded in place."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from harness.keys import request_key
from harness.providers.base import Generation, Message, ModelRequest
from harness.providers.openai_compat import OpenAIProvider
from harness.runner.cache import CACHE_HEAD, ResponseCache
from harness.runner.channel import Channel
from harness.scorers.base import ScoreValue
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


@pytest.mark.parametrize(
    "text", ["\ud800", "lone \udfff low, \ud83d half an emoji", "é 中文 😀", "nul \x00 \ud800"]
)
def test_a_server_answer_with_lone_surrogates_is_cached_and_returned_unchanged(
    store_url: str, text: str
) -> None:
    # The fake server writes "\ud800" as a JSON escape, as a real server may.
    with FakeOpenAIServer(responder=lambda body: text) as url:
        first = ResponseCache(store_url)
        answer, cached = call(channel_at(url, first))
        assert (answer.text, cached) == (text, False)
        again_cache = ResponseCache(store_url)
        again, cached = call(channel_at(url, again_cache))
    assert (again.text, cached) == (text, True)
    assert again == answer
    # Stored as valid UTF-8 (lone surrogates as ASCII escapes), readable by any tool.
    with again_cache.engine.connect() as c:
        raw = c.scalar(sa.text("SELECT generation FROM responses"))
    assert json.loads(raw.encode("utf-8"))["text"] == text
    if again_cache.path is not None:
        with contextlib.closing(sqlite3.connect(again_cache.path)) as db:
            (raw,) = db.execute("SELECT CAST(generation AS BLOB) FROM responses").fetchone()
        assert json.loads(raw.decode("utf-8"))["text"] == text
    first.close()
    again_cache.close()


def test_forget_drops_one_answer(store_url: str) -> None:
    cache = ResponseCache(store_url)
    with FakeOpenAIServer() as url:
        channel = channel_at(url, cache)
        call(channel)
        key = request_key(channel.provider, REQUEST)
        cache.put("other", Generation(text="kept"))
        channel.forget(REQUEST)
    assert cache.get(key) is None
    assert cache.get("other") == Generation(text="kept")
    cache.close()


def _spied(cache: ResponseCache, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of each commit of answers ``cache`` makes."""
    commits: list[int] = []
    put = cache._put

    def counted(rows: list[dict[str, str]]) -> None:
        commits.append(len(rows))
        put(rows)

    monkeypatch.setattr(cache, "_put", counted)
    return commits


def test_answers_arriving_together_share_one_commit(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ResponseCache(store_url)
    commits = _spied(cache, monkeypatch)
    reader = ResponseCache(store_url)  # another connection: sees only what is committed

    async def answer(i: int) -> bool:
        await cache.commit(f"k{i}", Generation(text=f"answer {i}"))
        return reader.get(f"k{i}") == Generation(text=f"answer {i}")

    async def go() -> list[bool]:
        together = await asyncio.gather(*(answer(i) for i in range(20)))
        return [*together, await answer(20)]  # a later answer: a commit of its own

    assert all(asyncio.run(go()))  # each committed by the time its caller goes on
    assert commits == [20, 1]
    cache.close()
    reader.close()


def test_a_failed_commit_fails_every_answer_in_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ResponseCache(store_url)

    def full(rows: list[dict[str, str]]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(cache, "_put", full)

    async def go() -> list[BaseException | None]:
        answers = (cache.commit(f"k{i}", Generation(text="x")) for i in range(3))
        return await asyncio.gather(*answers, return_exceptions=True)

    assert [str(e) for e in asyncio.run(go())] == ["disk full"] * 3
    cache.close()


def test_a_cancelled_answer_leaves_its_batch_committed(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ResponseCache(store_url)
    commits = _spied(cache, monkeypatch)

    async def go() -> None:
        tasks = [asyncio.create_task(cache.commit(f"k{i}", Generation(text="x"))) for i in range(3)]
        await asyncio.sleep(0)  # every answer is in the batch
        tasks[0].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError) and results[1:] == [None, None]

    asyncio.run(go())
    assert commits == [3] and all(cache.get(f"k{i}") is not None for i in range(3))
    cache.close()


def test_many_answers_vectors_and_scores_round_trip(store_url: str) -> None:
    cache = ResponseCache(store_url)
    for i in range(1200):
        cache.put(f"k{i}", Generation(text=f"answer {i} \ud800"))
    cache.put("k7", Generation(text="replaced"))
    keys = [f"k{i}" for i in range(0, 1300, 3)]  # more than one read of 500, some missing
    found = cache.get_many(keys)
    assert set(found) == {k for k in keys if int(k[1:]) < 1200}
    assert found["k3"].text == "answer 3 \ud800" and cache.get("k7") == Generation(text="replaced")
    cache.put_vectors({"v": [0.5, -1.0], "w": []})
    cache.put_vectors({"v": [2.0]})
    assert (cache.get_vector("v"), cache.get_vector("w"), cache.get_vector("x")) == (
        [2.0],
        [],
        None,
    )
    scores = [
        ScoreValue(value=0.25, explanation="nul \x00 lone \udfff"),
        ScoreValue(value=0.0, passed=False),
    ]
    cache.put_scores({"s": scores})
    assert cache.get_scores("s") == scores and cache.get_scores("none") is None
    cache.close()


def test_a_cache_made_before_migrations_is_upgraded_with_its_answers(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # the first cache's layout
        db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, generation TEXT)")
        db.execute(
            "INSERT INTO responses VALUES ('k', ?)", (Generation(text="old").model_dump_json(),)
        )
    cache = ResponseCache(path)  # stamped cache_0001, then embeddings and scores added
    assert cache.get("k") == Generation(text="old")
    cache.put_vectors({"v": [1.0]})
    cache.put_scores({"s": [ScoreValue(value=1.0)]})
    cache.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(CACHE_HEAD,)]
        assert db.execute("SELECT key FROM responses").fetchall() == [("k",)]
    reopened = ResponseCache(path)
    assert reopened.get_vector("v") == [1.0] and reopened.get("k") == Generation(text="old")
    reopened.close()
