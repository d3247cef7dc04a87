"""A stand-in for the part of vLLM that harness and lm-eval's ``vllm`` model use, computed
by the tests' tiny local transformers models (vLLM itself cannot be installed here: it
needs a CUDA build of torch).

The shapes are vLLM 0.11's (``vllm/entrypoints/llm.py``, ``vllm/outputs.py``,
``vllm/logprobs.py``, ``vllm/sampling_params.py``, ``vllm/inputs``):

* ``LLM(model, *, tensor_parallel_size, dtype, seed, gpu_memory_utilization, max_model_len,
  **engine_args)``, with ``get_tokenizer()``, ``llm_engine.model_config.max_model_len`` and
  ``.get_diff_sampling_param()`` (the checkpoint's generation_config defaults), and
  ``generate(prompts, sampling_params, *, use_tqdm, lora_request)``: one ``RequestOutput``
  per prompt, in order; a prompt longer than ``max_model_len`` is a ValueError.
* ``RequestOutput``: ``prompt_token_ids``; ``prompt_logprobs`` (None at the first position,
  then ``{token id: Logprob}`` with the prompt's own token first and the top
  ``prompt_logprobs`` after it, each with its rank and decoded text); ``outputs[0]``, a
  ``CompletionOutput`` whose ``text`` has special tokens skipped and stops before a stop
  string (which ends ``token_ids`` at the token completing it), whose ``token_ids`` end with
  the eos that stopped it, and whose ``finish_reason`` is "stop" or "length".
* ``SamplingParams(**kwargs)``: unknown keys are a TypeError, bad values a ValueError;
  greedy at temperature 0, a request's ``seed`` seeds its own draws.
* ``TokensPrompt``: a dict with ``prompt_token_ids``.
* What lm-eval imports besides: ``vllm.lora.request.LoRARequest``,
  ``vllm.entrypoints.chat_utils.resolve_hf_chat_template``,
  ``vllm.transformers_utils.tokenizer.get_tokenizer``, and a ``vllm`` distribution (it reads
  the version).

:func:`install` (the ``fake_vllm`` fixture) puts this module into ``sys.modules`` as
``vllm``; every ``LLM`` built is in ``LLM.built``, and each ``generate`` call's prompts and
params in its ``calls``.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypedDict

import pytest

VERSION = "0.11.0"


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, Logprob] | None] | None
    outputs: list[CompletionOutput]
    finished: bool


class TokensPrompt(TypedDict):
    prompt_token_ids: list[int]


_SAMPLING_DEFAULTS: dict[str, Any] = {
    "n": 1,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "seed": None,
    "stop": None,
    "max_tokens": 16,
    "ignore_eos": False,
    "logprobs": None,
    "prompt_logprobs": None,
    "detokenize": True,
    "skip_special_tokens": True,
    "spaces_between_special_tokens": True,
}


class SamplingParams:
    """Keyword-only, as vLLM's msgspec struct: unknown keys raise TypeError."""

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(_SAMPLING_DEFAULTS))
        if unknown:
            raise TypeError(f"Unexpected keyword argument '{unknown[0]}'")
        values = _SAMPLING_DEFAULTS | kwargs
        for key, value in values.items():
            setattr(self, key, value)
        self.stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if self.n != 1:
            raise NotImplementedError("the stand-in makes one completion per prompt")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.stop and not self.detokenize:
            raise ValueError("stop strings are only supported when detokenize is True.")
        if self.logprobs is not None:
            raise NotImplementedError("the stand-in returns no sample logprobs")

    def __repr__(self) -> str:
        return (
            f"SamplingParams({', '.join(f'{k}={getattr(self, k)!r}' for k in _SAMPLING_DEFAULTS)})"
        )


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""


class ModelConfig:
    """``llm_engine.model_config``: the context length and the checkpoint's defaults."""

    def __init__(self, model: str, max_model_len: int) -> None:
        self.model = model
        self.max_model_len = max_model_len

    def get_diff_sampling_param(self) -> dict[str, Any]:
        """vLLM's: the sampling fields that generation_config.json sets."""
        path = Path(self.model) / "generation_config.json"
        config = json.loads(path.read_text()) if path.is_file() else {}
        names = ["repetition_penalty", "temperature", "top_k", "top_p", "min_p", "max_new_tokens"]
        diff = {name: config[name] for name in names if config.get(name) is not None}
        if "max_new_tokens" in diff:
            diff["max_tokens"] = diff.pop("max_new_tokens")
        return diff


