"""Plain-text descriptions of a case result, shared by JUnit XML, the pytest plugin and harvest.

A failure reads the same everywhere: which case, the prompt, the output, the expected
answers, and every score against its threshold.
"""

from __future__ import annotations

import re

from harness.results.models import CaseResult, Score

#: Longest output or prompt shown in full; longer text is cut with a note of how much was cut.
MAX_TEXT = 4000
#: Control characters (all but newline and tab) and lone surrogates: shown as escapes, so
#: model output cannot recolour a CI log or break an XML report.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def visible(text: str) -> str:
    """``text`` with control characters written as ``\\x1b``-style escapes."""
    return _INVISIBLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def case_label(result: CaseResult) -> str:
    """``set / prompt / provider / row``, the set left out for the suite's own cases."""
    parts = [result.prompt_id, result.provider_id, result.row_id]
    if result.case_set != "main":
        parts.insert(0, result.case_set)
    return " / ".join(parts)


def score_line(score: Score) -> str:
    """``f1 = 0.200 < 0.500`` with the comparison that decided it (or the scorer's error),
    by the assertion's :attr:`~harness.results.models.Score.label`."""
    name = score.label
    if score.error is not None:
        return f"{name}: error: {first_line(score.error)}"
    value = _num(score.value)
    if score.threshold is None or score.passed is None or score.value is None:
        return f"{name} = {value}"
    good, bad = (">=", "<") if score.higher_is_better else ("<=", ">")
    if score.inverted:  # the scorer's own comparison reversed: the boundary now fails
        good, bad = good.rstrip("="), bad + "="
    return f"{name} = {value} {good if score.passed else bad} {_num(score.threshold)}"


def failure_summary(result: CaseResult) -> str:
    """One line saying why the case failed: the error, or every failing score vs threshold."""
    if result.error is not None:
        return f"error: {first_line(result.error)}"
    failing = [score_line(s) for s in result.scores if s.passed is False]
    if result.threshold is not None and result.score is not None:
        op = ">=" if result.passed else "<"
        failing.insert(0, f"case score {_num(result.score)} {op} {_num(result.threshold)}")
    if not failing:
        return "failed" if not result.passed else "passed"
    return "; ".join(failing)


def failure_details(result: CaseResult, where: str | None = None, max_text: int = MAX_TEXT) -> str:
    """The full, multi-line description of one case result."""
    lines = [f"case: {case_label(result)}" + (f"  ({where})" if where else "")]
    if result.description:
        lines.append(f"description: {first_line(result.description, 500)}")
    lines.append(f"model: {result.model}")
    lines.append("prompt:")
    for message in result.messages:
        lines.append(f"  [{message.role}]")
        lines.extend(_indented(cut(message.content, max_text)))
    if result.error is not None:
        lines.append("error:")
        lines.extend(_indented(cut(result.error, max_text)))
    else:
        lines.append("output:")
        lines.extend(_indented(cut(result.output or "", max_text)))
    if result.expected:
        lines.append("expected: " + " | ".join(repr(e) for e in result.expected))
    else:
        lines.append("expected: (none)")
    if result.threshold is not None and result.score is not None:
        lines.append(f"case score: {_num(result.score)} (threshold {_num(result.threshold)})")
    if result.scores:
        lines.append("scores:")
        for score in result.scores:
            verdict = {True: "pass", False: "FAIL", None: "info"}[score.passed]
            line = f"  {verdict}  {score_line(score)}"
            if score.answer is not None and score.answer != result.output:
                line += f"  (answer: {cut(repr(score.answer), 200)})"
            lines.append(line)
            if score.explanation and score.passed is False:
                lines.extend(_indented(cut(score.explanation, max_text), "        "))
    return "\n".join(lines)


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` made visible, or its first ``limit`` characters and how many more there were."""
    if len(text) <= limit:
        return visible(text)
    return f"{visible(text[:limit])}… [{len(text) - limit} more characters]"


def first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return cut(line, limit)


def _indented(text: str, prefix: str = "    ") -> list[str]:
    return [prefix + line for line in text.split("\n")] if text else [prefix + "(empty)"]


def _num(value: float | None) -> str:
    return "None" if value is None else f"{value:.3f}"
