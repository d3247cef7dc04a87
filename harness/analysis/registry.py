"""Analysis types by name, imported on first use, with checked parameters."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from harness.analysis.base import Analysis, AnalysisResult
from harness.errors import AuthError, ScorerError, SuiteError
from harness.results.models import CaseResult
from harness.runner.context import ScoringContext
from harness.runner.refs import check_models, declared_models
from harness.suite.loader import LoadedSuite, did_you_mean

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
    """Build the analysis ``type_name``; a bad name or parameter raises SuiteError (no line:
    the caller adds where the analysis is written)."""
    if type_name not in _ANALYSES:
        hint = did_you_mean(type_name, list(_ANALYSES))
        known = ", ".join(available_analyses()) or "none"
        raise SuiteError(f"unknown analysis type {type_name!r}.{hint} Available: {known}")
    module_name, _, attr = _ANALYSES[type_name].partition(":")
    cls: type[Analysis] = getattr(importlib.import_module(module_name), attr)
    try:
        checked = cls.Params.model_validate(params)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'parameters'}: {err['msg']}"
            for err in e.errors()
        )
        raise SuiteError(f"analysis {id!r} ({type_name}): {problems}") from None
    return cls(id, checked)


def build_analyses(loaded: LoadedSuite) -> list[Analysis]:
    """The suite's analyses, checked; errors point at the analysis in the suite file."""
    declared = declared_models(loaded)
    built = []
    for i, spec in enumerate(loaded.suite.analyses):
        try:
            analysis = get_analysis(spec.type, spec.id or spec.type, spec.params)
            check_models(declared, analysis.judges(), [])
        except (SuiteError, ScorerError) as e:
            message = e.message if isinstance(e, SuiteError) else str(e)
            raise loaded.error(message, "analyses", i) from None
        built.append(analysis)
    return built


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
