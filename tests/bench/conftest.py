"""Fixtures of the benchmark tests: an offline environment, a tiny random Llama with a
tokenizer trained here, and data folders in the three official CSV dialects."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench.helpers import write_dialect_folder

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

#: Training text of the tokenizer: the prompts' fixed words, the letters and Chinese.
_CORPUS = [
    "The following are multiple choice questions (with answers) about abstract algebra.",
    "Answer: A\n\nAnswer: B\n\nAnswer: C\n\nAnswer: D\n\nA. B. C. D. Answer:",
    "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。",
    "答案： A 答案： B 答案： C 答案： D",
    "以下是关于中国历史的单项选择题，请直接给出正确答案的选项。",
    "下列 哪个 是 的 正确 选项 中国 历史 计算机 网络 协议 数据 传输 ⼀ ⼆ ⼈",
    "Find the group ring field element order subgroup statement true false",
]


@pytest.fixture(scope="session", autouse=True)
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No hub, and every cache (datasets, harness, dequantised models) in a temp folder.

    Set before anything imports `datasets` (it reads HF_DATASETS_CACHE once, on import).
    """
    home = tmp_path_factory.mktemp("harness-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("HF_DATASETS_CACHE", str(home / "hf-datasets"))
        mp.setenv("HARNESS_HOME", str(home))
        mp.setenv("HARNESS_CACHE_DIR", str(home / "cache"))
        mp.setenv("TOKENIZERS_PARALLELISM", "false")
        yield


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, hidden-32 random Llama and a byte-level BPE tokenizer trained here."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    for letter in "ABCD":  # the letters and Chinese text tokenize without <unk>
        assert tokenizer.unk_token_id not in tokenizer(f"答案： {letter}")["input_ids"]
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    folder.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("lm_eval")
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def dialect_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with one subject per benchmark, written in each official dialect."""
    return write_dialect_folder(tmp_path_factory.mktemp("bench-data"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    return SHARED
