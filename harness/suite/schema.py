"""The suite file format, as pydantic models.

Every model forbids unknown keys, so a typo is an error with a "did you mean"
rather than a silently ignored setting.
"""

from __future__ import annotations

import re
import shlex
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
    """Unknown keys are errors; so are a YAML boolean where a number goes (``concurrency:
    true`` is not 1), a string of digits, and ``.inf`` / ``.nan`` for any float."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _valid_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` when it is a JSON Schema its own ``$schema`` draft accepts (latest
    otherwise): a broken schema fails when the suite loads, not at the server."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as e:
        raise ValueError(f"not a valid JSON Schema at {e.json_path}: {e.message}") from None
    return schema


#: OpenAI's rule for function and schema names.
_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class JsonSchemaFormat(_Strict):
    """``response_format.json_schema``: structured outputs (the reply follows ``schema``)."""

    model_config = ConfigDict(serialize_by_alias=True)

    name: str = Field(pattern=_NAME)
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _schema_ok(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _valid_json_schema(v)


class ResponseFormat(_Strict):
    """``{type: json_object}`` (JSON mode) or ``{type: json_schema, json_schema: {...}}``."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_iff_json_schema(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError(
                "give 'json_schema: {name, schema}' exactly when type is json_schema, e.g. "
                "{type: json_schema, json_schema: {name: answer, schema: {type: object}}}"
            )
        return self


class FunctionSpec(_Strict):
    """An OpenAI function tool: its name, what it does, and its arguments' JSON Schema."""

    name: str = Field(pattern=_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _parameters_ok(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return v if v is None else _valid_json_schema(v)


class ToolSpec(_Strict):
    """One entry of ``tools:``, as the OpenAI chat API takes it."""

    type: Literal["function"]
    function: FunctionSpec


class FunctionName(_Strict):
    """The function a named ``tool_choice`` forces."""

    name: str = Field(min_length=1)


class NamedToolChoice(_Strict):
    """``tool_choice: {type: function, function: {name: NAME}}``: that function must be called."""

    type: Literal["function"]
    function: FunctionName


#: ``auto`` (the model decides), ``none``, ``required`` (some tool), or one named function.
ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class ToolsConfig(_Strict):
    """``tools`` (inline) or ``tools_file`` (a JSON or YAML list of them), and ``tool_choice``."""

    tools: list[ToolSpec] | None = None
    #: A JSON or YAML file holding the list of tools, relative to the suite file.
    tools_file: str | None = None
    tool_choice: ToolChoice | None = None

    @model_validator(mode="after")
    def _one_tool_source(self) -> ToolsConfig:
        if self.tools is not None and self.tools_file is not None:
            raise ValueError("give 'tools' (inline) or 'tools_file', not both")
        if self.tool_choice is not None and self.tools is None and self.tools_file is None:
            raise ValueError("'tool_choice' needs 'tools' (or 'tools_file') beside it")
        return self


class GenerationParams(_Strict):
    """Sampling parameters; every field is part of the cache key."""

    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None
    #: Extra provider-specific request fields (e.g. ``{"top_k": 20}`` for vLLM).
    extra_body: dict[str, Any] | None = None
    #: JSON mode (``{type: json_object}``) or structured outputs (``json_schema``).
    response_format: ResponseFormat | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def merged_over(self, base: GenerationParams | None) -> GenerationParams:
        """These params, falling back to ``base`` for every unset field."""
        if base is None:
            return self
        # The values themselves, not their dump: a nested model must stay a model.
        return base.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})


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


class OpenAIProviderConfig(_ProviderBase, ToolsConfig):
    """OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, DeepSeek, Qwen...).

    Its ``tools`` are offered on every chat request (a prompt version's own replace them)."""

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
    #: Copies of the model (Ray actors) that share the requests; 1: in this process.
    workers: int = Field(default=1, gt=0)
    #: The Ray cluster of the workers (``auto``, ``ray://head:10001``); default: a local
    #: one started by harness (or ``--ray-address``).
    ray_address: str | None = None


