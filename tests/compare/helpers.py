"""Build case results and runs for the comparison tests, without running a model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.providers.base import Message
from harness.results.models import CaseResult, RunRecord, Score

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def case(
    row: int,
    *,
    passed: bool = True,
    output: str | None = "ok",
    rouge: float | None = 0.5,
    run_id: str = "run-a",
    prompt: str = "v1",
    provider: str = "gpt",
    case_set: str = "main",
    tags: list[str] | None = None,
    error: str | None = None,
    expected: str = "ok",
    text: str = "",
) -> CaseResult:
    """One case with an ``exact`` verdict and a ``rougeL`` value (lower-is-better ``toxicity``).

    ``text`` changes the prompt text, hence the request key and case id, but not the row.
    """
    scores = []
    if error is None:
        scores = [
            Score(scorer="exact", version="exact@1", value=float(passed), threshold=1.0,
                  passed=passed),
            Score(scorer="rougeL", version="rougeL@1", value=rouge, threshold=0.0,
                  passed=rouge is not None),
            Score(scorer="toxicity", version="tox@1", value=0.1, threshold=0.5, passed=True,
                  higher_is_better=False),
        ]  # fmt: skip
    key = f"{case_set}-{prompt}-{provider}-{row}-{text}"
    return CaseResult(
        run_id=run_id,
        case_id=f"id-{key}",
        request_key=f"req-{key}",
        prompt_id=prompt,
        provider_id=provider,
        model=f"{provider}-model",
        case_set=case_set,
        row_id=str(row),
        tags=tags if tags is not None else (["even"] if row % 2 == 0 else ["odd"]),
        messages=[Message(role="user", content=f"question {row} {text}")],
        expected=[expected],
        output=None if error else output,
        error=error,
        scores=scores,
        passed=error is None and passed,
        finished_at=T0,
    )


def run_record(run_id: str = "run-a", status: str = "complete", n: int = 0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        suite_name="demo",
        suite_path="suite.yaml",
        suite_hash="hash",
        created_at=T0,
        finished_at=T0,
        status=status,  # type: ignore[arg-type]
        harness_version="0.1.0",
        providers=[{"id": "gpt", "type": "outputs", "model": "gpt-model"}],
        prompts=["v1"],
        n_cases=n,
    )


SUITE = """\
name: gated
prompts:
  - id: v1
    template: "Q: {{{{ question }}}}"
providers:
  - id: stored
    type: outputs
    column: out
cases:
  file: rows.csv
  id: id
  expected: answer
  tags_column: tags
defaults:
  assert:
    - type: exact
    - type: rougeL
      threshold: 0.5
gates:
{gates}
"""


def write_suite(folder: Path, outputs: list[str], gates: str) -> Path:
    """A suite of ``len(outputs)`` rows (answer ``answer i``) whose stored outputs are given."""
    lines = ["id,question,answer,out,tags"]
    for i, out in enumerate(outputs):
        lines.append(f"r{i},question {i},answer {i},{out},{'even' if i % 2 == 0 else 'odd'}")
    (folder / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "suite.yaml"
    path.write_text(SUITE.format(gates=gates), encoding="utf-8")
    return path
