"""``type: python``: the user's own check, a function in a module next to the suite.

The function is called as ``fn(output, case)`` or ``fn(output, case, config)`` (``case`` a
read-only :class:`~harness.scorers.case.CaseView`, ``config`` the assertion's ``config:``
mapping), sync or async, and returns a number, a bool, a :class:`GradingResult` or a dict
of its fields. Whatever it raises is an error on that case's score, never a 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ScorerError, SuiteKeyError
from harness.scorers.base import ScoreValue
from harness.scorers.case import CaseScorer, CaseView, GradingResult
from harness.usercode import UserFunction, describe_error, load_function


class PythonScorer(CaseScorer):
    """A user's function as a scorer: ``fn(output, case[, config])``, sync or async."""

    name = "python"
    version = "1"
    default_threshold = 0.5

    def __init__(
        self,
        *,
        function: str,
        file: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.function = function
        self.file = file
        self.config = dict(config or {})
        self._fn: UserFunction | None = None

    def load(self, suite_dir: Path) -> None:
        try:
            fn = load_function(
                self.function, self.file, suite_dir, ("output", "case", "config"), optional=1
            )
        except SuiteKeyError as e:
            raise ScorerError(f"Scorer 'python': {e.message}") from None
        if self.config and fn.n_args < 3:
            raise ScorerError(
                f"Scorer 'python': the assertion has a 'config' but '{fn.label}' takes no third "
                "argument to receive it: define it as (output, case, config)"
            )
        self._fn = fn

    @property
    def version_string(self) -> str:
        """The function and a hash of its file: a changed check is a changed scorer."""
        fn = self._loaded()
        return f"{self.name}@{self.version} {fn.label}#{fn.fingerprint()[:8]}"

    async def score_case(self, output: str, case: CaseView) -> ScoreValue:
        fn = self._loaded()
        try:
            returned = await fn(output, case, dict(self.config))
        except Exception as e:
            raise ScorerError(f"{fn.label} raised {describe_error(e)}") from None
        return _as_score(returned, fn.label)

    def _loaded(self) -> UserFunction:
        if self._fn is None:
            raise ScorerError("Scorer 'python' used before load(): build it with get_scorer()")
        return self._fn


def _as_score(returned: Any, label: str) -> ScoreValue:
    """A check's return value as a score; anything ambiguous is an error that says why."""
    if isinstance(returned, dict):
        try:
            returned = GradingResult.model_validate(returned)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            raise ScorerError(
                f"{label} returned a dict that is not a result ({problems}); expected keys: "
                f"{', '.join(GradingResult.model_fields)}"
            ) from None
    if isinstance(returned, bool):
        returned = GradingResult(passed=returned)
    elif isinstance(returned, int | float):
        returned = GradingResult(value=returned)
    if not isinstance(returned, GradingResult):
        raise ScorerError(
            f"{label} returned {type(returned).__name__}: return a number, a bool, a "
            "harness.GradingResult or a dict with value / passed / reason / answer"
        )
    if returned.value is None and returned.passed is None:
        raise ScorerError(f"{label} returned a result with neither 'value' nor 'passed'")
    value = float(returned.passed) if returned.value is None else returned.value
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ScorerError(
            f"{label} returned {value}: scores are in [0, 1] (scale it, or say pass/fail "
            "with a bool or 'passed')"
        )
    return ScoreValue(
        value=value,
        passed=returned.passed,
        answer=returned.answer,
        explanation=returned.reason,
        metadata=dict(returned.metadata),
    )