class VLLMProviderConfig(_ProviderBase):
    """vLLM's offline engine on this machine's GPUs: a checkpoint folder or a hub id."""

    type: Literal["vllm"]
    #: GPUs one copy of the model is split over (tensor parallelism).
    tensor_parallel_size: int = Field(default=1, gt=0)
    #: auto (the checkpoint's), float16, bfloat16 or float32 (or their short names).
    dtype: str = "auto"
    #: The share of each GPU's memory vLLM takes (weights, activations, key/value cache).
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    #: Longest prompt plus answer, in tokens (default: the model's context length).
    max_model_len: int | None = Field(default=None, gt=2)
    #: The engine's seed, for sampled requests without a ``seed`` of their own.
    seed: int | None = None
    #: A quantisation method vLLM knows (awq, gptq, fp8...); default: the checkpoint's.
    quantization: str | None = None
    #: A hub id's branch, tag or commit.
    revision: str | None = None
    #: Most requests per ``llm.generate`` call (concurrent requests are collected into one).
    batch_size: int = Field(default=256, gt=0)
    #: Use the tokenizer's chat template when it has one.
    chat_template: bool = True
    #: Other ``vllm.LLM`` keyword arguments (``enable_prefix_caching``, ``max_num_seqs``...);
    #: part of the cache key.
    engine_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("engine_args")
    @classmethod
    def _not_a_field(cls, v: dict[str, Any]) -> dict[str, Any]:
        own = sorted(set(v) & set(cls.model_fields))
        if own:
            raise ValueError(f"set {', '.join(own)} as a key of the provider, not in engine_args")
        return v


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


class _AppProviderBase(_Strict):
    """The application under test (``python`` / ``http`` / ``exec``), behind the same runner
    as a model: concurrency, retries, cache and resume."""

    id: str = Field(min_length=1)
    #: Shown as the model in results and reports (default: the function, URL or command).
    model: str | None = None
    #: Calls in flight at once for this provider (None: the suite's ``concurrency``).
    concurrency: int | None = Field(default=None, gt=0)
    max_retries: int = Field(default=6, ge=0)
    #: First retry waits up to this many seconds; each later one doubles it (full jitter).
    backoff: float = Field(default=0.5, gt=0)
    #: false: never cache this provider's answers (an application may answer differently
    #: each time); every run calls it again (resume still skips finished cases).
    cache: bool = True


class PythonProviderConfig(_AppProviderBase):
    """A Python function: ``fn(messages, vars, config)``, sync or async."""

    type: Literal["python"]
    #: ``module:function`` (a module next to the suite, or importable), or a name in ``file``.
    function: str = Field(min_length=1)
    file: str | None = None
    #: Passed to the function as its third argument; part of the cache key.
    config: dict[str, Any] = Field(default_factory=dict)
    #: Exceptions that are worth retrying: built-in names (TimeoutError), classes of the
    #: function's module, or ``package.module.Class``. ``harness.TransientError`` always is.
    transient_errors: list[str] = Field(default_factory=list)
    #: Seconds one call may take (None: no limit); a timeout is retried like any transient error.
    timeout: float | None = Field(default=None, gt=0)


#: ``${NAME}`` inside an ``http`` header value: the environment variable NAME.
ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EnvRef(_Strict):
    """``{env: NAME}``: the value of an environment variable, read when the suite loads and
    never stored, cached or shown."""

    env: str = Field(min_length=1)


class ResponsePaths(_Strict):
    """JMESPath expressions (https://jmespath.org) picking parts of a JSON reply."""

    #: The output text (None: the whole reply body is the output).
    output: str | None = None
    #: A list of strings: what the application retrieved.
    contexts: str | None = None
    #: A list of objects: the tool calls the application made.
    tool_calls: str | None = None
    prompt_tokens: str | None = None
    completion_tokens: str | None = None

    @model_validator(mode="after")
    def _output_first(self) -> ResponsePaths:
        others = [k for k, v in self.model_dump(exclude={"output"}).items() if v is not None]
        if others and self.output is None:
            raise ValueError(
                f"{', '.join(others)} read a JSON reply: give 'output' too (the path of the "
                "answer text, e.g. output: answer)"
            )
        return self


