"""End to end on a tiny random Llama: our per-subject figures equal what
``lm_eval.simple_evaluate`` gives when this test calls it itself, on task configs it
writes on its own (rows read by pandas, prompts written out by hand)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.bench import BenchConfig, BenchResult, run_bench

SHOTS = 2
LIMIT = 5
OWN = ["mmlu:abstract_algebra", "ceval:computer_network", "cmmlu:chinese_history"]
#: Real rows, when ../shared/datasets is there: quoted newlines, CRLF, Kangxi radicals.
SHARED = ["mmlu:college_computer_science", "ceval:high_school_physics", "cmmlu:computer_science"]
#: The task descriptions of lm-eval 0.4's mmlu, ceval-valid and cmmlu tasks, written out.
DESCRIPTIONS = {
    "mmlu:abstract_algebra": "The following are multiple choice questions (with answers) "
    "about abstract algebra.\n\n",
    "mmlu:college_computer_science": "The following are multiple choice questions (with "
    "answers) about college computer science.\n\n",
    "ceval:computer_network": "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。\n\n",
    "ceval:high_school_physics": "以下是中国关于高中物理的单项选择题，请选出其中的正确答案。\n\n",
    "cmmlu:chinese_history": "以下是关于中国历史的单项选择题，请直接给出正确答案的选项。\n\n",
    "cmmlu:computer_science": "以下是关于计算机科学的单项选择题，请直接给出正确答案的选项。\n\n",
}
#: The metric_list of lm-eval 0.4's tasks: acc_norm in ceval-valid and cmmlu, not in mmlu.
_ACC = {"metric": "acc", "aggregation": "mean", "higher_is_better": True}
_ACC_NORM = {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}
METRICS = {"mmlu": [_ACC], "ceval": [_ACC, _ACC_NORM], "cmmlu": [_ACC, _ACC_NORM]}
FILES = {
    "mmlu": ("mmlu/test/{s}_test.csv", "mmlu/dev/{s}_dev.csv"),
    "ceval": ("ceval/val/{s}_val.csv", "ceval/dev/{s}_dev.csv"),
    "cmmlu": ("cmmlu/test/{s}.csv", "cmmlu/dev/{s}.csv"),
}


@pytest.fixture(scope="module")
def data(dialect_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The dialect folder, plus three real subjects when the shared datasets are there."""
    root = tmp_path_factory.mktemp("run-data")
    shutil.copytree(dialect_data, root, dirs_exist_ok=True)
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
    keys = list(OWN)
    if shared.is_dir():
        for key in SHARED:
            benchmark, subject = key.split(":")
            for pattern in FILES[benchmark]:
                target = root / pattern.format(s=subject)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(shared / pattern.format(s=subject), target)
            keys.append(key)
    return root, keys


@pytest.fixture(scope="module")
def forward_rows() -> dict[str, int]:
    """Rows our run scored on a cached few-shot prefix, and in full."""
    return {"cached": 0, "full": 0}


@pytest.fixture(scope="module")
def ours(
    tiny_model: Path, data: tuple[Path, list[str]], forward_rows: dict[str, int]
) -> BenchResult:
    from harness.providers.hf_loglik import LoglikelihoodScorer

    forward = LoglikelihoodScorer._forward

    def counted(self: LoglikelihoodScorer, wanted: Any, prefix: Any = None) -> Any:
        forward_rows["full" if prefix is None else "cached"] += len(wanted)
        return forward(self, wanted, prefix)

    root, keys = data
    config = BenchConfig(tasks=",".join(keys), data=root, shots=SHOTS, limit=LIMIT, batch_size=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LoglikelihoodScorer, "_forward", counted)
        return run_bench(str(tiny_model), config)


def test_every_question_ran_on_its_subjects_cached_shots(
    ours: BenchResult, forward_rows: dict[str, int]
) -> None:
    """So the comparisons with lm-eval below check the cached path (one row a question:
    the four letters are one token each)."""
    assert forward_rows == {"cached": sum(s.n for s in ours.subjects), "full": 0}