#: ``EngineArgs`` fields the stand-in accepts (lm-eval's vllm model passes the first ones);
#: vLLM refuses any other keyword with a TypeError.
ENGINE_ARGS = {
    "tokenizer_mode", "tokenizer_revision", "trust_remote_code", "max_num_seqs", "enable_lora",
    "max_lora_rank", "enable_prefix_caching", "enforce_eager", "kv_cache_dtype",
    "max_num_batched_tokens", "disable_log_stats",
}  # fmt: skip


@dataclass
class _Engine:
    model_config: ModelConfig


class LLM:
    """The offline engine, on a local transformers checkpoint in float32 on the CPU."""

    built: ClassVar[list[LLM]] = []

    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        quantization: str | None = None,
        revision: str | None = None,
        seed: int | None = None,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        **engine_args: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        unknown = sorted(set(engine_args) - ENGINE_ARGS)
        if unknown:
            raise TypeError(
                f"EngineArgs.__init__() got an unexpected keyword argument '{unknown[0]}'"
            )
        self.kwargs = {
            "model": model,
            "tokenizer": tokenizer,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            "quantization": quantization,
            "revision": revision,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            **engine_args,
        }
        self._tokenizer = AutoTokenizer.from_pretrained(tokenizer or model, local_files_only=True)
        self._model = AutoModelForCausalLM.from_pretrained(
            model, local_files_only=True, dtype=torch.float32
        ).eval()
        config = self._model.config
        longest = getattr(config, "max_position_embeddings", None) or config.n_positions
        self.llm_engine = _Engine(ModelConfig(model, max_model_len or longest))
        eos = self._model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self._eos = {e for e in [*eos, self._tokenizer.eos_token_id] if e is not None}
        #: Per ``generate`` call: each prompt's token ids and its SamplingParams.
        self.calls: list[list[tuple[list[int], SamplingParams]]] = []
        LLM.built.append(self)

    def get_tokenizer(self) -> Any:
        return self._tokenizer

    def generate(
        self,
        prompts: Any,
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        *,
        use_tqdm: bool = True,
        lora_request: Any = None,
    ) -> list[RequestOutput]:
        prompts = [prompts] if isinstance(prompts, str | dict) else list(prompts)
        if sampling_params is None:
            sampling_params = SamplingParams()
        if isinstance(sampling_params, SamplingParams):
            sampling_params = [sampling_params] * len(prompts)
        if len(sampling_params) != len(prompts):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        ids = [self._ids(p) for p in prompts]
        limit = self.llm_engine.model_config.max_model_len
        for one in ids:
            if len(one) > limit:
                raise ValueError(
                    f"The decoder prompt (length {len(one)}) is longer than the maximum "
                    f"model length of {limit}."
                )
        self.calls.append(list(zip(ids, sampling_params, strict=True)))
        return [
            self._one(str(i), p if isinstance(p, str) else None, one, params)
            for i, (p, one, params) in enumerate(zip(prompts, ids, sampling_params, strict=True))
        ]

    def _ids(self, prompt: Any) -> list[int]:
        if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
            return list(prompt["prompt_token_ids"])
        text = prompt["prompt"] if isinstance(prompt, dict) else prompt
        return self._tokenizer(text).input_ids

    def _one(
        self, request_id: str, prompt: str | None, ids: list[int], params: SamplingParams
    ) -> RequestOutput:
        import torch

        with torch.inference_mode():
            prompt_logprobs = (
                None
                if params.prompt_logprobs is None
                else self._prompt_logprobs(ids, params.prompt_logprobs)
            )
            room = self.llm_engine.model_config.max_model_len - len(ids)
            budget = min(params.max_tokens or room, room)
            tokens = self._sample(ids, params, budget) if budget > 0 else []
        completion = self._finish(tokens, params)
        return RequestOutput(request_id, prompt, ids, prompt_logprobs, [completion], True)

    def _prompt_logprobs(self, ids: list[int], k: int) -> list[dict[int, Logprob] | None]:
        import torch

        logits = self._model(torch.tensor([ids])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        out: list[dict[int, Logprob] | None] = [None]
        for position in range(1, len(ids)):
            row = logprobs[position - 1]
            token = ids[position]
            entry = {token: self._logprob(row, token)}
            for best in torch.argsort(row, descending=True)[:k].tolist():
                entry.setdefault(best, self._logprob(row, best))
            out.append(entry)
        return out

    def _logprob(self, row: Any, token: int) -> Logprob:
        rank = int((row > row[token]).sum()) + 1
        return Logprob(float(row[token]), rank, self._tokenizer.decode([token]))

    def _sample(self, ids: list[int], params: SamplingParams, budget: int) -> list[int]:
        """The generated tokens, up to and including an eos (greedy at temperature 0)."""
        import torch

        pad = self._tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": budget,
            "do_sample": params.temperature > 0,
            "eos_token_id": sorted(self._eos),
            "pad_token_id": min(self._eos) if pad is None else pad,
        }
        if params.temperature > 0:
            kwargs |= {"temperature": params.temperature, "top_k": params.top_k}
            kwargs |= {"top_p": params.top_p} if params.top_p < 1 else {}
            kwargs |= {"min_p": params.min_p} if params.min_p > 0 else {}
            if params.seed is not None:
                torch.manual_seed(params.seed)
        if params.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = params.repetition_penalty
        inputs = torch.tensor([ids])
        out = self._model.generate(inputs, attention_mask=torch.ones_like(inputs), **kwargs)
        tokens = out[0, len(ids) :].tolist()
        end = next((i for i, t in enumerate(tokens) if t in self._eos), None)
        return tokens if end is None or params.ignore_eos else tokens[: end + 1]

    def _finish(self, tokens: list[int], params: SamplingParams) -> CompletionOutput:
        """vLLM's stop handling: the first stop string ends the text (and the tokens, at the
        one that completed it); an eos ends both; otherwise the length did."""
        stopped_by_eos = bool(tokens) and tokens[-1] in self._eos and not params.ignore_eos
        reason, stop_reason = ("stop", None) if stopped_by_eos else ("length", None)
        text = self._decode(tokens, params)
        for n, prefix in self._prefixes(tokens, params):
            found = [(prefix.find(s), s) for s in params.stop if s in prefix]
            if found:
                at, stop = min(found)
                tokens, text, reason, stop_reason = tokens[:n], prefix[:at], "stop", stop
                break
        return CompletionOutput(0, text, tokens, None, None, reason, stop_reason)

    def _prefixes(self, tokens: list[int], params: SamplingParams) -> Iterator[tuple[int, str]]:
        if not params.stop:
            return
        for n in range(1, len(tokens) + 1):
            yield n, self._decode(tokens[:n], params)

    def _decode(self, tokens: list[int], params: SamplingParams) -> str:
        if not params.detokenize:
            return ""
        return self._tokenizer.decode(tokens, skip_special_tokens=params.skip_special_tokens)


