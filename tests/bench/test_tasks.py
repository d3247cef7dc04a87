"""The lm-eval task folder: normalised JSONL, and YAMLs that mirror lm-eval's own tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.bench.layouts import parse_tasks, read_rows
from harness.bench.tasks import DOC_TO_TEXT, METRICS, TaskDir, description, write_tasks
from harness.errors import BenchError

lm_eval = pytest.importorskip("lm_eval")
LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"

ALL3 = "mmlu:abstract_algebra,ceval:computer_network,cmmlu:chinese_history"


def _write(
    data: Path, root: Path, tasks: str = ALL3, shots: int = 5, limit: int | None = None
) -> TaskDir:
    return write_tasks(parse_tasks(tasks, data, need_dev=shots > 0), root, shots=shots, limit=limit)


def test_doc_to_text_and_metrics_are_lm_evals_with_our_column_names() -> None:
    """lm-eval's templates read HF columns (choices[i], Question); ours read A-D, question.
    The metrics are theirs too: acc, plus acc_norm for C-Eval and CMMLU."""
    sources = {
        "mmlu": "mmlu/default/_default_template_yaml",
        "ceval": "ceval/_default_ceval_yaml",
        "cmmlu": "cmmlu/_default_template_yaml",
    }
    for benchmark, path in sources.items():
        theirs = yaml.safe_load((LM_EVAL_TASKS / path).read_text(encoding="utf-8"))
        text = theirs["doc_to_text"]
        for i, letter in enumerate("ABCD"):
            text = text.replace(f"{{{{choices[{i}]}}}}", f"{{{{{letter}}}}}")
        text = text.replace("Question.strip()", "question.strip()")
        assert DOC_TO_TEXT[benchmark] == text, benchmark
        assert theirs["doc_to_choice"] == ["A", "B", "C", "D"]
        assert theirs["fewshot_config"] == {"sampler": "first_n"}
        assert METRICS[benchmark] == theirs["metric_list"], benchmark


def test_descriptions_are_lm_evals_including_chinese_subject_names() -> None:
    assert description("mmlu", "abstract_algebra") == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n",
        "lm-eval",
    )
    assert description("ceval", "computer_network") == (
        "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。\n\n",
        "lm-eval",
    )
    assert description("cmmlu", "chinese_history") == (
        "以下是关于中国历史的单项选择题，请直接给出正确答案的选项。\n\n",
        "lm-eval",
    )
    assert description("mmlu", "toy_subject") == (
        "The following are multiple choice questions (with answers) about toy subject.\n\n",
        "fallback",
    )


def test_task_yaml_and_jsonl(dialect_data: Path, tmp_path: Path) -> None:
    task_dir = _write(dialect_data, tmp_path)
    assert task_dir.names == [
        "bench_mmlu_abstract_algebra",
        "bench_ceval_computer_network",
        "bench_cmmlu_chinese_history",
    ]
    config = yaml.safe_load(
        (task_dir.include_path / "bench_ceval_computer_network.yaml").read_text("utf-8")
    )
    assert (
        config["description"] == "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。\n\n"
    )
    assert config["doc_to_text"].endswith("\n答案：")
    assert config["output_type"] == "multiple_choice"
    assert config["doc_to_choice"] == ["A", "B", "C", "D"]
    assert config["fewshot_split"] == "dev" and config["test_split"] == "test"
    assert [m["metric"] for m in config["metric_list"]] == ["acc", "acc_norm"]
    files = config["dataset_kwargs"]["data_files"]
    assert config["dataset_kwargs"]["cache_dir"] == str(tmp_path / "hf-datasets")
    records = [json.loads(line) for line in Path(files["test"]).read_text("utf-8").splitlines()]
    rows = read_rows(dialect_data / "ceval/val/computer_network_val.csv")
    assert records == [r.record() for r in rows]
    assert records[2]["question"].startswith("第一行\r\n")
    assert [
        json.loads(x)["answer"] for x in Path(files["dev"]).read_text("utf-8").splitlines()
    ] == list("ABCDA")


def test_the_datasets_json_loader_reads_every_value_back_unchanged(
    dialect_data: Path, tmp_path: Path
) -> None:
    """What lm-eval loads is our text exactly: no "0.50" -> 0.5, "NA" -> NaN, trimming."""
    datasets = pytest.importorskip("datasets")
    task_dir = _write(dialect_data, tmp_path, "mmlu:abstract_algebra,cmmlu:chinese_history")
    for task in task_dir.tasks:
        config = yaml.safe_load((task_dir.include_path / f"{task.name}.yaml").read_text("utf-8"))
        loaded = datasets.load_dataset("json", **config["dataset_kwargs"])
        assert list(loaded["test"]) == [r.record() for r in task.rows]
    assert task_dir.tasks[0].rows[0].options == ("0.50", "NA", "007", " 2 ")
    assert "\u2f00" in task_dir.tasks[1].rows[0].question


def test_limit_zero_shots_and_fallback_descriptions(dialect_data: Path, tmp_path: Path) -> None:
    task_dir = _write(dialect_data, tmp_path, "mmlu:toy_subject", shots=0, limit=2)
    (task,) = task_dir.tasks
    assert len(task.rows) == 2 and task.n_dev == 0 and task.description_source == "fallback"
    config = yaml.safe_load((task_dir.include_path / f"{task.name}.yaml").read_text("utf-8"))
    assert "fewshot_split" not in config and "dev" not in config["dataset_kwargs"]["data_files"]


def test_more_shots_than_dev_rows_or_bad_numbers(dialect_data: Path, tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"--shots 6 but mmlu:abstract_algebra has 5 dev rows"):
        _write(dialect_data, tmp_path, "mmlu:abstract_algebra", shots=6)
    with pytest.raises(BenchError, match="--limit must be 1 or more"):
        _write(dialect_data, tmp_path, "mmlu:abstract_algebra", limit=0)


def test_a_relative_work_dir_runs_with_lm_eval_from_another_directory(
    dialect_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness bench --work-dir work --data data` from one folder; plain lm-eval from another."""
    from lm_eval.tasks import TaskManager

    pytest.importorskip("datasets")
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "here" / "data").symlink_to(dialect_data, target_is_directory=True)
    monkeypatch.chdir(tmp_path / "here")
    task_dir = _write(Path("data"), Path("work"), "cmmlu:chinese_history", shots=1)
    monkeypatch.chdir(tmp_path / "elsewhere")
    manager = TaskManager(include_path=str(tmp_path / "here/work/tasks"), include_defaults=False)
    task = manager.load(["bench_cmmlu_chinese_history"])["tasks"]["bench_cmmlu_chinese_history"]
    assert list(task.test_docs()) == [r.record() for r in task_dir.tasks[0].rows]
    assert [d["answer"] for d in task.fewshot_docs()] == list("ABCDA")
