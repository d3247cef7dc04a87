"""Compare runs case by case: paired statistics, regressions, word diffs, gates, baselines.

from harness.compare import compare, from_store, join_runs
a, b = from_store(store, "20240501-..."), from_store(store, "20240502-...")
result = compare(join_runs(a, b), a.higher_is_better | b.higher_is_better)
print(result.stats("pass"), len(result.regressions))
"""

# `join` is both a submodule and a function: importing the submodule sets the package's
# attribute to the module, so the function is bound here, after it, eagerly.
from harness.compare.join import Joined, Pair, join, join_prompts, join_providers, join_runs
from harness.lazy import lazy_exports as _lazy_exports

# Imported on first use: `harness validate` checks gate baselines without loading scipy.
_MODULES = {
    "harness.compare.baseline": (
        "Baseline BaselineCase baseline_from baseline_records load_baseline write_baseline"
    ),
    "harness.compare.comparison": "ALL Comparison Metric Row Slice compare",
    "harness.compare.diff": "Segment side_a side_b tokenize word_diff",
    "harness.compare.gates": "GateResult check_gate evaluate_gates",
    "harness.compare.records": (
        "PASS CaseRecord RecordSet from_results from_store load_texts read_runs"
    ),
    "harness.compare.stats": (
        "PairedStats bootstrap_ci mcnemar_exact min_detectable_difference paired_stats wilcoxon_p"
    ),
    "harness.errors": "CompareError",
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names.split()}
__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "ALL",
    "PASS",
    "Baseline",
    "BaselineCase",
    "CaseRecord",
    "CompareError",
    "Comparison",
    "GateResult",
    "Joined",
    "Metric",
    "Pair",
    "PairedStats",
    "RecordSet",
    "Row",
    "Segment",
    "Slice",
    "baseline_from",
    "baseline_records",
    "bootstrap_ci",
    "check_gate",
    "compare",
    "evaluate_gates",
    "from_results",
    "from_store",
    "join",
    "join_prompts",
    "join_providers",
    "join_runs",
    "load_baseline",
    "load_texts",
    "mcnemar_exact",
    "min_detectable_difference",
    "paired_stats",
    "read_runs",
    "side_a",
    "side_b",
    "tokenize",
    "wilcoxon_p",
    "word_diff",
    "write_baseline",
]
