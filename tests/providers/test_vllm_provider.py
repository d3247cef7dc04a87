"""The ``vllm`` provider against a stand-in for vLLM's offline engine (tests/providers/
fake_vllm.py, computed by the same tiny transformers models): its answers and
loglikelihoods equal the ``hf`` provider's on the same model, concurrent requests become one
``llm.generate``, and the engine gets the suite's settings. vLLM itself needs a GPU machine."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoTokenizer

from harness.cli import main
from harness.errors import PermanentProviderError, SuiteKeyError
from harness.providers.base import Generation, Message, ModelRequest
from harness.providers.registry import create_provider
from harness.providers.vllm_local import VLLMProvider
from harness.suite.schema import VLLMProviderConfig
from tests.providers import fake_vllm as stand_in
from tests.providers import test_hf_local as tiny
from tests.providers.test_hf_local import LOGLIK_PAIRS, QUESTIONS, SENTENCES, _generate_all
from tests.providers.test_hf_local import _provider as hf_provider

# The tiny models, the no-network guard and the stand-in, as fixtures here.
hf_llama, hf_gpt2, hf_no_network = tiny.hf_llama, tiny.hf_gpt2, tiny.hf_no_network
fake_vllm = stand_in.fake_vllm
pytestmark = pytest.mark.usefixtures("fake_vllm")


def _vllm(folder: Path | str, **config: Any) -> VLLMProvider:
    return VLLMProvider(VLLMProviderConfig(type="vllm", id="tiny", model=str(folder), **config))


def _request(text: str, **params: Any) -> ModelRequest:
    return ModelRequest(messages=(Message(role="user", content=text),), params=params)


def _same(ours: list[Generation], reference: list[Generation]) -> None:
    timing = {"latency_s"}
    assert [g.model_dump(exclude=timing) for g in ours] == [
        g.model_dump(exclude=timing) for g in reference
    ]


def _run(provider: Any, method: str, *args: Any) -> Any:
    async def go() -> Any:
        try:
            return await getattr(provider, method)(*args)
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("fixture", "settings"),
    [("hf_llama", {}), ("hf_llama", {"chat_template": False}), ("hf_gpt2", {})],
)
def test_answers_equal_the_hf_providers(fixture: str, settings: dict, request: Any) -> None:
    """Same prompt tokens (template or not), same greedy text, counts and finish reasons."""
    folder = request.getfixturevalue(fixture)
    requests = [_request(q, max_tokens=12) for q in QUESTIONS]
    ours = _generate_all(_vllm(folder, **settings), requests)
    _same(ours, _generate_all(hf_provider(folder, **settings), requests))
    assert all(g.text and g.latency_s for g in ours)
    assert len({g.prompt_tokens for g in ours}) > 1


def test_stop_strings_and_max_tokens_as_the_hf_provider(hf_llama: Path) -> None:
    full = _generate_all(_vllm(hf_llama), [_request(QUESTIONS[0], max_tokens=30)])[0]
    stop = full.text[8:11]
    requests = [
        _request(QUESTIONS[0], max_tokens=30, stop=[stop, "never appears"]),
        _request(QUESTIONS[3], max_tokens=30, stop=stop),
        _request("Rome?", max_tokens=3),
    ]
    ours = _generate_all(_vllm(hf_llama), requests)
    _same(ours, _generate_all(hf_provider(hf_llama), requests))
    assert ours[0].text == full.text.split(stop)[0] and ours[0].finish_reason == "stop"
    assert (ours[2].completion_tokens, ours[2].finish_reason) == (3, "length")


def test_seeded_sampling_equals_the_hf_providers_in_any_batch(hf_llama: Path) -> None:
    def sample(seed: int) -> ModelRequest:
        return _request(QUESTIONS[2], max_tokens=8, temperature=1.0, seed=seed)

    ours = _generate_all(_vllm(hf_llama), [sample(7), _request(QUESTIONS[0]), sample(7), sample(8)])
    alone = _generate_all(hf_provider(hf_llama), [sample(7), sample(8)])
    assert ours[0].text == ours[2].text == alone[0].text
    assert ours[3].text == alone[1].text != ours[0].text


def test_concurrent_requests_are_one_generate_call_with_their_own_params(
    hf_llama: Path, fake_vllm: Any
) -> None:
    requests = [_request(q, max_tokens=4) for q in QUESTIONS]
    requests += [
        _request("Rome?", max_tokens=5, temperature=0.7, top_p=0.9, seed=3, stop=["\n", ""]),
        _request("Rome?", max_tokens=2, extra_body={"top_k": 20, "min_p": 0.1}),
    ]
    provider = _vllm(hf_llama, batch_size=5)
    assert provider.default_concurrency == 10
    assert len(_generate_all(provider, requests)) == 8
    [llm] = fake_vllm.LLM.built
    assert [len(call) for call in llm.calls] == [5, 3]  # mixed params share a batch
    sampled, extra = (params for _, params in llm.calls[1][1:])
    assert (sampled.temperature, sampled.top_p, sampled.seed) == (0.7, 0.9, 3)
    assert (sampled.max_tokens, sampled.stop) == (5, ["\n"])
    assert (extra.temperature, extra.top_k, extra.min_p, extra.max_tokens) == (0.0, 20, 0.1, 2)
    tok = AutoTokenizer.from_pretrained(hf_llama)
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": QUESTIONS[0]}], add_generation_prompt=True, tokenize=False
    )
    assert llm.calls[0][0][0] == tok(rendered, add_special_tokens=False).input_ids


def test_a_request_vllm_refuses_fails_alone(hf_llama: Path) -> None:
    """Unknown sampling keys and over-long prompts fail their own request, not the batch."""
    requests = [
        _request("Rome?", max_tokens=2, extra_body={"no_such_knob": 1}),
        _request(" ".join(SENTENCES * 4), max_tokens=2),
        _request("Rome?", max_tokens=2),
    ]
    provider = _vllm(hf_llama, max_model_len=64)

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*map(provider.generate, requests), return_exceptions=True)
        finally:
            await provider.aclose()

    unknown, too_long, fine = asyncio.run(go())
    assert isinstance(unknown, PermanentProviderError) and "no_such_knob" in str(unknown)
    assert isinstance(too_long, PermanentProviderError)
    assert "max_model_len 64" in str(too_long)
    assert isinstance(fine, Generation) and fine.completion_tokens == 2


def test_the_engine_gets_the_providers_settings(hf_llama: Path, fake_vllm: Any) -> None:
    provider = _vllm(
        hf_llama,
        tensor_parallel_size=2,
        dtype="bf16",
        gpu_memory_utilization=0.5,
        max_model_len=128,
        seed=11,
        engine_args={"enable_prefix_caching": True, "max_num_seqs": 64},
    )
    _generate_all(provider, [_request("Rome?", max_tokens=1)])
    [llm] = fake_vllm.LLM.built
    assert llm.kwargs == {
        "model": str(hf_llama),
        "tokenizer": None,
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "quantization": None,
        "revision": None,
        "seed": 11,
        "gpu_memory_utilization": 0.5,
        "max_model_len": 128,
        "enable_prefix_caching": True,
        "max_num_seqs": 64,
    }


@pytest.mark.parametrize("fixture", ["hf_llama", "hf_gpt2"])
def test_loglikelihood_equals_the_hf_providers(fixture: str, request: Any, fake_vllm: Any) -> None:
    """HFLM's tokens (trailing spaces, empty and eos-led contexts), scored by prompt logprobs."""
    folder = request.getfixturevalue(fixture)
    reference = _run(hf_provider(folder, batch_size=3), "loglikelihood", LOGLIK_PAIRS)
    ours = _run(_vllm(folder, batch_size=3), "loglikelihood", LOGLIK_PAIRS)
    assert [v for v, _ in ours] == pytest.approx([v for v, _ in reference], abs=1e-4)
    assert [g for _, g in ours] == [g for _, g in reference]
    params = {id(p): p for call in fake_vllm.LLM.built[0].calls for _, p in call}.values()
    assert {(p.max_tokens, p.prompt_logprobs, p.temperature, p.detokenize) for p in params} == {
        (1, 1, 0.0, False)
    }


