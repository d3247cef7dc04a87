"""Standard multiple-choice benchmarks (MMLU, C-Eval, CMMLU) on local models through lm-eval.

from harness.bench import BenchConfig, run_bench
result = run_bench("smollm2-135m-instruct", BenchConfig("mmlu:abstract_algebra", Path("data")))
print(result.macro_acc, result.calibration.ece)

The data folder holds each benchmark in its official file layout (see
:mod:`harness.bench.layouts`); :mod:`harness.bench.tasks` turns the chosen subjects into
lm-eval tasks, :mod:`harness.bench.run` runs them and aggregates, and
:mod:`harness.bench.calibration` and :mod:`harness.bench.compare` add calibration and
checkpoint-vs-checkpoint flips.

The names are imported on first use: the CLI imports :mod:`harness.bench.command` to
build its parser, which must not pay for numpy, pydantic models or lm-eval.
"""

import typing

from harness.lazy import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from harness.bench.calibration import (
        Curve,
        aurc,
        brier,
        brier_top1,
        calibrate,
        expected_calibration_error,
        reliability,
        selective_curve,
        softmax,
    )
    from harness.bench.compare import Flip, Flips, SubjectFlips, flips
    from harness.bench.layouts import LAYOUTS, Layout, Question, Subject, parse_tasks, read_rows
    from harness.bench.models import (
        BenchResult,
        Calibration,
        ModelInfo,
        QuestionResult,
        ReliabilityBin,
        SubjectResult,
    )
    from harness.bench.run import (
        BenchConfig,
        BenchHooks,
        aggregate,
        evaluate,
        prepare,
        run_bench,
        run_models,
    )
    from harness.bench.tasks import Task, TaskDir, description, write_tasks
    from harness.errors import BenchError

_MODULES = {
    "harness.bench.calibration": (
        "Curve aurc brier brier_top1 calibrate expected_calibration_error reliability "
        "selective_curve softmax"
    ),
    "harness.bench.compare": "Flip Flips SubjectFlips flips",
    "harness.bench.layouts": "LAYOUTS Layout Question Subject parse_tasks read_rows",
    "harness.bench.models": (
        "BenchResult Calibration ModelInfo QuestionResult ReliabilityBin SubjectResult"
    ),
    "harness.bench.run": "BenchConfig BenchHooks aggregate evaluate prepare run_bench run_models",
    "harness.bench.tasks": "Task TaskDir description write_tasks",
    "harness.errors": "BenchError",
}
#: Public name -> the module that defines it.
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names.split()}


__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "LAYOUTS",
    "BenchConfig",
    "BenchError",
    "BenchHooks",
    "BenchResult",
    "Calibration",
    "Curve",
    "Flip",
    "Flips",
    "Layout",
    "ModelInfo",
    "Question",
    "QuestionResult",
    "ReliabilityBin",
    "Subject",
    "SubjectFlips",
    "SubjectResult",
    "Task",
    "TaskDir",
    "aggregate",
    "aurc",
    "brier",
    "brier_top1",
    "calibrate",
    "description",
    "evaluate",
    "expected_calibration_error",
    "flips",
    "parse_tasks",
    "prepare",
    "read_rows",
    "reliability",
    "run_bench",
    "run_models",
    "selective_curve",
    "softmax",
    "write_tasks",
]
