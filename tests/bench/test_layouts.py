"""Reading the three CSV dialects of MMLU, C-Eval and CMMLU, and choosing subjects."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from harness.bench.layouts import Question, parse_tasks, read_rows
from harness.errors import BenchError, SuiteError
from tests.bench.helpers import (
    CEVAL_DEV,
    CEVAL_VAL,
    CMMLU_TEST,
    MMLU_TEST,
    csv_text,
    write,
)

KANGXI = range(0x2F00, 0x2FE0)  # Kangxi Radicals block


def _plain(rows: list[Question]) -> list[list[str]]:
    return [[r.row_id, r.question, *r.options, r.answer] for r in rows]


def test_mmlu_dialect_no_header_keeps_text_exactly(dialect_data: Path) -> None:
    rows = read_rows(dialect_data / "mmlu/test/abstract_algebra_test.csv")
    assert _plain(rows) == [[str(i), *r] for i, r in enumerate(MMLU_TEST)]
    assert rows[0].options == ("0.50", "NA", "007", " 2 ")  # no numbers, NaN or trimming
    assert rows[1].question == 'Pick the "quoted, comma" one.\nSecond line.'


def test_ceval_dialect_crlf_header_and_explanation(dialect_data: Path) -> None:
    path = dialect_data / "ceval/val/computer_network_val.csv"
    assert b"\r\n" in path.read_bytes()
    rows = read_rows(path)
    assert _plain(rows) == CEVAL_VAL
    assert rows[2].question.startswith("第一行\r\n第二行")  # the quoted CRLF is kept
    dev = read_rows(dialect_data / "ceval/dev/computer_network_dev.csv")
    assert _plain(dev) == [r[:7] for r in CEVAL_DEV]  # the explanation column is dropped


def test_cmmlu_dialect_unnamed_index_and_kangxi_radicals(dialect_data: Path) -> None:
    rows = read_rows(dialect_data / "cmmlu/test/chinese_history.csv")
    assert _plain(rows) == CMMLU_TEST
    assert "\u2f00" in rows[0].question  # ⼀ (KANGXI RADICAL ONE), not 一 (U+4E00)
    assert unicodedata.normalize("NFKC", rows[0].question) != rows[0].question


def test_header_names_any_case_and_order_bom_and_answer_spaces(tmp_path: Path) -> None:
    text = "\ufeffAnswer,D,C,B,A,QUESTION,id\r\n b ,d,c,b,a,Why?,q7\r\n"
    rows = read_rows(write(tmp_path / "x.csv", text))
    assert _plain(rows) == [["q7", "Why?", "a", "b", "c", "d", "B"]]


def test_blank_lines_are_skipped_and_line_numbers_reported(tmp_path: Path) -> None:
    good = csv_text([["q", "a", "b", "c", "d", "A"]], None)
    path = write(tmp_path / "t.csv", good + "\n" + '"multi\nline",a,b,c,d,A\n' + "q,a,b,c,d,E\n")
    with pytest.raises(SuiteError) as e:
        read_rows(path)
    assert e.value.line == 5 and "one of A, B, C, D" in str(e.value)
    write(tmp_path / "short.csv", "q,a,b\n")
    with pytest.raises(SuiteError, match=r"short\.csv:1: expected 6 columns, found 3"):
        read_rows(tmp_path / "short.csv")


def test_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "gbk.csv").write_bytes("问题,a,b,c,d,A\n".encode("gbk"))
    with pytest.raises(SuiteError, match="not UTF-8"):
        read_rows(tmp_path / "gbk.csv")


def test_parse_tasks_picks_files_and_bare_benchmark_means_every_subject(
    dialect_data: Path,
) -> None:
    subjects = parse_tasks(
        "mmlu:abstract_algebra, ceval:computer_network,cmmlu:chinese_history",
        dialect_data,
        need_dev=True,
    )
    assert [s.key for s in subjects] == [
        "mmlu:abstract_algebra",
        "ceval:computer_network",
        "cmmlu:chinese_history",
    ]
    assert subjects[1].eval_path == dialect_data / "ceval/val/computer_network_val.csv"
    assert subjects[1].dev_path == dialect_data / "ceval/dev/computer_network_dev.csv"
    assert subjects[2].dev_path == dialect_data / "cmmlu/dev/chinese_history.csv"
    every = parse_tasks(["mmlu", "mmlu:toy_subject"], dialect_data, need_dev=False)
    assert [s.key for s in every] == ["mmlu:abstract_algebra", "mmlu:toy_subject"]


def test_unknown_benchmark_lists_the_known_ones(dialect_data: Path) -> None:
    with pytest.raises(BenchError, match=r"Unknown benchmark 'mmluu'.*Did you mean 'mmlu'.*"
                       r"Available: ceval, cmmlu, mmlu"):  # fmt: skip
        parse_tasks("mmluu:abstract_algebra", dialect_data, need_dev=True)


def test_unknown_subject_lists_the_available_ones(dialect_data: Path) -> None:
    with pytest.raises(
        BenchError,
        match=r"Unknown mmlu subject 'abstract_algebr'.*Did you mean 'abstract_algebra'\?"
        r" Available: abstract_algebra, toy_subject",
    ):
        parse_tasks("mmlu:abstract_algebr", dialect_data, need_dev=True)


def test_missing_folders_and_files(tmp_path: Path, dialect_data: Path) -> None:
    with pytest.raises(BenchError, match=r"data folder .*nowhere does not exist"):
        parse_tasks("mmlu:x", tmp_path / "nowhere", need_dev=True)
    with pytest.raises(BenchError, match=r"mmlu does not exist.*mmlu/\{dev,test\}/SUBJECT_"):
        parse_tasks("mmlu:x", tmp_path, need_dev=True)
    write(
        tmp_path / "cmmlu/test/law.csv",
        csv_text([], ["", "Question", "A", "B", "C", "D", "Answer"]),
    )
    with pytest.raises(BenchError, match=r"cmmlu:law has no few-shot file .*dev/law\.csv"):
        parse_tasks("cmmlu:law", tmp_path, need_dev=True)
    assert parse_tasks("cmmlu:law", tmp_path, need_dev=False)[0].dev_path is None
    with pytest.raises(BenchError, match="no tasks given"):
        parse_tasks(" , ", dialect_data, need_dev=True)


# --- the real rows in ../shared/datasets ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("mmlu/test/college_computer_science_test.csv", None),  # quoted newlines
        ("mmlu/dev/abstract_algebra_dev.csv", None),
        ("ceval/val/computer_network_val.csv", 0),  # CRLF
        ("ceval/dev/computer_network_dev.csv", 0),  # explanation column
        ("cmmlu/test/computer_science.csv", 0),  # Kangxi radicals
        ("cmmlu/test/chinese_history.csv", 0),
    ],
)
def test_shared_files_match_an_independent_reader(
    shared_data: Path, path: str, header: int | None
) -> None:
    """Our rows equal pandas' (every value a string, no NaN guessing) column for column."""
    rows = read_rows(shared_data / path)
    frame = pd.read_csv(
        shared_data / path, header=header, dtype=str, keep_default_na=False, index_col=False
    )
    if header is None:
        expected = [[str(i), *r] for i, r in enumerate(frame.values.tolist())]
    else:
        cols = {c.lower(): c for c in frame.columns}
        first = cols.get("id") or frame.columns[0]
        names = ["question", "a", "b", "c", "d", "answer"]
        expected = [[r[first], *(r[cols[n]] for n in names)] for r in frame.to_dict("records")]
    assert _plain(rows) == expected
    assert len(rows) >= 5


def test_shared_cmmlu_keeps_kangxi_radicals(shared_data: Path) -> None:
    path = shared_data / "cmmlu/test/computer_science.csv"
    raw = path.read_text(encoding="utf-8")
    rows = read_rows(path)
    text = "".join(r.question + "".join(r.options) for r in rows)
    radicals = sum(ord(c) in KANGXI for c in text)
    assert radicals > 0 and radicals == sum(ord(c) in KANGXI for c in raw)
    assert rows[0].question.startswith("\u2f64\u2f00")  # ⽤⼀, not 用一


def test_shared_subjects_are_found(shared_data: Path) -> None:
    subjects = parse_tasks("mmlu,ceval,cmmlu", shared_data, need_dev=True)
    assert {s.key for s in subjects} >= {
        "mmlu:abstract_algebra",
        "ceval:computer_network",
        "cmmlu:chinese_history",
    }
