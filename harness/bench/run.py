"""Run the benchmark: write the tasks, call ``lm_eval.simple_evaluate`` once per model, and
aggregate its logged samples into per-subject accuracy and calibration.

A model is a provider config (a local ``hf`` checkpoint, optionally with a LoRA adapter,
or an OpenAI-compatible API); lm-eval builds the prompts and asks
:class:`harness.bench.lm.ProviderLM` for loglikelihoods, which the provider answers in
the run's mode. In the loglikelihood modes scoring is lm-eval's: a question is right when
the answer letter has the highest loglikelihood after the prompt, and ``acc`` /
``acc_stderr`` (and ``acc_norm`` where lm-eval's own task reports it) are read from its
results; in ``generate`` mode a question is right when the letter found in the answer is
the answer, with lm-eval's ``mean`` and ``mean_stderr``.
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
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from harness import __version__
from harness.bench.calibration import calibrate, softmax
from harness.bench.defaults import DEFAULT_BINS
from harness.bench.layouts import LETTERS, parse_tasks
from harness.bench.models import (
    BenchResult,
    Calibration,
    ModelInfo,
    QuestionResult,
    SubjectResult,
)
from harness.bench.tasks import TaskDir, write_tasks
from harness.errors import BenchError
from harness.extras import require
from harness.providers.hf_models import DTYPES, device_and_dtype, resolve
from harness.providers.ray_pool import on_ray
from harness.suite.schema import HFProviderConfig, OpenAIProviderConfig, VLLMProviderConfig

BenchModel = HFProviderConfig | OpenAIProviderConfig | VLLMProviderConfig


@dataclass(frozen=True)
class BenchHooks:
    """What a caller (the command's lines and progress bar) hears while models run."""

    #: A model starts, by id.
    model: Callable[[str], None] | None = None
    #: Something to know before it runs (e.g. emulated bfloat16 on this CPU).
    warning: Callable[[str], None] | None = None
    #: ``(questions scored, questions in all)`` as answers come in; from a worker thread.
    progress: Callable[[int, int], None] | None = None


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
    #: "auto", "loglikelihood", "logprobs" or "generate" (see :mod:`harness.bench.lm`).
    mode: str = "auto"
    #: Longest answer in ``generate`` mode.
    max_tokens: int = 64
    #: API requests in flight at once (a provider's own ``concurrency`` wins).
    concurrency: int = 8
    #: Read and write the response cache (API and generate modes).
    use_cache: bool = True
    #: Copies of a local model, in Ray actors, that share the scoring (1: in this process).
    workers: int = 1


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


def run_bench(model: str | BenchModel, config: BenchConfig) -> BenchResult:
    """Benchmark one model (a checkpoint folder, a .gguf file, an alias or a provider config)."""
    return run_models([model], config)[0]


def local_model(path: str, config: BenchConfig, adapter: str | None = None) -> HFProviderConfig:
    """The ``hf`` provider config of a checkpoint (and LoRA adapter) named on the command line."""
    return hf_config(
        path,
        adapter=adapter,
        device=config.device,
        dtype=config.dtype,
        batch_size=config.batch_size,
        workers=config.workers,
    )


def hf_config(path: str, **options: Any) -> HFProviderConfig:
    """An ``hf`` provider config from command-line options, or a BenchError naming the bad
    one. Its id is the path, plus the adapter's when there is one: a base model and the
    same base with an adapter are two models (two providers in the stored run)."""
    adapter = options.get("adapter")
    model_id = path if adapter is None else f"{path} + {adapter}"
    try:
        return HFProviderConfig(type="hf", id=model_id, model=path, **options)
    except ValidationError as e:
        bad = "; ".join(
            f"--{'-'.join(map(str, err['loc']))}".replace("_", "-") + f" {err['msg'].lower()}"
            for err in e.errors()
        )
        raise BenchError(f"bad option: {bad}") from None


def run_models(
    models: list[str | BenchModel], config: BenchConfig, hooks: BenchHooks | None = None
) -> list[BenchResult]:
    """Benchmark several models on the same tasks (written once), one after the other."""
    _require_bench()
    hooks = hooks or BenchHooks()
    configs = [local_model(m, config) if isinstance(m, str) else m for m in models]
    for model in configs:
        _check(model, config)  # fail on a wrong path or mode before loading anything
    with _work_dir(config.work_dir) as root:
        task_dir = prepare(config, root)
        results = []
        for model in configs:
            if hooks.model is not None:
                hooks.model(model.id)
            results.append(evaluate(model, task_dir, config, hooks))
        return results


def _require_bench() -> None:
    require("bench", "harness bench", BenchError)


def _check(model: BenchModel, config: BenchConfig) -> None:
    from harness.bench.lm import resolve_mode

    resolve_mode(config.mode, model.type)
    if model.type == "hf":
        resolve(model.model, model.gguf_file, model.adapter)
        if on_ray(model.workers, model.ray_address):
            require("ray", f"model '{model.id}' (workers: {model.workers})", BenchError)
    if model.type == "vllm":
        from harness.providers.vllm_local import VLLMProvider

        VLLMProvider(model).check()


def evaluate(
    model: BenchModel, task_dir: TaskDir, config: BenchConfig, hooks: BenchHooks | None = None
) -> BenchResult:
    """Run lm-eval on ``task_dir`` with ``model`` answering, and aggregate its samples."""
    _require_bench()
    offline_env()
    from harness.bench.lm import Answerer, bench_lm, resolve_mode
    from harness.locations import default_cache

    hooks = hooks or BenchHooks()
    started = time.perf_counter()
    mode = resolve_mode(config.mode, model.type)
    info = _model_info(model)
    if hooks.warning is not None and model.type == "hf":
        _warn_dtype(model, hooks.warning)
    cache = default_cache() if config.use_cache else None
    answerer = Answerer(
        model, mode, cache, config.concurrency, config.max_tokens, progress=hooks.progress
    )
    try:
        output = run_lm_eval(bench_lm(model, mode, answerer), task_dir, config)
    finally:
        if cache is not None:
            cache.close()
        gc.collect()
    outputs = answerer.outputs if mode == "generate" else None
    seconds = time.perf_counter() - started
    return aggregate(output, task_dir, info, config, seconds, mode=mode, outputs=outputs)


def _warn_dtype(model: HFProviderConfig, warn: Callable[[str], None]) -> None:
    import torch

    from harness.providers.hf_models import cpu_dtype_warning

    message = cpu_dtype_warning(torch, *_device_and_dtype(torch, model))
    if message is not None:
        warn(f"{model.id}: {message}")


def _model_info(model: BenchModel) -> ModelInfo:
    if model.type == "vllm":
        from harness.bench.lm import vllm_model_info

        return vllm_model_info(model)
    if model.type == "openai":
        from harness.providers.openai_compat import normalise_base_url

        where = normalise_base_url(model.base_url)
        return ModelInfo(
            label=model.id, name=model.model, fingerprint=where, dtype="-", device="api"
        )
    import torch

    device, dtype = _device_and_dtype(torch, model)
    source = resolve(model.model, model.gguf_file, model.adapter)
    name = source.name if source.adapter is None else f"{source.name} + {source.adapter}"
    return ModelInfo(
        label=model.id,
        name=name,
        fingerprint=source.fingerprint(),
        dtype=str(dtype).removeprefix("torch."),
        device=str(device),
    )


def run_lm_eval(lm: Any, task_dir: TaskDir, config: BenchConfig) -> dict:
    """``lm_eval.simple_evaluate`` on every task of ``task_dir`` with samples logged."""
    offline_env()
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(task_dir.include_path), include_defaults=False)
    with _git_without_subprocess(), _no_context_bars():
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


