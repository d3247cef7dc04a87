"""The suite file format, as pydantic models.

Every model forbids unknown keys, so a typo is an error with a "did you mean"
rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerationParams(_Strict):
    """Sampling parameters; every field is part of the cache key."""

    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None
    #: Extra provider-specific request fields (e.g. ``{"top_k": 20}`` for vLLM).
    extra_body: dict[str, Any] | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def merged_over(self, base: GenerationParams | None) -> GenerationParams:
        """These params, falling back to ``base`` for every unset field."""
        if base is None:
            return self
        return base.model_copy(update=self.model_dump(exclude_unset=True))


class Prices(_Strict):
    """US dollars per one million tokens."""

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)


class _ProviderBase(_Strict):
    id: str = Field(min_length=1)
    model: str = Field(min_length=1)
    params: GenerationParams = Field(default_factory=GenerationParams)
    #: Requests in flight at once for this provider (None: the runner's default).
    concurrency: int | None = Field(default=None, gt=0)


class OpenAIProviderConfig(_ProviderBase):
    """OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, DeepSeek, Qwen...)."""

    type: Literal["openai"]
    base_url: str | None = None
    #: Name of the environment variable holding the key; the key itself is never stored.
    api_key_env: str | None = "OPENAI_API_KEY"
    endpoint: Literal["chat", "completions"] = "chat"
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    #: First retry waits up to this many seconds; each later one doubles it (full jitter).
    backoff: float = Field(default=0.5, gt=0)
    #: Requests and tokens per minute this provider may use (None: unlimited).
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    prices: Prices | None = None


class HFProviderConfig(_ProviderBase):
    """A local transformers checkpoint folder, a GGUF file, or a known alias."""

    type: Literal["hf"]
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = Field(default=8, gt=0)
    #: GGUF file name inside ``model`` when it is a folder holding one.
    gguf_file: str | None = None
    #: Use the tokenizer's chat template when it has one.
    chat_template: bool = True
    #: A PEFT (LoRA) adapter folder applied on top of ``model``.
    adapter: str | None = None
    #: Longest model input for loglikelihood scoring (default: from the model's config).
    max_length: int | None = Field(default=None, gt=1)


class OutputsProviderConfig(_Strict):
    """Outputs produced elsewhere: a column of the case rows, or a JSONL file of outputs."""

    type: Literal["outputs"]
    id: str = Field(min_length=1)
    model: str = "precomputed"
    #: Row column holding the output.
    column: str | None = None
    #: JSONL file with one ``{key_field: ..., output_field: ...}`` object per line.
    file: str | None = None
    key_field: str = "id"
    output_field: str = "output"
    #: The case variable that matches ``key_field`` in the file.
    key_var: str = "id"
    #: A field naming the prompt version of each output, when the file holds outputs of
    #: several prompt versions (looked up by prompt version and key).
    prompt_field: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> OutputsProviderConfig:
        if (self.column is None) == (self.file is None):
            got = "both" if self.column is not None else "neither"
            raise ValueError(
                f"give exactly one of 'column' (the row column holding the output) or 'file' "
                f"(a JSONL file of outputs); this provider has {got}"
            )
        return self


ProviderConfig = Annotated[
    OpenAIProviderConfig | HFProviderConfig | OutputsProviderConfig,
    Field(discriminator="type"),
]


class EmbeddingsConfig(_Strict):
    """An embeddings model for scorers: a local sentence-transformers folder (default: the
    bundled all-MiniLM-L6-v2) or an OpenAI-compatible ``/embeddings`` endpoint."""

    id: str = Field(default="default", min_length=1)
    type: Literal["local", "openai"] = "local"
    #: A local model folder, or the endpoint's model name; None: the bundled local model.
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    batch_size: int = Field(default=32, gt=0)

    @model_validator(mode="after")
    def _openai_needs_model(self) -> EmbeddingsConfig:
        if self.type == "openai" and not self.model:
            raise ValueError(
                "an 'openai' embeddings model needs 'model' (e.g. text-embedding-3-small)"
            )
        return self


class AnalysisSpec(BaseModel):
    """A run-level analysis (fairness, robustness...); every other key is a parameter."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    #: Names the analysis in the report (default: its type).
    id: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PerturbationSpec(BaseModel):
    """A perturbation of case variables (typos, case, width...); every other key is a
    parameter of its type. Each main-set row gets one perturbed copy per perturbation."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    #: Names the perturbation in results and reports (default: its type).
    id: str | None = None
    #: The case variables to perturb.
    vars: list[str] = Field(min_length=1)
    #: Same seed, same perturbed text.
    seed: int = 0

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PromptVersion(_Strict):
    """One version of the prompt under test."""

    id: str = Field(min_length=1)
    system: str | None = None
    template: str | None = None
    #: A template file, relative to the suite file.
    file: str | None = None
    description: str | None = None
    #: Paraphrases of one instruction share a family (prompt-sensitivity and robustness
    #: analyses compare the versions of a family).
    family: str | None = None

    @model_validator(mode="after")
    def _one_template(self) -> PromptVersion:
        if (self.template is None) == (self.file is None):
            got = "both" if self.template is not None else "neither"
            raise ValueError(
                f"give exactly one of 'template' (the prompt text) or 'file' (a template file "
                f"next to the suite); this prompt has {got}"
            )
        return self


class AssertSpec(BaseModel):
    """One scorer and its pass threshold; every other key is a scorer parameter."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    threshold: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


