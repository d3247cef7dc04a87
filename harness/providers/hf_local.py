"""Local transformers models, with requests micro-batched onto one worker thread.

The runner calls :meth:`HFProvider.generate` concurrently, as for an API. Each call queues
its request; a worker takes up to ``batch_size`` queued requests with the same generation
parameters and runs one left-padded ``model.generate`` for them on a dedicated thread, so
the event loop stays free and the model is only ever used by one thread. Loglikelihood
scoring (:meth:`HFProvider.loglikelihood`, for multiple choice and perplexity) runs on the
same thread, batched by :mod:`harness.providers.hf_loglik`. Torch and transformers are
imported when the model is first loaded, not when a suite is checked.

With ``workers: N`` (or a Ray cluster named) the batches go instead to N copies of the
model in Ray actors, up to N at once (:mod:`harness.providers.ray_pool`).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, TypeVar

from harness.errors import PermanentProviderError
from harness.extras import install_command, require
from harness.providers.base import Generation, ModelRequest, Provider
from harness.providers.batching import Job, LoadOnce, deliver, fail, job_for
from harness.providers.hf_loglik import LoglikelihoodScorer, Progress, RollingScore
from harness.providers.hf_models import (
    DTYPES,
    ModelSource,
    checkpoint_folder,
    device_and_dtype,
    load,
    resolve,
)
from harness.providers.ray_pool import check_reachable, cluster_address, on_ray
from harness.suite.schema import GenerationParams, HFProviderConfig

if TYPE_CHECKING:
    import torch

    from harness.providers.ray_pool import ModelWorkers

#: ``max_new_tokens`` when a suite sets no ``max_tokens``.
DEFAULT_MAX_TOKENS = 128

T = TypeVar("T")


class HFProvider(Provider):
    """A checkpoint folder, a GGUF file or an alias (see :mod:`harness.providers.hf_models`)."""

    type_name = "hf"
    config: HFProviderConfig

    def __init__(self, config: HFProviderConfig) -> None:
        super().__init__(config)
        self._model: LoadOnce[_Model] = LoadOnce(self._load)
        self._pending: list[Job] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        #: Batches being answered, by the task answering each.
        self._running: dict[asyncio.Task[None], list[Job]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._workers: asyncio.Future[ModelWorkers] | None = None

    def __repr__(self) -> str:
        return f"HFProvider(id={self.id!r}, model={self.model!r})"

    @cached_property
    def source(self) -> ModelSource:
        return resolve(self.config.model, self.config.gguf_file, self.config.adapter)

    @cached_property
    def _revision(self) -> str:
        return self.source.fingerprint()

    @property
    def default_concurrency(self) -> int:
        # Twice the batch per worker, so a full batch is already queued when one ends.
        return self.config.batch_size * 2 * self.config.workers

    @property
    def ray_address(self) -> str | None:
        return cluster_address(self.config.ray_address)

    @property
    def on_ray(self) -> bool:
        """Whether the model runs in Ray workers rather than in this process."""
        return on_ray(self.config.workers, self.config.ray_address)

    def check(self) -> None:
        """Fail before the run on a model path or dtype that cannot work, or without torch
        and transformers installed (or ray, for workers; loads nothing)."""
        require("local", f"hf provider '{self.id}'", PermanentProviderError)
        self.source  # noqa: B018 - resolving is the check
        if self.config.dtype != "auto" and self.config.dtype not in DTYPES:
            raise PermanentProviderError(
                f"hf provider '{self.id}': unknown dtype '{self.config.dtype}'; "
                f"expected auto or one of {', '.join(DTYPES)}"
            )
        if self.on_ray:
            what = f"hf provider '{self.id}' (workers: {self.config.workers})"
            require("ray", what, PermanentProviderError)
            if self.config.device not in ("auto", "cpu", "cuda"):
                raise PermanentProviderError(
                    f"hf provider '{self.id}': with Ray workers the device is auto, cpu or "
                    f"cuda (Ray gives each worker its GPU), not '{self.config.device}'"
                )
            if self.ray_address is not None:
                check_reachable(self.ray_address)

    def identity(self) -> dict[str, str]:
        """Model, weights fingerprint and adapter, plus the settings that change the output
        when they are not the default (a chat template turned off, a fixed dtype)."""
        identity = {"type": self.type_name, "model": self.source.name, "revision": self._revision}
        if self.source.adapter is not None:
            identity["adapter"] = str(self.source.adapter)
        if not self.config.chat_template:
            identity["chat_template"] = "off"
        if self.config.dtype != "auto":
            identity["dtype"] = DTYPES.get(self.config.dtype, self.config.dtype)
        return identity

    async def generate(self, request: ModelRequest) -> Generation:
        loop = asyncio.get_running_loop()
        job = job_for(request, self.config.params, f"hf provider '{self.id}'", loop.create_future())
        self._ensure_worker(loop)
        assert self._wakeup is not None
        self._pending.append(job)
        self._wakeup.set()
        return await job.future

    async def loglikelihood(
        self, requests: list[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """For each ``(context, continuation)``: the summed log-probability of the
        continuation's tokens after the context, and whether greedy decoding would produce
        them (lm-eval's ``loglikelihood``), in batches of ``batch_size`` on the worker thread
        (or shared out over the Ray workers). ``progress`` is called with (rows scored,
        rows in all) after each batch."""
        if self.on_ray:
            return await (await self._ray_workers()).loglikelihood(requests, progress)
        return await self._on_worker(lambda model: model.scorer.loglikelihood(requests, progress))

    async def loglikelihood_rolling(self, texts: list[str]) -> list[RollingScore]:
        """Each text's loglikelihood from its first token, in lm-eval's disjoint rolling
        windows of at most ``max_length`` tokens (for perplexity)."""
        if self.on_ray:
            return await (await self._ray_workers()).loglikelihood_rolling(texts)
        return await self._on_worker(lambda model: model.scorer.loglikelihood_rolling(texts))

    def _ray_workers(self) -> asyncio.Future[ModelWorkers]:
        """The Ray workers, started once (off the event loop: connecting takes seconds). A
        failed start fails every later call with the same error."""
        if self._workers is None:
            self._workers = asyncio.ensure_future(asyncio.to_thread(self._start_workers))
        return self._workers

    def _start_workers(self) -> ModelWorkers:
        from harness.providers.ray_pool import ModelWorkers

        self.check()
        # A GGUF is dequantised here, once, rather than by every worker at the same time.
        source = checkpoint_folder(self.source)
        return ModelWorkers(
            partial(_Model.load, source, self.config),
            self.config.workers,
            address=self.ray_address,
            gpus=self.config.device != "cpu",
            label=f"harness-hf-{self.id}",
        )

    async def _on_worker(self, work: Callable[[_Model], T]) -> T:
        """Run ``work`` on the loaded model, on the thread that generation batches use."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"hf-{self.id}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._model.get()))

    async def aclose(self) -> None:
        """Stop the worker, fail what is still queued, and free the model."""
        tasks = [t for t in (self._worker, *self._running) if t is not None]
        # The batches' callers must not hang (a task cancelled before it starts runs nothing).
        jobs = [*self._pending, *(job for batch in self._running.values() for job in batch)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        fail(jobs, PermanentProviderError("hf provider closed"))
        self._pending = []
        if self._workers is not None:
            starting, self._workers = self._workers, None
            await asyncio.wait([starting])  # a start under way ends first
            if not starting.cancelled() and starting.exception() is None:
                await starting.result().close()
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)  # let a running batch end
            self._executor = None
        if (model := self._model.take()) is not None:
            model.release()

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._worker is not None and not self._worker.done() and self._worker.get_loop() is loop:
            return
        self._wakeup = asyncio.Event()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"hf-{self.id}")
        self._worker = loop.create_task(self._work(), name=f"hf-batcher-{self.id}")

    async def _work(self) -> None:
        """Form a batch whenever a worker is free (one in this process; each Ray worker)."""
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        free = asyncio.Semaphore(self.config.workers if self.on_ray else 1)
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while True:
                await free.acquire()
                batch = self._take_batch()
                if not batch:
                    free.release()
                    break
                task = loop.create_task(self._answer(batch))
                self._running[task] = batch
                task.add_done_callback(self._running.pop)
                task.add_done_callback(lambda _: free.release())

    async def _answer(self, batch: list[Job]) -> None:
        """Run one batch and hand each caller its result."""
        try:
            if self.on_ray:
                workers = await self._ray_workers()
                results = await workers.generate([job.request for job in batch], batch[0].params)
            else:
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self._executor, self._run_batch, batch)
        except Exception as e:  # a bug or a failed start: the callers must not hang
            results = [e] * len(batch)
        deliver(batch, results)

    def _take_batch(self) -> list[Job]:
        """The oldest live request plus up to ``batch_size - 1`` others with its params."""
        live = [job for job in self._pending if not job.future.done()]
        if not live:
            self._pending = []
            return []
        first = live[0]
        limit = 1 if first.solo else self.config.batch_size
        batch = [job for job in live if job.key == first.key][:limit]
        taken = set(map(id, batch))
        self._pending = [job for job in live if id(job) not in taken]
        return batch

    def _load(self) -> _Model:
        """On the worker thread, once (see :class:`LoadOnce`)."""
        self.check()
        return _Model.load(self.source, self.config)

    def _run_batch(self, batch: list[Job]) -> list[Generation | Exception]:
        """On the worker thread: load the model once, then generate for the batch."""
        requests = [job.request for job in batch]
        return self._model.run(batch, lambda model: model.generate_batch(requests, batch[0].params))