def _git_without_subprocess() -> AbstractContextManager[object]:
    """``simple_evaluate`` records the working directory's git commit by running ``git
    describe``, which prints "fatal: not a git repository" on every run outside a checkout.
    For this call, lm-eval's own file-based lookup (``get_commit_from_path``, its fallback
    when git is absent) records it instead: the commit, or None, and no subprocess."""
    from unittest import mock

    import lm_eval.evaluator
    from lm_eval.loggers.utils import get_commit_from_path

    if not hasattr(lm_eval.evaluator, "get_git_commit_hash"):  # another lm-eval: nothing to do
        return nullcontext()
    return mock.patch.object(
        lm_eval.evaluator, "get_git_commit_hash", lambda: get_commit_from_path(os.getcwd())
    )


def _no_context_bars() -> AbstractContextManager[object]:
    """lm-eval draws a tqdm bar per task while it builds the prompts, which would tear
    through the run's own progress bar (and says nothing about scoring): silenced."""
    from functools import partial
    from unittest import mock

    import lm_eval.api.task
    from tqdm import tqdm

    if getattr(lm_eval.api.task, "tqdm", None) is not tqdm:  # another lm-eval: leave it
        return nullcontext()
    return mock.patch.object(lm_eval.api.task, "tqdm", partial(tqdm, disable=True))


