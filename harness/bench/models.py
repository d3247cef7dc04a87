"""The typed results of a benchmark run, as written to ``--json`` (schema version 1)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class QuestionResult(BaseModel):
    """One scored question: the verdict, and the four answer-letter probabilities where
    the mode gives them (not in ``generate`` mode, which reads the letter from the text)."""

    doc_id: int
    row_id: str
    question: str
    options: list[str]
    answer: str
    #: The letter with the highest loglikelihood (lm-eval's ``acc`` prediction), or the
    #: letter found in the answer text (None: no letter found).
    pred: str | None
    correct: bool
    #: lm-eval's ``acc_norm`` verdict (highest loglikelihood per character of the choice), where
    #: the task reports ``acc_norm`` (C-Eval, CMMLU).
    correct_norm: bool | None = None
    #: Loglikelihood of " A" .. " D" after the prompt, as lm-eval logged them.
    logliks: list[float] | None = None
    #: Softmax of ``logliks``: the model's distribution over the four letters.
    probs: list[float] | None = None
    #: The model's answer text (``generate`` mode).
    output: str | None = None

    @property
    def confidence(self) -> float | None:
        return None if self.probs is None else max(self.probs)


class ReliabilityBin(BaseModel):
    lower: float
    upper: float
    count: int
    #: Accuracy and mean confidence of the bin's questions; None for an empty bin.
    accuracy: float | None
    confidence: float | None


class Calibration(BaseModel):
    """Calibration of the top choice (definitions in :mod:`harness.bench.calibration`)."""

    n: int
    ece: float | None
    n_bins: int
    #: Multi-class Brier score: mean over questions of sum over A-D of (p - y)^2, in [0, 2].
    brier: float | None
    #: Binary Brier score of the top choice: mean of (confidence - correct)^2, in [0, 1].
    brier_top1: float | None
    #: Area under the risk-coverage curve (lower is better); 1 - aurc is the area under
    #: the selective-accuracy curve.
    aurc: float | None
    bins: list[ReliabilityBin]


class SubjectResult(BaseModel):
    benchmark: str
    subject: str
    task: str
    n: int
    n_shots: int
    #: lm-eval's ``acc`` and ``acc_stderr`` for this task.
    acc: float
    acc_stderr: float | None
    #: lm-eval's ``acc_norm`` and its stderr, where lm-eval's own task for the benchmark
    #: reports it (``ceval-valid``, ``cmmlu``; not ``mmlu``).
    acc_norm: float | None = None
    acc_norm_stderr: float | None = None
    calibration: Calibration
    description: str
    description_source: str
    questions: list[QuestionResult]

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.subject}"

    @property
    def n_correct(self) -> int:
        return sum(q.correct for q in self.questions)


class ModelInfo(BaseModel):
    #: The provider id of a suite's model, or what --model named.
    label: str | None = None
    name: str
    fingerprint: str
    dtype: str
    device: str


class BenchResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    model: ModelInfo
    #: How answers were scored: ``loglikelihood`` (a local model's, or an API's echoed
    #: prompt logprobs from its completions endpoint), ``logprobs`` (an API's top_logprobs
    #: of the first answer token) or ``generate`` (the letter in the text).
    mode: str = "loglikelihood"
    created_at: datetime
    harness_version: str
    lm_eval_version: str
    shots: int
    limit: int | None
    batch_size: int
    seconds: float
    subjects: list[SubjectResult]
    #: Mean of the subjects' accuracies, and its standard error sqrt(sum se_i^2) / k.
    macro_acc: float
    macro_stderr: float | None
    #: Correct answers over all questions, and its standard error (lm-eval's formula,
    #: sample standard deviation / sqrt(n), over the pooled questions).
    micro_acc: float
    micro_stderr: float | None
    #: The same two averages of ``acc_norm``, when every subject has it.
    macro_acc_norm: float | None = None
    macro_acc_norm_stderr: float | None = None
    micro_acc_norm: float | None = None
    micro_acc_norm_stderr: float | None = None
    #: Calibration over all questions pooled.
    calibration: Calibration
    notes: list[str] = Field(default_factory=list)

    def subject(self, key: str) -> SubjectResult:
        for s in self.subjects:
            if s.key == key:
                return s
        raise KeyError(key)
