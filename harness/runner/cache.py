"""The response cache: request key -> generation (and text -> embedding, scoring inputs ->
score: :mod:`harness.runner.memo`, a run's inputs -> that finished run: :mod:`harness.replay`),
in a SQLite file or a shared database.

The key (see :func:`harness.cases.request_key`) covers the provider's identity and
the full request, and nothing operational or secret, so a re-run of a finished
suite makes zero requests. Entries are committed the moment a response arrives (those
arriving in one turn of the event loop together), before scoring, so a crash never makes
anyone pay for the same call twice; a scorer that cannot use an answer has it forgotten
(:meth:`ResponseCache.forget`), so the next run asks again. Any text is stored losslessly:
a lone surrogate (``"\\ud800"`` is valid JSON from a server) is kept as an ASCII escape and
comes back as the same character.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Connection

from harness.jsontext import dump_model, load_model
from harness.providers.base import Generation
from harness.results.db import KEY, Database
from harness.scorers.base import ScoreValue

#: The revision of the ``cache`` migrations this code reads and writes.
CACHE_HEAD = "cache_0003"

_SCORES = TypeAdapter(list[ScoreValue])

_tables = sa.MetaData()
RESPONSES = sa.Table(
    "responses", _tables, sa.Column("key", KEY, primary_key=True), sa.Column("generation", sa.Text)
)
EMBEDDINGS = sa.Table(
    "embeddings", _tables, sa.Column("key", KEY, primary_key=True), sa.Column("vector", sa.Text)
)
SCORES = sa.Table(
    "scores", _tables, sa.Column("key", KEY, primary_key=True), sa.Column("score", sa.Text)
)
REPLAYS = sa.Table(
    "replays", _tables, sa.Column("key", KEY, primary_key=True), sa.Column("run", sa.Text)
)

#: Keys in one ``IN (...)`` list: well under SQLite's limit on bound parameters.
_CHUNK = 500

_key = sa.bindparam("key")
_GENERATION = sa.select(RESPONSES.c.generation).where(RESPONSES.c.key == _key)
_GENERATIONS = sa.select(RESPONSES.c.key, RESPONSES.c.generation).where(
    RESPONSES.c.key.in_(sa.bindparam("keys", expanding=True))
)
_SCORE = sa.select(SCORES.c.score).where(SCORES.c.key == _key)
_VECTOR = sa.select(EMBEDDINGS.c.vector).where(EMBEDDINGS.c.key == _key)
_REPLAY = sa.select(REPLAYS.c.run).where(REPLAYS.c.key == _key)
_FORGET = sa.delete(RESPONSES).where(RESPONSES.c.key == _key)


class ResponseCache:
    """Generations by request key, vectors by embedder and text, and stored scores, in
    ``target``: a SQLite file or a database URL (see :class:`harness.results.db.Database`)."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self._db = Database(
            target, tables=_tables, branch="cache", head=CACHE_HEAD,
            legacy=_legacy_revision, what="response cache",
        )  # fmt: skip
        #: The SQLite file (None for another database); ``url``: where it is, any database.
        self.path = self._db.path
        self.url = self._db.location
        self.engine = self._db.engine
        self._put = self._db.prepare(self._db.upsert(RESPONSES, "generation"))
        self._batch: _Batch | None = None
        self._put_scores = self._db.upsert(SCORES, "score")
        self._put_vectors = self._db.upsert(EMBEDDINGS, "vector")
        self._put_replay = self._db.upsert(REPLAYS, "run")

    def get(self, key: str) -> Generation | None:
        with self._db.begin() as c:
            generation = c.scalar(_GENERATION, {"key": key})
        return None if generation is None else load_model(Generation, generation)

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The cached generations of ``keys`` (those found), in one query per 500 keys."""
        found: dict[str, Generation] = {}
        with self._db.begin() as c:
            for i in range(0, len(keys), _CHUNK):
                rows = c.execute(_GENERATIONS, {"keys": list(keys[i : i + _CHUNK])})
                for key, generation in rows:
                    found[key] = load_model(Generation, generation)
        return found

    def get_scores(self, key: str) -> list[ScoreValue] | None:
        """The scores stored under ``key`` (:mod:`harness.runner.memo`), or None."""
        with self._db.begin() as c:
            score = c.scalar(_SCORE, {"key": key})
        if score is None:
            return None
        try:
            return _SCORES.validate_json(score)
        except ValidationError:  # pydantic's parser refuses a lone-surrogate escape
            return _SCORES.validate_python(json.loads(score))

    def put_scores(self, items: Mapping[str, Sequence[ScoreValue]]) -> None:
        """Store scores in one transaction (nothing was paid for them: no hurry to commit)."""
        rows = [
            {"key": k, "score": f"[{', '.join(dump_model(v) for v in values)}]"}
            for k, values in sorted(items.items())
        ]
        if rows:
            with self._db.begin() as c:
                c.execute(self._put_scores, rows)

    def put(self, key: str, generation: Generation) -> None:
        """Commit ``generation`` at once: it was paid for, and a crash must not lose it."""
        self._put([{"key": key, "generation": dump_model(generation)}])

    async def commit(self, key: str, generation: Generation) -> None:
        """:meth:`put` for a caller in the event loop: returns once ``generation`` is
        committed, as :meth:`put` does, but the answers that arrive in the same turn of the
        loop share one commit (a commit per answer cost a local run ~0.05 ms a case)."""
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = _Batch([], loop.create_future())
            loop.call_soon(self._commit_batch)
        batch = self._batch
        batch.rows.append({"key": key, "generation": dump_model(generation)})
        await asyncio.shield(batch.committed)  # a cancelled caller leaves the others theirs

    def _commit_batch(self) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None
        try:
            self._put(batch.rows)
        except Exception as e:
            batch.committed.set_exception(e)
        else:
            batch.committed.set_result(None)

    def forget(self, key: str) -> None:
        """Drop the answer cached under ``key`` (one its reader could not use)."""
        with self._db.begin() as c:
            c.execute(_FORGET, {"key": key})

    def get_vector(self, key: str) -> list[float] | None:
        with self._db.begin() as c:
            vector = c.scalar(_VECTOR, {"key": key})
        return None if vector is None else json.loads(vector)

    def put_vectors(self, items: dict[str, list[float]]) -> None:
        rows = [{"key": k, "vector": json.dumps(v)} for k, v in sorted(items.items())]
        if rows:
            with self._db.begin() as c:
                c.execute(self._put_vectors, rows)

    def get_replay(self, key: str) -> str | None:
        """The finished run (its JSON) recorded under a run's inputs ``key``, or None."""
        with self._db.begin() as c:
            return c.scalar(_REPLAY, {"key": key})

    def put_replay(self, key: str, run: str) -> None:
        """Record (or replace) the finished run whose inputs hash to ``key``."""
        with self._db.begin() as c:
            c.execute(self._put_replay, {"key": key, "run": run})

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class _Batch:
    """Answers to commit together, and the future their callers wait on."""

    rows: list[dict[str, str]]
    committed: asyncio.Future[None]


def _legacy_revision(conn: Connection) -> str | None:
    """The revision a cache made before migrations matches (``cache_0002`` keeps the
    embeddings and scores tables its code may have created)."""
    return "cache_0001" if sa.inspect(conn).has_table("responses") else None
