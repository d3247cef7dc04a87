"""Expected answers: a string or a list; repeats collapse, order is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def _suite(tmp_path: Path, cases: str, extra: str = "") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: t\nprompts: [{id: p, template: '{{ q }}'}]\n"
        "providers: [{id: o, type: outputs, column: q}]\n"
        "defaults: {assert: [{type: exact}]}\n"
        f"{extra}cases:\n{cases}",
        encoding="utf-8",
    )
    return path


def _expected(path: Path) -> dict[str, list[str]]:
    return {c.row.row_id: c.row.expected for c in prepare(path).plan.cases}


def test_inline_numbers_and_dates_keep_their_written_text(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        "  - {id: a, vars: {q: x}, expected: 0.10}\n"
        "  - {id: b, vars: {q: x}, expected: [007, 1_000, 2.50, '0.10']}\n"
        "  - {id: c, vars: {q: x}, expected: 2024-01-05}\n"
        "  - {id: d, vars: {q: x}, expected: 4}\n",
    )
    assert _expected(path) == {
        "a": ["0.10"],
        "b": ["007", "1_000", "2.50", "0.10"],
        "c": ["2024-01-05"],
        "d": ["4"],
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "rows.jsonl",
            '{"id": "a", "q": "x", "answer": 0.10}\n'
            '{"id": "b", "q": "x", "answer": [1.50, -0, 1e3, "2"]}\n',
        ),
        (
            "rows.yaml",
            "- {id: a, q: x, answer: 0.10}\n- {id: b, q: x, answer: [1.50, -0, 1e3, '2']}\n",
        ),
        ("rows.csv", "id,q,answer\na,x,0.10\nb,x,1.50\n"),
    ],
    ids=["jsonl", "yaml", "csv"],
)
def test_dataset_numbers_keep_their_written_text(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    path = _suite(tmp_path, f"  file: {name}\n  id: id\n  expected: answer\n")
    got = _expected(path)
    assert got["a"] == ["0.10"]
    assert got["b"] == {"rows.csv": ["1.50"]}.get(name, ["1.50", "-0", "1e3", "2"])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.jsonl", '{"id": "b1", "vars": {"q": "x"}, "expected": 0.10}\n'),
        ("bad.yaml", "- {id: b1, vars: {q: x}, expected: 0.10}\n"),
    ],
    ids=["jsonl", "yaml"],
)
def test_bad_case_numbers_keep_their_written_text(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    path = _suite(
        tmp_path,
        "  - {id: a, vars: {q: x}, expected: x}\n",
        f"bad_cases: [{{name: b, file: {name}}}]\n",
    )
    assert _expected(path)["b1"] == ["0.10"]
