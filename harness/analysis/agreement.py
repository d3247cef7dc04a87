"""Judge agreement: how often the judge agrees with human labels carried by some cases
(or, through ``harness agreement``, with the reviews people wrote in ``harness view``).

Before trusting an LLM judge on thousands of cases, check it on the few a person has
labelled: accuracy (exact agreement), Cohen's kappa (scikit-learn; agreement beyond
chance, optionally weighted for ordinal grades) and Spearman's rho (scipy; does the
judge rank answers as the person does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from harness.analysis.base import (
    Analysis,
    AnalysisParams,
    AnalysisResult,
    MatrixChart,
    Needs,
    Table,
)
from harness.errors import ScorerError

if TYPE_CHECKING:
    from harness.results.models import CaseResult, Score
    from harness.scorers.context import ScoringContext

_PASS = {"pass": 1, "passed": 1, "yes": 1, "true": 1, "1": 1, "good": 1,
         "fail": 0, "failed": 0, "no": 0, "false": 0, "0": 0, "bad": 0}  # fmt: skip


class AgreementParams(AnalysisParams):
    #: The case var holding the human label (cases without it are skipped).
    human_var: str
    #: The assertion whose verdicts are compared: its ``name`` (default: its ``type``).
    scorer: str = "judge"
    #: ``grade``: the judge's grade vs a human grade; ``pass``: pass/fail vs a human pass/fail.
    compare: Literal["grade", "pass"] = "grade"
    #: Cohen's kappa weighting for ordinal grades (scikit-learn's ``weights``).
    weights: Literal["linear", "quadratic"] | None = None
    #: Raw human label -> the value compared (e.g. ``{"true": 0, "false": 1}`` when the
    #: label says "hallucinated"); keys are matched case-insensitively.
    labels: dict[str, int] | None = None
    #: Flag the run when kappa falls below this.
    min_kappa: float | None = Field(default=None, ge=-1, le=1)


class AgreementAnalysis(Analysis):
    name = "judge_agreement"
    title = "Judge agreement with human labels"
    Params = AgreementParams
    params: AgreementParams

    def needs(self) -> Needs:
        p = self.params
        return Needs(vars=[("human_var", p.human_var)], scorers=[("scorer", p.scorer)])

    async def analyze(self, results: list[CaseResult], ctx: ScoringContext) -> AnalysisResult:
        human, judged = self._pairs(self.select(results))
        if not human:
            raise ScorerError(
                f"no case has both a human label in var {self.params.human_var!r} and a "
                f"{self.params.scorer!r} verdict"
            )
        return agreement(
            self.id, human, judged, weights=self.params.weights, min_kappa=self.params.min_kappa
        )

    def _pairs(self, results: list[CaseResult]) -> tuple[list[Any], list[Any]]:
        human, judged = [], []
        for r in results:
            label = r.vars.get(self.params.human_var)
            score = next((s for s in r.scores if s.name == self.params.scorer), None)
            if label is None or label == "" or score is None or score.error is not None:
                continue
            human.append(self._label(label, r))
            judged.append(self._verdict(score))
        return human, judged

    def _label(self, label: Any, r: CaseResult) -> int:
        if self.params.labels is not None:
            mapping = {str(k).strip().lower(): v for k, v in self.params.labels.items()}
            key = str(label).strip().lower()
            if key not in mapping:
                raise ScorerError(f"case {r.row_id}: human label {label!r} is not in 'labels'")
            return mapping[key]
        if self.params.compare == "pass":
            key = str(label).strip().lower()
            if key not in _PASS:
                raise ScorerError(
                    f"case {r.row_id}: human label {label!r} is not pass/fail (use pass, fail, "
                    "yes, no, true, false, 1 or 0)"
                )
            return _PASS[key]
        try:
            return _integer(label)
        except ValueError:
            raise ScorerError(f"case {r.row_id}: human grade {label!r} is not an integer") from None

    def _verdict(self, score: Score) -> int:
        if self.params.compare == "pass":
            return int(bool(score.passed))
        grade = score.metadata.get("grade")
        if grade is None:
            raise ScorerError(
                f"scorer {score.scorer!r} records no grade: compare 'pass' instead of 'grade'"
            )
        return int(grade)


def agreement(
    id: str,
    human: Sequence[int],
    judged: Sequence[int],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    min_kappa: float | None = None,
    title: str = AgreementAnalysis.title,
    who: str = "labelled",
) -> AnalysisResult:
    """The agreement of paired labels, ``human[i]`` and ``judged[i]`` for case i: accuracy,
    Cohen's kappa (``weights`` for ordinal grades), Spearman's rho and the confusion matrix;
    flagged when kappa is below ``min_kappa``. What the ``judge_agreement`` analysis reports
    (human labels from a case var) and ``harness agreement`` (human reviews) too."""
    import scipy
    import sklearn
    from scipy import stats
    from sklearn.metrics import cohen_kappa_score

    h, j = np.array(human), np.array(judged)
    accuracy = float(np.mean(h == j))
    varied = len(set(human) | set(judged)) > 1
    kappa = float(cohen_kappa_score(h, j, weights=weights)) if varied else None
    rho = p_value = None
    if len(set(human)) > 1 and len(set(judged)) > 1:  # Spearman is undefined for constants
        found = stats.spearmanr(h, j)
        rho = float(found.statistic)
        p_value = None if np.isnan(found.pvalue) else float(found.pvalue)  # NaN when n = 2
    labels = sorted(set(human) | set(judged))
    matrix = [[int(np.sum((h == a) & (j == b))) for b in labels] for a in labels]
    metrics = {"n": len(human), "accuracy": accuracy, "cohen_kappa": kappa,
               "spearman_rho": rho, "spearman_p": p_value}  # fmt: skip
    flags = []
    if min_kappa is not None and (kappa is None or kappa < min_kappa):
        flags.append(f"Cohen's kappa {_opt(kappa)} is below {min_kappa}: check the judge")
    return AnalysisResult(
        id=id,
        type=AgreementAnalysis.name,
        title=title,
        summary=f"{len(human)} {who} cases: the judge agrees on {accuracy:.0%}, "
        f"Cohen's kappa {_opt(kappa)}, Spearman {_opt(rho)}.",
        tables=[
            Table(
                title="Agreement",
                columns=list(metrics),
                rows=[list(metrics.values())],
                note=None if varied else "every label is the same: kappa is undefined",
            )
        ],
        charts=[
            MatrixChart(
                title="Human (rows) vs judge (columns)",
                row_labels=[str(x) for x in labels],
                col_labels=[str(x) for x in labels],
                values=[[float(v) for v in row] for row in matrix],
                row_title="human",
                col_title="judge",
            )
        ],
        flags=flags,
        data=metrics | {"human": list(human), "judge": list(judged)},
        versions={"scikit-learn": sklearn.__version__, "scipy": scipy.__version__},
    )


def _integer(value: Any) -> int:
    number = float(value)
    if isinstance(value, bool) or not number.is_integer():
        raise ValueError(value)
    return int(number)


def _opt(x: float | None) -> str:
    return "n/a (constant labels)" if x is None else f"{x:.3f}"
