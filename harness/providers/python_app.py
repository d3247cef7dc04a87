"""``type: python``: the user's application as a function, behind the runner like a model.

``fn(messages, vars, config)`` (``config`` may be left out) is called once per case, sync
in a worker thread or async on the event loop, and returns the answer text or a
:class:`ProviderResponse` (or a dict of its fields) with what the app retrieved, the tool
calls it made and what the call cost. Raising :class:`~harness.errors.TransientError` or
an exception listed in ``transient_errors`` retries the call; anything else fails the case.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, ValidationError

from harness.errors import (
    PermanentProviderError,
    ProviderError,
    SuiteKeyError,
    TransientProviderError,
)
from harness.providers.app_io import app_inputs
from harness.providers.base import Generation, ModelRequest, Provider
from harness.suite.schema import PythonProviderConfig
from harness.usercode import describe_error, exception_class, load_function


class ProviderResponse(BaseModel):
    """What a ``python`` provider function may return instead of the bare answer text."""

    model_config = ConfigDict(extra="forbid")

    output: str
    prompt_tokens: StrictInt | None = Field(default=None, ge=0)
    completion_tokens: StrictInt | None = Field(default=None, ge=0)
    #: What the call cost in USD (e.g. the sum of the app's own model calls).
    cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Seconds the call took, when the app measures it better than the runner can.
    latency_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: The passages the app retrieved (RAG scorers can judge the answer against them).
    contexts: list[str] | None = None
    tool_calls: list[dict[str, JsonValue]] | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class PythonProvider(Provider):
    """Calls the suite's function; its file's bytes and ``config`` are part of the cache key."""

    type_name: ClassVar[str] = "python"
    config: PythonProviderConfig

    def __init__(self, config: PythonProviderConfig, suite_dir: Path) -> None:
        super().__init__(config)
        self._fn = load_function(
            config.function, config.file, suite_dir, ("messages", "vars", "config"), optional=1
        )
        if config.config and self._fn.n_args < 3:
            raise SuiteKeyError(
                f"the provider has a 'config' but '{self._fn.label}' takes no third argument "
                "to receive it: define it as (messages, vars, config)",
                "config",
            )
        self._transient = tuple(
            exception_class(name, self._fn.module, suite_dir, "transient_errors", i)
            for i, name in enumerate(config.transient_errors)
        )
        self._fingerprint = self._fn.fingerprint()

    @property
    def model(self) -> str:
        return self.config.model or f"python:{self._fn.label}"

    @property
    def returns_contexts(self) -> bool:
        return True  # any call may return a ProviderResponse with contexts

    def identity(self) -> dict[str, str]:
        return {
            "type": self.type_name,
            "function": self._fn.label,
            "source": self._fingerprint,
            "config": json.dumps(self.config.config, sort_keys=True, default=str),
        }

    async def generate(self, request: ModelRequest) -> Generation:
        inputs = app_inputs(request)
        label, timeout = self._fn.label, self.config.timeout
        try:
            async with asyncio.timeout(timeout) as deadline:
                returned = await self._fn(inputs["messages"], inputs["vars"], self._config())
        except ProviderError:
            raise  # harness.TransientError (retried) and the harness' own errors, as they are
        except TimeoutError as e:
            if deadline.expired():
                raise TransientProviderError(f"{label} timed out after {timeout}s") from None
            raise self._error(e) from None
        except Exception as e:
            raise self._error(e) from None
        return _as_generation(returned, label)

    def _config(self) -> dict[str, Any]:
        """A fresh deep copy per call: one case's changes never leak into the next."""
        return copy.deepcopy(self.config.config)

    def _error(self, exc: Exception) -> ProviderError:
        transient = isinstance(exc, self._transient)
        cls = TransientProviderError if transient else PermanentProviderError
        return cls(f"{self._fn.label} raised {describe_error(exc)}")


def _as_generation(returned: Any, label: str) -> Generation:
    """The function's answer as a Generation; a wrong shape fails the case and says why."""
    if isinstance(returned, str):
        return Generation(text=returned)
    if isinstance(returned, dict):
        try:
            returned = ProviderResponse.model_validate(returned)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(map(str, x['loc'])) or 'value'}: {x['msg']}" for x in e.errors()
            )
            raise PermanentProviderError(
                f"{label} returned a dict that is not a response ({problems}); keys: "
                f"{', '.join(ProviderResponse.model_fields)}"
            ) from None
    if not isinstance(returned, ProviderResponse):
        raise PermanentProviderError(
            f"{label} returned {type(returned).__name__}: return the answer text, a "
            "harness.ProviderResponse, or a dict with 'output' (and contexts, tokens...)"
        )
    fields = returned.model_dump(exclude={"output"})
    return Generation(text=returned.output, **fields)
