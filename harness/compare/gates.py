"""Evaluate a suite's gates on a finished run: the checks that make CI pass or fail.

A gate holds each (prompt version, provider) of the run to either

* ``min_pass_rate``: the share of passing cases (of one assertion when ``metric``
  names one) must reach the bar; or
* ``baseline``: paired case by case with a saved baseline, the metric's mean may not
  drop by more than ``max_drop`` (default 0), and, when ``significance`` is set, the
  gate fails only if the drop is also significant at that level.

A failed gate is a result (``passed=False``); a gate that cannot be evaluated (missing
baseline, unknown metric, a filter matching nothing) raises :class:`SuiteError`
pointing at the gate's line, which the CLI turns into exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from harness.compare.baseline import baseline_records, gate_baseline
from harness.compare.join import RUN_KEY, cluster_labels, join
from harness.compare.records import PASS, CaseRecord, RecordSet
from harness.compare.stats import PairedStats, paired_stats
from harness.errors import CompareError
from harness.perturb.registry import is_perturbed
from harness.suite.loader import LoadedSuite, did_you_mean
from harness.suite.schema import Gate

if TYPE_CHECKING:
    from harness.results.store import ResultStore

_EPS = 1e-12


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one (prompt version, provider) of the run."""

    name: str
    passed: bool
    message: str
    #: More lines for CI output: CI, p-value, unpaired cases, power.
    details: str | None = None
    index: int = 0
    prompt_id: str | None = None
    provider_id: str | None = None
    #: What was checked, in words ("pass rate ≥ 0.8", "rougeL mean drop ≤ 0.02 vs b.json").
    checked: str = ""
    #: The bar and the measured value on the same scale (a pass rate, a drop, a count), and
    #: the paired test's p-value where the gate has one; None where nothing was measured.
    threshold: float | None = None
    observed: float | None = None
    p_value: float | None = None


def evaluate_gates(
    loaded: LoadedSuite,
    records: RecordSet,
    *,
    seed: int = 0,
    store: ResultStore | None = None,
) -> list[GateResult]:
    """Every gate of the suite on ``records`` (a run of that suite), in suite order.
    ``store`` holds the earlier runs a ``bad_cases_stay_fixed`` gate looks back on."""
    out: list[GateResult] = []
    for i, gate in enumerate(loaded.suite.gates):
        if gate.bad_cases_stay_fixed:
            out.append(_bad_cases_stay_fixed(store, records.label, i))
            continue
        baseline = None
        if gate.baseline is not None:
            path = loaded.resolve(gate.baseline)
            baseline = baseline_records(gate_baseline(loaded, i, records.label), str(path))
        selection = records.run.selection if records.run is not None else None
        if selection and not _groups(gate, records.records):
            out.append(_skipped(i, gate, selection, _no_match(gate, records.records)))
            continue  # a filtered run need not hold every gate's cases
        try:
            out.extend(check_gate(gate, records, baseline, index=i, seed=seed))
        except CompareError as e:
            raise loaded.error(str(e), "gates", i) from None
    return out


def _skipped(index: int, gate: Gate, selection: str, why: str) -> GateResult:
    """A gate a partial run cannot judge: passed, and saying it was not checked."""
    return GateResult(
        f"gates[{index}] {gate.metric or 'pass rate'}",
        True,
        f"not checked: this run is partial ({selection}) and {why.split('.')[0].lower()}",
        index=index,
        checked="skipped on a partial run",
    )


def _bad_cases_stay_fixed(store: ResultStore | None, run_id: str, index: int) -> GateResult:
    from harness.ci.badcases import regressions_since

    name = "bad cases stay fixed"
    checked = "bad cases that passed in an earlier run and fail now ≤ 0"
    if store is None or not store.has_run(run_id):
        message = "not checked: the run is not in a results store"
        return GateResult(name, True, message, index=index, checked=checked, threshold=0)
    regressions = regressions_since(store, run_id, history=None)
    n = len(regressions)
    message = (
        f"{n} bad case(s) that passed in an earlier run fail now"
        if n
        else "no bad case that passed before fails now"
    )
    details = "\n".join(r.describe() for r in regressions) or None
    return GateResult(name, not n, message, details, index, checked=checked, threshold=0,
                      observed=n)  # fmt: skip


