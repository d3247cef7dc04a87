"""Scorers that see the whole case, not only the output: a read-only :class:`CaseView`.

A user's ``python`` check may need the rendered messages, the provider that answered, or
what the application retrieved (``contexts``); the runner hands such scorers a frozen view
of the case, so a check cannot change what later assertions or the results store see.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from harness.errors import ScorerError
from harness.scorers.base import ModelScorer, Scorer, ScoreValue

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext


def frozen(value: Any) -> Any:
    """``value`` with every dict made a read-only mapping and every list a tuple."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class CaseView:
    """One case as a scorer sees it; every field is read-only.

    ``messages`` are ``{"role": ..., "content": ...}`` mappings; ``contexts``,
    ``tool_calls`` and ``metadata`` are what the provider returned (None / empty when it
    returned none). ``latency_s`` and ``cost_usd`` are the call's (a cached answer keeps
    the original call's); None when unknown, as for stored outputs, which are no call.
    """

    vars: Mapping[str, Any]
    expected: tuple[str, ...]
    messages: tuple[Mapping[str, str], ...]
    provider_id: str
    prompt_id: str
    row_id: str
    case_set: str = "main"
    tags: tuple[str, ...] = ()
    contexts: tuple[str, ...] | None = None
    tool_calls: tuple[Mapping[str, Any], ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    latency_s: float | None = None
    cost_usd: float | None = None

    @property
    def prompt(self) -> str:
        """The last user message: the prompt as a single string."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @classmethod
    def build(
        cls,
        *,
        vars: Mapping[str, Any],
        expected: Sequence[str],
        messages: Sequence[Mapping[str, str]],
        provider_id: str,
        prompt_id: str,
        row_id: str,
        case_set: str = "main",
        tags: Sequence[str] = (),
        contexts: Sequence[str] | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
        latency_s: float | None = None,
        cost_usd: float | None = None,
    ) -> CaseView:
        """A view over deep read-only copies of the case's data."""
        return cls(
            vars=frozen(vars),
            expected=tuple(expected),
            messages=frozen(list(messages)),
            provider_id=provider_id,
            prompt_id=prompt_id,
            row_id=row_id,
            case_set=case_set,
            tags=tuple(tags),
            contexts=None if contexts is None else tuple(contexts),
            tool_calls=None if tool_calls is None else frozen(list(tool_calls)),
            metadata=frozen(metadata or {}),
            latency_s=latency_s,
            cost_usd=cost_usd,
        )


class GradingResult(BaseModel):
    """What a ``python`` check may return instead of a number or a bool.

    ``value`` alone passes against the assertion's threshold; ``passed`` alone scores 1 or 0;
    both are taken as given. ``reason`` is shown under the score; ``answer`` is what the check
    extracted from the output.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float | None = None
    passed: bool | None = None
    reason: str | None = None
    answer: str | None = None
    #: Stored with the score, so JSON values only.
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class CaseScorer(Scorer):
    """A scorer the runner awaits with the whole case (:meth:`score_case`)."""

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        raise ScorerError(
            f"scorer {self.name!r} reads the whole case: the runner awaits score_case()"
        )

    @abstractmethod
    async def score_case(self, output: str, case: CaseView) -> ScoreValue:
        """Score ``output`` knowing the whole case."""


class CaseModelScorer(ModelScorer):
    """A model-backed scorer that reads the whole case, e.g. the ``contexts`` an app returned
    (the RAG scorers): the runner awaits :meth:`ascore_case`."""

    async def ascore(
        self,
        output: str,
        expected: Sequence[str],
        vars: Mapping[str, Any],
        ctx: ScoringContext,
    ) -> ScoreValue:
        """Scored outside a run (no provider's reply): the case is its vars alone."""
        view = CaseView.build(
            vars=vars, expected=expected, messages=(), provider_id="", prompt_id="", row_id=""
        )
        return await self.ascore_case(output, view, ctx)

    @abstractmethod
    async def ascore_case(self, output: str, case: CaseView, ctx: ScoringContext) -> ScoreValue:
        """Score ``output`` knowing the whole case, calling models only through ``ctx``."""