Expected = str | list[str] | None


def _expected_as_text(value: Any) -> Any:
    """``expected: 4`` means the answer "4"; ``expected: yes`` (YAML's true) is refused."""
    if isinstance(value, list):
        return [_expected_as_text(v) for v in value]
    if isinstance(value, bool):
        raise ValueError(
            f"expected answer {value} was read as a YAML boolean: quote it (expected: 'yes')"
        )
    return str(value) if isinstance(value, int | float) else value


class CaseSpec(_Strict):
    """One inline case."""

    id: str | None = None
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Expected = None
    tags: list[str] = Field(default_factory=list)
    assert_: list[AssertSpec] = Field(default_factory=list, alias="assert")
    #: Where a bad case came from (run, date, model, the bad output...).
    provenance: dict[str, Any] | None = None

    @field_validator("expected", mode="before")
    @classmethod
    def _expected_text(cls, v: Any) -> Any:
        return _expected_as_text(v)


class DatasetSpec(_Strict):
    """Cases read from a CSV / JSONL / YAML file, with a column mapping."""

    file: str
    #: Case variable name -> column name. Unmapped columns are still vars under their own name.
    vars: dict[str, str] = Field(default_factory=dict)
    expected: str | None = None
    id: str | None = None
    tags: list[str] = Field(default_factory=list)
    #: Column holding extra tags (a list, or a comma-separated string).
    tags_column: str | None = None
    limit: int | None = Field(default=None, gt=0)
    assert_: list[AssertSpec] = Field(default_factory=list, alias="assert")


class BadCaseSet(_Strict):
    """Failures collected from real use, kept so they never come back."""

    name: str = Field(min_length=1)
    file: str
    source: str | None = None
    collected: str | None = None
    description: str | None = None


class Defaults(_Strict):
    """Applied to every case/provider that does not say otherwise."""

    assert_: list[AssertSpec] = Field(default_factory=list, alias="assert")
    params: GenerationParams | None = None
    tags: list[str] = Field(default_factory=list)


class Gate(_Strict):
    """A check on a finished run: ``harness run`` exits 1 when one fails.

    Either ``min_pass_rate`` (an absolute bar) or ``baseline`` (no worse than a saved
    run, case by case). Each (prompt version, provider) of the run is checked on its own.
    """

    #: A scorer name; None means the case verdict (every assertion passed).
    metric: str | None = None
    #: The lowest share of cases that may pass (of the metric's assertion, if named).
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    #: A baseline file from ``harness baseline save``, relative to the suite file.
    baseline: str | None = None
    #: The largest allowed drop of the mean vs the baseline, in the metric's units (a pass
    #: rate for the verdict); for a lower-is-better metric, the largest allowed rise.
    max_drop: float | None = Field(default=None, ge=0)
    #: Fail only when the drop is also significant at this level (paired test); unset:
    #: any drop beyond ``max_drop`` fails.
    significance: float | None = Field(default=None, gt=0, lt=1)
    #: The case set checked: "main" (the suite's cases) or a bad-case set's name.
    case_set: str = "main"
    #: Check only this prompt version / provider (default: each of them).
    prompt: str | None = None
    provider: str | None = None
    #: Fail when a bad case that passed in an earlier run of this suite fails now.
    bad_cases_stay_fixed: bool = False

    @model_validator(mode="after")
    def _one_check(self) -> Gate:
        kinds = [self.min_pass_rate is not None, self.baseline is not None]
        kinds.append(self.bad_cases_stay_fixed)
        if sum(kinds) != 1:
            got = "several" if sum(kinds) > 1 else "none of them"
            raise ValueError(
                f"give exactly one of 'min_pass_rate' (e.g. 0.9), 'baseline' (a file from "
                f"`harness baseline save`) or 'bad_cases_stay_fixed: true'; this gate has {got}"
            )
        if self.baseline is None and (self.max_drop is not None or self.significance is not None):
            raise ValueError("'max_drop' and 'significance' need a 'baseline' to compare with")
        return self


