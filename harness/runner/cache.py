"""The response cache: request key -> generation (and text -> embedding, and scoring
inputs -> score: :mod:`harness.runner.memo`), in SQLite.

The key (see :func:`harness.cases.request_key`) covers the provider's identity and
the full request, and nothing operational or secret, so a re-run of a finished
suite makes zero requests. Entries are written the moment a response arrives,
before scoring, so a crash never makes anyone pay for the same call twice; a scorer that
cannot use an answer has it forgotten (:meth:`ResponseCache.forget`), so the next run asks
again. Any text is stored losslessly: a lone surrogate (``"\\ud800"`` is valid JSON from a
server) is kept as an ASCII escape and comes back as the same character.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from harness.errors import StoreError
from harness.jsontext import dump_model, load_model
from harness.providers.base import Generation
from harness.scorers.base import ScoreValue

_SCORES = TypeAdapter(list[ScoreValue])


class ResponseCache:
    """Generations by request key, vectors by embedder and text, and stored scores, in one
    SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, generation TEXT)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector TEXT)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, score TEXT)")
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the response cache {self.path}: {e}") from None

    def get(self, key: str) -> Generation | None:
        row = self._db.execute("SELECT generation FROM responses WHERE key = ?", (key,)).fetchone()
        return load_model(Generation, row[0]) if row else None

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The cached generations of ``keys`` (those found), in one query per 500 keys."""
        found: dict[str, Generation] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT key, generation FROM responses WHERE key IN ({marks})"
            for key, generation in self._db.execute(query, chunk):
                found[key] = load_model(Generation, generation)
        return found

    def get_scores(self, key: str) -> list[ScoreValue] | None:
        """The scores stored under ``key`` (:mod:`harness.runner.memo`), or None."""
        row = self._db.execute("SELECT score FROM scores WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return _SCORES.validate_json(row[0])
        except ValidationError:  # pydantic's parser refuses a lone-surrogate escape
            return _SCORES.validate_python(json.loads(row[0]))

    def put_scores(self, items: Mapping[str, Sequence[ScoreValue]]) -> None:
        """Store scores in one transaction (nothing was paid for them: no hurry to commit)."""
        rows = [(k, f"[{', '.join(dump_model(v) for v in values)}]") for k, values in items.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", rows)

    def put(self, key: str, generation: Generation) -> None:
        """Commit ``generation`` at once: it was paid for, and a crash must not lose it."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, dump_model(generation))
            )

    def forget(self, key: str) -> None:
        """Drop the answer cached under ``key`` (one its reader could not use)."""
        with self._db:
            self._db.execute("DELETE FROM responses WHERE key = ?", (key,))

    def get_vector(self, key: str) -> list[float] | None:
        row = self._db.execute("SELECT vector FROM embeddings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_vectors(self, items: dict[str, list[float]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()
