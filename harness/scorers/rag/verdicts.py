"""What ragas' judge said, step by step, as the report's per-case verdict list.

Each parsed judge reply (kept by :class:`~harness.scorers.rag.bridge.HarnessLLM`) becomes
``{"label", "verdict", "reason"}`` rows: which statements were supported, which
contexts were useful, which reference sentences the contexts cover.

The same trace says when ragas' number means nothing (:func:`unscorable`: ragas scores an
answer the judge split into no statements as fully correct) and which statements the
judge silently skipped (:func:`unjudged`).
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


def unscorable(trace: Sequence[tuple[str, Any]], split_texts: Sequence[str]) -> str | None:
    """Why the judge's replies leave nothing to score, or None. ``split_texts`` names the
    texts ragas asked the judge to split into statements, in order (e.g. the answer, then
    the ground truth)."""
    splits = [reply.statements for name, reply in trace if name == "StatementGeneratorOutput"]
    for text, statements in zip(split_texts, splits, strict=False):
        if not statements:
            return f"the judge found no statements in {text}"
    for name, reply in trace:
        if name == "NLIStatementOutput" and not reply.statements:
            return "the judge gave a verdict on none of the statements"
        if name == "ClassificationWithReason" and not (reply.TP or reply.FP):
            return "the judge classified none of the answer's statements"
        if name == "ContextRecallOutput" and not reply.classifications:
            return "the judge classified no statement of the ground truth"
    questions = [reply.question for name, reply in trace if name == "AnswerRelevanceOutput"]
    if questions and not any(q.strip() for q in questions):
        return "the judge inferred no question from the answer"
    return None


def unjudged(trace: Sequence[tuple[str, Any]]) -> dict[str, Any] | None:
    """When the judge returned fewer verdicts than the answer has statements (ragas then
    scores the answer as if it had only those): ``count`` skipped ``of`` all, and the
    ``statements`` whose text no verdict repeats. None when every statement was judged."""
    splits = [reply.statements for name, reply in trace if name == "StatementGeneratorOutput"]
    judged: list[str] = []
    for name, reply in trace:
        if name == "NLIStatementOutput":
            judged += [s.statement for s in reply.statements]
        elif name == "ClassificationWithReason":
            judged += [s.statement for s in reply.TP + reply.FP]
    if not splits or len(judged) >= len(splits[0]):
        return None
    seen = {_norm(s) for s in judged}
    return {
        "count": len(splits[0]) - len(judged),
        "of": len(splits[0]),
        "statements": [s for s in splits[0] if _norm(s) not in seen],
    }


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


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _preview(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."
