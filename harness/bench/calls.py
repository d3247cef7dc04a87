"""Benchmark questions sent to a provider through the runner's machinery.

Each request goes through a :class:`harness.runner.channel.Channel`, as a suite case does:
the same response cache (same request keys, so a re-run or a suite asking the same prompt
costs nothing), the provider's own retry policy, backoff and rate limits; concurrency is
bounded. An API benchmark behaves like any other run against that API.

Loglikelihoods from an API (:func:`echo_loglikelihoods`) come from an OpenAI-compatible
*completions* endpoint, as lm-eval's ``local-completions`` model gets them: the context and
continuation sent as one prompt with ``echo: true, logprobs: 1, max_tokens: 1``, and the
continuation's tokens read from the echoed prompt's logprobs. ``vllm serve`` answers so.
The continuation's tokens are the fewest final prompt tokens whose text ends with it, so no
tokenizer is needed here (where the server's tokens split at the continuation, as they do
for " A" after "Answer:", these are exactly lm-eval's tokens).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from harness.errors import PermanentProviderError
from harness.providers.base import Generation, Message, ModelRequest, Provider
from harness.providers.openai_compat import OpenAIProvider, parse_reply, reply_error
from harness.runner.cache import ResponseCache
from harness.runner.channel import Channel
from harness.suite.schema import OpenAIProviderConfig

#: What an echo request asks for, besides its prompt: the prompt's own logprobs back, and
#: one generated token (some servers refuse none), which is not scored.
ECHO = {"temperature": 0, "max_tokens": 1, "logprobs": 1, "echo": True}
NO_ECHO = (
    "the completions endpoint returned no logprobs of the echoed prompt (echo: true, "
    "logprobs: 1), which --mode loglikelihood needs; vLLM's `vllm serve` returns them. "
    "Otherwise use --mode logprobs or --mode generate"
)

Pair = tuple[str, str]


async def generate_all(
    provider: Provider,
    config: Any,
    requests: list[ModelRequest],
    cache: ResponseCache | None,
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Generation]:
    """Each request's generation, from the cache or from ``provider`` (retried per
    ``config``); raises the first error that retries could not fix. ``progress`` hears
    ``(requests done, requests)`` as each one finishes."""
    channel = Channel(provider, config, cache)
    width = asyncio.Semaphore(getattr(config, "concurrency", None) or concurrency)
    done = 0

    async def one(request: ModelRequest) -> Generation:
        nonlocal done
        async with width:
            generation, _ = await channel.generate(request)
        done += 1
        if progress is not None:
            progress(done, len(requests))
        return generation

    return list(await asyncio.gather(*(one(r) for r in requests)))


async def echo_loglikelihoods(
    config: OpenAIProviderConfig,
    pairs: list[Pair],
    cache: ResponseCache | None,
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[float, bool]]:
    """For each ``(context, continuation)``: the continuation's summed logprob after the
    context and whether each of its tokens was the most likely one, from ``config``'s
    completions endpoint (whatever its ``endpoint``), one request per distinct pair."""
    provider = EchoCompletions(config.model_copy(update={"endpoint": "completions"}))
    distinct = list(dict.fromkeys(pairs))
    try:
        generations = await generate_all(
            provider, config, [echo_request(*p) for p in distinct], cache, concurrency, progress
        )
    finally:
        await provider.aclose()
    scores = {
        pair: (g.metadata["loglikelihood"], g.metadata["greedy"])
        for pair, g in zip(distinct, generations, strict=True)
    }
    return [scores[pair] for pair in pairs]


def echo_request(context: str, continuation: str) -> ModelRequest:
    """The prompt ``context + continuation``; the continuation is in the params (not sent)
    because it says which echoed tokens are scored, so it is part of the cache key."""
    return ModelRequest(
        messages=(Message(role="user", content=context + continuation),),
        params={**ECHO, "continuation": continuation},
    )


class EchoCompletions(OpenAIProvider):
    """The ``openai`` provider's completions call, with its errors, retries and key
    handling, keeping what the plain call drops: the echoed prompt's logprobs, reduced to
    the continuation's score in the generation's metadata (and so in the cache)."""

    async def _generate(self, request: ModelRequest) -> Generation:
        params = dict(request.params)
        continuation = params.pop("continuation")
        prompt = request.as_prompt()
        reply = await self._client.post(
            "/completions", {"model": self.model, "prompt": prompt, **params}
        )
        if reply.status >= 400:
            raise reply_error(reply)
        content = reply.content()
        generation = parse_reply(content, "completions")
        loglikelihood, greedy = continuation_score(content, continuation, generation)
        return generation.model_copy(
            update={
                "text": generation.text.removeprefix(prompt),
                "metadata": {"loglikelihood": loglikelihood, "greedy": greedy},
            }
        )


def continuation_score(
    reply: dict[str, Any], continuation: str, generation: Generation
) -> tuple[float, bool]:
    """The summed logprob of the echoed prompt's final tokens that hold ``continuation``,
    and whether each equals the best of its position's ``top_logprobs`` (lm-eval's
    ``is_greedy``). The last ``completion_tokens`` tokens (1 when the server does not say)
    were generated, not echoed."""
    logprobs = reply["choices"][0].get("logprobs") or {}
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    tops = logprobs.get("top_logprobs")
    if not (isinstance(tokens, list) and isinstance(values, list) and isinstance(tops, list)):
        raise PermanentProviderError(NO_ECHO)
    generated = generation.completion_tokens if generation.completion_tokens is not None else 1
    end = len(tokens) - generated
    start, text = end, ""
    while len(text) < len(continuation) and start > 0:
        start -= 1
        text = str(tokens[start]) + text
    if not continuation or not text.endswith(continuation):
        raise PermanentProviderError(
            f"{NO_ECHO} (the echoed tokens before the generated one do not end with "
            f"{continuation!r})"
        )
    span = range(start, end)
    if any(values[i] is None or not tops[i] for i in span):
        raise PermanentProviderError(
            f"the server gave no logprob for a token of {continuation!r}: is the context empty?"
        )
    greedy = all(values[i] >= max(tops[i].values()) for i in span)
    return float(sum(values[i] for i in span)), greedy
