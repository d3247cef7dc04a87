"""Checkpoint vs checkpoint: which questions flipped between a reference and a candidate.

Questions are paired by ``benchmark:subject`` and row id, and a pair whose question text
differs is an error (the two results were not run on the same data). Per subject: both
accuracies, the questions right with the reference and wrong with the candidate
(``right_to_wrong``, regressions) and the reverse (``wrong_to_right``, fixes), with the
exact McNemar p-value of the two counts.
"""

from __future__ import annotations

from pydantic import BaseModel

from harness.bench.models import BenchResult, QuestionResult, SubjectResult
from harness.errors import BenchError


class Flip(BaseModel):
    doc_id: int
    row_id: str
    question: str
    options: list[str]
    answer: str
    #: The chosen letter and its probability with the reference and with the candidate.
    pred_ref: str
    pred_new: str
    conf_ref: float | None
    conf_new: float | None


class SubjectFlips(BaseModel):
    benchmark: str
    subject: str
    #: Questions paired (present in both results).
    n: int
    acc_ref: float
    acc_new: float
    right_to_wrong: list[Flip]
    wrong_to_right: list[Flip]
    #: Answered differently but wrong both times.
    changed_wrong: int
    p_value: float
    #: Questions of this subject in only one of the results.
    unpaired: int

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.subject}"


class Flips(BaseModel):
    reference: str
    candidate: str
    subjects: list[SubjectFlips]

    @property
    def n_right_to_wrong(self) -> int:
        return sum(len(s.right_to_wrong) for s in self.subjects)

    @property
    def n_wrong_to_right(self) -> int:
        return sum(len(s.wrong_to_right) for s in self.subjects)


def flips(reference: BenchResult, candidate: BenchResult) -> Flips:
    """The per-subject flips from ``reference`` to ``candidate`` (subjects in both)."""
    new = {s.key: s for s in candidate.subjects}
    shared = [s for s in reference.subjects if s.key in new]
    if not shared:
        raise BenchError(
            "the two results share no subject: "
            f"{', '.join(s.key for s in reference.subjects)} vs "
            f"{', '.join(s.key for s in candidate.subjects)}"
        )
    return Flips(
        reference=reference.model.name,
        candidate=candidate.model.name,
        subjects=[_subject(s, new[s.key]) for s in shared],
    )


def _subject(ref: SubjectResult, new: SubjectResult) -> SubjectFlips:
    from harness.compare.stats import mcnemar_exact  # scipy: imported when needed

    by_id = {q.row_id: q for q in new.questions}
    pairs = [(q, by_id[q.row_id]) for q in ref.questions if q.row_id in by_id]
    for a, b in pairs:
        if a.question != b.question or a.options != b.options:
            raise BenchError(
                f"{ref.key} row {a.row_id} differs between the two results: "
                "they were not run on the same data"
            )
    down = [_flip(a, b) for a, b in pairs if a.correct and not b.correct]
    up = [_flip(a, b) for a, b in pairs if b.correct and not a.correct]
    n = len(pairs)
    return SubjectFlips(
        benchmark=ref.benchmark,
        subject=ref.subject,
        n=n,
        acc_ref=sum(a.correct for a, _ in pairs) / n if n else 0.0,
        acc_new=sum(b.correct for _, b in pairs) / n if n else 0.0,
        right_to_wrong=down,
        wrong_to_right=up,
        changed_wrong=sum(not a.correct and not b.correct and a.pred != b.pred for a, b in pairs),
        p_value=mcnemar_exact(len(down), len(up)),
        unpaired=len(ref.questions) + len(new.questions) - 2 * n,
    )


def _flip(a: QuestionResult, b: QuestionResult) -> Flip:
    return Flip(
        doc_id=a.doc_id,
        row_id=a.row_id,
        question=a.question,
        options=a.options,
        answer=a.answer,
        pred_ref=a.pred,
        pred_new=b.pred,
        conf_ref=a.confidence,
        conf_new=b.confidence,
    )