def test_truncation_and_rolling_windows_as_the_hf_providers(hf_gpt2: Path) -> None:
    """max_model_len 18 leaves windows of 16 tokens (vLLM generates one more)."""
    pairs = [(" ".join(SENTENCES), " The end."), (" ".join(QUESTIONS), " Rome?")]
    texts = [" ".join(SENTENCES), QUESTIONS[4], " ".join(QUESTIONS * 2)]
    for method, args in (("loglikelihood", pairs), ("loglikelihood_rolling", texts)):
        reference = _run(hf_provider(hf_gpt2, max_length=16), method, args)
        ours = _run(_vllm(hf_gpt2, max_model_len=18), method, args)
        if method == "loglikelihood":
            assert [v for v, _ in ours] == pytest.approx([v for v, _ in reference], abs=1e-4)
        else:
            assert [(s.tokens, s.windows) for s in ours] == [
                (s.tokens, s.windows) for s in reference
            ]
            assert [s.loglikelihood for s in ours] == pytest.approx(
                [s.loglikelihood for s in reference], abs=1e-4
            )
            assert ours[0].windows > 2


def test_identity_names_the_weights_and_the_settings_that_change_outputs(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _vllm(hf_llama).identity()
    assert plain == {
        "type": "vllm",
        "model": str(hf_llama),
        "revision": hf_provider(hf_llama).identity()["revision"],
    }
    assert _vllm(hf_llama, tensor_parallel_size=4, gpu_memory_utilization=0.5).identity() == plain
    changed = _vllm(
        hf_llama, chat_template=False, dtype="fp16", engine_args={"kv_cache_dtype": "fp8"}
    ).identity()
    assert changed == plain | {
        "chat_template": "off",
        "dtype": "float16",
        "engine_args": '{"kv_cache_dtype": "fp8"}',
    }
    # A hub id: the commit of its snapshot in the local hub cache, once it is there.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    assert _vllm("org/model").identity()["revision"] == "unpinned"
    snapshot = tmp_path / "hub" / "models--org--model" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--org--model" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--model" / "refs" / "main").write_text("abc123")
    assert _vllm("org/model").identity() == {
        "type": "vllm",
        "model": "org/model",
        "revision": "abc123",
    }


