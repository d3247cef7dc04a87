"""What the in-process model providers (``hf``, ``vllm``) share to micro-batch requests: a
queued request, handing a batch's results to their callers, and a model loaded once.

Each provider keeps its own batching policy (which requests go together, how many batches
run at once); these are the parts whose behaviour must not differ between them: a caller
whose batch failed or was cancelled never hangs, and a model that cannot load fails every
later call with the same error instead of loading again for each.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar

from pydantic import ValidationError

from harness.errors import PermanentProviderError, ProviderError
from harness.providers.base import Generation, ModelRequest
from harness.suite.schema import GenerationParams

T = TypeVar("T")


@dataclass(eq=False)
class Job:
    """One queued request and the future its caller awaits."""

    request: ModelRequest
    params: GenerationParams
    future: asyncio.Future[Generation]

    @cached_property
    def key(self) -> str:
        """Requests batch together only when every generation parameter is the same."""
        return json.dumps(self.params.model_dump(), sort_keys=True, default=str)

    @property
    def solo(self) -> bool:
        """Seeded sampling runs alone: a row's random draws would depend on its batch."""
        return self.params.seed is not None and bool(self.params.temperature)


def job_for(
    request: ModelRequest,
    defaults: GenerationParams | None,
    who: str,
    future: asyncio.Future[Generation],
) -> Job:
    """The queued form of ``request``: its params over the provider's ``defaults`` (a bad
    one is the caller's permanent error, naming ``who``)."""
    given = {k: v for k, v in request.params.items() if v is not None}
    try:
        params = GenerationParams.model_validate(given).merged_over(defaults)
    except ValidationError as e:
        raise PermanentProviderError(f"{who}: bad params: {e}") from None
    return Job(request, params, future)


def deliver(batch: Sequence[Job], results: Sequence[Generation | Exception]) -> None:
    """Each caller its result (an exception is raised in the caller), unless it left."""
    for job, result in zip(batch, results, strict=True):
        if job.future.done():
            continue
        if isinstance(result, Exception):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)


def fail(jobs: Sequence[Job], error: Exception) -> None:
    """Every caller still waiting gets ``error`` (a closed provider, a cancelled batch)."""
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)


class LoadOnce(Generic[T]):
    """A model loaded on first use (on the worker thread); a failed load is remembered and
    raised again by every later call."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self.loaded: T | None = None
        self._error: ProviderError | None = None

    def get(self) -> T:
        if self.loaded is None:
            if self._error is not None:
                raise self._error
            try:
                self.loaded = self._load()
            except ProviderError as e:
                self._error = e
                raise
        return self.loaded

    def run(
        self, batch: Sequence[Job], work: Callable[[T], list[Generation | Exception]]
    ) -> list[Generation | Exception]:
        """``work`` on the loaded model for ``batch``; a model that cannot load is each
        request's error."""
        try:
            model = self.get()
        except ProviderError as e:
            return [e] * len(batch)
        return work(model)

    def take(self) -> T | None:
        """The loaded model, forgotten here (to be released); None when none was loaded."""
        model, self.loaded = self.loaded, None
        return model
