"""Benchmark files in the three official dialects, and results built without a model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.bench.calibration import calibrate, softmax
from harness.bench.models import (
    BenchResult,
    Calibration,
    ModelInfo,
    QuestionResult,
    SubjectResult,
)

#: MMLU rows (no header): text a CSV reader would change if it guessed types or trimmed.
MMLU_TEST = [
    ["What is 1/2 as a decimal?", "0.50", "NA", "007", " 2 ", "A"],
    ['Pick the "quoted, comma" one.\nSecond line.', "x, y", "None", "null", "TRUE", "B"],
    ["Which is a group?", "Z", "N", "the empty set", "{0,1} under +", "A"],
    ["Order of Z_4?", "1", "2", "3", "4", "D"],
    ["Is Z_3 a field?", "yes", "no", "maybe", "never", "A"],
    ["Statement 1 | True. Statement 2 | False.", "True, True", "False, False", "True, False",
     "False, True", "C"],
]  # fmt: skip
MMLU_DEV = [
    ["Dev one?", "a", "b", "c", "d", "A"],
    ["Dev two?", "a", "b", "c", "d", "B"],
    ["Dev three?", "a", "b", "c", "d", "C"],
    ["Dev four?", "a", "b", "c", "d", "D"],
    ["Dev five?", "a", "b", "c", "d", "A"],
]
#: C-Eval: id column, CRLF line ends, a quoted field holding a CRLF.
CEVAL_VAL = [
    [
        "0",
        "在802.3标准中，发送帧之前需要____",
        "等待冲突",
        "等待令牌",
        "监听介质",
        "接受一个帧",
        "C",
    ],
    ["1", "TCP是____层协议", "网络", "传输", "应用", "链路", "B"],
    ["2", "第一行\r\n第二行：IP地址的长度是____位", "16", "32", "64", "128", "B"],
    ["3", "HTTP默认端口是____", "21", "25", "80", "110", "C"],
    ["4", "DNS的作用是____", "域名解析", "路由", "加密", "压缩", "A"],
]
CEVAL_DEV = [
    [str(i), f"开发题{i}", "甲", "乙", "丙", "丁", "ABCDA"[i], f"解析{i}"] for i in range(5)
]
#: CMMLU: unnamed index column; Kangxi radicals (U+2F00 ⼀, U+2F06 ⼆, U+2F08 ⼈) kept as is.
CMMLU_TEST = [
    ["0", "秦朝统⼀六国的时间是", "前221年", "前206年", "前202年", "前230年", "A"],
    ["1", "⼆十四史中第⼀部是", "汉书", "史记", "后汉书", "三国志", "B"],
    ["2", "“⼈”字旁的历史人物", "孔子", "孟子", "荀子", "老子", "C"],
    ["3", "唐朝建立于", "618年", "907年", "960年", "581年", "A"],
]
CMMLU_DEV = [[str(i), f"历史题{i}", "甲", "乙", "丙", "丁", "ABCDA"[i]] for i in range(5)]


def csv_text(rows: list[list[str]], header: list[str] | None, newline: str = "\n") -> str:
    """RFC 4180 CSV: fields with a quote, comma, newline or edge space are quoted."""

    def field(value: str) -> str:
        if any(c in value for c in '",\r\n') or value != value.strip():
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = ([header] if header else []) + rows
    return "".join(",".join(field(v) for v in line) + newline for line in lines)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def write_dialect_folder(root: Path) -> Path:
    """mmlu:abstract_algebra, mmlu:toy_subject, ceval:computer_network and
    cmmlu:chinese_history in their official layouts and dialects."""
    for subject in ("abstract_algebra", "toy_subject"):
        write(root / f"mmlu/test/{subject}_test.csv", csv_text(MMLU_TEST, None))
        write(root / f"mmlu/dev/{subject}_dev.csv", csv_text(MMLU_DEV, None))
    ceval_header = ["id", "question", "A", "B", "C", "D", "answer"]
    write(root / "ceval/val/computer_network_val.csv", csv_text(CEVAL_VAL, ceval_header, "\r\n"))
    write(
        root / "ceval/dev/computer_network_dev.csv",
        csv_text(CEVAL_DEV, [*ceval_header, "explanation"], "\r\n"),
    )
    cmmlu_header = ["", "Question", "A", "B", "C", "D", "Answer"]
    write(root / "cmmlu/test/chinese_history.csv", csv_text(CMMLU_TEST, cmmlu_header))
    write(root / "cmmlu/dev/chinese_history.csv", csv_text(CMMLU_DEV, cmmlu_header))
    return root


def question(
    i: int, answer: str, logliks: list[float], *, text: str | None = None
) -> QuestionResult:
    probs = [float(p) for p in softmax(logliks)]
    pred = "ABCD"[max(range(4), key=lambda k: logliks[k])]
    return QuestionResult(
        doc_id=i,
        row_id=str(i),
        question=text or f"Question {i}?",
        options=["w", "x", "y", "z"],
        answer=answer,
        pred=pred,
        correct=pred == answer,
        logliks=logliks,
        probs=probs,
    )


def subject(key: str, questions: list[QuestionResult]) -> SubjectResult:
    benchmark, name = key.split(":")
    acc = sum(q.correct for q in questions) / len(questions)
    return SubjectResult(
        benchmark=benchmark,
        subject=name,
        task=f"bench_{benchmark}_{name}",
        n=len(questions),
        n_shots=5,
        acc=acc,
        acc_stderr=0.1,
        calibration=_cal(questions),
        description="d",
        description_source="lm-eval",
        questions=questions,
    )


def result(model: str, subjects: list[SubjectResult]) -> BenchResult:
    everything = [q for s in subjects for q in s.questions]
    accs = [s.acc for s in subjects]
    return BenchResult(
        model=ModelInfo(name=model, fingerprint="f" * 16, dtype="float32", device="cpu"),
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        harness_version="0",
        lm_eval_version="0.4.13",
        shots=5,
        limit=None,
        batch_size=8,
        seconds=1.0,
        subjects=subjects,
        macro_acc=sum(accs) / len(accs),
        macro_stderr=0.05,
        micro_acc=sum(q.correct for q in everything) / len(everything),
        micro_stderr=0.05,
        calibration=_cal(everything),
    )


def _cal(questions: list[QuestionResult]) -> Calibration:
    return calibrate(
        [q.probs for q in questions],
        ["ABCD".index(q.answer) for q in questions],
        [q.correct for q in questions],
    )
