"""Case tables (CSV / JSONL / YAML) and the dataset column mapping of a suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import prepare
from harness.cases import CaseRow
from harness.cli import main
from harness.data.tables import read_rows
from harness.errors import SuiteError


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


# --- reading tables ------------------------------------------------------------------------


def test_csv_bom_crlf_and_quoted_newlines_keep_line_numbers(tmp_path: Path) -> None:
    text = (
        "\ufeffquestion,answer\r\n"
        "plain,1\r\n"
        '"two\r\nlines",2\r\n'
        '"three\nlines\nhere",3\r\n'
        "\r\n"
        '"with ""quotes"", and a comma",4\r\n'
        "last,5\r\n"
    )
    rows = read_rows(write(tmp_path / "data.csv", text.encode("utf-8")))
    assert [r.line for r in rows] == [2, 3, 5, 9, 10]
    assert list(rows[0].data) == ["question", "answer"]  # no BOM in the first column name
    assert [r.data["question"] for r in rows] == [
        "plain",
        "two\nlines",  # read in text mode: a CRLF inside quotes reads as \n
        "three\nlines\nhere",
        'with "quotes", and a comma',
        "last",
    ]
    assert [r.data["answer"] for r in rows] == ["1", "2", "3", "4", "5"]


def test_csv_header_is_stripped_and_blank_rows_skipped(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "data.csv", " question , answer \n\na,1\n , \nb,2\n"))
    assert [(r.line, r.data) for r in rows] == [
        (3, {"question": "a", "answer": "1"}),
        (5, {"question": "b", "answer": "2"}),
    ]


def test_jsonl_blank_lines_crlf_bom_and_unicode_line_separators(tmp_path: Path) -> None:
    text = (
        '\ufeff{"q": "a"}\r\n'
        "\r\n"
        "   \n"
        '{"q": "b\u2028c\u0085d", "n": 2}\n'  # JSON strings may hold these line breaks
        '{"q": "e", "tags": ["x", "y"]}'  # no final newline
    )
    rows = read_rows(write(tmp_path / "data.jsonl", text))
    assert [r.line for r in rows] == [1, 4, 5]
    assert [r.data["q"] for r in rows] == ["a", "b\u2028c\u0085d", "e"]
    assert rows[2].data["tags"] == ["x", "y"]


@pytest.mark.parametrize("form", ["list", "mapping"])
def test_yaml_list_and_cases_mapping(tmp_path: Path, form: str) -> None:
    items = "- question: a\n  answer: 1\n\n- question: b\n  answer: [2, two]\n"
    if form == "mapping":
        items = "description: some cases\ncases:\n" + "".join(
            f"  {line}\n" if line else "\n" for line in items.split("\n")[:-1]
        )
    offset = 2 if form == "mapping" else 0
    rows = read_rows(write(tmp_path / "data.yaml", items))
    assert [r.data for r in rows] == [
        {"question": "a", "answer": 1},
        {"question": "b", "answer": [2, "two"]},
    ]
    assert [r.line for r in rows] == [1 + offset, 4 + offset]
    # every row knows the lines of its own keys (used for bad-case errors)
    assert rows[1].lines is not None
    assert rows[1].lines[("answer",)] == 5 + offset


# --- the dataset column mapping ----------------------------------------------------------------

SUITE_HEAD = (
    "name: data\n"
    "prompts:\n"
    "  - id: p1\n"
    "    template: 'Q: {{ question }}'\n"
    "providers:\n"
    "  - {type: outputs, id: stored, column: out}\n"
)


def plan_rows(tmp_path: Path, cases: str, extra: str = "") -> list[CaseRow]:
    """The resolved rows of a suite whose ``cases:`` block is ``cases``."""
    path = write(tmp_path / "suite.yaml", SUITE_HEAD + "cases:\n" + cases + extra)
    prepared = prepare(path)
    return [c.row for c in prepared.plan.cases]


def test_mapping_vars_expected_id_and_tags(tmp_path: Path) -> None:
    write(
        tmp_path / "data.csv",
        "qid,prompt_text,gold,model_out,labels,notes\n"
        'q1,What is 2+2?,4,4,"math, easy",n1\n'
        "q2,Capital of France?,Paris,Lyon,geo,n2\n",
    )
    rows = plan_rows(
        tmp_path,
        "  file: data.csv\n"
        "  vars: {question: prompt_text, out: model_out}\n"
        "  expected: gold\n"
        "  id: qid\n"
        "  tags: [smoke]\n"
        "  tags_column: labels\n"
        "  assert: [{type: exact}]\n",
        "defaults:\n  tags: [nightly]\n",
    )
    assert [r.row_id for r in rows] == ["q1", "q2"]
    assert rows[0].vars == {
        "question": "What is 2+2?",
        "out": "4",
        "qid": "q1",
        "gold": "4",
        "labels": "math, easy",
        "notes": "n1",
    }
    assert "prompt_text" not in rows[0].vars  # renamed columns appear under the new name only
    assert [r.expected for r in rows] == [["4"], ["Paris"]]
    assert [r.tags for r in rows] == [
        ["nightly", "smoke", "math", "easy"],
        ["nightly", "smoke", "geo"],
    ]
    assert rows[1].where == f"{(tmp_path / 'data.csv').resolve()}:3"
    assert [a.scorer.name for a in rows[0].asserts] == ["exact"]


def test_limit_takes_the_first_rows(tmp_path: Path) -> None:
    write(tmp_path / "data.csv", "question,out\n" + "".join(f"q{i},o{i}\n" for i in range(10)))
    rows = plan_rows(
        tmp_path, "  file: data.csv\n  limit: 3\n  assert: [{type: contains, value: o}]\n"
    )
    assert [r.vars["question"] for r in rows] == ["q0", "q1", "q2"]


def test_jsonl_tags_column_list_and_numbers(tmp_path: Path) -> None:
    write(
        tmp_path / "data.jsonl",
        '{"id": 7, "question": "a", "out": "b", "answer": 3, "labels": ["x", "y"]}\n',
    )
    (row,) = plan_rows(
        tmp_path,
        "  file: data.jsonl\n  id: id\n  expected: answer\n  tags_column: labels\n"
        "  assert: [{type: exact}]\n",
    )
    assert row.row_id == "7"
    assert row.expected == ["3"]
    assert row.tags == ["x", "y"]


def test_rows_without_ids_are_told_apart_by_content(tmp_path: Path) -> None:
    # (two rows that ask and expect the same are refused: see test_malformed.py)
    write(tmp_path / "data.csv", "question,out,answer\nsame,x,x\nsame,x,y\nother,x,x\n")
    rows = plan_rows(tmp_path, "  file: data.csv\n  expected: answer\n  assert: [{type: exact}]\n")
    assert len({r.row_id for r in rows}) == 3
    prepared = prepare(tmp_path / "suite.yaml")
    assert len({c.case_id for c in prepared.plan.cases}) == 3


def test_row_ids_are_stable_across_loads(tmp_path: Path) -> None:
    write(tmp_path / "data.csv", "question,out,answer\na,x,x\nb,y,y\n")
    cases = "  file: data.csv\n  expected: answer\n  assert: [{type: exact}]\n"
    first = [r.row_id for r in plan_rows(tmp_path, cases)]
    assert first == [r.row_id for r in plan_rows(tmp_path, cases)]


def test_jsonl_list_expected_is_several_acceptable_answers(tmp_path: Path) -> None:
    write(
        tmp_path / "data.jsonl",
        '{"question": "Capital?", "out": "paris", "answers": ["Paris", "City of Paris"]}\n'
        '{"question": "2+2?", "out": "four", "answers": [4, "four"]}\n',
    )
    rows = plan_rows(
        tmp_path,
        "  file: data.jsonl\n  expected: answers\n  assert: [{type: exact, normalize: lower}]\n",
    )
    assert [r.expected for r in rows] == [["Paris", "City of Paris"], ["4", "four"]]
    exact = rows[0].asserts[0].scorer
    for output, row in [("paris", rows[0]), ("city of paris", rows[0]), ("4", rows[1])]:
        assert exact.score(output, row.expected, row.vars).value == 1.0
    assert exact.score("Lyon", rows[0].expected, rows[0].vars).value == 0.0


def test_inline_case_expected_number_and_list(tmp_path: Path) -> None:
    rows = plan_rows(
        tmp_path,
        "  - vars: {question: a, out: '4'}\n    expected: 4\n    assert: [{type: exact}]\n"
        "  - vars: {question: b, out: '2.5'}\n    expected: [2.5, two and a half]\n"
        "    assert: [{type: exact}]\n",
    )
    assert [r.expected for r in rows] == [["4"], ["2.5", "two and a half"]]


def test_jsonl_row_missing_a_mapped_var_is_undefined_not_none(tmp_path: Path) -> None:
    write(
        tmp_path / "data.jsonl",
        '{"text": "a", "out": "x"}\n{"out": "y"}\n',
    )
    with pytest.raises(SuiteError) as info:
        plan_rows(
            tmp_path,
            "  file: data.jsonl\n  vars: {question: text}\n"
            "  assert: [{type: contains, value: x}]\n",
        )
    assert "'question' is undefined" in info.value.message
    assert f"{(tmp_path / 'data.jsonl').resolve()}:2" in info.value.message


def test_a_repeated_explicit_id_is_an_error_at_its_line(tmp_path: Path) -> None:
    write(tmp_path / "data.csv", "id,question,out,answer\na,q,x,x\nb,q2,x,x\na,q3,x,x\n")
    with pytest.raises(SuiteError, match=r"data.csv:4: duplicate id 'a' .*first on line 2"):
        plan_rows(
            tmp_path, "  file: data.csv\n  id: id\n  expected: answer\n  assert: [{type: exact}]\n"
        )


def test_csv_bad_cases_take_vars_from_dotted_columns(tmp_path: Path) -> None:
    write(tmp_path / "bad.csv", "id,vars.question,expected\nb1,What is 2+2?,4\n")
    write(
        tmp_path / "suite.yaml",
        "name: s\nprompts: [{id: p, template: '{{ question }}'}]\n"
        "providers: [{id: o, type: outputs, column: question}]\n"
        "bad_cases: [{name: prod, file: bad.csv}]\ndefaults: {assert: [{type: exact}]}\n",
    )
    (case,) = prepare(tmp_path / "suite.yaml").plan.cases
    assert case.row.vars == {"question": "What is 2+2?"} and case.row.expected == ["4"]
    assert case.request.messages[-1].content == "What is 2+2?"


def test_lone_surrogate_in_jsonl_validates_and_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "\ud800" is valid JSON for a lone surrogate: it cannot be UTF-8 encoded as it is
    write(
        tmp_path / "data.jsonl",
        '{"question": "a\\ud800b", "out": "x", "answer": "x\\udfff"}\n'
        '{"question": "ab", "out": "x", "answer": "x"}\n',
    )
    cases = "  file: data.jsonl\n  expected: answer\n  assert: [{type: exact}]\n"
    write(tmp_path / "suite.yaml", SUITE_HEAD + "cases:\n" + cases)
    assert main(["validate", str(tmp_path / "suite.yaml")]) == 0
    captured = capsys.readouterr()
    assert "2 cases" in captured.out and "Traceback" not in captured.out + captured.err
    first, second = prepare(tmp_path / "suite.yaml").plan.cases
    assert first.row.vars["question"] == "a\ud800b"  # not dropped or replaced
    assert first.row.expected == ["x\udfff"]
    assert "a\ud800b" in first.request.messages[0].content
    assert first.row.row_id != second.row.row_id and first.case_id != second.case_id
