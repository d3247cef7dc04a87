"""CI integration: JUnit XML, a Markdown summary, and the bad-case loop.

The pytest plugin lives in :mod:`harness.pytest_plugin` (registered as a ``pytest11``
entry point).
"""

from harness.lazy import lazy_exports as _lazy_exports

#: Public name -> the module that defines it, imported on first use: the report needs only
#: junit's GateOutcome, not the bad-case loop's suite loading and reviews.
_EXPORTS = {
    **dict.fromkeys(
        [
            "BadCaseCandidate",
            "BadCaseRegression",
            "HarvestReport",
            "bad_case_regressions",
            "earlier_runs",
            "harvest",
            "harvest_candidates",
            "regressions_since",
            "review",
            "target_file",
        ],
        "harness.ci.badcases",
    ),
    **dict.fromkeys(["GateOutcome", "junit_xml", "write_junit", "xml_safe"], "harness.ci.junit"),
    **dict.fromkeys(
        ["github_step_summary_path", "summary_markdown", "write_summary_md"],
        "harness.ci.summary_md",
    ),
}

__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)

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
