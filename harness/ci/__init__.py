"""CI integration: JUnit XML, a Markdown summary, and the bad-case loop.

The pytest plugin lives in :mod:`harness.pytest_plugin` (registered as a ``pytest11``
entry point).
"""

from harness.ci.badcases import (
    BadCaseCandidate,
    BadCaseRegression,
    HarvestReport,
    bad_case_regressions,
    earlier_runs,
    harvest,
    harvest_candidates,
    regressions_since,
    review,
    target_file,
)
from harness.ci.junit import GateOutcome, junit_xml, write_junit, xml_safe
from harness.ci.summary_md import github_step_summary_path, summary_markdown, write_summary_md

__all__ = [
    "BadCaseCandidate",
    "BadCaseRegression",
    "GateOutcome",
    "HarvestReport",
    "bad_case_regressions",
    "earlier_runs",
    "github_step_summary_path",
    "harvest",
    "harvest_candidates",
    "junit_xml",
    "regressions_since",
    "review",
    "summary_markdown",
    "target_file",
    "write_junit",
    "write_summary_md",
    "xml_safe",
]
