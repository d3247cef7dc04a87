"""What a model-backed scorer may call: the suite's judges and embedders, as a protocol.

Scorers are typed against this protocol and the runner implements it
(:class:`harness.runner.context.ScoringContext`, which adds the cache, limits and per-case
usage), so the scorers package never imports the runner, which imports the scorers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from harness.providers.base import Generation, ModelRequest

T = TypeVar("T")


class JudgeChannel(Protocol):
    """A judge as scorers see it: its suite entry (``params``, ``json_mode``, ...)."""

    @property
    def config(self) -> Any: ...


class ScoringContext(Protocol):
    """The run's judges and embedders, every call cached, retried and costed by the runner."""

    @property
    def judges(self) -> Mapping[str, JudgeChannel]: ...

    def judge_id(self, judge: str | None) -> str:
        """``judge``, or the suite's only judge when None; a clear error otherwise."""
        ...

    async def generate(self, request: ModelRequest, judge: str | None = None) -> Generation:
        """The judge's answer to ``request``."""
        ...

    async def ask(
        self, request: ModelRequest, read: Callable[[str], T], judge: str | None = None
    ) -> T:
        """What ``read`` makes of the judge's answer; an answer it rejects is not kept."""
        ...

    async def embed(self, texts: Sequence[str], embedder: str | None = None) -> list[list[float]]:
        """One vector per text."""
        ...
