"""The rubric judge's prompt (English or Chinese) and the strict reading of its verdict.

A verdict is a grade on the rubric's scale, read from a JSON object (``{"reason": ...,
"score": N}``) or, failing that, from exactly one ``score: N`` line. Anything else is a
:class:`VerdictError`: a judge that rambles must never pass for a grade of 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import ScorerError
from harness.providers.base import Message
from harness.scorers.judge_call import extract_json_object, reply_preview
from harness.scorers.judge_rubric import Example, Rubric


class VerdictError(ScorerError):
    """The judge's reply holds no grade on the scale."""


@dataclass(frozen=True)
class Verdict:
    grade: int
    reason: str | None


@dataclass(frozen=True)
class Subject:
    """What the judge grades: the answer plus whatever the case provides around it."""

    answer: str
    question: str | None = None
    references: Sequence[str] = ()
    contexts: Sequence[str] = ()


_TEXT = {
    "en": {
        "role": "You are a strict, impartial evaluator. Grade the answer on this criterion only.",
        "criterion": "Criterion",
        "scale": "Scale",
        "examples": "Graded examples",
        "reply": (
            'Reply with one JSON object and nothing else: {{"reason": "<one or two sentences>", '
            '"score": <an integer grade from {low} to {high}>}}'
        ),
        "question": "Question",
        "contexts": "Context",
        "reference": "Reference answer",
        "answer": "Answer to grade",
        "reason": "Reason",
        "grade": "Grade",
    },
    "zh": {
        "role": "你是一名严格、公正的评审员。只按下面这一项标准给回答打分。",
        "criterion": "评价标准",
        "scale": "评分等级",
        "examples": "评分示例",
        "reply": (
            '只回复一个 JSON 对象，不要输出其他内容：{{"reason": "<一两句理由>", '
            '"score": <{low} 到 {high} 之间的整数分>}}'
        ),
        "question": "问题",
        "contexts": "上下文",
        "reference": "参考答案",
        "answer": "待评分的回答",
        "reason": "理由",
        "grade": "分数",
    },
}


def judge_messages(rubric: Rubric, subject: Subject) -> list[Message]:
    """The system message (criterion, scale, examples, reply format) and the user message."""
    t = _TEXT[rubric.language]
    scale = "\n".join(
        f"- {g.grade}{f' ({g.label})' if g.label else ''}: {g.description}" for g in rubric.scale
    )
    parts = [t["role"], f"{t['criterion']}: {rubric.criteria}", f"{t['scale']}:\n{scale}"]
    if rubric.examples:
        shown = "\n\n".join(_example(rubric, e) for e in rubric.examples)
        parts.append(f"{t['examples']}:\n\n{shown}")
    parts.append(t["reply"].format(low=rubric.low, high=rubric.high))
    return [
        Message(role="system", content="\n\n".join(parts)),
        Message(role="user", content=_subject_text(rubric, subject)),
    ]


def _subject_text(rubric: Rubric, subject: Subject) -> str:
    t = _TEXT[rubric.language]
    parts = []
    if subject.question is not None:
        parts.append(f"{t['question']}:\n{subject.question}")
    if subject.contexts:
        listed = "\n".join(f"[{i}] {c}" for i, c in enumerate(subject.contexts, 1))
        parts.append(f"{t['contexts']}:\n{listed}")
    for reference in subject.references:
        parts.append(f"{t['reference']}:\n{reference}")
    parts.append(f"{t['answer']}:\n{subject.answer}")
    return "\n\n".join(parts)


def _example(rubric: Rubric, example: Example) -> str:
    t = _TEXT[rubric.language]
    subject = Subject(
        example.answer,
        example.question,
        [example.reference] if example.reference is not None else [],
    )
    verdict = f"{t['grade']}: {example.grade}"
    if example.reason:
        verdict += f"\n{t['reason']}: {example.reason}"
    return f"{_subject_text(rubric, subject)}\n{verdict}"


_SCORE_KEYS = ("score", "grade", "rating", "评分", "分数", "得分")
_SCORE_LINE = re.compile(
    rf"^\s*(?:\*\*)?(?:{'|'.join(_SCORE_KEYS)})(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*"
    r"(-?\d+(?:\.0+)?)\s*(?:\*\*)?\s*(?:/\s*(\d+))?\s*[.。]?\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def parse_verdict(text: str, rubric: Rubric) -> Verdict:
    """The grade (on ``rubric``'s scale) and reason in the judge's reply, or VerdictError."""
    found = extract_json_object(text)
    if found is not None:
        keys = [k for k in _SCORE_KEYS if k in found]
        if keys:
            reason = found.get("reason") or found.get("explanation") or found.get("理由")
            grade = _as_grade(found[keys[0]], text, rubric)
            return Verdict(grade, str(reason) if reason is not None else None)
    lines = set(_SCORE_LINE.findall(text))
    if len(lines) == 1:
        ((grade, out_of),) = lines
        if out_of and int(out_of) != rubric.high:  # "3/10" is a grade on another scale
            raise VerdictError(
                f"judge verdict score {grade}/{out_of} is not on the scale "
                f"{rubric.low}..{rubric.high}: {reply_preview(text)}"
            )
        return Verdict(_as_grade(grade, text, rubric), None)
    raise VerdictError(
        f"unparseable judge verdict (expected JSON with an integer 'score' from {rubric.low} "
        f"to {rubric.high}): {reply_preview(text)}"
    )


def _as_grade(value: object, text: str, rubric: Rubric) -> int:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not number.is_integer():
        raise VerdictError(
            f"judge verdict score {value!r} is not an integer: {reply_preview(text)}"
        )
    grade = int(number)
    if grade not in {g.grade for g in rubric.scale}:
        raise VerdictError(
            f"judge verdict score {grade} is off the scale {rubric.low}..{rubric.high}: "
            f"{reply_preview(text)}"
        )
    return grade