def _pandas_rows(path: Path, benchmark: str) -> list[dict[str, str]]:
    """An independent reader: pandas with every value a string and no NaN guessing."""
    frame = pd.read_csv(
        path,
        header=None if benchmark == "mmlu" else 0,
        dtype=str,
        keep_default_na=False,
        index_col=False,
    )
    if benchmark == "mmlu":
        frame.columns = ["question", "A", "B", "C", "D", "answer"]
    frame = frame.rename(columns={"Question": "question", "Answer": "answer"})
    return [
        {k: r[k] for k in ("question", "A", "B", "C", "D", "answer")}
        for r in frame.to_dict("records")
    ]


@pytest.fixture(scope="module")
def reference(
    tiny_model: Path, data: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """lm-eval run directly on task configs written here, the way lm-eval's own are."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    root, keys = data
    work = tmp_path_factory.mktemp("reference")
    names = []
    for key in keys:
        benchmark, subject = key.split(":")
        files = {}
        for split, pattern in zip(("test", "dev"), FILES[benchmark], strict=True):
            rows = _pandas_rows(root / pattern.format(s=subject), benchmark)
            files[split] = str(work / f"{benchmark}-{subject}-{split}.jsonl")
            Path(files[split]).write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
            )
        answer = "Answer:" if benchmark == "mmlu" else "答案："
        name = f"ref_{benchmark}_{subject}"
        config = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files, "cache_dir": str(work / "cache")},
            "test_split": "test",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "output_type": "multiple_choice",
            "description": DESCRIPTIONS[key],
            "doc_to_text": "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n"
            + answer,
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "{{['A', 'B', 'C', 'D'].index(answer)}}",
            "metric_list": METRICS[benchmark],
        }
        (work / f"{name}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        names.append(name)
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model},dtype=float32",
        device="cpu",
        tasks=names,
        num_fewshot=SHOTS,
        batch_size=4,
        limit=LIMIT,
        log_samples=True,
        task_manager=TaskManager(include_path=str(work), include_defaults=False),
    )


def test_per_subject_accuracy_equals_lm_eval_called_directly(
    ours: BenchResult, reference: dict
) -> None:
    for s in ours.subjects:
        name = f"ref_{s.benchmark}_{s.subject}"
        ref = reference["results"][name]
        assert s.acc == pytest.approx(ref["acc,none"]), s.key
        assert s.acc_stderr == pytest.approx(ref["acc_stderr,none"]), s.key
        if s.benchmark == "mmlu":
            assert s.acc_norm is None and "acc_norm,none" not in ref
        else:
            assert s.acc_norm == pytest.approx(ref["acc_norm,none"]), s.key
            assert s.acc_norm_stderr == pytest.approx(ref["acc_norm_stderr,none"]), s.key
        samples = sorted(reference["samples"][name], key=lambda x: x["doc_id"])
        assert [q.doc_id for q in s.questions] == [x["doc_id"] for x in samples]
        for q, x in zip(s.questions, samples, strict=True):
            assert q.correct == bool(x["acc"]), (s.key, q.row_id)
            assert q.correct_norm == (bool(x["acc_norm"]) if "acc_norm" in x else None)
            logliks = [r[0] for r in x["filtered_resps"]]
            assert np.allclose(q.logliks, logliks, rtol=1e-5, atol=1e-5), (s.key, q.row_id)
            assert q.question == x["doc"]["question"] and q.answer == x["doc"]["answer"]


def test_the_prompts_are_the_papers_formats(reference: dict) -> None:
    """The reference prompts (ours give the same loglikelihoods) for the first question."""
    first = sorted(reference["samples"]["ref_ceval_computer_network"], key=lambda x: x["doc_id"])[0]
    context, continuation = first["arguments"][0]
    assert continuation == " A"
    assert context == (
        "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。\n\n"
        "开发题0\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案： A\n\n"
        "开发题1\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案： B\n\n"
        "在802.3标准中，发送帧之前需要____\n"
        "A. 等待冲突\nB. 等待令牌\nC. 监听介质\nD. 接受一个帧\n答案："
    )
    first = sorted(reference["samples"]["ref_mmlu_abstract_algebra"], key=lambda x: x["doc_id"])[0]
    assert first["arguments"][0][0].endswith(
        "Dev two?\nA. a\nB. b\nC. c\nD. d\nAnswer: B\n\n"
        "What is 1/2 as a decimal?\nA. 0.50\nB. NA\nC. 007\nD.  2 \nAnswer:"
    )


def test_aggregates_and_calibration(ours: BenchResult) -> None:
    from lm_eval.api.metrics import mean_stderr

    accs = [s.acc for s in ours.subjects]
    flags = [q.correct for s in ours.subjects for q in s.questions]
    assert ours.macro_acc == pytest.approx(np.mean(accs))
    assert ours.micro_acc == pytest.approx(np.mean(flags))
    assert ours.micro_stderr == pytest.approx(mean_stderr([float(f) for f in flags]))
    errs = [s.acc_stderr for s in ours.subjects]
    assert ours.macro_stderr == pytest.approx(math.sqrt(sum(e * e for e in errs)) / len(errs))
    assert ours.calibration.n == len(flags) == sum(s.n for s in ours.subjects)
    for s in ours.subjects:
        assert s.n == min(LIMIT, s.n) and s.n_shots == SHOTS
        for q in s.questions:
            assert math.isclose(sum(q.probs), 1.0, rel_tol=1e-9)
            assert q.pred == "ABCD"[int(np.argmax(q.probs))]
        assert 0 <= s.calibration.ece <= 1 and 0 <= s.calibration.brier <= 2
    assert ours.subject("mmlu:abstract_algebra").n == LIMIT  # 6 rows, cut to the limit
    assert ours.subject("cmmlu:chinese_history").n == 4
    assert any("--limit 5" in n for n in ours.notes)
    assert ours.model.dtype == "float32" and ours.model.device == "cpu"


@pytest.mark.slow
def test_acc_norm_averages_where_every_subject_has_it(
    ours: BenchResult, tiny_model: Path, dialect_data: Path
) -> None:
    """With an MMLU subject (no acc_norm) there is no acc_norm average; over C-Eval and
    CMMLU subjects it is averaged as acc is (the per-subject figures are lm-eval's, above)."""
    from lm_eval.api.metrics import mean_stderr

    assert ours.macro_acc_norm is None and ours.micro_acc_norm is None
    config = BenchConfig("ceval:computer_network,cmmlu:chinese_history", dialect_data, shots=1)
    result = run_bench(str(tiny_model), config)
    norms = [s.acc_norm for s in result.subjects]
    flags = [float(q.correct_norm) for s in result.subjects for q in s.questions]
    errs = [s.acc_norm_stderr for s in result.subjects]
    assert result.macro_acc_norm == pytest.approx(np.mean(norms))
    assert result.macro_acc_norm_stderr == pytest.approx(math.sqrt(sum(e * e for e in errs)) / 2)
    assert result.micro_acc_norm == pytest.approx(np.mean(flags))
    assert result.micro_acc_norm_stderr == pytest.approx(mean_stderr(flags))


def test_text_reaches_lm_eval_unchanged(ours: BenchResult) -> None:
    """The run checks every logged doc against our row; the results carry the text."""
    mmlu = ours.subject("mmlu:abstract_algebra")
    assert mmlu.questions[0].options == ["0.50", "NA", "007", " 2 "]
    assert "\u2f00" in ours.subject("cmmlu:chinese_history").questions[0].question
    assert ours.subject("ceval:computer_network").questions[2].question.startswith("第一行\r\n")


def test_result_round_trips_through_json(ours: BenchResult) -> None:
    again = BenchResult.model_validate_json(ours.model_dump_json())
    assert again == ours


def test_nothing_is_written_under_the_home_cache(ours: BenchResult) -> None:
    """The datasets cache is the work folder's (and HF_DATASETS_CACHE a temp folder)."""
    del ours  # (the run happened)
    assert not (Path.home() / ".cache" / "huggingface" / "datasets" / "json").exists()


def test_a_suite_models_bad_dtype_is_a_bench_error(tiny_model: Path, dialect_data: Path) -> None:
    """A suite's provider is not checked by --dtype: its own dtype fails cleanly too."""
    from harness.errors import BenchError
    from harness.suite.schema import HFProviderConfig

    model = HFProviderConfig(type="hf", id="m", model=str(tiny_model), dtype="float8")
    with pytest.raises(BenchError, match=r"model 'm'.*unknown dtype 'float8'"):
        run_bench(model, BenchConfig("mmlu:abstract_algebra", dialect_data, shots=0, limit=1))
