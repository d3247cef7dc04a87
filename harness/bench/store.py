"""Benchmark results in the results store, as an ordinary run: one case per question x model.

Each question becomes a :class:`CaseResult` whose provider is the model's label, whose row
is ``SUBJECT/ROW`` and whose tags are the benchmark and subject, scored ``acc`` (1 when the
chosen letter is the answer). So ``harness runs``, ``harness export`` and
``harness compare RUN --providers REF`` (checkpoint vs checkpoint, per subject through the
tags) work on benchmark runs as they do on suite runs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

from harness import __version__
from harness.bench.models import BenchResult, QuestionResult, SubjectResult
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import ResultStore


def save_bench(
    store: ResultStore, results: list[BenchResult], *, name: str, path: str = ""
) -> RunRecord:
    """Store ``results`` (models benchmarked on the same questions) as one complete run."""
    now = datetime.now(UTC)
    first = results[0]
    questions = sum(len(s.questions) for r in results for s in r.subjects)
    run = RunRecord(
        run_id=f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        suite_name=name,
        suite_path=path,
        suite_hash=_hash([first.shots, first.limit, [s.key for s in first.subjects]]),
        created_at=now,
        finished_at=now,
        status="complete",
        harness_version=__version__,
        providers=[
            {
                "id": _label(r),
                "type": "bench",
                "model": r.model.name,
                "revision": r.model.fingerprint,
                "mode": r.mode,
            }
            for r in results
        ],
        prompts=[_prompt_id(first)],
        n_cases=questions,
    )
    store.save_run(run)
    for result in results:
        for subject in result.subjects:
            for question in subject.questions:
                store.add_result(_case(run.run_id, result, subject, question, now))
    return run


def _case(
    run_id: str, result: BenchResult, subject: SubjectResult, q: QuestionResult, when: datetime
) -> CaseResult:
    row_id = f"{subject.key}/{q.row_id}"
    case_id = _hash([_label(result), row_id])
    metadata = {"mode": result.mode, "pred": q.pred}
    if q.probs is not None:
        metadata["probs"] = dict(zip("ABCD", q.probs, strict=True))
    return CaseResult(
        run_id=run_id,
        case_id=case_id,
        request_key=case_id,
        prompt_id=_prompt_id(result),
        provider_id=_label(result),
        model=result.model.name,
        row_id=row_id,
        tags=[subject.benchmark, subject.key],
        vars={"question": q.question, **dict(zip("ABCD", q.options, strict=True))},
        messages=[],
        expected=[q.answer],
        output=q.output if q.output is not None else q.pred or "",
        scores=[
            Score(
                scorer="acc",
                version="1",
                value=float(q.correct),
                threshold=1.0,
                passed=q.correct,
                answer=q.pred,
                metadata=metadata,
            )
        ],
        passed=q.correct,
        finished_at=when,
    )


def _label(result: BenchResult) -> str:
    return result.model.label or result.model.name


def _prompt_id(result: BenchResult) -> str:
    return f"{result.shots}-shot"


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
