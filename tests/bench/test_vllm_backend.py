"""``harness bench --model vllm:MODEL``: lm-eval's own ``vllm`` model
(``lm_eval.models.vllm_causallms.VLLM``) scores, with ``--model-args`` as its engine settings,
here on the stand-in for vLLM (tests/providers/fake_vllm.py) over the tiny model: the same
verdicts and loglikelihoods as the ``hf`` run of that model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.providers import fake_vllm as stand_in

TASKS = "mmlu:abstract_algebra,ceval:computer_network"
fake_vllm = stand_in.fake_vllm


def _bench(data: Path, tmp_path: Path, name: str, *options: str) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    argv = ["bench", *options, "--tasks", TASKS, "--data", str(data), "--shots", "1"]
    assert main([*argv, "--json", str(out), "-o", str(tmp_path / f"{name}.html")]) == 0
    return json.loads(out.read_text("utf-8"))["result"]


@pytest.mark.slow
def test_lm_evals_vllm_model_scores_as_the_hf_run(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, fake_vllm: Any
) -> None:
    settings = "tensor_parallel_size=2, gpu_memory_utilization=0.5,max_model_len=2048"
    ours = _bench(
        dialect_data,
        tmp_path,
        "vllm",
        *("--model", f"vllm:{tiny_model}", "--model-args", f"{settings},enforce_eager=true"),
    )
    local = _bench(dialect_data, tmp_path, "hf", "--model", str(tiny_model))

    [llm] = fake_vllm.LLM.built
    assert {k: llm.kwargs[k] for k in ("model", "tensor_parallel_size", "max_model_len")} == {
        "model": str(tiny_model),
        "tensor_parallel_size": 2,
        "max_model_len": 2048,
    }
    assert (llm.kwargs["gpu_memory_utilization"], llm.kwargs["enforce_eager"]) == (0.5, True)
    assert llm.kwargs["seed"] == 1234  # lm-eval's default: its VLLM built the engine
    params = [p for call in llm.calls for _, p in call]
    assert {(p.max_tokens, p.prompt_logprobs, p.temperature, p.detokenize) for p in params} == {
        (1, 1, 0, False)
    }
    assert ours["model"]["fingerprint"] == local["model"]["fingerprint"]
    assert ours["model"]["device"] == "vllm, tensor_parallel_size 2"
    assert ours["mode"] == "loglikelihood" and ours["micro_acc"] == local["micro_acc"]
    for mine, theirs in zip(ours["subjects"], local["subjects"], strict=True):
        assert (mine["task"], mine["acc"], mine["acc_norm"]) == (
            theirs["task"],
            theirs["acc"],
            theirs["acc_norm"],
        )
        assert [(q["pred"], q["correct"]) for q in mine["questions"]] == [
            (q["pred"], q["correct"]) for q in theirs["questions"]
        ]
        for q, ref in zip(mine["questions"], theirs["questions"], strict=True):
            assert q["logliks"] == pytest.approx(ref["logliks"], abs=1e-4)


def test_generate_mode_asks_the_vllm_provider(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, fake_vllm: Any
) -> None:
    """Answers read from text come from the ``vllm`` provider's batched generate."""
    out = tmp_path / "gen.json"
    argv = ["bench", "--model", f"vllm:{tiny_model}", "--mode", "generate", "--max-tokens", "3"]
    argv += ["--tasks", "mmlu:abstract_algebra", "--data", str(dialect_data), "--shots", "0"]
    assert main([*argv, "--json", str(out), "-o", str(tmp_path / "gen.html")]) == 0
    [subject] = json.loads(out.read_text("utf-8"))["result"]["subjects"]
    assert all(q["output"] is not None for q in subject["questions"])
    [llm] = fake_vllm.LLM.built
    params = [p for call in llm.calls for _, p in call]
    assert len(params) == len(subject["questions"]) and len(llm.calls) < len(params)
    assert {(p.max_tokens, p.temperature) for p in params} == {(3, 0)}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--model-args", "tensor_parallel_size"],
            "expected KEY=VALUE, got 'tensor_parallel_size'",
        ),
        (["--model-args", "gpu_memory_utilization=2"], "gpu_memory_utilization input should be"),
        (["--mode", "logprobs"], "--mode logprobs is for OpenAI-compatible APIs"),
        (["--model-args", "no_such_arg=1"], "unexpected keyword argument 'no_such_arg'"),
        (["--model-args", "model=other"], "model is set by --model vllm:MODEL"),
        (["--workers", "2"], "--workers is for local hf models"),
    ],
)
def test_bad_vllm_options_are_one_line(
    options: list[str],
    message: str,
    tiny_model: Path,
    dialect_data: Path,
    fake_vllm: Any,
    capsys: pytest.CaptureFixture,
) -> None:
    argv = ["bench", "--model", f"vllm:{tiny_model}", *options, "--tasks", "mmlu"]
    assert main([*argv, "--data", str(dialect_data)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not fake_vllm.LLM.built


def test_model_args_are_for_vllm_models(
    tiny_model: Path, dialect_data: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["bench", "--model", str(tiny_model), "--model-args", "seed=1", "--tasks", "mmlu"]
    assert main([*argv, "--data", str(dialect_data)]) == 2
    assert "--model-args applies to a vllm:... model" in capsys.readouterr().err


def test_without_vllm_bench_names_the_install_command(
    tiny_model: Path, dialect_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vllm were not installed
    argv = ["bench", "--model", f"vllm:{tiny_model}", "--tasks", "mmlu:abstract_algebra"]
    assert main([*argv, "--data", str(dialect_data)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: vllm provider 'vllm:{tiny_model}' needs the 'vllm' extra (vllm not installed): "
        "pip install -e '.[vllm]' (harness[vllm]) on a machine with a CUDA GPU"
    ]
