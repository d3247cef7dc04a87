"""The model lm-eval scores: an lm-eval ``LM`` whose requests go to a harness provider.

lm-eval builds every prompt (description, few-shot examples, question) and computes the
metrics; the answers come from the provider, in one of three modes:

* ``loglikelihood`` (``hf`` models): :meth:`HFProvider.loglikelihood`, equal to lm-eval's
  own HFLM (tested), batched on the provider's worker thread. A ``vllm`` model is lm-eval's
  own ``vllm`` model instead (:func:`bench_lm`); an OpenAI-compatible API answers from its
  completions endpoint's echoed prompt logprobs (:func:`harness.bench.calls.echo_loglikelihoods`,
  the way lm-eval's ``local-completions`` does: for ``vllm serve``).
* ``logprobs`` (OpenAI-compatible chat APIs that return ``top_logprobs``): one call per
  question with ``max_tokens: 1, logprobs: true, top_logprobs: 20``. A letter's
  loglikelihood is the best logprob among first tokens that are that letter (" A", "A");
  a letter outside the top 20 gets the smallest logprob returned, an upper bound of its own.
* ``generate`` (any provider; for chat-only APIs): one call per question, and the letter
  is read from the answer text with :func:`harness.scorers.choice.extract_choice`. lm-eval
  gets 0 for that letter and -1 for the others, but accuracy is computed from the letters
  themselves (see :mod:`harness.bench.run`): a reply without a letter is wrong, not "A".

API calls go through :mod:`harness.bench.calls` (response cache, retries, rate limits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from harness.bench.calls import echo_loglikelihoods, generate_all
from harness.bench.layouts import LETTERS
from harness.bench.models import ModelInfo
from harness.errors import BenchError
from harness.providers.base import Generation, Message, ModelRequest, Provider
from harness.providers.registry import create_provider
from harness.runner.cache import ResponseCache
from harness.scorers.choice import extract_choice

MODES = ("auto", "loglikelihood", "logprobs", "generate")
#: Provider types whose ``auto`` mode is loglikelihood (models on this machine).
LOCAL_TYPES = ("hf", "vllm")
#: Alternatives asked for per token in ``logprobs`` mode (OpenAI's maximum).
TOP_LOGPROBS = 20

Pair = tuple[str, str]


def resolve_mode(mode: str, provider_type: str) -> str:
    """The scoring mode for a provider type; ``auto`` is loglikelihood for local models
    and generate for APIs (not every API returns logprobs, nor echoes the prompt's)."""
    if mode not in MODES:
        raise BenchError(f"unknown --mode '{mode}'; expected one of {', '.join(MODES)}")
    if mode == "auto":
        return "loglikelihood" if provider_type in LOCAL_TYPES else "generate"
    if mode == "loglikelihood" and provider_type not in (*LOCAL_TYPES, "openai"):
        raise BenchError(
            f"--mode loglikelihood needs a local model (hf, vllm) or an OpenAI-compatible "
            f"completions API, not a '{provider_type}' provider; use --mode generate"
        )
    if mode == "logprobs" and provider_type != "openai":
        raise BenchError(
            "--mode logprobs is for OpenAI-compatible APIs; local models use loglikelihood"
        )
    return mode


@dataclass
class Answerer:
    """Answers lm-eval's ``(context, " X")`` requests with a provider, in one mode.

    A fresh provider serves each batch of requests (lm-eval sends all of a run's requests
    at once) and is closed in the same event loop that used it.
    """

    config: Any
    mode: str
    cache: ResponseCache | None
    concurrency: int = 8
    max_tokens: int = 64
    #: ``(questions answered, questions in all)`` as answers come in.
    progress: Callable[[int, int], None] | None = None
    #: ``generate`` mode: each context's answer text.
    outputs: dict[str, str] = field(default_factory=dict)

    def __call__(self, pairs: list[Pair]) -> list[tuple[float, bool]]:
        return asyncio.run(self._answer(pairs))

    async def _answer(self, pairs: list[Pair]) -> list[tuple[float, bool]]:
        progress = self._in_questions(len({context for context, _ in pairs}))
        if self.mode == "loglikelihood" and self.config.type == "openai":
            return await echo_loglikelihoods(
                self.config, pairs, self.cache, self.concurrency, progress
            )
        provider = create_provider(self.config, Path.cwd())
        try:
            if self.mode == "loglikelihood":
                return await provider.loglikelihood(pairs, progress)  # type: ignore[attr-defined]
            return await self._from_generations(provider, pairs)
        finally:
            await provider.aclose()

    def _in_questions(self, questions: int) -> Callable[[int, int], None] | None:
        """The scorer counts model rows; a question is one row when its answers are one
        token each (" A" ... " D"), and in any case its share of the rows."""
        report = self.progress
        if report is None:
            return None
        return lambda done, total: report(questions * done // total, questions)

    async def _from_generations(
        self, provider: Provider, pairs: list[Pair]
    ) -> list[tuple[float, bool]]:
        contexts = list(dict.fromkeys(context for context, _ in pairs))
        requests = [self._request(context) for context in contexts]
        # A local model's batches (over all its workers) need more in flight than an API.
        width = max(self.concurrency, provider.default_concurrency or 0)
        generations = await generate_all(
            provider, self.config, requests, self.cache, width, self.progress
        )
        answers = dict(zip(contexts, generations, strict=True))
        if self.mode == "logprobs":
            letters = {c: letter_logprobs(g) for c, g in answers.items()}
            return [letters[c][_letter(x)] for c, x in pairs]
        self.outputs.update({c: g.text for c, g in answers.items()})
        chosen = {c: extract_choice(g.text, "".join(LETTERS)) for c, g in answers.items()}
        return [(0.0, True) if chosen[c] == _letter(x) else (-1.0, False) for c, x in pairs]

    def _request(self, context: str) -> ModelRequest:
        params = self.config.params.model_dump(exclude_none=True) | {"temperature": 0}
        if self.mode == "logprobs":
            extra = params.get("extra_body") or {}
            params |= {
                "max_tokens": 1,
                "extra_body": extra | {"logprobs": True, "top_logprobs": TOP_LOGPROBS},
            }
        else:
            params["max_tokens"] = self.max_tokens
        return ModelRequest(messages=(Message(role="user", content=context),), params=params)


def letter_logprobs(generation: Generation) -> dict[str, tuple[float, bool]]:
    """Each letter's ``(logprob, is the top token)`` from the first token's alternatives."""
    if not generation.top_logprobs or not generation.top_logprobs[0]:
        raise BenchError(
            "the API returned no top_logprobs (it may not support logprobs=true with "
            "top_logprobs); use --mode generate"
        )
    alternatives = generation.top_logprobs[0]
    floor = min(alternatives.values())
    best = max(alternatives, key=alternatives.__getitem__).strip()
    out = {}
    for letter in LETTERS:
        found = [lp for token, lp in alternatives.items() if token.strip() == letter]
        out[letter] = (max(found, default=floor), best == letter)
    return out


def _letter(continuation: str) -> str:
    letter = continuation.strip()
    if letter not in LETTERS:
        raise BenchError(f"expected a continuation ' A' .. ' D', got {continuation!r}")
    return letter


def bench_lm(model: Any, mode: str, answerer: Answerer) -> LM:
    """What lm-eval scores: its own ``vllm`` model for a ``vllm`` model's loglikelihoods,
    otherwise a :class:`ProviderLM` asking ``answerer``."""
    if model.type == "vllm" and mode == "loglikelihood":
        return vllm_lm(model)
    return ProviderLM(answerer)


def vllm_lm(config: Any) -> LM:
    """lm-eval's ``vllm`` model (``lm_eval.models.vllm_causallms.VLLM``) with the config's
    engine settings (tensor_parallel_size, gpu_memory_utilization, ... as its model args)."""
    from harness.providers.vllm_local import VLLMProvider, engine_kwargs

    provider = VLLMProvider(config)
    provider.check()  # vllm installed, the model there: before lm-eval imports vllm
    from lm_eval.models.vllm_causallms import VLLM

    kwargs = engine_kwargs(config, provider.path)
    try:
        return VLLM(pretrained=kwargs.pop("model"), batch_size=config.batch_size, **kwargs)
    except Exception as e:  # a bad engine argument, CUDA out of memory, no GPU...
        raise BenchError(f"vllm cannot load {provider.path}: {type(e).__name__}: {e}") from e


def vllm_model_info(config: Any) -> ModelInfo:
    """What a bench result records of a ``vllm`` model: its path or hub id, and the
    fingerprint of its weights (a folder's) or its hub snapshot's commit."""
    from harness.providers.vllm_local import VLLMProvider

    identity = VLLMProvider(config).identity()
    return ModelInfo(
        label=config.id,
        name=identity["model"],
        fingerprint=identity["revision"],
        dtype=config.dtype,
        device=f"vllm, tensor_parallel_size {config.tensor_parallel_size}",
    )


class ProviderLM(LM):
    """What lm-eval calls: every loglikelihood request goes to an :class:`Answerer`."""

    def __init__(self, answerer: Answerer) -> None:
        super().__init__()
        self.answerer = answerer

    def loglikelihood(
        self, requests: list[Any], disable_tqdm: bool = False
    ) -> list[tuple[float, bool]]:
        return self.answerer([tuple(r.args) for r in requests])

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("benchmark tasks are multiple choice; see harness perplexity")

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        raise NotImplementedError("benchmark tasks are multiple choice")