class BenchmarkSpec(_Strict):
    """A ``harness bench`` run of some of the suite's providers (same options as the CLI)."""

    #: ``BENCHMARK:SUBJECT`` items: a comma-separated string or a list.
    tasks: str | list[str]
    #: The folder with mmlu/, ceval/, cmmlu/ in their official layouts, relative to the suite.
    data: str
    #: Provider ids to benchmark (default: every provider of the suite).
    providers: list[str] | None = None
    #: A provider id: list the questions that flipped from it to each other provider.
    compare_to: str | None = None
    mode: Literal["auto", "loglikelihood", "logprobs", "generate"] = "auto"
    shots: int = Field(default=5, ge=0)
    limit: int | None = Field(default=None, gt=0)
    ece_bins: int = Field(default=10, gt=0)
    #: Longest answer in ``generate`` mode.
    max_tokens: int = Field(default=64, gt=0)
    #: HTML report path, relative to the suite (default: reports/bench-SUITE-N.html).
    report: str | None = None


def _cases_kind(v: Any) -> str:
    return "dataset" if isinstance(v, dict | DatasetSpec) else "inline"


Cases = Annotated[
    Annotated[list[CaseSpec], Tag("inline")] | Annotated[DatasetSpec, Tag("dataset")],
    Discriminator(_cases_kind),
]


class Suite(_Strict):
    """A whole suite file."""

    name: str = Field(min_length=1)
    description: str | None = None
    #: Needed by cases; a suite of only ``benchmarks`` has none.
    prompts: list[PromptVersion] = Field(default_factory=list)
    providers: list[ProviderConfig] = Field(min_length=1)
    cases: Cases | None = None
    bad_cases: list[BadCaseSet] = Field(default_factory=list)
    defaults: Defaults = Field(default_factory=Defaults)
    #: Requests in flight at once across the run.
    concurrency: int = Field(default=8, gt=0)
    #: Checks on the finished run; `harness run` exits 1 when one fails.
    gates: list[Gate] = Field(default_factory=list)
    #: Models that score (LLM-as-judge, ragas); assertions name them with ``judge: ID``.
    judges: list[ProviderConfig] = Field(default_factory=list)
    #: Embeddings models for scorers; none declared: the bundled local model.
    embeddings: list[EmbeddingsConfig] = Field(default_factory=list)
    #: Run-level analyses (fairness, classification, robustness...), run after the cases.
    analyses: list[AnalysisSpec] = Field(default_factory=list)
    #: Perturbed copies of every main-set row, each linked to its clean row (robustness).
    perturbations: list[PerturbationSpec] = Field(default_factory=list)
    #: Standard benchmarks (MMLU / C-Eval / CMMLU) run on the suite's providers.
    benchmarks: list[BenchmarkSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        for what, ids in (
            ("prompt", [p.id for p in self.prompts]),
            ("provider", [p.id for p in self.providers]),
            ("bad-case set", [b.name for b in self.bad_cases]),
            ("judge", [j.id for j in self.judges]),
            ("embeddings", [e.id for e in self.embeddings]),
            ("analysis", [a.id or a.type for a in self.analyses]),
            ("perturbation", [p.id or p.type for p in self.perturbations]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} id(s): {', '.join(dupes)}")
        has_cases = not (self.cases is None or self.cases == []) or bool(self.bad_cases)
        if not has_cases and not self.benchmarks:
            raise ValueError(
                "the suite has no cases: add 'cases' (a list, or a dataset with 'file'), "
                "'bad_cases' or 'benchmarks'"
            )
        if has_cases and not self.prompts:
            raise ValueError(
                "missing required key 'prompts' in top level: cases need prompt versions "
                "(only a suite of just 'benchmarks' may have none)"
            )
        known = {p.id for p in self.providers}
        for bench in self.benchmarks:
            for pid in [*(bench.providers or []), *filter(None, [bench.compare_to])]:
                if pid not in known:
                    raise ValueError(
                        f"benchmarks: unknown provider '{pid}'; the suite's providers are "
                        f"{', '.join(sorted(known))}"
                    )
        return self