def offline_env() -> None:
    """No hub access; the `datasets` cache (read when it is first imported) in
    ``$HARNESS_HOME/hf-datasets``, never under ~/.cache. The task YAMLs also name their
    own ``cache_dir`` in the work folder, which is what lm-eval's loads use."""
    from harness.locations import harness_home

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("HF_DATASETS_CACHE", str((harness_home() / "hf-datasets").resolve()))


def aggregate(
    output: dict,
    task_dir: TaskDir,
    model: ModelInfo,
    config: BenchConfig,
    seconds: float,
    *,
    mode: str = "loglikelihood",
    outputs: dict[str, str] | None = None,
) -> BenchResult:
    """lm-eval's results and logged samples as a :class:`BenchResult`; ``outputs`` (the
    answer text per prompt) in ``generate`` mode."""
    subjects = [_subject(output, task, config, outputs) for task in task_dir.tasks]
    everything = [q for s in subjects for q in s.questions]
    macro_acc, macro_stderr = _macro([s.acc for s in subjects], [s.acc_stderr for s in subjects])
    micro_acc, micro_stderr = _micro([q.correct for q in everything])
    macro_norm, macro_norm_stderr = _macro(
        [s.acc_norm for s in subjects], [s.acc_norm_stderr for s in subjects]
    )
    micro_norm, micro_norm_stderr = _micro([q.correct_norm for q in everything])
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
        mode=mode,
        created_at=datetime.now(UTC),
        harness_version=__version__,
        lm_eval_version=version("lm_eval"),
        shots=config.shots,
        limit=config.limit,
        batch_size=config.batch_size,
        seconds=round(seconds, 3),
        subjects=subjects,
        macro_acc=macro_acc,
        macro_stderr=macro_stderr,
        micro_acc=micro_acc,
        micro_stderr=micro_stderr,
        macro_acc_norm=macro_norm,
        macro_acc_norm_stderr=macro_norm_stderr,
        micro_acc_norm=micro_norm,
        micro_acc_norm_stderr=micro_norm_stderr,
        calibration=_calibration(everything, config.ece_bins),
        notes=notes,
    )