def check_gate(
    gate: Gate,
    records: RecordSet,
    baseline: RecordSet | None = None,
    *,
    index: int = 0,
    seed: int = 0,
) -> list[GateResult]:
    """One gate on ``records``; ``baseline`` is needed by a baseline gate."""
    metric = gate.metric or PASS
    groups = _groups(gate, records.records)
    if not groups:
        raise CompareError(_no_match(gate, records.records))
    scorers = records.higher_is_better if baseline is None else baseline.higher_is_better
    known = [PASS, *scorers]
    if metric not in known:
        raise CompareError(
            f"gate metric '{metric}' names no assertion of this run."
            f"{did_you_mean(metric, known)} "
            f"Available: {', '.join(known)}"
        )
    if gate.min_pass_rate is not None:
        return [_pass_rate(gate, metric, key, cases, index) for key, cases in groups.items()]
    if baseline is None:
        raise CompareError(f"gate on baseline {gate.baseline}: give the baseline's records")
    higher = metric == PASS or baseline.higher_is_better.get(metric, True)
    mine = [r for cases in groups.values() for r in cases]
    theirs = [r for r in baseline.records if r.case_set == gate.case_set]
    joined = join(theirs, mine, RUN_KEY, baseline.label, records.label)
    if not joined.pairs:
        raise CompareError(
            f"the baseline {baseline.label} shares no case with this run (case set, row id, "
            f"prompt id, provider id): save a new baseline from a run of this suite"
        )
    results = []
    for key in groups:
        pairs = [p for p in joined.pairs if (p.b.prompt_id, p.b.provider_id) == key]
        name = _name(index, gate, metric, key)
        checked = _drop_checked(gate, metric, higher)
        if not pairs:
            message = "not checked: the baseline has no case of this prompt version and provider"
            results.append(GateResult(name, True, message, None, index, *key, checked,
                                      gate.max_drop or 0.0))  # fmt: skip
            continue
        a = np.array([_value(p.a, metric) for p in pairs])
        b = np.array([_value(p.b, metric) for p in pairs])
        clusters = cluster_labels(pairs)
        stats = paired_stats(a, b, binary=metric == PASS or None, seed=seed, clusters=clusters)
        verdict = _drop_result(gate, name, stats, higher, index, key, joined.unmatched_note())
        results.append(replace(verdict, checked=checked))
    return results


def _pass_rate(
    gate: Gate, metric: str, key: tuple[str, str], cases: list[CaseRecord], index: int
) -> GateResult:
    assert gate.min_pass_rate is not None
    if metric == PASS:
        passed = sum(r.passed for r in cases)
    else:
        passed = sum(r.verdicts.get(metric) is True for r in cases)
    rate = passed / len(cases)
    ok = rate + _EPS >= gate.min_pass_rate
    what = "pass rate" if metric == PASS else f"{metric} pass rate"
    sign = "≥" if ok else "<"
    message = f"{what} {rate:.1%} ({passed}/{len(cases)}) {sign} {gate.min_pass_rate:.1%}"
    checked = f"{what} ≥ {gate.min_pass_rate:g}"
    return GateResult(_name(index, gate, metric, key), ok, message, None, index, *key, checked,
                      gate.min_pass_rate, rate)  # fmt: skip


