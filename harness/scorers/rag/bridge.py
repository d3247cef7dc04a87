"""ragas' model interfaces, implemented on the harness' scoring context.

ragas' collections metrics call ``llm.agenerate(prompt, response_model)`` and
``embeddings.aembed_text(s)``; these classes answer them through
:class:`~harness.scorers.context.ScoringContext`, so every judge call is cached, retried,
rate-limited and costed like the model under test, and each parsed reply is kept in
``trace`` so the scorer can show the verdicts behind a score. A reply is read strictly: it
must fit ragas' output model *and* give 0 or 1 wherever ragas asks for a binary verdict
(pydantic would let a 2 or a -1 through, and ragas would count them); a reply that does not
is an error, dropped from the cache so the next run asks again.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # before ragas is imported: no analytics

from pydantic import BaseModel, ValidationError
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.llms.base import InstructorBaseRagasLLM

from harness.errors import ScorerError
from harness.providers.base import Message
from harness.scorers.judge_call import extract_json_object, judge_request, reply_preview
from harness.scorers.judge_prompt import VerdictError

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext

T = TypeVar("T", bound=BaseModel)

#: ragas' own default for its instructor LLMs.
MAX_TOKENS = 1024
#: ragas' binary fields: faithfulness' and context precision's ``verdict``, context recall's
#: ``attributed``, answer relevancy's ``noncommittal`` (all typed plain ``int`` by ragas).
BINARY_FIELDS = frozenset({"verdict", "attributed", "noncommittal"})
_SYSTEM = (
    "Reply with one JSON object that follows the JSON Schema given in the prompt, and nothing else."
)


class HarnessLLM(InstructorBaseRagasLLM):
    """The suite's judge as a ragas LLM; ``trace`` holds every (output model, parsed reply)."""

    def __init__(self, ctx: ScoringContext, judge: str | None, json_mode: bool | None) -> None:
        self.ctx, self.judge, self.json_mode = ctx, judge, json_mode
        self.trace: list[tuple[str, BaseModel]] = []
        self._asked: Counter[str] = Counter()

    def generate(self, prompt: str, response_model: type[T]) -> T:
        raise ScorerError("the harness' ragas judge is async only: ragas must call agenerate()")

    async def agenerate(self, prompt: str, response_model: type[T]) -> T:
        request = judge_request(
            self.ctx,
            self.judge,
            [Message(role="system", content=_SYSTEM), Message(role="user", content=prompt)],
            json_mode=self.json_mode,
            default_max_tokens=MAX_TOKENS,
            seed=self._seed(prompt),
        )
        parsed = await self.ctx.ask(
            request, lambda text: parse_reply(text, response_model), self.judge
        )
        self.trace.append((response_model.__name__, parsed))
        return parsed

    def _seed(self, prompt: str) -> int | None:
        """None the first time; a new seed each time ragas asks the same prompt again (answer
        relevancy samples several questions), so those calls are not one cached reply."""
        repeat = self._asked[prompt]
        self._asked[prompt] += 1
        if not repeat:
            return None
        config = self.ctx.judges[self.ctx.judge_id(self.judge)].config
        base = getattr(getattr(config, "params", None), "seed", None) or 0
        return base + repeat


def parse_reply(text: str, response_model: type[T]) -> T:
    """The reply as ``response_model``, or a VerdictError quoting it."""
    found = extract_json_object(text)
    if found is None:
        raise VerdictError(
            f"unparseable judge reply for ragas' {response_model.__name__}: {reply_preview(text)}"
        )
    try:
        parsed = response_model.model_validate(found)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise VerdictError(
            f"judge reply does not fit ragas' {response_model.__name__} ({where}: {first['msg']}): "
            f"{reply_preview(text)}"
        ) from None
    off = next(_off_binary(parsed), None)
    if off is not None:
        raise VerdictError(
            f"judge reply for ragas' {response_model.__name__} has {off[0]} = {off[1]!r}, "
            f"not a verdict of 0 or 1: {reply_preview(text)}"
        )
    return parsed


def _off_binary(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every binary field (anywhere in a parsed reply) whose value is not 0 or 1."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            field = getattr(value, name)
            path = f"{where}.{name}" if where else name
            if name in BINARY_FIELDS and (type(field) is not int or field not in (0, 1)):
                yield path, field
            else:
                yield from _off_binary(field, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _off_binary(item, f"{where}.{i}")


class HarnessEmbeddings(BaseRagasEmbedding):
    """The suite's embedder as ragas embeddings (vectors cached by the scoring context)."""

    def __init__(self, ctx: ScoringContext, embedder: str | None) -> None:
        super().__init__()
        self.ctx, self.embedder = ctx, embedder

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        raise ScorerError("the harness' ragas embeddings are async only")

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        return (await self.ctx.embed([text], self.embedder))[0]

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return await self.ctx.embed(list(texts), self.embedder)
