"""Typed records of the results store (schema-versioned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from harness.providers.base import Message

SCHEMA_VERSION = 1

#: "partial": the shards that ran are done, others' cases have no result yet.
RunStatus = Literal["running", "partial", "complete", "interrupted", "failed"]


class Score(BaseModel):
    """One assertion's verdict on one case."""

    #: The assertion's name (``name:`` in the suite, default its type): what summaries,
    #: exports, comparisons and gates call it. A record stored before names existed has
    #: none; it reads as the scorer's name, which is what it was called then.
    name: str
    scorer: str
    version: str
    value: float | None
    threshold: float | None
    passed: bool | None
    higher_is_better: bool = True
    answer: str | None = None
    explanation: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    #: ``not: true``: ``passed`` is the scorer's verdict inverted (``value`` is not), and
    #: ``higher_is_better`` is the scorer's flipped.
    inverted: bool = False
    #: Its share of the case score (0: shown, never fails the case).
    weight: float = 1.0

    @model_validator(mode="before")
    @classmethod
    def _name_of_old_records(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None and "scorer" in data:
            return {**data, "name": data["scorer"]}
        return data

    @property
    def label(self) -> str:
        """The name as failure texts and the report show it: ``not chrf`` when inverted,
        ``(weight 0.5)`` when its weight is not 1."""
        label = f"not {self.name}" if self.inverted else self.name
        return label if self.weight == 1 else f"{label} (weight {self.weight:g})"


class CaseResult(BaseModel):
    """One (prompt version, provider, row) case, as run and scored."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    case_id: str
    #: The response-cache key: provider identity + full request.
    request_key: str
    prompt_id: str
    provider_id: str
    model: str
    #: "main" for the suite's cases, else the bad-case set's name.
    case_set: str = "main"
    #: Stable id of the source row (shared by every prompt x provider of that row).
    row_id: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    messages: list[Message]
    expected: list[str] = Field(default_factory=list)
    output: str | None = None
    error: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    #: Judge calls made to score this case, and their cost (None when a price is unknown).
    judge_calls: int = 0
    #: Of those, the ones answered from the response cache.
    judge_cached: int = 0
    judge_cost_usd: float | None = None
    scores: list[Score] = Field(default_factory=list)
    #: True when every assertion passed (every one of weight > 0), or with a case
    #: ``threshold``, when ``score`` reached it; False when not, or the call errored.
    passed: bool = False
    #: The weighted share of assertions that passed, sum(weight * passed) / sum(weight);
    #: None when the call errored (or for a record stored before case scores existed).
    score: float | None = None
    #: The case's ``threshold:`` on ``score`` (None: every assertion must pass).
    threshold: float | None = None
    finished_at: datetime
    #: The prompt version's family (paraphrases of one instruction), if declared.
    prompt_family: str | None = None
    #: For a perturbed case (robustness): its clean row's id and the perturbation id.
    clean_row_id: str | None = None
    perturbation: str | None = None
    #: Which sample of the case this is (``--repeat N`` / ``repeat:``: 0 to N-1); 0 when
    #: the suite runs each case once.
    repeat: int = 0
    #: What the application under test retrieved, the tool calls it returned, and any other
    #: metadata its provider returned (``python``/``http``/``exec`` providers).
    contexts: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    provider_metadata: dict[str, Any] = Field(default_factory=dict)


class RunRecord(BaseModel):
    """One invocation of a suite (possibly resumed)."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    suite_name: str
    suite_path: str
    suite_hash: str
    created_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = "running"
    harness_version: str
    providers: list[dict[str, Any]] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    n_cases: int = 0
    #: The filters that made a partial run (``--tag geo --limit 5``); None: every case of
    #: the suite (and for a run stored before filters existed).
    selection: str | None = None