def _drop_result(
    gate: Gate,
    name: str,
    stats: PairedStats,
    higher: bool,
    index: int,
    key: tuple[str, str],
    unmatched: str | None,
) -> GateResult:
    max_drop = gate.max_drop or 0.0
    if stats.diff is None or stats.mean_a is None or stats.mean_b is None:
        return GateResult(name, False, "no paired case has a value of this metric on both "
                          "sides", None, index, *key, threshold=max_drop)  # fmt: skip
    drop = -stats.diff if higher else stats.diff
    too_big = drop > max_drop + _EPS
    significant = gate.significance is None or stats.significant(gate.significance)
    ok = not (too_big and significant)
    word = "drop" if higher else "rise"
    verdict = f"{word} {max(drop, 0.0) + 0.0:.4g} {'>' if too_big else '≤'} max {max_drop:.4g}"
    if too_big and gate.significance is not None:
        verdict += ", " + ("significant" if significant else "not significant")
        verdict += f" at {gate.significance:g}"
    message = f"{stats.mean_a:.4g} → {stats.mean_b:.4g} (n={stats.n}): {verdict}"
    lines = [
        f"difference {stats.diff:+.4g}, 95% CI "
        + (f"[{stats.ci_low:+.4g}, {stats.ci_high:+.4g}]" if stats.ci_low is not None else "n/a")
        + f", {stats.test} p={stats.p_value:.3g}"
    ]
    if stats.mde is not None and stats.mde > max(max_drop, _EPS):
        lines.append(
            f"suite too small to detect a {word} of {max_drop:.4g}: with n={stats.n} the "
            f"smallest detectable is about {stats.mde:.3g} (80% power)"
        )
    elif stats.note:
        lines.append(stats.note)
    if unmatched:
        lines.append(unmatched)
    return GateResult(name, ok, message, "\n".join(lines), index, *key, threshold=max_drop,
                      observed=drop + 0.0, p_value=stats.p_value)  # fmt: skip


def _drop_checked(gate: Gate, metric: str, higher: bool) -> str:
    """A baseline gate's check in words: "rougeL mean drop ≤ 0.02 vs b.json, significance 0.05"."""
    what = "pass rate" if metric == PASS else f"{metric} mean"
    word = "drop" if higher else "rise"
    checked = f"{what} {word} ≤ {gate.max_drop or 0.0:g} vs {gate.baseline}"
    if gate.significance is not None:
        checked += f", significance {gate.significance:g}"
    return checked


def _groups(gate: Gate, records: list[CaseRecord]) -> dict[tuple[str, str], list[CaseRecord]]:
    groups: dict[tuple[str, str], list[CaseRecord]] = {}
    for r in records:
        if r.case_set != gate.case_set or is_perturbed(r.tags):
            continue  # gates judge clean cases; perturbed copies are the robustness analysis
        if gate.prompt is not None and r.prompt_id != gate.prompt:
            continue
        if gate.provider is not None and r.provider_id != gate.provider:
            continue
        groups.setdefault((r.prompt_id, r.provider_id), []).append(r)
    return groups


def _no_match(gate: Gate, records: list[CaseRecord]) -> str:
    """Why no case of ``records`` is one the gate checks (the filter that matched nothing)."""
    for field, value, have in (
        ("case_set", gate.case_set, {r.case_set for r in records}),
        ("prompt", gate.prompt, {r.prompt_id for r in records}),
        ("provider", gate.provider, {r.provider_id for r in records}),
    ):
        if value is not None and value not in have:
            options = sorted(have)
            return (
                f"gate {field} '{value}' matches no case of the run."
                f"{did_you_mean(value, options)} Available: {', '.join(options)}"
            )
    return "the gate matches no case of the run"


def _name(index: int, gate: Gate, metric: str, key: tuple[str, str]) -> str:
    what = "pass rate" if metric == PASS else metric
    if gate.min_pass_rate is not None:
        what = "pass rate" if metric == PASS else f"{metric} pass rate"
        check = f"{what} ≥ {gate.min_pass_rate:g}"
    else:
        check = f"{what} vs baseline"
    where = " · ".join(key) if gate.case_set == "main" else " · ".join((gate.case_set, *key))
    return f"gates[{index}] {check} ({where})"


def _value(record: CaseRecord, metric: str) -> float:
    value = record.value(metric)
    return np.nan if value is None else value
