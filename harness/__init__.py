"""harness: LLM evaluation and prompt-regression harness.

The public Python API; everything else is internal and may change::

    from harness import run_suite
    outcome = run_suite("suites/demo.yaml")
    print(outcome.run.run_id, sum(r.passed for r in outcome.results))
"""

__version__ = "0.1.0"

from harness.lazy import lazy_exports as _lazy_exports

#: Public name -> the module that defines it. Imported on first use, so that the CLI (and a
#: Ctrl-C while it loads) does not pay for pandas, scipy and the SDK before it needs them.
_EXPORTS = {
    "RunOutcome": "harness.api",
    "prepare": "harness.api",
    "run_suite": "harness.api",
    "Selection": "harness.selection",
    "AuthError": "harness.errors",
    "HarnessError": "harness.errors",
    "PermanentProviderError": "harness.errors",
    "ProviderError": "harness.errors",
    "RateLimitError": "harness.errors",
    "ScorerError": "harness.errors",
    "SelectionError": "harness.errors",
    "StoreError": "harness.errors",
    "SuiteError": "harness.errors",
    "TransientProviderError": "harness.errors",
    "TransientError": "harness.errors",
    "ProviderResponse": "harness.providers.python_app",
    "CaseResult": "harness.results.models",
    "RunRecord": "harness.results.models",
    "Score": "harness.results.models",
    "ResultStore": "harness.results.store",
    "Scorer": "harness.scorers",
    "ScoreValue": "harness.scorers",
    "CaseView": "harness.scorers.case",
    "GradingResult": "harness.scorers.case",
    "available_scorers": "harness.scorers",
    "get_scorer": "harness.scorers",
}


__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "AuthError",
    "CaseResult",
    "CaseView",
    "GradingResult",
    "HarnessError",
    "PermanentProviderError",
    "ProviderError",
    "ProviderResponse",
    "RateLimitError",
    "ResultStore",
    "RunOutcome",
    "RunRecord",
    "Score",
    "ScoreValue",
    "Scorer",
    "ScorerError",
    "Selection",
    "SelectionError",
    "StoreError",
    "SuiteError",
    "TransientError",
    "TransientProviderError",
    "__version__",
    "available_scorers",
    "get_scorer",
    "prepare",
    "run_suite",
]