def resolve_hf_chat_template(
    tokenizer: Any, *, chat_template: str | None, tools: Any, model_config: Any
) -> str | None:
    return chat_template or getattr(tokenizer, "chat_template", None)


def get_tokenizer(
    tokenizer_name: str,
    *,
    tokenizer_mode: str = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
    **kwargs: Any,
) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        tokenizer_name, local_files_only=True, revision=revision, **kwargs
    )


def _submodules() -> dict[str, types.ModuleType]:
    """The submodules lm-eval's ``vllm`` model imports from."""
    modules = {}
    for name, attrs in {
        "vllm.lora": {},
        "vllm.lora.request": {"LoRARequest": LoRARequest},
        "vllm.entrypoints": {},
        "vllm.entrypoints.chat_utils": {"resolve_hf_chat_template": resolve_hf_chat_template},
        "vllm.transformers_utils": {},
        "vllm.transformers_utils.tokenizer": {"get_tokenizer": get_tokenizer},
    }.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        modules[name] = module
    return modules


def install(monkeypatch: pytest.MonkeyPatch, dist_root: Path) -> types.ModuleType:
    """This module as ``vllm`` in ``sys.modules``, with a ``vllm`` distribution under
    ``dist_root`` on ``sys.path`` (for ``importlib.metadata.version``)."""
    dist = dist_root / f"vllm-{VERSION}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {VERSION}\n")
    monkeypatch.syspath_prepend(str(dist_root))
    module = sys.modules[__name__]
    monkeypatch.setitem(sys.modules, "vllm", module)
    for name, submodule in _submodules().items():
        monkeypatch.setitem(sys.modules, name, submodule)
    monkeypatch.setattr(LLM, "built", [])
    return module


@pytest.fixture
def fake_vllm(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> types.ModuleType:
    """The stand-in installed as ``vllm`` for one test."""
    return install(monkeypatch, tmp_path_factory.mktemp("vllm-dist"))
