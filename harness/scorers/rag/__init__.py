"""RAG metrics computed by ragas (collections API) with the suite's judge and embedder.

The scorers import ragas only when they first score (its import takes seconds), ask it
for its own numbers, and keep the judge's intermediate verdicts in the score's metadata.
The answer is the output of the model under test (use an ``outputs`` provider with
``column: answer`` to score given answers); the question, contexts and ground truth come
from case vars (the ground truth defaults to the case's expected answer).
"""

from __future__ import annotations

import importlib
import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import ScorerError
from harness.scorers.base import ModelScorer, ScoreValue
from harness.scorers.judge_call import case_contexts, case_var
from harness.scorers.rag.verdicts import summary, verdicts

if TYPE_CHECKING:
    from harness.runner.context import ScoringContext

#: What a metric reads besides the question and the answer.
CONTEXTS, REFERENCE, EMBEDDINGS = "contexts", "reference", "embeddings"


class RagasScorer(ModelScorer):
    """One ragas metric. ``question_var`` / ``contexts_var`` (default ``contexts``) /
    ``ground_truth_var`` (default: the expected answer) map case vars to ragas' columns."""

    version = "1"
    default_threshold = 0.5
    #: Inputs the metric uses (CONTEXTS, REFERENCE, EMBEDDINGS).
    uses: ClassVar[frozenset[str]] = frozenset()
    #: True when the metric cannot run without a ground truth.
    reference_required: ClassVar[bool] = False

    def __init__(
        self,
        *,
        judge: str | None = None,
        embedder: str | None = None,
        question_var: str = "question",
        contexts_var: str | None = None,
        ground_truth_var: str | None = None,
        json_mode: bool | None = None,
    ) -> None:
        for given, needed, what in (
            (embedder, EMBEDDINGS, "an embedder"),
            (contexts_var, CONTEXTS, "contexts"),
            (ground_truth_var, REFERENCE, "a ground truth"),
        ):
            if given is not None and needed not in self.uses:
                raise ScorerError(
                    f"scorer {self.name!r} does not use {what}; remove that parameter"
                )
        self.judge, self.embedder, self.json_mode = judge, embedder, json_mode
        self.question_var = question_var
        self.contexts_var = contexts_var or "contexts"
        self.ground_truth_var = ground_truth_var
        self.needs_expected = self.reference_required and ground_truth_var is None

    @property
    def version_string(self) -> str:
        return f"{self.name}@{self.version} ragas=={metadata.version('ragas')}"

    def judges(self) -> list[str | None]:
        return [self.judge]

    def embedders(self) -> list[str | None]:
        return [self.embedder] if EMBEDDINGS in self.uses else []

    def vars_needed(self) -> list[str]:
        wanted = [self.question_var] + ([self.contexts_var] if CONTEXTS in self.uses else [])
        return wanted + ([self.ground_truth_var] if self.ground_truth_var else [])

    async def ascore(
        self,
        output: str,
        expected: Sequence[str],
        vars: Mapping[str, Any],
        ctx: ScoringContext,
    ) -> ScoreValue:
        if not output.strip():
            raise ScorerError(f"{self.name}: the answer is empty")
        question = str(case_var(vars, self.question_var))
        if not question.strip():  # ragas would raise a bare ValueError
            raise ScorerError(f"{self.name}: the question (var {self.question_var!r}) is empty")
        inputs: dict[str, Any] = {"user_input": question, "response": output}
        if CONTEXTS in self.uses:
            inputs["retrieved_contexts"] = case_contexts(vars, self.contexts_var)
        if REFERENCE in self.uses:
            reference = self._reference(expected, vars)
            if reference is not None:
                inputs["reference"] = reference
        bridge = importlib.import_module("harness.scorers.rag.bridge")
        llm = bridge.HarnessLLM(ctx, self.judge, self.json_mode)
        embeddings = bridge.HarnessEmbeddings(ctx, self.embedder)
        result = await self.compute(llm, embeddings, inputs)
        rows = verdicts(llm.trace, inputs.get("retrieved_contexts", ()))
        value = float(result.value)
        if math.isnan(value):
            raise ScorerError(
                f"ragas' {self.name} gave no score (NaN): the judge found nothing to judge "
                f"({len(llm.trace)} judge replies)"
            )
        return ScoreValue(
            value=value,
            explanation=summary(rows),
            metadata={"verdicts": rows, "ragas": metadata.version("ragas")},
        )

    def _reference(self, expected: Sequence[str], vars: Mapping[str, Any]) -> str | None:
        if self.ground_truth_var is not None:
            reference = str(case_var(vars, self.ground_truth_var))
        else:
            reference = expected[0] if expected else None
        if self.reference_required and not (reference and reference.strip()):
            raise ScorerError(f"{self.name} needs a ground truth; the case has none")
        return reference

    @abstractmethod
    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        """ragas' MetricResult for ``inputs`` (user_input, response, retrieved_contexts,
        reference), computed with ``llm`` and ``embeddings``."""


def _collections() -> Any:
    importlib.import_module("harness.scorers.rag.bridge")  # sets RAGAS_DO_NOT_TRACK first
    return importlib.import_module("ragas.metrics.collections")


def _pick(inputs: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: inputs[n] for n in names}


class FaithfulnessScorer(RagasScorer):
    """Share of the answer's statements that the retrieved contexts support."""

    name = "faithfulness"
    uses = frozenset({CONTEXTS})

    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        metric = _collections().Faithfulness(llm=llm)
        return await metric.ascore(**_pick(inputs, "user_input", "response", "retrieved_contexts"))


class AnswerRelevancyScorer(RagasScorer):
    """Mean cosine between the question and questions the judge infers from the answer."""

    name = "answer_relevancy"
    uses = frozenset({EMBEDDINGS})

    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        metric = _collections().AnswerRelevancy(llm=llm, embeddings=embeddings)
        return await metric.ascore(**_pick(inputs, "user_input", "response"))


class ContextPrecisionScorer(RagasScorer):
    """Average precision of the useful contexts' ranks; judged against the ground truth when
    the case has one, else against the answer (ragas' "without reference" variant)."""

    name = "context_precision"
    uses = frozenset({CONTEXTS, REFERENCE})

    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        metrics = _collections()
        if inputs.get("reference"):
            metric = metrics.ContextPrecisionWithReference(llm=llm)
            names = ("user_input", "reference", "retrieved_contexts")
        else:
            metric = metrics.ContextPrecisionWithoutReference(llm=llm)
            names = ("user_input", "response", "retrieved_contexts")
        return await metric.ascore(**_pick(inputs, *names))


class ContextRecallScorer(RagasScorer):
    """Share of the ground truth's statements that the contexts support."""

    name = "context_recall"
    uses = frozenset({CONTEXTS, REFERENCE})
    reference_required = True

    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        metric = _collections().ContextRecall(llm=llm)
        return await metric.ascore(**_pick(inputs, "user_input", "retrieved_contexts", "reference"))


class AnswerCorrectnessScorer(RagasScorer):
    """ragas' weighted mix of statement-level F1 against the ground truth (0.75) and
    embedding similarity (0.25)."""

    name = "answer_correctness"
    uses = frozenset({REFERENCE, EMBEDDINGS})
    reference_required = True

    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        metric = _collections().AnswerCorrectness(llm=llm, embeddings=embeddings)
        return await metric.ascore(**_pick(inputs, "user_input", "response", "reference"))