class HttpProviderConfig(_AppProviderBase):
    """Any JSON endpoint: a sandboxed Jinja body in, JMESPath picks out of the reply."""

    type: Literal["http"]
    #: A Jinja template (``prompt``, ``messages``, ``vars``), e.g. http://localhost:8080/ask.
    url: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    #: Values are text, ``{env: NAME}``, or text with ``${NAME}`` in it (from the environment).
    headers: dict[str, str | EnvRef] = Field(default_factory=dict)
    #: A Jinja template of the request body (``prompt``, ``messages``, ``vars``); None: a
    #: JSON object of all three (no body for GET).
    body: str | None = None
    response: ResponsePaths = Field(default_factory=ResponsePaths)
    timeout: float = Field(default=60.0, gt=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class ExecProviderConfig(_AppProviderBase):
    """A command run once per case: the prompt on stdin or in its arguments, output on stdout."""

    type: Literal["exec"]
    #: A list of arguments, or a string split like a shell would (shlex); each argument is a
    #: Jinja template (``prompt``, ``messages``, ``vars``), e.g. [python, app.py, "{{ prompt }}"].
    command: list[str] = Field(min_length=1)
    #: What the command reads: the prompt, a JSON object of prompt / messages / vars, or
    #: nothing. Default: the prompt, unless an argument is a template.
    stdin: Literal["prompt", "json", "none"] | None = None
    #: Working directory, relative to the suite file (default: the suite's folder).
    cwd: str | None = None
    #: Picks out of stdout parsed as JSON (None: stdout is the output).
    response: ResponsePaths = Field(default_factory=ResponsePaths)
    #: Seconds before the command (and every process it started) is killed.
    timeout: float = Field(default=60.0, gt=0)
    #: A local command rarely gets better by trying again: no retries unless asked.
    max_retries: int = Field(default=0, ge=0)

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        try:
            return shlex.split(v)
        except ValueError as e:  # an unclosed quote
            raise ValueError(f"cannot split the command like a shell would: {e}") from None


ProviderConfig = Annotated[
    OpenAIProviderConfig
    | HFProviderConfig
    | OutputsProviderConfig
    | PythonProviderConfig
    | HttpProviderConfig
    | ExecProviderConfig
    | VLLMProviderConfig,
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
    seed: int = Field(default=0, strict=True)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PromptMessage(_Strict):
    """One entry of a prompt version's ``messages``: a message whose ``content`` is a
    template, or ``{role: history, var: NAME}``, the case variable holding earlier turns."""

    role: Literal["system", "user", "assistant", "history"]
    content: str | None = None
    var: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _content_or_var(self) -> PromptMessage:
        if self.role == "history" and (self.var is None or self.content is not None):
            raise ValueError(
                "a history entry names the case variable holding the turns, and has no "
                "content: {role: history, var: turns}"
            )
        if self.role != "history" and (self.content is None or self.var is not None):
            raise ValueError(
                f"a {self.role} message needs 'content' (a template) and no 'var' "
                "('var' is for {role: history, var: NAME})"
            )
        return self


class PromptVersion(ToolsConfig):
    """One version of the prompt under test: ``template`` or ``file`` (with an optional
    ``system``), or a list of ``messages``."""

    id: str = Field(min_length=1)
    system: str | None = None
    template: str | None = None
    #: A template file, relative to the suite file.
    file: str | None = None
    messages: list[PromptMessage] | None = None
    description: str | None = None
    #: Paraphrases of one instruction share a family (prompt-sensitivity and robustness
    #: analyses compare the versions of a family).
    family: str | None = None

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, v: list[PromptMessage] | None) -> list[PromptMessage] | None:
        if v == []:
            raise ValueError(
                "messages is empty: give at least one, e.g. [{role: user, content: '{{ q }}'}]"
            )
        return v

    @model_validator(mode="after")
    def _one_template(self) -> PromptVersion:
        given = [k for k in ("template", "file", "messages") if getattr(self, k) is not None]
        if len(given) != 1:
            got = {0: "neither", 2: f"both {' and '.join(given)}"}.get(len(given), "all three")
            raise ValueError(
                "give exactly one of 'template' (the prompt text), 'file' (a template file "
                f"next to the suite) or 'messages' (a list of messages); this prompt has {got}"
            )
        if self.messages is not None and self.system is not None:
            raise ValueError(
                "with 'messages', write the system prompt as their first entry "
                "({role: system, content: ...}) instead of 'system'"
            )
        return self


class AssertSpec(BaseModel):
    """One scorer and its pass threshold; every other key is a scorer parameter."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    #: What results, summaries, exports, comparisons and gates call it (default: ``type``);
    #: the assertions of one case need distinct names (checked when the suite loads).
    name: str | None = Field(default=None, min_length=1, strict=True)
    #: Finite; within the scorer's range (checked when the scorer is built).
    threshold: float | None = Field(default=None, strict=True, allow_inf_nan=False)
    #: ``not: true`` inverts the verdict: the assertion passes when it would have failed.
    not_: bool = Field(default=False, alias="not", strict=True)
    #: Its share of the case score; 0: informational (shown, never fails the case).
    weight: float = Field(default=1.0, ge=0, strict=True, allow_inf_nan=False)
    #: A sandboxed Jinja expression of ``output`` and ``vars``: what the scorer sees.
    transform: str | None = Field(default=None, min_length=1, strict=True)

    @field_validator("name")
    @classmethod
    def _not_the_verdict(cls, v: str | None) -> str | None:
        if v == "pass":
            raise ValueError(
                "'pass' names the case verdict in comparisons and gates: choose another name"
            )
        return v

    @property
    def label(self) -> str:
        """The name results know this assertion by."""
        return self.name or self.type

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
    #: Pass when sum(weight * passed) / sum(weight) over the assertions reaches this
    #: (promptfoo's test ``threshold``); None: every assertion of weight > 0 must pass.
    threshold: float | None = Field(default=None, ge=0, le=1)
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
    #: The column(s) of acceptable answers: every non-empty cell of them (a JSONL list
    #: value is several answers).
    expected: str | list[str] | None = None
    id: str | None = None
    tags: list[str] = Field(default_factory=list)
    #: Column holding extra tags (a list, or a comma-separated string).
    tags_column: str | None = None
    limit: int | None = Field(default=None, gt=0)
    assert_: list[AssertSpec] = Field(default_factory=list, alias="assert")
    #: Column holding each row's own assertions (a list; in CSV, a JSON string of one),
    #: added to ``assert``.
    assert_column: str | None = Field(default=None, min_length=1)
    #: For every row (see CaseSpec): pass when the weighted share of passed assertions
    #: reaches this.
    threshold: float | None = Field(default=None, ge=0, le=1)

    @field_validator("expected")
    @classmethod
    def _some_column(cls, v: str | list[str] | None) -> str | list[str] | None:
        if v == []:
            raise ValueError("expected is empty: name the answer column(s), e.g. [answer, alias]")
        return v

    @property
    def expected_columns(self) -> list[str]:
        """The answer columns, in the order given."""
        return [self.expected] if isinstance(self.expected, str) else list(self.expected or [])


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
    #: For every case that sets none (see CaseSpec).
    threshold: float | None = Field(default=None, ge=0, le=1)
    tags: list[str] = Field(default_factory=list)
    #: Variables of every case, under its own: an inline or bad case's ``vars`` and a
    #: dataset's columns win over these.
    vars: dict[str, Any] = Field(default_factory=dict)


class Gate(_Strict):
    """A check on a finished run: ``harness run`` exits 1 when one fails.

    Either ``min_pass_rate`` (an absolute bar) or ``baseline`` (no worse than a saved
    run, case by case). Each (prompt version, provider) of the run is checked on its own.
    """

    #: An assertion's name (its ``name:``, default its type); None means the case verdict.
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


def is_dataset_item(v: Any) -> bool:
    """Whether an item of a ``cases:`` list is a dataset (it has a ``file``), not an inline
    case: its ``id`` and ``expected`` name columns."""
    return isinstance(v, DatasetSpec) or (isinstance(v, dict) and "file" in v)


def _source_kind(v: Any) -> str:
    return "dataset" if is_dataset_item(v) else "inline"


#: One item of a ``cases:`` list: an inline case, or a dataset beside them.
CaseSource = Annotated[
    Annotated[CaseSpec, Tag("inline")] | Annotated[DatasetSpec, Tag("dataset")],
    Discriminator(_source_kind),
]

Cases = Annotated[
    Annotated[list[CaseSource], Tag("inline")] | Annotated[DatasetSpec, Tag("dataset")],
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
    #: The share of cases whose model call may error before the run fails (exit 1).
    max_error_rate: float = Field(default=0.0, ge=0.0, le=1.0, allow_inf_nan=False, strict=True)
    #: Run each case this many times, each with its own seed (``--repeat N`` overrides it):
    #: per-case pass rates, flaky cases, pass@k and pass^k.
    repeat: int = Field(default=1, ge=1, le=1000)
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
