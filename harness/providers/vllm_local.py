"""vLLM's offline engine (``type: vllm``), for a machine with CUDA GPUs.

The runner calls :meth:`VLLMProvider.generate` concurrently, as for an API. Each call queues
its request; a worker waits a few milliseconds for others to join, then runs one
``llm.generate`` for up to ``batch_size`` of them on a dedicated thread, so the event loop
stays free and the engine is only ever used by one thread. Every request carries its own
``SamplingParams``: requests with different parameters share a batch, and a seeded sampled
request draws the same tokens whatever its batch (vLLM seeds each request on its own).

Prompts are rendered and tokenized here exactly as the ``hf`` provider does it (the
tokenizer's chat template, without added special tokens; or the messages joined, with
them) and go to vLLM as token ids, so both providers give a model the same tokens.
Loglikelihood is vLLM's prompt logprobs on lm-eval HFLM's tokens:
:class:`PromptLogprobScorer` is the ``hf`` scorer with its forward pass replaced by
``SamplingParams(max_tokens=1, prompt_logprobs=1)``, which is how lm-eval's own ``vllm``
model scores.

Written against vLLM 0.11's offline API (``LLM``, ``SamplingParams``, ``TokensPrompt``,
``RequestOutput``, ``Logprob``). vllm is imported when the engine loads; the tests run
against a stand-in (``tests/providers/fake_vllm.py``), so a real run needs a GPU machine.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import PermanentProviderError
from harness.extras import install_command, require
from harness.providers.base import Generation, ModelRequest, Provider
from harness.providers.batching import Job, LoadOnce, deliver, fail, job_for
from harness.providers.hf_local import DEFAULT_MAX_TOKENS
from harness.providers.hf_loglik import LoglikelihoodScorer, Progress, RollingScore, Row, Scores
from harness.providers.hf_models import DTYPES, ModelSource, resolve
from harness.suite.schema import GenerationParams, VLLMProviderConfig

#: How long the worker waits, once a request arrives, for concurrent ones to join its batch.
COLLECT_S = 0.005

T = TypeVar("T")


def resolve_model(model: str, base_dir: Path | None = None) -> str:
    """``model`` as vLLM gets it: a checkpoint folder's absolute path (a relative one from
    ``base_dir``, default the working directory), or a hub id as it is."""
    path = ((base_dir or Path.cwd()) / Path(model).expanduser()).resolve()
    if path.exists():
        if resolve(str(path)).gguf_file is not None:
            raise PermanentProviderError(
                f"vllm model {path} is a GGUF file; vLLM needs a checkpoint folder "
                "(config.json and weights), or use `type: hf` for GGUF"
            )
        return str(path)
    if _is_hub_id(model):
        return model
    raise PermanentProviderError(
        f"vllm model '{model}' is neither a folder ({path} does not exist) nor a hub id (org/name)"
    )


def _is_hub_id(model: str) -> bool:
    """``org/name`` as the hub spells ids: vLLM loads it itself (from the local hub cache,
    or downloading when the hub is reachable and ``HF_HUB_OFFLINE`` is unset)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return model.count("/") == 1


def engine_kwargs(config: VLLMProviderConfig, model: str) -> dict[str, Any]:
    """``vllm.LLM``'s keyword arguments for ``config`` (lm-eval's ``vllm`` model passes
    them on too)."""
    kwargs: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": config.tensor_parallel_size,
        "dtype": DTYPES.get(config.dtype, config.dtype),
        "gpu_memory_utilization": config.gpu_memory_utilization,
    }
    for key in ("max_model_len", "seed", "quantization", "revision"):
        if getattr(config, key) is not None:
            kwargs[key] = getattr(config, key)
    return kwargs | config.engine_args


