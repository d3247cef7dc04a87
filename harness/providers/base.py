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


def _unset(value: object) -> bool:
    return value is None


class ModelRequest(BaseModel):
    """What is sent to a model.

    ``messages``, ``params`` and the tools offered define the output and so form the
    cache key; ``metadata`` (the case's row, for providers that read outputs from data)
    never does.
    """

    model_config = ConfigDict(frozen=True)

    messages: tuple[Message, ...]
    params: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict, exclude=True)
    #: OpenAI function tools offered to the model, and ``tool_choice``; left out of the
    #: dump (and so of the key) when unset, so requests without tools keep their keys.
    tools: tuple[dict[str, Any], ...] | None = Field(default=None, exclude_if=_unset)
    tool_choice: str | dict[str, Any] | None = Field(default=None, exclude_if=_unset)

    def as_prompt(self) -> str:
        """One completion-style prompt (for non-chat endpoints and models without a chat
        template). A single turn (a user message, a system message before it or not) is
        the texts joined by a blank line, as a plain template expects; a conversation
        (any assistant turn) is a transcript, ``System: ...``, ``User: ...``,
        ``Assistant: ...`` a blank line apart, ending in ``Assistant:`` for the model to go on."""
        if all(m.role != "assistant" for m in self.messages):
            return "\n\n".join(m.content for m in self.messages)
        turns = [f"{m.role.capitalize()}: {m.content}" for m in self.messages]
        return "\n\n".join([*turns, "Assistant:"])


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
    #: What an application under test retrieved (``python``/``http``/``exec`` providers), for
    #: scorers that judge the answer against the app's own contexts.
    contexts: list[str] | None = None
    #: Tool calls the application made or the model asked for, as the provider returned them.
    tool_calls: list[dict[str, Any]] | None = None
    #: Anything else the provider returned about the call (free-form, stored with the result).
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: The call's cost in USD when the provider knows it (an app reporting its own spend);
    #: None: computed from the token counts and the provider's prices, where known.
    cost_usd: float | None = None


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
    def returns_contexts(self) -> bool:
        """Whether answers may carry the ``contexts`` an application retrieved (then the RAG
        scorers need no contexts column in the dataset)."""
        return False

    @property
    def default_concurrency(self) -> int | None:
        """How many requests this provider wants in flight at once (None: runner default)."""
        return None

    @property
    def request_features(self) -> frozenset[str]:
        """What it sends on besides messages and sampling params: ``"tools"`` (with
        ``tool_choice``) and ``"response_format"``. A suite asking a provider for one it
        would drop is an error when it loads, never a silently different request."""
        return frozenset()

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
