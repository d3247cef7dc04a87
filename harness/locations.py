"""Where the results store and the response cache are: ``$HARNESS_DB_URL`` /
``$HARNESS_CACHE_URL`` (``--db``), else files in ``$HARNESS_HOME``.

The stores are imported when opened: :mod:`harness.quick_replay` looks for the cache file
before SQLAlchemy is loaded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.results.store import ResultStore
    from harness.runner.cache import ResponseCache


def harness_home() -> Path:
    """Where the results store and response cache live (``$HARNESS_HOME``, default ``.harness``)."""
    return Path(os.environ.get("HARNESS_HOME", ".harness"))


def store_target() -> str | Path:
    """Where the results store is: ``$HARNESS_DB_URL`` (a database URL, e.g. a team's
    PostgreSQL, or a SQLite file's path; ``--db``), else ``$HARNESS_HOME/results.db``."""
    return os.environ.get("HARNESS_DB_URL") or harness_home() / "results.db"


def default_store(*, existing: bool = False) -> ResultStore:
    """The results store at :func:`store_target`. ``existing``: for commands that only read;
    a SQLite file that is not there is an error, not a new store."""
    from harness.results.store import ResultStore

    return ResultStore(store_target(), create=not existing)


def default_cache() -> ResponseCache:
    """The response cache at ``$HARNESS_CACHE_URL``, else ``$HARNESS_HOME/cache.db``."""
    from harness.runner.cache import ResponseCache

    return ResponseCache(cache_file() or os.environ["HARNESS_CACHE_URL"])


@contextmanager
def opened_cache() -> Iterator[ResponseCache]:
    """The default response cache, closed when the block ends."""
    cache = default_cache()
    try:
        yield cache
    finally:
        cache.close()


def cache_file() -> Path | None:
    """The response cache's SQLite file in ``$HARNESS_HOME``; None when ``$HARNESS_CACHE_URL``
    names another."""
    return None if os.environ.get("HARNESS_CACHE_URL") else harness_home() / "cache.db"
