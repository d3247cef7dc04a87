"""Run the benchmark: write the tasks, call ``lm_eval.simple_evaluate`` once per model, and
aggregate its logged samples into per-subject accuracy and calibration.

Scoring is lm-eval's: a question is right when the answer letter has the highest
loglikelihood after the prompt, and ``acc``/``acc_stderr`` are read from its results.
Nothing is downloaded: the hub is switched off and the dataset cache lives in the run's
work folder (a temporary folder unless ``work_dir`` is given).
"""

from __future__ import annotations

import gc
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.bench.calibration import DEFAULT_BINS, calibrate, softmax
from harness.bench.layouts import LETTERS, parse_tasks
from harness.bench.models import BenchResult, ModelInfo, QuestionResult, SubjectResult
from harness.bench.tasks import TaskDir, write_tasks
from harness.errors import BenchError
from harness.providers.hf_models import DTYPES, device_and_dtype, load, resolve


@dataclass(frozen=True)
class BenchConfig:
    """What to run: ``tasks`` like ``"mmlu:abstract_algebra,ceval:law"`` from ``data``."""

    tasks: str | list[str]
    data: Path
    shots: int = 5
    #: Score only the first N rows of each subject (the shots still come from dev).
    limit: int | None = None
    batch_size: int = 8
    #: "auto" (CUDA when available, else CPU), "cpu", "cuda:0", ...
    device: str = "auto"
    #: "auto" (float32 on CPU, bfloat16/float16 on CUDA) or a name in DTYPES.
    dtype: str = "auto"
    ece_bins: int = DEFAULT_BINS
    #: Keep the generated tasks, data and dataset cache here (default: a temporary folder).
    work_dir: Path | None = None


def prepare(config: BenchConfig, root: Path) -> TaskDir:
    """Check the request and write the lm-eval tasks into ``root``; loads no model."""
    if config.batch_size < 1:
        raise BenchError(f"--batch-size must be 1 or more, got {config.batch_size}")
    if config.ece_bins < 1:
        raise BenchError(f"--ece-bins must be 1 or more, got {config.ece_bins}")
    if config.dtype != "auto" and config.dtype not in DTYPES:
        raise BenchError(f"unknown dtype '{config.dtype}'; use auto or {', '.join(DTYPES)}")
    subjects = parse_tasks(config.tasks, Path(config.data), need_dev=config.shots > 0)
    return write_tasks(subjects, root, shots=config.shots, limit=config.limit)


def run_bench(model: str, config: BenchConfig) -> BenchResult:
    """Benchmark one model (a checkpoint folder, a .gguf file or an alias)."""
    return run_models([model], config)[0]


def run_models(
    models: list[str], config: BenchConfig, on_model: Callable[[str], None] | None = None
) -> list[BenchResult]:
    """Benchmark several models on the same tasks (written once), one after the other."""
    for model in models:
        resolve(model)  # fail on a wrong path before writing or loading anything
    with _work_dir(config.work_dir) as root:
        task_dir = prepare(config, root)
        results = []
        for model in models:
            if on_model is not None:
                on_model(model)
            results.append(evaluate(model, task_dir, config))
        return results


def evaluate(model: str, task_dir: TaskDir, config: BenchConfig) -> BenchResult:
    """Load ``model``, run lm-eval on ``task_dir`` and aggregate its samples."""
    try:
        import torch
    except ImportError:
        raise BenchError("harness bench needs torch: pip install 'harness[bench]'") from None

    started = time.perf_counter()
    device, dtype = _device_and_dtype(torch, config)
    source = resolve(model)
    weights, tokenizer = load(source, device, dtype)
    info = ModelInfo(
        name=source.name,
        fingerprint=source.fingerprint(),
        dtype=str(dtype).removeprefix("torch."),
        device=str(device),
    )
    try:
        output = run_lm_eval(weights, tokenizer, task_dir, config)
    finally:
        del weights
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return aggregate(output, task_dir, info, config, time.perf_counter() - started)


def run_lm_eval(model: Any, tokenizer: Any, task_dir: TaskDir, config: BenchConfig) -> dict:
    """``lm_eval.simple_evaluate`` on every task of ``task_dir`` with samples logged."""
    offline_env()
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise BenchError(
            f"harness bench needs lm-eval ({e}): pip install 'harness[bench]'"
        ) from None

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=config.batch_size)
    manager = TaskManager(include_path=str(task_dir.include_path), include_defaults=False)
    output = lm_eval.simple_evaluate(
        model=lm,
        tasks=task_dir.names,
        num_fewshot=config.shots,
        log_samples=True,
        task_manager=manager,
    )
    if output is None:  # only on non-zero ranks of a distributed run
        raise BenchError("lm-eval returned no results (a distributed launch is not supported)")
    return output


