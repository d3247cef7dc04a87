"""harness: LLM evaluation and prompt-regression harness.

The public Python API; everything else is internal and may change::

    from harness import run_suite
    outcome = run_suite("suites/demo.yaml")
    print(outcome.run.run_id, sum(r.passed for r in outcome.results))
"""

__version__ = "0.1.0"

from harness.api import RunOutcome, prepare, run_suite
from harness.errors import (
    AuthError,
    HarnessError,
    PermanentProviderError,
    ProviderError,
    RateLimitError,
    ScorerError,
    StoreError,
    SuiteError,
    TransientProviderError,
)
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import ResultStore
from harness.scorers import Scorer, ScoreValue, available_scorers, get_scorer

__all__ = [
    "AuthError",
    "CaseResult",
    "HarnessError",
    "PermanentProviderError",
    "ProviderError",
    "RateLimitError",
    "ResultStore",
    "RunOutcome",
    "RunRecord",
    "Score",
    "ScoreValue",
    "Scorer",
    "ScorerError",
    "StoreError",
    "SuiteError",
    "TransientProviderError",
    "__version__",
    "available_scorers",
    "get_scorer",
    "prepare",
    "run_suite",
]
