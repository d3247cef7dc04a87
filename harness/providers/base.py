"""The provider interface: one async ``generate`` per request.

A provider turns a :class:`ModelRequest` into a :class:`Generation`, raising
:class:`~harness.errors.TransientProviderError` for what is worth retrying and
:class:`~harness.errors.PermanentProviderError` for what is not. Retries, rate
limits, caching and concurrency live in the runner, so a provider stays small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """One chat message of a rendered prompt."""

    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class ModelRequest(BaseModel):
    """What is sent to a model.

    ``messages`` and ``params`` define the output and so form the cache key;
    ``metadata`` (the case's row, for providers that read outputs from data)
    never does.
    """

    model_config = ConfigDict(frozen=True)

    messages: tuple[Message, ...]
    params: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict, exclude=True)

    def as_prompt(self) -> str:
        """The messages joined into one completion-style prompt (for non-chat endpoints)."""
        return "\n\n".join(m.content for m in self.messages)


class Generation(BaseModel):
    """A model's answer plus the accounting the runner records."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    #: Seconds the call took; set by the runner so cached results keep the original latency.
    latency_s: float | None = None
    #: When the request asked for ``logprobs``: per generated token, the log-probability of
    #: each of its top alternatives (``{token: logprob}``), as the server returned them.
    top_logprobs: list[dict[str, float]] | None = None


class Provider(ABC):
    """Base class of every provider type; subclasses register under ``type_name``."""

    type_name: ClassVar[str]
    #: False for providers whose output is not a model call (nothing to cache).
    cacheable: ClassVar[bool] = True

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def default_concurrency(self) -> int | None:
        """How many requests this provider wants in flight at once (None: runner default)."""
        return None

    @abstractmethod
    def identity(self) -> dict[str, str]:
        """What makes this provider's outputs what they are (type, endpoint, model): part of
        the cache key and case id. Never contains a secret."""

    @abstractmethod
    async def generate(self, request: ModelRequest) -> Generation:
        """Return the model's answer to ``request`` or raise a ``ProviderError``."""

    def check(self) -> None:  # noqa: B027 - optional hook
        """Fail fast on a bad configuration (missing model file, ...) before any call."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections, threads or model memory."""