def offline_env() -> None:
    """No hub access; the `datasets` cache (read when it is first imported) in
    ``$HARNESS_HOME/hf-datasets``, never under ~/.cache. The task YAMLs also name their
    own ``cache_dir`` in the work folder, which is what lm-eval's loads use."""
    from harness.api import harness_home

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("HF_DATASETS_CACHE", str((harness_home() / "hf-datasets").resolve()))


def aggregate(
    output: dict, task_dir: TaskDir, model: ModelInfo, config: BenchConfig, seconds: float
) -> BenchResult:
    """lm-eval's results and logged samples as a :class:`BenchResult`."""
    subjects = [_subject(output, task, config) for task in task_dir.tasks]
    accs = [s.acc for s in subjects]
    errs = [s.acc_stderr for s in subjects]
    correct = np.array([q.correct for s in subjects for q in s.questions], dtype=np.float64)
    everything = [q for s in subjects for q in s.questions]
    notes = []
    if config.limit is not None:
        notes.append(
            f"--limit {config.limit}: only the first {config.limit} questions of each subject "
            "were scored; the figures are not comparable with full-benchmark results."
        )
    for task in task_dir.tasks:
        if task.description_source != "lm-eval":
            notes.append(f"{task.subject.key}: lm-eval has no such task; generic description used")
    return BenchResult(
        model=model,
        created_at=datetime.now(UTC),
        harness_version=__version__,
        lm_eval_version=version("lm_eval"),
        shots=config.shots,
        limit=config.limit,
        batch_size=config.batch_size,
        seconds=round(seconds, 3),
        subjects=subjects,
        macro_acc=float(np.mean(accs)),
        macro_stderr=None if None in errs else math.sqrt(sum(e * e for e in errs)) / len(errs),
        micro_acc=float(correct.mean()),
        micro_stderr=float(correct.std(ddof=1) / math.sqrt(len(correct)))
        if len(correct) > 1
        else None,
        calibration=_calibration(everything, config.ece_bins),
        notes=notes,
    )


def _subject(output: dict, task: Any, config: BenchConfig) -> SubjectResult:
    result = output["results"].get(task.name)
    samples = output.get("samples", {}).get(task.name)
    if result is None or samples is None:
        raise BenchError(f"lm-eval returned no results for {task.name}")
    questions = []
    for sample in sorted(samples, key=lambda s: s["doc_id"]):
        row = task.rows[sample["doc_id"]]
        if sample["doc"] != row.record():  # lm-eval must see our text, byte for byte
            raise BenchError(
                f"{task.name}: lm-eval read row {row.row_id} as {sample['doc']!r}, "
                f"not {row.record()!r}"
            )
        logliks = [float(r[0]) for r in sample["filtered_resps"]]
        questions.append(
            QuestionResult(
                doc_id=sample["doc_id"],
                row_id=row.row_id,
                question=row.question,
                options=list(row.options),
                answer=row.answer,
                pred=LETTERS[int(np.argmax(logliks))],
                correct=bool(sample["acc"]),
                logliks=logliks,
                probs=[float(p) for p in softmax(logliks)],
            )
        )
    stderr = result.get("acc_stderr,none")
    return SubjectResult(
        benchmark=task.subject.benchmark,
        subject=task.subject.subject,
        task=task.name,
        n=len(questions),
        n_shots=config.shots,
        acc=float(result["acc,none"]),
        acc_stderr=float(stderr) if isinstance(stderr, int | float) else None,
        calibration=_calibration(questions, config.ece_bins),
        description=task.description,
        description_source=task.description_source,
        questions=questions,
    )


def _calibration(questions: list[QuestionResult], n_bins: int) -> Any:
    return calibrate(
        [q.probs for q in questions],
        [LETTERS.index(q.answer) for q in questions],
        [q.correct for q in questions],
        n_bins,
    )


def _device_and_dtype(torch: Any, config: BenchConfig) -> tuple[Any, Any]:
    try:
        return device_and_dtype(torch, config.device, config.dtype)
    except ValueError as e:
        raise BenchError(f"bad --device '{config.device}': {e}") from None


@contextmanager
def _work_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        yield Path(tmp)
