"""Expected answers: a string or a list; repeats collapse, order is kept."""

from __future__ import annotations

import json
from pathlib import Path

from harness.api import prepare


def test_repeated_answers_collapse_in_order(tmp_path: Path) -> None:
    rows = [{"id": "q1", "q": "x", "answers": ["Denver Broncos", "Broncos", "Denver Broncos"]}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "suite.yaml").write_text(
        "name: t\nprompts: [{id: p, template: '{{ q }}'}]\n"
        "providers: [{id: o, type: outputs, column: q}]\n"
        "cases: {file: rows.jsonl, id: id, expected: answers}\n"
        "defaults: {assert: [{type: f1}]}\n"
    )
    (case,) = prepare(tmp_path / "suite.yaml").plan.cases
    assert case.row.expected == ["Denver Broncos", "Broncos"]
