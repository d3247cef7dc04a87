"""Compare runs case by case: paired statistics, regressions, word diffs, gates, baselines.

from harness.compare import compare, from_store, join_runs
a, b = from_store(store, "20240501-..."), from_store(store, "20240502-...")
result = compare(join_runs(a, b), a.higher_is_better | b.higher_is_better)
print(result.stats("pass"), len(result.regressions))
"""

from harness.compare.baseline import (
    Baseline,
    BaselineCase,
    baseline_from,
    baseline_records,
    load_baseline,
    write_baseline,
)
from harness.compare.comparison import ALL, Comparison, Metric, Row, Slice, compare
from harness.compare.diff import Segment, side_a, side_b, tokenize, word_diff
from harness.compare.gates import GateResult, check_gate, evaluate_gates
from harness.compare.join import Joined, Pair, join, join_prompts, join_providers, join_runs
from harness.compare.records import (
    PASS,
    CaseRecord,
    RecordSet,
    from_results,
    from_store,
    load_texts,
    read_runs,
)
from harness.compare.stats import (
    PairedStats,
    bootstrap_ci,
    mcnemar_exact,
    min_detectable_difference,
    paired_stats,
    wilcoxon_p,
)
from harness.errors import CompareError

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
