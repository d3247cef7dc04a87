"""A Python evaluation: run a suite through the harness API and check what matters here.

`pytest evals/` runs this beside the cases of smoke.yaml; the suite runs once per session.
"""

from pathlib import Path

SUITE = Path(__file__).with_name("smoke.yaml")


def test_every_smoke_case_passes(harness):
    outcome = harness.run(SUITE)
    harness.assert_passed(outcome)


def test_bad_cases_run_with_the_suite_and_count_apart(harness):
    outcome = harness.run(SUITE)
    assert {r.case_set for r in outcome.results} == {"main", "regressions"}
    assert harness.pass_rate(outcome, case_set="regressions") == 1.0


def test_the_suite_expands_without_calling_a_model(harness):
    prepared = harness.prepare(SUITE)
    assert len(prepared.plan.cases) == 4
