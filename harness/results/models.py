"""Typed records of the results store (schema-versioned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.providers.base import Message

SCHEMA_VERSION = 1

RunStatus = Literal["running", "complete", "interrupted", "failed"]


class Score(BaseModel):
    """One assertion's verdict on one case."""

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
    #: True when every assertion passed; False when one failed or the call errored.
    passed: bool = False
    finished_at: datetime
    #: The prompt version's family (paraphrases of one instruction), if declared.
    prompt_family: str | None = None
    #: For a perturbed case (robustness): its clean row's id and the perturbation id.
    clean_row_id: str | None = None
    perturbation: str | None = None


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