def _subject(
    output: dict, task: Any, config: BenchConfig, outputs: dict[str, str] | None
) -> SubjectResult:
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
        question = QuestionResult(
            doc_id=sample["doc_id"],
            row_id=row.row_id,
            question=row.question,
            options=list(row.options),
            answer=row.answer,
            pred=None,
            correct=False,
        )
        questions.append(_answered(question, sample, outputs))
    if outputs is None:
        acc, stderr = _metric(result, "acc", task.name)
        acc_norm, norm_stderr = _metric(result, "acc_norm", task.name, required=False)
    else:
        acc, stderr = _mean_and_stderr([q.correct for q in questions])
        acc_norm = norm_stderr = None
    return SubjectResult(
        benchmark=task.subject.benchmark,
        subject=task.subject.subject,
        task=task.name,
        n=len(questions),
        n_shots=config.shots,
        acc=acc,
        acc_stderr=stderr,
        acc_norm=acc_norm,
        acc_norm_stderr=norm_stderr,
        calibration=_calibration(questions, config.ece_bins),
        description=task.description,
        description_source=task.description_source,
        questions=questions,
    )


def _metric(
    result: dict, name: str, task: str, *, required: bool = True
) -> tuple[float | None, float | None]:
    """A metric of lm-eval's results for a task, and its stderr (lm-eval writes "N/A" when
    it has none, e.g. for one question)."""
    value, stderr = result.get(f"{name},none"), result.get(f"{name}_stderr,none")
    if value is None:
        if required:
            raise BenchError(f"lm-eval reported no {name} for {task}")
        return None, None
    return float(value), float(stderr) if isinstance(stderr, int | float) else None


def _answered(
    question: QuestionResult, sample: dict, outputs: dict[str, str] | None
) -> QuestionResult:
    """The question with the model's answer: its letter loglikelihoods, or its text."""
    if outputs is None:
        logliks = [float(r[0]) for r in sample["filtered_resps"]]
        return question.model_copy(
            update={
                "pred": LETTERS[int(np.argmax(logliks))],
                "correct": bool(sample["acc"]),
                "correct_norm": bool(sample["acc_norm"]) if "acc_norm" in sample else None,
                "logliks": logliks,
                "probs": [float(p) for p in softmax(logliks)],
            }
        )
    from harness.scorers.choice import extract_choice

    text = outputs[sample["arguments"][0][0]]
    pred = extract_choice(text, "".join(LETTERS))
    return question.model_copy(
        update={"pred": pred, "correct": pred == question.answer, "output": text}
    )


def _macro(
    values: list[float | None], errs: list[float | None]
) -> tuple[float | None, float | None]:
    """The mean of the subjects' figures and its standard error sqrt(sum se_i^2) / k; None
    when a subject lacks the figure (an average over some subjects would mislead)."""
    if None in values:
        return None, None
    stderr = None if None in errs else math.sqrt(sum(e * e for e in errs)) / len(errs)
    return float(np.mean(values)), stderr


def _micro(correct: list[bool | None]) -> tuple[float | None, float | None]:
    """The pooled questions' mean and stderr; None when a question lacks the verdict."""
    if None in correct:
        return None, None
    return _mean_and_stderr(correct)


def _mean_and_stderr(correct: list[bool]) -> tuple[float, float | None]:
    """lm-eval's ``mean`` and ``mean_stderr`` (sample standard deviation / sqrt(n))."""
    from lm_eval.api.metrics import mean, mean_stderr

    values = [float(c) for c in correct]
    return mean(values), mean_stderr(values) if len(values) > 1 else None


def _calibration(questions: list[QuestionResult], n_bins: int) -> Any:
    if any(q.probs is None for q in questions):  # generate mode: no probabilities
        return Calibration(
            n=len(questions),
            ece=None,
            n_bins=n_bins,
            brier=None,
            brier_top1=None,
            aurc=None,
            bins=[],
        )
    return calibrate(
        [q.probs for q in questions],
        [LETTERS.index(q.answer) for q in questions],
        [q.correct for q in questions],
        n_bins,
    )


def _device_and_dtype(torch: Any, config: HFProviderConfig) -> tuple[Any, Any]:
    try:
        return device_and_dtype(torch, config.device, config.dtype)
    except ValueError as e:
        raise BenchError(f"model '{config.id}' (device {config.device}): {e}") from None


@contextmanager
def _work_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        yield Path(tmp)
