"""What ragas' judge said, step by step, as the report's per-case verdict list.

Each parsed judge reply (kept by :class:`~harness.scorers.rag.bridge.HarnessLLM`) becomes
``{"label", "verdict", "reason"}`` rows: which statements were supported, which
contexts were useful, which reference sentences the contexts cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Verdict = dict[str, Any]


def verdicts(trace: Sequence[tuple[str, Any]], contexts: Sequence[str] = ()) -> list[Verdict]:
    """The verdict rows of a whole metric run, in the order the judge gave them."""
    rows: list[Verdict] = []
    precision_step = 0
    for model_name, reply in trace:
        if model_name == "NLIStatementOutput":
            rows += [_row(s.statement, bool(s.verdict), s.reason) for s in reply.statements]
        elif model_name == "ContextRecallOutput":
            rows += [_row(c.statement, bool(c.attributed), c.reason) for c in reply.classifications]
        elif model_name == "ContextPrecisionOutput":
            label = f"context {precision_step + 1}"
            if precision_step < len(contexts):
                label += f": {_preview(contexts[precision_step])}"
            rows.append(_row(label, bool(reply.verdict), reply.reason))
            precision_step += 1
        elif model_name == "AnswerRelevanceOutput":
            kind = "noncommittal" if reply.noncommittal else "committal"
            rows.append(_row(f"question generated from the answer: {reply.question}", kind, None))
        elif model_name == "ClassificationWithReason":
            for kind in ("TP", "FP", "FN"):
                rows += [_row(s.statement, kind, s.reason) for s in getattr(reply, kind)]
    return rows


def summary(rows: Sequence[Verdict]) -> str | None:
    """One line: how many verdicts were positive, or the TP/FP/FN counts."""
    if not rows:
        return None
    values = [r["verdict"] for r in rows]
    if all(isinstance(v, bool) for v in values):
        return f"{sum(values)} of {len(values)} verdicts positive"
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return ", ".join(f"{k} {n}" for k, n in counts.items())


def _row(label: str, verdict: str | bool, reason: str | None) -> Verdict:
    return {"label": label, "verdict": verdict, "reason": reason}


def _preview(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."
