"""Gates name assertions, prompt versions, providers and case sets: check the names when the
suite loads, so a typo is a ``file:line`` error before any paid call, not after the run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.suite.loader import LoadedSuite, did_you_mean

if TYPE_CHECKING:
    from harness.cases import Case

#: The gate metric that means the case verdict (see harness.compare.records.PASS).
VERDICT = "pass"


def check_gate_names(loaded: LoadedSuite, cases: Iterable[Case]) -> None:
    """Raise a :class:`SuiteError` at the gate's line for a name the suite does not have."""
    if not loaded.suite.gates:
        return
    metrics = {VERDICT} | {b.name for c in cases for b in c.row.asserts}
    known = {
        "metric": metrics,
        "prompt": {p.id for p in loaded.suite.prompts},
        "provider": {p.id for p in loaded.suite.providers},
        "case_set": {"main"} | {b.name for b in loaded.suite.bad_cases},
    }
    for i, gate in enumerate(loaded.suite.gates):
        if gate.bad_cases_stay_fixed:
            continue
        for field, options in known.items():
            value = getattr(gate, field)
            if value is not None and value not in options:
                names = sorted(options)
                what = "an assertion name" if field == "metric" else f"a {field.replace('_', ' ')}"
                raise loaded.error(
                    f"gate {field} '{value}' is not {what} of this suite."
                    f"{did_you_mean(value, names)} Available: {', '.join(names)}",
                    "gates",
                    i,
                    field,
                )