def _hub_revision(repo: str, revision: str | None) -> str:
    """The commit of ``repo``'s snapshot in the local hub cache (what vLLM loads offline),
    else the revision asked for."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    if isinstance(found, str):  # .../snapshots/<commit>/config.json
        return Path(found).parent.name
    return revision or "unpinned"


class VLLMProvider(Provider):
    """A checkpoint folder or a hub id, run by vLLM's engine in this process."""

    type_name = "vllm"
    config: VLLMProviderConfig

    def __init__(self, config: VLLMProviderConfig) -> None:
        super().__init__(config)
        self._engine: LoadOnce[_Engine] = LoadOnce(self._load)
        self._pending: list[Job] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"VLLMProvider(id={self.id!r}, model={self.model!r})"

    @cached_property
    def path(self) -> str:
        """What vLLM loads: a folder's absolute path, or a hub id."""
        return resolve_model(self.config.model)

    @cached_property
    def _local(self) -> ModelSource | None:
        return resolve(self.path) if Path(self.path).is_absolute() else None

    @property
    def default_concurrency(self) -> int:
        # Twice the batch, so a full batch is already queued when the running one ends.
        return self.config.batch_size * 2

    def check(self) -> None:
        """Fail before the run without vllm installed, or on a model or dtype that cannot
        work (loads nothing)."""
        require("vllm", f"vllm provider '{self.id}'", PermanentProviderError)
        self.path  # noqa: B018 - resolving is the check
        if self.config.dtype != "auto" and self.config.dtype not in DTYPES:
            raise PermanentProviderError(
                f"vllm provider '{self.id}': unknown dtype '{self.config.dtype}'; "
                f"expected auto or one of {', '.join(DTYPES)}"
            )

    def identity(self) -> dict[str, str]:
        """The model and its weights (a folder's fingerprint, a hub snapshot's commit), plus
        the settings that change the output when they are not the default."""
        revision = (
            self._local.fingerprint()
            if self._local is not None
            else _hub_revision(self.path, self.config.revision)
        )
        identity = {"type": self.type_name, "model": self.path, "revision": revision}
        if not self.config.chat_template:
            identity["chat_template"] = "off"
        if self.config.dtype != "auto":
            identity["dtype"] = DTYPES.get(self.config.dtype, self.config.dtype)
        if self.config.quantization is not None:
            identity["quantization"] = self.config.quantization
        if self.config.engine_args:
            identity["engine_args"] = json.dumps(self.config.engine_args, sort_keys=True)
        return identity

    async def generate(self, request: ModelRequest) -> Generation:
        loop = asyncio.get_running_loop()
        job = job_for(
            request, self.config.params, f"vllm provider '{self.id}'", loop.create_future()
        )
        self._ensure_worker(loop)
        assert self._wakeup is not None
        self._pending.append(job)
        self._wakeup.set()
        return await job.future

    async def loglikelihood(
        self, requests: list[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """As the ``hf`` provider's: per ``(context, continuation)``, the continuation's
        summed logprob and whether greedy decoding gives it; ``batch_size`` sequences per
        ``llm.generate``, on the worker thread."""
        return await self._on_worker(lambda engine: engine.scorer.loglikelihood(requests, progress))

    async def loglikelihood_rolling(self, texts: list[str]) -> list[RollingScore]:
        """Each text's loglikelihood from its first token, in lm-eval's disjoint rolling
        windows (of ``max_model_len - 2`` tokens: vLLM generates one more)."""
        return await self._on_worker(lambda engine: engine.scorer.loglikelihood_rolling(texts))

    async def aclose(self) -> None:
        """Stop the worker, fail what is still queued, and free the engine."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        fail(self._pending, PermanentProviderError("vllm provider closed"))
        self._pending = []
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)  # let a running batch end
            self._executor = None
        if (engine := self._engine.take()) is not None:
            engine.release()

    async def _on_worker(self, work: Callable[[_Engine], T]) -> T:
        """Run ``work`` on the loaded engine, on the thread that generation batches use."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread(), lambda: work(self._engine.get()))

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"vllm-{self.id}")
        return self._executor

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._worker is not None and not self._worker.done() and self._worker.get_loop() is loop:
            return
        self._wakeup = asyncio.Event()
        self._worker = loop.create_task(self._work(), name=f"vllm-batcher-{self.id}")

    async def _work(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(COLLECT_S)  # concurrent callers queue up meanwhile
            self._wakeup.clear()
            while batch := self._take_batch():
                try:
                    results = await loop.run_in_executor(self._thread(), self._run_batch, batch)
                except asyncio.CancelledError:  # aclose(): the batch's callers must not hang
                    fail(batch, PermanentProviderError("vllm provider closed"))
                    raise
                except Exception as e:  # nor on a bug here
                    results = [e] * len(batch)
                deliver(batch, results)

    def _take_batch(self) -> list[Job]:
        """The oldest ``batch_size`` requests whose callers still wait."""
        live = [job for job in self._pending if not job.future.done()]
        batch, self._pending = live[: self.config.batch_size], live[self.config.batch_size :]
        return batch

    def _load(self) -> _Engine:
        """On the worker thread, once (see :class:`LoadOnce`)."""
        self.check()
        return _Engine.load(self.config, self.path)

    def _run_batch(self, batch: list[Job]) -> list[Generation | Exception]:
        """On the worker thread: load the engine once, then one ``llm.generate``."""
        return self._engine.run(batch, lambda engine: _timed(engine, batch))


def _timed(engine: _Engine, batch: list[Job]) -> list[Generation | Exception]:
    """The batch's answers, each with the batch's own compute time as its latency (not the
    time a request waited in the queue)."""
    started = time.perf_counter()
    results = engine.generate([(job.request, job.params) for job in batch])
    elapsed = time.perf_counter() - started
    return [
        r if isinstance(r, Exception) else r.model_copy(update={"latency_s": elapsed})
        for r in results
    ]


class _Engine:
    """A loaded ``vllm.LLM`` and its tokenizer; only ever used from the provider's worker
    thread."""

    def __init__(self, llm: Any, config: VLLMProviderConfig) -> None:
        from vllm import SamplingParams, TokensPrompt

        self.llm = llm
        self.sampling_params, self.tokens_prompt = SamplingParams, TokensPrompt
        self.tokenizer = llm.get_tokenizer()
        model_config = llm.llm_engine.model_config
        self.max_model_len: int = model_config.max_model_len
        #: The checkpoint's generation_config defaults (top_k, repetition_penalty...), which
        #: vLLM applies under a request's own parameters.
        self.defaults: dict[str, Any] = model_config.get_diff_sampling_param()
        self.templated = config.chat_template and bool(
            getattr(self.tokenizer, "chat_template", None)
        )
        # A scored sequence is at most max_length + 1 tokens, and vLLM generates one more.
        self.scorer = PromptLogprobScorer(self, config.batch_size, self.max_model_len - 2)

    @classmethod
    def load(cls, config: VLLMProviderConfig, model: str) -> _Engine:
        try:
            import vllm
        except ImportError as e:  # installed but broken (check() found it)
            raise PermanentProviderError(
                f"vllm model {model}: cannot import vllm ({e}); reinstall it: "
                + install_command("vllm")
            ) from None
        try:
            llm = vllm.LLM(**engine_kwargs(config, model))
        except Exception as e:  # a bad engine argument, CUDA out of memory, no GPU...
            raise PermanentProviderError(
                f"vllm cannot load {model}: {type(e).__name__}: {e}"
            ) from e
        return cls(llm, config)

    def generate(
        self, items: list[tuple[ModelRequest, GenerationParams]]
    ) -> list[Generation | Exception]:
        """One ``llm.generate`` for every request that renders and fits."""
        prepared = [self._prepare(request, params) for request, params in items]
        ready = [p for p in prepared if not isinstance(p, Exception)]
        if not ready:
            return list(prepared)
        try:
            outputs = self.llm.generate(
                [self.tokens_prompt(prompt_token_ids=ids) for ids, _ in ready],
                [params for _, params in ready],
                use_tqdm=False,
            )
        except Exception as e:
            error = PermanentProviderError(f"vllm generation failed: {type(e).__name__}: {e}")
            return [p if isinstance(p, Exception) else error for p in prepared]
        answers = iter(outputs)
        return [p if isinstance(p, Exception) else _generation(next(answers)) for p in prepared]

    def prompt_logprobs(self, sequences: list[Row]) -> list[Any]:
        """Each sequence's ``prompt_logprobs``: per position after the first, ``{token id:
        Logprob}`` for its own token and the most likely one."""
        params = self.sampling_params(
            temperature=0.0, max_tokens=1, prompt_logprobs=1, detokenize=False
        )
        prompts = [self.tokens_prompt(prompt_token_ids=list(s)) for s in sequences]
        return [out.prompt_logprobs for out in self.llm.generate(prompts, params, use_tqdm=False)]

    def _prepare(
        self, request: ModelRequest, params: GenerationParams
    ) -> tuple[list[int], Any] | Exception:
        """The request's token ids and ``SamplingParams``, or the error that fails it alone."""
        try:
            text = self._render(request)
        except Exception as e:
            return PermanentProviderError(f"chat template failed: {type(e).__name__}: {e}")
        ids = self.tokenizer(text, add_special_tokens=not self.templated).input_ids
        if len(ids) >= self.max_model_len:
            return PermanentProviderError(
                f"the prompt is {len(ids)} tokens; the model takes {self.max_model_len - 1} at "
                f"most (max_model_len {self.max_model_len}, less one token of answer)"
            )
        try:
            return ids, self.sampling_params(**self._sampling(params))
        except (TypeError, ValueError) as e:
            return PermanentProviderError(f"vllm refused the sampling parameters: {e}")

    def _render(self, request: ModelRequest) -> str:
        """The prompt text: the chat template applied, or the messages joined."""
        if not self.templated:
            return request.as_prompt()
        messages = [m.model_dump() for m in request.messages]
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    def _sampling(self, params: GenerationParams) -> dict[str, Any]:
        """``SamplingParams`` keywords: greedy unless a temperature is set, as with ``hf``;
        ``extra_body`` keys (``top_k``, ``min_p``...) are vLLM's own."""
        kwargs = dict(self.defaults)
        kwargs["max_tokens"] = params.max_tokens or DEFAULT_MAX_TOKENS
        kwargs["temperature"] = params.temperature or 0.0
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        stops = [s for s in params.stop or [] if s]
        if stops:
            kwargs["stop"] = stops
        return kwargs | (params.extra_body or {})

    def release(self) -> None:
        """Drop the engine now (its GPU memory and worker processes go with it)."""
        del self.llm, self.tokenizer, self.scorer
        gc.collect()


def _generation(output: Any) -> Generation:
    """A ``RequestOutput``'s first completion: vLLM's text (stop strings cut, special tokens
    skipped), its tokens (an eos counts) and finish reason."""
    completion = output.outputs[0]
    return Generation(
        text=completion.text,
        prompt_tokens=len(output.prompt_token_ids),
        completion_tokens=len(completion.token_ids),
        finish_reason=completion.finish_reason,
    )


class PromptLogprobScorer(LoglikelihoodScorer):
    """lm-eval HFLM's tokens, left truncation and rolling windows, inherited from the ``hf``
    scorer (so both providers score the same tokens), each batch scored by vLLM's prompt
    logprobs rather than a forward pass here: one sequence per continuation (its row, then
    the continuation's last token), with no prefix of our own cached (vLLM schedules)."""

    def __init__(self, engine: _Engine, batch_size: int, max_length: int) -> None:
        super().__init__(engine.llm, engine.tokenizer, batch_size, max_length, reuse_prefix=False)
        self.engine = engine

    def _forward(self, wanted: dict[Row, set[Row]], prefix: Any = None) -> Scores:
        pairs = [(row, cont) for row, conts in wanted.items() for cont in sorted(conts)]
        logprobs = self.engine.prompt_logprobs([(*row, cont[-1]) for row, cont in pairs])
        return {pair: _scored(*pair, lp) for pair, lp in zip(pairs, logprobs, strict=True)}


def _scored(row: Row, cont: Row, positions: Any) -> tuple[float, bool]:
    """The summed logprob of ``cont``, the sequence's last ``len(cont)`` tokens, and whether
    each was the most likely token at its position (lm-eval's ``is_greedy``)."""
    total, greedy = 0.0, True
    for token, alternatives in zip(cont, positions[len(row) + 1 - len(cont) :], strict=True):
        own = alternatives[token].logprob
        total += own
        greedy = greedy and own >= max(lp.logprob for lp in alternatives.values())
    return total, greedy
