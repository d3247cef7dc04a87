"""Analysis types by name, imported on first use, with checked parameters."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from harness.analysis.base import Analysis, AnalysisResult
from harness.cases import Plan
from harness.errors import AuthError, ScorerError, SuiteError
from harness.results.models import CaseResult
from harness.scorers.context import ScoringContext
from harness.suite.loader import LoadedSuite, did_you_mean
from harness.suite.refs import check_models, declared_models

#: type name -> "module:Class"; the whole registry.
_ANALYSES: dict[str, str] = {
    "pairwise": "harness.analysis.pairwise:PairwiseAnalysis",
    "judge_agreement": "harness.analysis.agreement:AgreementAnalysis",
    "classification": "harness.analysis.classification:ClassificationAnalysis",
    "fairness": "harness.analysis.fairness:FairnessAnalysis",
    "robustness": "harness.analysis.robustness:RobustnessAnalysis",
    "prompt_sensitivity": "harness.analysis.sensitivity:PromptSensitivityAnalysis",
    "attack_success": "harness.analysis.attacks:AttackSuccessAnalysis",
}


def available_analyses() -> list[str]:
    return sorted(_ANALYSES)


def get_analysis(type_name: str, id: str, params: dict[str, Any]) -> Analysis:
    """Build the analysis ``type_name``; a bad name or parameter raises :class:`ParamError`
    (no line: the caller adds where the analysis is written)."""
    if type_name not in _ANALYSES:
        hint = did_you_mean(type_name, list(_ANALYSES))
        known = ", ".join(available_analyses()) or "none"
        raise ParamError(f"unknown analysis type {type_name!r}.{hint} Available: {known}")
    module_name, _, attr = _ANALYSES[type_name].partition(":")
    cls: type[Analysis] = getattr(importlib.import_module(module_name), attr)
    try:
        checked = cls.Params.model_validate(params)
    except ValidationError as e:
        # an unknown key first: a typo'd key is why a required one is missing
        error = min(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        key = str(error["loc"][0]) if error["loc"] else None
        raise ParamError(f"analysis {id!r} ({type_name}): {_describe(error, cls)}", key) from None
    return cls(id, checked)


class ParamError(SuiteError):
    """A bad analysis parameter; ``key`` names it, so the error can point at its line."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _describe(error: Any, cls: type[Analysis]) -> str:
    """One pydantic error in the words of a suite file: the parameter, what was expected, and
    what was given (or a "did you mean" for an unknown parameter)."""
    accepted = list(cls.Params.model_fields)
    where = ".".join(str(p) for p in error["loc"]) or "parameters"
    if error["type"] == "extra_forbidden":
        hint = did_you_mean(str(error["loc"][-1]), accepted)
        return f"unknown parameter {where!r}.{hint} Accepted parameters: {', '.join(accepted)}"
    if error["type"] == "missing":
        return f"missing parameter {where!r}. Accepted parameters: {', '.join(accepted)}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message} (got {error['input']!r})"


def build_analyses(loaded: LoadedSuite, plan: Plan) -> list[Analysis]:
    """The suite's analyses, checked against its cases; errors point at the analysis (or its
    parameter) in the suite file."""
    declared = declared_models(loaded)
    built = []
    for i, spec in enumerate(loaded.suite.analyses):
        try:
            analysis = get_analysis(spec.type, spec.id or spec.type, spec.params)
            check_models(declared, analysis.judges(), [])
            _check_needs(analysis, loaded, plan)
        except ParamError as e:
            raise _at(loaded, e.message, i, e.key) from None
        except (SuiteError, ScorerError) as e:
            raise _at(loaded, e.message if isinstance(e, SuiteError) else str(e), i) from None
        built.append(analysis)
    return built


def _at(loaded: LoadedSuite, message: str, index: int, key: str | None = None) -> SuiteError:
    line = loaded.line("analyses", index, key) if key else None
    return SuiteError(message, loaded.path, line or loaded.line("analyses", index))


def _check_needs(analysis: Analysis, loaded: LoadedSuite, plan: Plan) -> None:
    """Every variable, prompt, provider, family and assertion the analysis names exists."""
    case_set = analysis.params.case_set
    rows = {id(c.row): c.row for c in plan.cases if c.row.case_set == case_set}.values()
    if not rows:
        sets = sorted({c.row.case_set for c in plan.cases})
        raise ParamError(
            f"analysis {analysis.id!r}: case set {case_set!r} has no cases "
            f"(case sets: {', '.join(sets) or 'none'})",
            "case_set",
        )
    suite = loaded.suite
    known = {
        "case variable": sorted({v for r in rows for v in r.vars}),
        "prompt version": [p.id for p in suite.prompts],
        "provider": [p.id for p in suite.providers],
        "prompt family": sorted({p.family for p in suite.prompts if p.family}),
        "assertion": sorted({b.name for r in rows for b in r.asserts}),
    }
    needs = analysis.needs()
    wanted = zip(
        known,
        (needs.vars, needs.prompts, needs.providers, needs.families, needs.scorers),
        strict=True,
    )
    for what, pairs in wanted:
        for key, name in pairs:
            if name not in known[what]:
                listed = ", ".join(known[what]) or "none"
                where = f"{case_set!r} cases" if what in ("case variable", "assertion") else "suite"
                raise ParamError(
                    f"analysis {analysis.id!r}: {key}: no {what} {name!r} in the {where}."
                    f"{did_you_mean(name, known[what])} Known: {listed}",
                    key,
                )


async def run_analysis(
    analysis: Analysis, results: list[CaseResult], ctx: ScoringContext
) -> AnalysisResult:
    """The analysis' result; one that fails records its error instead of stopping the run
    (the cases are already stored), except for a judge's bad key."""
    try:
        found = await analysis.analyze(results, ctx)
    except AuthError:
        raise
    except Exception as e:
        found = analysis.result(error=f"{type(e).__name__}: {e}")
    failed = bool(found.flags) or found.error is not None
    return found.model_copy(update={"fails_run": analysis.params.fail_on_flag and failed})
