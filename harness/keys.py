"""Stable digests: the response cache's key and the ids of cases and plans.

Its own module, below both :mod:`harness.cases` (which names every case by its request's key)
and :mod:`harness.runner.channel` (which looks answers up by it), so neither imports the other
for it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.providers.base import ModelRequest, Provider


def stable_hash(obj: Any, length: int = 16) -> str:
    """A stable digest of ``obj``; lossless for every string, a lone surrogate ("\\ud800"
    from a JSON file) included: distinct text never shares a digest."""
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def request_key(provider: Provider, request: ModelRequest) -> str:
    """The cache key: provider identity + full request; never a secret or a retry setting."""
    return stable_hash(
        {"provider": provider.identity(), "request": request.model_dump(mode="json")}, 64
    )