def test_suite_paths_are_from_the_suite_folder_and_hub_ids_stay_names(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "ckpt").symlink_to(hf_llama, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    config = VLLMProviderConfig(type="vllm", id="v", model="ckpt")
    assert create_provider(config, tmp_path / "suites").path == str(hf_llama.resolve())
    hub = VLLMProviderConfig(type="vllm", id="h", model="Qwen/Qwen2.5-0.5B-Instruct")
    assert create_provider(hub, tmp_path).path == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(SuiteKeyError, match=r"neither a folder .* nor a hub id") as raised:
        create_provider(VLLMProviderConfig(type="vllm", id="m", model="./gone"), tmp_path)
    assert raised.value.key == ("model",)
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(SuiteKeyError, match="GGUF"):
        create_provider(VLLMProviderConfig(type="vllm", id="g", model="m.gguf"), tmp_path)


def test_bad_settings_fail_when_the_suite_loads_or_is_checked(hf_llama: Path) -> None:
    with pytest.raises(ValueError, match="set dtype as a key of the provider"):
        VLLMProviderConfig(type="vllm", id="v", model="m", engine_args={"dtype": "half"})
    with pytest.raises(ValueError, match="less than or equal to 1"):
        VLLMProviderConfig(type="vllm", id="v", model="m", gpu_memory_utilization=1.5)
    with pytest.raises(PermanentProviderError, match="unknown dtype 'float8'"):
        _vllm(hf_llama, dtype="float8").check()


def test_an_engine_that_cannot_load_fails_every_request_with_its_error(hf_llama: Path) -> None:
    provider = _vllm(hf_llama, engine_args={"no_such_engine_arg": 1})

    async def go() -> list[Any]:
        try:
            requests = [_request(q, max_tokens=2) for q in QUESTIONS[:2]]
            first = await asyncio.gather(*map(provider.generate, requests), return_exceptions=True)
            later = await asyncio.gather(
                provider.loglikelihood(LOGLIK_PAIRS[:1]), return_exceptions=True
            )
            return first + later
        finally:
            await provider.aclose()

    errors = asyncio.run(go())
    assert all(isinstance(e, PermanentProviderError) for e in errors)
    assert all(f"vllm cannot load {hf_llama}" in str(e) for e in errors)


def _suite(folder: Path, model: Path) -> Path:
    suite = {
        "name": "gpu",
        "prompts": [{"id": "v1", "template": "{{ q }}"}],
        "providers": [
            {"id": "big", "type": "vllm", "model": str(model), "params": {"max_tokens": 3}}
        ],
        "cases": [{"vars": {"q": q}, "expected": "hi"} for q in QUESTIONS[:3]],
        "defaults": {"assert": [{"type": "exact"}]},
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_a_suite_runs_on_it_and_a_rerun_comes_from_the_cache(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_vllm: Any
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = _suite(tmp_path, hf_llama)
    assert main(["run", str(path)]) == 0
    [llm] = fake_vllm.LLM.built
    assert sum(len(call) for call in llm.calls) == 3
    assert main(["run", str(path)]) == 0
    assert len(fake_vllm.LLM.built) == 1  # every answer cached: no engine loaded


def test_without_vllm_a_suite_with_a_vllm_provider_names_the_install_command(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = _suite(tmp_path, hf_llama)
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vllm were not installed
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: vllm provider 'big' needs the 'vllm' extra (vllm not installed): "
        "pip install -e '.[vllm]' (harness[vllm]) on a machine with a CUDA GPU"
    ]


def test_aclose_ends_every_waiting_request(hf_llama: Path) -> None:
    async def go() -> list[Any]:
        provider = _vllm(hf_llama, batch_size=1)
        tasks = [asyncio.create_task(provider.generate(_request(q))) for q in QUESTIONS]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)  # the next is running
        await provider.aclose()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)

    results = asyncio.run(go())
    assert results[0].completion_tokens == 128  # no max_tokens: the hf provider's default
    closed = [r for r in results if isinstance(r, PermanentProviderError)]
    assert closed and all("closed" in str(r) for r in closed)
