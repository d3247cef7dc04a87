"""lm-eval task configs for the chosen subjects, written to a folder lm-eval can include.

Each subject becomes two JSONL files (the scored split and the dev split, columns
``row_id, question, A, B, C, D, answer``; JSON keeps every value a string, where a CSV
reader would turn "0.50" or "NA" into numbers and NaN) and one task YAML that mirrors
lm-eval's own ``mmlu``, ``ceval-valid`` and ``cmmlu`` tasks: the same ``description``
(read from lm-eval's installed task files, so the Chinese subject names are theirs), the
same ``doc_to_text`` with our column names, letters A-D as choices, the first N dev rows
as shots, and the same metrics (``acc``; also ``acc_norm`` for C-Eval and CMMLU). The
folder also runs with the lm-eval CLI as it is, from any working directory::

    lm_eval --model hf --model_args pretrained=DIR --include_path WORK/tasks \\
        --tasks bench_mmlu_abstract_algebra --num_fewshot 5
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.bench.layouts import LETTERS, Question, Subject, read_rows
from harness.errors import BenchError, SuiteError

_OPTIONS = "".join(f"\n{c}. {{{{{c}}}}}" for c in LETTERS)
#: lm-eval's doc_to_text per benchmark (their column names ``choices[i]``/``Question``
#: renamed to ours). MMLU ends in "Answer:", C-Eval and CMMLU in "答案：".
DOC_TO_TEXT = {
    "mmlu": "{{question.strip()}}" + _OPTIONS + "\nAnswer:",
    "ceval": "{{question.strip()}}" + _OPTIONS + "\n答案：",
    "cmmlu": "{{question.strip()}}" + _OPTIONS + "\n答案：",
}
_ACC = {"metric": "acc", "aggregation": "mean", "higher_is_better": True}
_ACC_NORM = {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}
#: lm-eval's metric_list per benchmark: its ``ceval-valid`` and ``cmmlu`` tasks also report
#: ``acc_norm``, its ``mmlu`` does not.
METRICS = {"mmlu": [_ACC], "ceval": [_ACC, _ACC_NORM], "cmmlu": [_ACC, _ACC_NORM]}
#: lm-eval's task file per subject, relative to ``lm_eval/tasks``.
_LM_EVAL_FILES = {
    "mmlu": "mmlu/default/mmlu_{subject}.yaml",
    "ceval": "ceval/ceval-valid_{subject}.yaml",
    "cmmlu": "cmmlu/cmmlu_{subject}.yaml",
}
#: Used when lm-eval has no task for a subject (a subject added to the data folder).
_FALLBACK = {
    "mmlu": "The following are multiple choice questions (with answers) about {name}.\n\n",
    "ceval": "以下是中国关于{name}的单项选择题，请选出其中的正确答案。\n\n",
    "cmmlu": "以下是关于{name}的单项选择题，请直接给出正确答案的选项。\n\n",
}
TASK_PREFIX = "bench_"


@dataclass(frozen=True)
class Task:
    """One subject as an lm-eval task, with the rows it scores (in doc_id order)."""

    name: str
    subject: Subject
    rows: list[Question]
    n_dev: int
    description: str
    #: "lm-eval" when the description is lm-eval's own, "fallback" otherwise.
    description_source: str


@dataclass(frozen=True)
class TaskDir:
    """The written folder: ``tasks/`` (the include path), ``data/`` and ``hf-datasets/``."""

    root: Path
    tasks: list[Task]

    @property
    def include_path(self) -> Path:
        return self.root / "tasks"

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]


def task_name(subject: Subject) -> str:
    return f"{TASK_PREFIX}{subject.benchmark}_{subject.subject}"


def description(benchmark: str, subject: str) -> tuple[str, str]:
    """The task description lm-eval uses for this subject, and where it came from."""
    tasks = _lm_eval_tasks()
    if tasks is not None:
        path = tasks / _LM_EVAL_FILES[benchmark].format(subject=subject)
        if path.is_file():
            text = yaml.safe_load(path.read_text(encoding="utf-8")).get("description")
            if isinstance(text, str):
                return text, "lm-eval"
    return _FALLBACK[benchmark].format(name=subject.replace("_", " ")), "fallback"


def _lm_eval_tasks() -> Path | None:
    """lm-eval's installed ``tasks`` folder, found without importing lm-eval (slow)."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "tasks"


def write_tasks(subjects: list[Subject], root: Path, *, shots: int, limit: int | None) -> TaskDir:
    """Normalise each subject's files into ``root`` and write its task YAML. Every path in
    it is absolute, so the folder runs with lm-eval from any working directory."""
    root = root.resolve()
    if shots < 0:
        raise BenchError(f"--shots must be 0 or more, got {shots}")
    if limit is not None and limit < 1:
        raise BenchError(f"--limit must be 1 or more, got {limit}")
    tasks = []
    cache = root / "hf-datasets"
    for subject in subjects:
        rows = read_rows(subject.eval_path)[:limit]
        if not rows:
            raise SuiteError("no rows to score", subject.eval_path)
        dev = read_rows(subject.dev_path) if subject.dev_path is not None and shots else []
        if len(dev) < shots:
            raise BenchError(
                f"--shots {shots} but {subject.key} has {len(dev)} dev rows "
                f"({subject.dev_path}); use --shots {len(dev)} or fewer"
            )
        name = task_name(subject)
        folder = root / "data" / name
        files = {"test": _write_jsonl(folder / "test.jsonl", rows)}
        if shots:
            files["dev"] = _write_jsonl(folder / "dev.jsonl", dev)
        text, source = description(subject.benchmark, subject.subject)
        config = _config(name, subject, files, cache, text)
        path = root / "tasks" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(config), encoding="utf-8")
        tasks.append(Task(name, subject, rows, len(dev), text, source))
    return TaskDir(root, tasks)


def _config(
    name: str, subject: Subject, files: dict[str, str], cache: Path, text: str
) -> dict[str, object]:
    config: dict[str, object] = {
        "task": name,
        "task_alias": subject.key,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files, "cache_dir": str(cache)},
        "test_split": "test",
    }
    if "dev" in files:
        config |= {"fewshot_split": "dev", "fewshot_config": {"sampler": "first_n"}}
    return config | {
        "output_type": "multiple_choice",
        "description": text,
        "doc_to_text": DOC_TO_TEXT[subject.benchmark],
        "doc_to_choice": list(LETTERS),
        "doc_to_target": "{{" + repr(list(LETTERS)) + ".index(answer)}}",
        "metric_list": METRICS[subject.benchmark],
        "metadata": {"version": 1.0, "source": str(subject.eval_path.resolve())},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (descriptions, templates) double-quoted on one line, as lm-eval's;
    shared values (the metric entries) written out, not as YAML aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style='"' if "\n" in text else None
    )


_Dumper.add_representer(str, _str)


def _dump(config: dict[str, object]) -> str:
    return yaml.dump(config, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1 << 16)


def _write_jsonl(path: Path, rows: list[Question]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row.record(), ensure_ascii=False) + "\n")
    return str(path)