class _Model:
    """A loaded model and tokenizer; only ever used from the provider's worker thread."""

    def __init__(self, model: Any, tokenizer: Any, config: HFProviderConfig) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.scorer = LoglikelihoodScorer(model, tokenizer, config.batch_size, config.max_length)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        eos = model.generation_config.eos_token_id
        eos = tokenizer.eos_token_id if eos is None else eos
        self.eos_ids = {e for e in (eos if isinstance(eos, list) else [eos]) if e is not None}
        self.templated = config.chat_template and bool(tokenizer.chat_template)

    @classmethod
    def load(cls, source: ModelSource, config: HFProviderConfig) -> _Model:
        try:
            import torch
        except ImportError as e:  # installed but broken (check() found it)
            raise PermanentProviderError(
                f"hf model {source.name}: cannot import torch ({e}); reinstall it: "
                + install_command("local")
            ) from None
        device, dtype = _device_and_dtype(torch, config)
        model, tokenizer = load(source, device, dtype)
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
            raise PermanentProviderError(
                f"hf model {source.name}: the tokenizer has neither a pad nor an eos token"
            )
        return cls(model, tokenizer, config)

    def render(self, request: ModelRequest) -> str:
        """The prompt text: the chat template applied, or the messages joined."""
        if not self.templated:
            return request.as_prompt()
        messages = [m.model_dump() for m in request.messages]
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    def generate_batch(
        self, requests: list[ModelRequest], params: GenerationParams
    ) -> list[Generation | Exception]:
        """:meth:`generate`, each answer's latency the batch's own compute time (not the
        time a request waited in the queue)."""
        started = time.perf_counter()
        results = self.generate(requests, params)
        elapsed = time.perf_counter() - started
        return [
            r if isinstance(r, Exception) else r.model_copy(update={"latency_s": elapsed})
            for r in results
        ]

    def generate(
        self, requests: list[ModelRequest], params: GenerationParams
    ) -> list[Generation | Exception]:
        """One ``model.generate`` for every request whose prompt renders."""
        import torch
        from transformers import StoppingCriteriaList

        rendered = [self._render_or_error(request) for request in requests]
        prompts = [p for p in rendered if isinstance(p, str)]
        if not prompts:
            return [p for p in rendered if isinstance(p, Exception)]
        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=not self.templated
        ).to(self.model.device)
        width = enc["input_ids"].shape[1]
        stops = [s for s in params.stop or [] if s]
        kwargs = self._generate_kwargs(params)
        if stops:
            kwargs["stopping_criteria"] = StoppingCriteriaList(
                [_StopOnText(self.tokenizer, stops, width)]
            )
        try:
            with torch.inference_mode():
                if kwargs["do_sample"] and params.seed is not None:
                    torch.manual_seed(params.seed)
                out = self.model.generate(**enc, **kwargs)
        except Exception as e:
            error = PermanentProviderError(f"hf generation failed: {type(e).__name__}: {e}")
            return [error] * len(requests)
        rows = iter(
            zip(out[:, width:].tolist(), enc["attention_mask"].sum(dim=1).tolist(), strict=True)
        )
        return [self._finish(*next(rows), stops) if isinstance(p, str) else p for p in rendered]

    def _render_or_error(self, request: ModelRequest) -> str | Exception:
        """A template that rejects one request's messages fails that request, not the batch."""
        try:
            return self.render(request)
        except Exception as e:
            return PermanentProviderError(f"chat template failed: {type(e).__name__}: {e}")

    def _generate_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        sampled = bool(params.temperature)
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
            "do_sample": sampled,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": sorted(self.eos_ids),
        }
        if sampled:
            # What the suite leaves unset comes from the checkpoint's generation_config, as in
            # vLLM; but not transformers' global top_k=50, which no API applies.
            kwargs["temperature"] = params.temperature
            kwargs["top_k"] = self.model.generation_config.top_k or 0
            if params.top_p is not None:
                kwargs["top_p"] = params.top_p
        kwargs.update(params.extra_body or {})
        return kwargs

    def _finish(self, tokens: list[int], prompt_tokens: int, stops: list[str]) -> Generation:
        """Text and accounting for one row: cut at eos, then at the first stop string."""
        end = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
        body = tokens if end is None else tokens[:end]
        pad = self.tokenizer.pad_token_id
        while body and body[-1] == pad:  # a row that stopped early, when pad is not eos
            body = body[:-1]
        text = self._decode(body)
        cut = _first_stop(text, stops)
        if cut is not None:
            text, used, reason = text[:cut], self._tokens_until_stop(body, stops), "stop"
        elif end is not None:
            used, reason = end + 1, "stop"  # the eos token counts, as with vLLM
        else:
            used, reason = len(body), "length"
        return Generation(
            text=text, prompt_tokens=prompt_tokens, completion_tokens=used, finish_reason=reason
        )

    def _tokens_until_stop(self, body: list[int], stops: list[str]) -> int:
        """The fewest tokens whose text holds a stop string (binary search: it only grows)."""
        lo, hi = 1, len(body)
        while lo < hi:
            mid = (lo + hi) // 2
            if _first_stop(self._decode(body[:mid]), stops) is None:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def release(self) -> None:
        """Free the weights now, not at some later garbage collection."""
        import torch

        on_cuda = self.model.device.type == "cuda"
        del self.model, self.tokenizer, self.scorer
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()


class _StopOnText:
    """Stops a row once its completion's text holds a stop string.

    It decodes with the same tokenizer call as the final text, so the stop point agrees
    with the truncation for any tokenizer. Only the last tokens are decoded: enough for
    the longest stop string even at four byte-tokens per character.
    """

    def __init__(self, tokenizer: Any, stops: list[str], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.prompt_width = prompt_width
        self.window = 4 * max(map(len, stops)) + 4

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        start = max(self.prompt_width, input_ids.shape[1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        hits = [_first_stop(text, self.stops) is not None for text in tails]
        return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)


def _first_stop(text: str, stops: list[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _device_and_dtype(torch: Any, config: HFProviderConfig) -> tuple[Any, Any]:
    try:
        return device_and_dtype(torch, config.device, config.dtype)
    except ValueError as e:
        raise PermanentProviderError(f"hf provider '{config.id}': bad device: {e}") from None
