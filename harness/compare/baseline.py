"""Baseline files: a run's per-case verdicts and scores, saved to commit next to the suite.

A gate compares a new run with its baseline case by case (paired), so the file keeps
every case's key (case set, row, prompt version, provider), verdict and score values,
and nothing else: no outputs, no prompts, no secrets. Cases are sorted and written one
per line, so a re-saved baseline reviews as a readable diff. The file carries a schema
version; a file of another version is refused with the command that re-creates it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness import __version__
from harness.compare.records import CaseRecord, RecordSet
from harness.errors import CompareError
from harness.suite.yaml_lines import read_watched

if TYPE_CHECKING:
    from harness.suite.loader import LoadedSuite

BASELINE_FORMAT = "harness-baseline"
BASELINE_SCHEMA_VERSION = 1


class BaselineCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_set: str
    row_id: str
    prompt_id: str
    provider_id: str
    case_id: str
    tags: list[str] = Field(default_factory=list)
    passed: bool
    #: The model call failed (the error text itself is not kept: it is noise in a diff).
    errored: bool = False
    #: Value per assertion name; None where the scorer gave no value.
    scores: dict[str, float | None] = Field(default_factory=dict)
    #: Which sample of a repeated case (0, and absent from files saved before repeats).
    repeat: int = 0


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["harness-baseline"] = BASELINE_FORMAT
    schema_version: Literal[1] = BASELINE_SCHEMA_VERSION
    run_id: str
    suite_name: str
    suite_hash: str
    run_created_at: datetime
    saved_at: datetime
    harness_version: str
    #: Per assertion name: whether a higher value is better.
    higher_is_better: dict[str, bool] = Field(default_factory=dict)
    cases: list[BaselineCase]


def baseline_from(records: RecordSet) -> Baseline:
    """The baseline of a stored, complete run's records."""
    run = records.run
    if run is None:
        raise CompareError("a baseline is made from a stored run: give its run id")
    if run.status != "complete":
        raise CompareError(
            f"run {run.run_id} is {run.status}: a baseline must come from a complete run "
            f"(run the suite again to finish it, then save that run)"
        )
    cases = [
        BaselineCase(
            case_set=r.case_set,
            row_id=r.row_id,
            prompt_id=r.prompt_id,
            provider_id=r.provider_id,
            case_id=r.case_id,
            tags=list(r.tags),
            passed=r.passed,
            errored=r.error is not None,
            scores=r.scores,
            repeat=r.repeat,
        )
        for r in records.records
    ]
    cases.sort(
        key=lambda c: (
            c.case_set != "main", c.case_set, c.prompt_id, c.provider_id, c.row_id, c.repeat
        )
    )  # fmt: skip
    return Baseline(
        run_id=run.run_id,
        suite_name=run.suite_name,
        suite_hash=run.suite_hash,
        run_created_at=run.created_at,
        saved_at=datetime.now(UTC),
        harness_version=__version__,
        higher_is_better=records.higher_is_better,
        cases=cases,
    )


def write_baseline(baseline: Baseline, path: str | Path) -> Path:
    """Write ``baseline`` as JSON, one case per line (parent folders are created)."""
    out = Path(path)
    head = baseline.model_dump(mode="json", exclude={"cases"})
    lines = [json.dumps(_case_json(c), ensure_ascii=False) for c in baseline.cases]
    text = json.dumps(head, ensure_ascii=False, indent=2)[:-2]
    text += ',\n  "cases": [\n' + ",\n".join(lines) + "\n  ]\n}\n"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CompareError(f"cannot write the baseline {out}: {e}") from None
    return out


def _case_json(case: BaselineCase) -> dict[str, Any]:
    """A case's line; ``repeat`` only for a repeated case, so that the committed baseline of
    a suite run once reads as it did before repeats existed (no churn in its diff)."""
    return case.model_dump(mode="json", exclude={"repeat"} if case.repeat == 0 else None)


def load_baseline(path: str | Path, run_id: str = "RUN_ID") -> Baseline:
    """Read a baseline file; a missing, foreign or outdated file says how to make one.

    ``run_id`` goes into that advice (the run just made, when there is one).
    """
    path = Path(path)
    remake = f"make it with `harness baseline save {run_id} -o {path}`"
    try:
        text = read_watched(path).decode("utf-8")  # a quick replay checks it is unchanged
    except FileNotFoundError:
        raise CompareError(f"baseline file not found: {path}; {remake}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CompareError(f"cannot read the baseline {path}: {e}") from None
    try:
        head = json.loads(text)
    except json.JSONDecodeError as e:
        raise CompareError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); {remake}") from None
    if not isinstance(head, dict) or head.get("format") != BASELINE_FORMAT:
        raise CompareError(f"{path} is not a harness baseline file; {remake}")
    if head.get("schema_version") != BASELINE_SCHEMA_VERSION:
        raise CompareError(
            f"{path} has baseline schema version {head.get('schema_version')!r}, this harness "
            f"reads version {BASELINE_SCHEMA_VERSION}; re-save it: {remake}"
        )
    try:
        return Baseline.model_validate(head)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise CompareError(f"{path}: {where}: {first['msg']}; {remake}") from None


def baseline_records(baseline: Baseline, label: str) -> RecordSet:
    """The baseline's cases as records to pair with a run's (no outputs)."""
    records = [
        CaseRecord(
            case_id=c.case_id,
            case_set=c.case_set,
            row_id=c.row_id,
            prompt_id=c.prompt_id,
            provider_id=c.provider_id,
            tags=tuple(c.tags),
            passed=c.passed,
            error="error in the baseline run" if c.errored else None,
            output=None,
            expected=(),
            scores=dict(c.scores),
            repeat=c.repeat,
        )
        for c in baseline.cases
    ]
    return RecordSet(label, records, dict(baseline.higher_is_better))


def gate_baseline(loaded: LoadedSuite, index: int, run_id: str = "RUN_ID") -> Baseline:
    """The baseline file gate ``index`` names; a missing or unreadable file, or one saved from
    another suite, is an error at the gate's line (checked by ``harness validate`` too)."""
    gate = loaded.suite.gates[index]
    assert gate.baseline is not None
    path = loaded.resolve(gate.baseline)
    try:
        baseline = load_baseline(path, run_id)
    except CompareError as e:
        raise loaded.error(str(e), "gates", index, "baseline") from None
    if baseline.suite_name != loaded.suite.name:
        raise loaded.error(
            f"baseline {gate.baseline} was saved from suite '{baseline.suite_name}', not "
            f"'{loaded.suite.name}': save one from a run of this suite "
            f"(`harness baseline save RUN_ID -o {path}`)",
            "gates",
            index,
            "baseline",
        )
    return baseline
