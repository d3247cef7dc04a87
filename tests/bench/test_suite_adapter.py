"""A LoRA adapter on a local model (loaded offline with peft, equal to lm-eval's own PEFT
loading), and a suite's ``benchmarks:`` section run by ``harness run`` into the results
store, where ``harness runs``, ``export`` and ``compare`` read it."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path

import pytest
import yaml

from harness.bench import BenchConfig, run_bench
from harness.cli import main
from harness.errors import PermanentProviderError
from harness.providers.hf_local import HFProvider
from harness.results.store import ResultStore
from harness.suite.loader import load_suite
from harness.suite.schema import HFProviderConfig

PAIRS = [("Answer:", " A"), ("以下是中国关于计算机网络的单项选择题", "，请选出其中的正确答案。")]
TASKS = "mmlu:abstract_algebra,ceval:computer_network"


@pytest.fixture(scope="module")
def adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with random (not zero) weights, so it changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    folder = tmp_path_factory.mktemp("lora")
    with warnings.catch_warnings():  # peft reads a property transformers 5 deprecates
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        get_peft_model(base, config).save_pretrained(folder)
    return folder


def _loglik(model: Path, adapter: Path | None) -> list[float]:
    config = HFProviderConfig(
        type="hf", id="m", model=str(model), adapter=str(adapter) if adapter else None
    )
    provider = HFProvider(config)

    async def go() -> list[tuple[float, bool]]:
        try:
            return await provider.loglikelihood(PAIRS)
        finally:
            await provider.aclose()

    return [v for v, _ in asyncio.run(go())]


def test_adapter_equals_lm_eval_peft_loading(tiny_model: Path, adapter: Path) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        lm = HFLM(pretrained=str(tiny_model), peft=str(adapter), device="cpu", dtype="float32")
    requests = [Instance("loglikelihood", {}, p, i) for i, p in enumerate(PAIRS)]
    reference = [v for v, _ in lm.loglikelihood(requests, disable_tqdm=True)]
    tuned = _loglik(tiny_model, adapter)
    assert tuned == pytest.approx(reference, abs=1e-4)
    assert tuned != pytest.approx(_loglik(tiny_model, None), abs=1e-3)  # it does change them


def test_adapter_changes_identity_and_bad_adapters_are_clear(
    tiny_model: Path, adapter: Path, tmp_path: Path
) -> None:
    plain = HFProvider(HFProviderConfig(type="hf", id="m", model=str(tiny_model)))
    tuned = HFProvider(
        HFProviderConfig(type="hf", id="m", model=str(tiny_model), adapter=str(adapter))
    )
    assert tuned.identity()["revision"] != plain.identity()["revision"]
    assert tuned.identity()["adapter"] == str(adapter)
    bad = HFProvider(
        HFProviderConfig(type="hf", id="m", model=str(tiny_model), adapter=str(tmp_path))
    )
    with pytest.raises(PermanentProviderError, match="not a PEFT adapter folder"):
        bad.check()


def test_bench_cli_takes_an_adapter(
    tiny_model: Path, adapter: Path, dialect_data: Path, tmp_path: Path
) -> None:
    js = tmp_path / "r.json"
    argv = ["bench", "--model", str(tiny_model), "--adapter", str(adapter), "--tasks", TASKS]
    argv += ["--data", str(dialect_data), "--shots", "0", "--json", str(js)]
    assert main([*argv, "-o", str(tmp_path / "r.html")]) == 0
    result = json.loads(js.read_text("utf-8"))["result"]
    assert result["model"]["name"].endswith(f" + {adapter}")
    plain = run_bench(str(tiny_model), BenchConfig(TASKS, dialect_data, shots=0))
    logliks = [q["logliks"] for s in result["subjects"] for q in s["questions"]]
    assert logliks != [q.logliks for s in plain.subjects for q in s.questions]


def _suite(folder: Path, tiny_model: Path, adapter: Path, data: Path) -> Path:
    suite = {
        "name": "bench-only",
        "providers": [
            {"id": "base", "type": "hf", "model": str(tiny_model)},
            {"id": "lora", "type": "hf", "model": str(tiny_model), "adapter": str(adapter)},
        ],
        "benchmarks": [
            {
                "tasks": TASKS,
                "data": str(data),
                "shots": 1,
                "compare_to": "base",
                "report": "b.html",
            }
        ],
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, allow_unicode=True), "utf-8")
    return path


@pytest.mark.slow
def test_a_suite_of_only_benchmarks_runs_into_the_store(
    tiny_model: Path,
    adapter: Path,
    dialect_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = _suite(tmp_path, tiny_model, adapter, dialect_data)
    assert load_suite(path).suite.prompts == []
    assert main(["run", str(path)]) == 0
    assert "wrong → right" in capsys.readouterr().out
    assert (tmp_path / "b.html").is_file()
    store = ResultStore(tmp_path / "home" / "results.db")
    [run] = store.list_runs()
    results = store.results(run.run_id)
    assert {r.provider_id for r in results} == {"base", "lora"}
    assert run.n_cases == len(results) == 2 * (6 + 5)
    expected = run_bench(str(tiny_model), BenchConfig(TASKS, dialect_data, shots=1))
    base = {r.row_id: r for r in results if r.provider_id == "base"}
    for s in expected.subjects:
        for q in s.questions:
            stored = base[f"{s.key}/{q.row_id}"]
            assert stored.passed == q.correct and stored.scores[0].answer == q.pred
            assert stored.tags == [s.benchmark, s.key] and stored.expected == [q.answer]
    store.close()
    assert main(["runs"]) == 0
    assert run.run_id in capsys.readouterr().out
    assert main(["export", run.run_id, "--format", "jsonl", "-o", str(tmp_path / "e.jsonl")]) == 0
    assert len((tmp_path / "e.jsonl").read_text("utf-8").splitlines()) == len(results)
    html = tmp_path / "cmp.html"
    assert main(["compare", run.run_id, "--providers", "base", "-o", str(html)]) == 0
    assert "acc" in capsys.readouterr().out and html.is_file()


def test_benchmarks_name_known_providers(tmp_path: Path) -> None:
    from harness.errors import SuiteError

    path = tmp_path / "s.yaml"
    suite = {
        "name": "x",
        "providers": [{"id": "a", "type": "hf", "model": "m"}],
        "benchmarks": [{"tasks": "mmlu", "data": ".", "providers": ["b"]}],
    }
    path.write_text(yaml.safe_dump(suite), "utf-8")
    with pytest.raises(SuiteError, match="unknown provider 'b'"):
        load_suite(path)
    suite = {"name": "x", "providers": [{"id": "a", "type": "hf", "model": "m"}]}
    path.write_text(yaml.safe_dump(suite), "utf-8")
    with pytest.raises(SuiteError, match="'bad_cases' or 'benchmarks'"):
        load_suite(path)
