"""RAG metrics computed by ragas (collections API) with the suite's judge and embedder.

The scorers import ragas only when they first score (its import takes seconds), ask it
for its own numbers, and keep the judge's intermediate verdicts in the score's metadata.
The answer is the output of the model under test (use an ``outputs`` provider with
``column: answer`` to score given answers); the question and ground truth come from case vars
(the ground truth defaults to the case's expected answer). The contexts are what the provider
returned when it returned any (an application's own retrieval), else the case var
``contexts_var``: the app is judged on the passages it used, not on the dataset's.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import ScorerError
from harness.scorers.base import ScoreValue
from harness.scorers.case import CaseModelScorer, CaseView
from harness.scorers.judge_call import case_contexts, case_var, passages
from harness.scorers.rag.verdicts import summary, unjudged, unscorable, verdicts

if TYPE_CHECKING:
    from harness.scorers.context import ScoringContext

#: What a metric reads besides the question and the answer.
CONTEXTS, REFERENCE, EMBEDDINGS = "contexts", "reference", "embeddings"


class RagasScorer(CaseModelScorer):
    """One ragas metric. ``question_var`` / ``contexts_var`` (default ``contexts``; used when
    the provider returned no contexts) / ``ground_truth_var`` (default: the expected answer)
    map case vars to ragas' columns."""

    version = "1"
    default_threshold = 0.5
    #: Inputs the metric uses (CONTEXTS, REFERENCE, EMBEDDINGS).
    uses: ClassVar[frozenset[str]] = frozenset()
    #: True when the metric cannot run without a ground truth.
    reference_required: ClassVar[bool] = False
    #: The texts ragas has the judge split into statements, in the order it asks.
    split_texts: ClassVar[tuple[str, ...]] = ()

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

    def contexts_vars(self) -> list[str]:
        return [self.contexts_var] if CONTEXTS in self.uses else []

    async def ascore_case(self, output: str, case: CaseView, ctx: ScoringContext) -> ScoreValue:
        if not output.strip():
            raise ScorerError(f"{self.name}: the answer is empty")
        question = str(case_var(case.vars, self.question_var))
        if not question.strip():  # ragas would raise a bare ValueError
            raise ScorerError(f"{self.name}: the question (var {self.question_var!r}) is empty")
        inputs: dict[str, Any] = {"user_input": question, "response": output}
        source = None
        if CONTEXTS in self.uses:
            inputs["retrieved_contexts"], source = self._contexts(case)
        if REFERENCE in self.uses:
            reference = self._reference(case.expected, case.vars)
            if reference is not None:
                inputs["reference"] = reference
        bridge = importlib.import_module("harness.scorers.rag.bridge")
        llm = bridge.HarnessLLM(ctx, self.judge, self.json_mode)
        embeddings = bridge.HarnessEmbeddings(ctx, self.embedder)
        result = await self.compute(llm, embeddings, inputs)
        score = self._score(float(result.value), llm.trace, inputs)
        if source is not None:
            score.metadata["contexts_source"] = source
        return score

    def _contexts(self, case: CaseView) -> tuple[list[str], str]:
        """The passages to judge against and where they come from (``provider`` or
        ``vars.<name>``): what the provider returned (an app's own retrieval) before the case's
        var, so an app is scored on what it retrieved. An empty list returned is an error, not
        a fall back to the dataset's passages, which the app did not use."""
        if case.contexts is not None:
            return passages(case.contexts, "the contexts list the provider returned"), "provider"
        if self.contexts_var not in case.vars:
            known = ", ".join(sorted(case.vars)) or "none"
            raise ScorerError(
                f"{self.name}: no contexts to judge against: the provider returned none, and "
                f"the case has no var {self.contexts_var!r} (its vars: {known})"
            )
        return case_contexts(case.vars, self.contexts_var), f"vars.{self.contexts_var}"

    def _score(
        self, value: float, trace: list[tuple[str, Any]], inputs: dict[str, Any]
    ) -> ScoreValue:
        """ragas' value, unless the judge's replies make it meaningless (an error, never a
        number: ragas scores an answer with no statements as fully correct)."""
        reason = unscorable(trace, self.split_texts)
        if reason is not None:
            raise ScorerError(f"{self.name} is not scorable: {reason} ({len(trace)} judge replies)")
        rows = verdicts(trace, inputs.get("retrieved_contexts", ()))
        meta: dict[str, Any] = {"verdicts": rows, "ragas": metadata.version("ragas")}
        notes = [summary(rows)]
        if value < 0.0 and EMBEDDINGS in self.uses:
            # A cosine below 0 (unrelated texts): clipped like `similar`, ragas' own kept.
            meta["ragas_value"] = value
            notes.append(f"ragas gave {value:.4f} (a negative cosine), clipped to 0")
            value = 0.0
        if not 0.0 <= value <= 1.0:  # NaN too
            raise ScorerError(
                f"ragas' {self.name} gave {value}, not a score in [0, 1] "
                f"({len(trace)} judge replies)"
            )
        skipped = unjudged(trace)
        if skipped is not None:
            meta["unjudged"] = skipped
            notes.append(
                f"the judge gave no verdict on {skipped['count']} of {skipped['of']} statements"
            )
        explanation = "; ".join(n for n in notes if n) or None
        return ScoreValue(value=value, explanation=explanation, metadata=meta)

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
    split_texts = ("the answer",)

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
    split_texts = ("the answer", "the ground truth")

    async def compute(self, llm: Any, embeddings: Any, inputs: dict[str, Any]) -> Any:
        metric = _collections().AnswerCorrectness(llm=llm, embeddings=embeddings)
        return await metric.ascore(**_pick(inputs, "user_input", "response", "reference"))
