"""Authoring conveniences: ``defaults.vars``, several ``cases:`` sources in one suite,
per-row assertions from a dataset column, expected answers from several columns.

Each feature runs end to end (``run_suite`` with an ``outputs`` provider into a tmp
HARNESS_HOME); bad inputs go through ``harness validate`` and must name the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api import run_suite
from harness.ci.badcases import harvest_candidates
from harness.cli import main
from harness.results.models import CaseResult
from harness.suite.loader import load_suite

HEAD = """\
name: authoring
prompts:
  - id: p1
    template: "{{ product }} ({{ tone }}): {{ question }}"
providers:
  - id: stored
    type: outputs
    column: out
"""
#: The same suite with a prompt of just the question.
PLAIN = HEAD.replace("{{ product }} ({{ tone }}): ", "")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder / "suite.yaml"


def jsonl(*rows: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def results(suite: Path) -> dict[str, CaseResult]:
    outcome = run_suite(suite)
    assert outcome.run.status == "complete"
    return {r.row_id: r for r in outcome.results}


def scores(r: CaseResult) -> dict[str, bool | None]:
    return {s.name: s.passed for s in r.scores}


def line_of(path: Path, text: str) -> int:
    (hit,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return hit


# --- defaults.vars -------------------------------------------------------------------------


def test_defaults_vars_reach_every_case_and_lose_to_its_own_and_to_columns(home: Path) -> None:
    suite = write(
        home,
        {
            "suite.yaml": HEAD
            + """\
defaults:
  vars: {product: Acme, tone: brief}
  assert: [{type: exact}]
cases:
  - id: plain
    vars: {question: "Refunds?", out: "No"}
    expected: "No"
  - id: own-tone
    vars: {question: "Hours?", out: "9-5", tone: warm}
    expected: "9-5"
  - file: rows.csv
    id: qid
    expected: answer
bad_cases:
  - {name: prod, file: bad.yaml}
""",
            "rows.csv": "qid,question,out,answer,tone\nrow-1,Where?,Here,Here,formal\n",
            "bad.yaml": "- {id: bad-1, vars: {question: 'Why?', out: So}, expected: So}\n",
        },
    )
    got = results(suite)
    assert {k: r.messages[-1].content for k, r in got.items()} == {
        "plain": "Acme (brief): Refunds?",
        "own-tone": "Acme (warm): Hours?",  # the case's own var wins
        "row-1": "Acme (formal): Where?",  # a dataset column wins
        "bad-1": "Acme (brief): Why?",  # bad cases get them too
    }
    assert got["plain"].vars == {"product": "Acme", "tone": "brief", "question": "Refunds?"} | {
        "out": "No"
    }
    assert all(r.passed for r in got.values())


def test_defaults_vars_reach_transforms_and_the_load_time_variable_check(home: Path) -> None:
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + """\
defaults:
  vars: {unit: km, call: {name: lookup}}
cases:
  - id: a
    vars: {question: "How far?", out: "42"}
    expected: "42 km"
    assert:
      - {type: exact, transform: "output ~ ' ' ~ vars.unit"}
      - {type: tool_call, call_var: call, weight: 0}
""",
        },
    )
    (r,) = results(suite).values()
    assert scores(r)["exact"] is True and r.passed
    assert r.vars["call"] == {"name": "lookup"}  # `call_var: call` found it when loading


# --- several sources -----------------------------------------------------------------------


def test_inline_cases_and_two_datasets_run_together(home: Path) -> None:
    suite = write(
        home,
        {
            "suite.yaml": HEAD
            + """\
defaults:
  vars: {product: Acme, tone: brief}
cases:
  - id: inline-1
    vars: {question: "2+2?", out: "4"}
    expected: "4"
    assert: [{type: exact}]
  - file: faq.csv
    vars: {question: q}
    id: qid
    expected: answer
    tags: [faq]
    assert: [{type: exact}]
  - file: more.jsonl
    id: qid
    expected: answer
    assert: [{type: contains}]
  - id: inline-2
    vars: {question: "3+3?", out: "7"}
    expected: "6"
    assert: [{type: exact}]
""",
            "faq.csv": "qid,q,out,answer\nfaq-1,Open?,Yes,Yes\nfaq-2,Closed?,No,Yes\n",
            "more.jsonl": jsonl(
                {"qid": "j-1", "question": "Name?", "out": "It is Acme", "answer": "Acme"}
            ),
        },
    )
    got = results(suite)
    assert {k: r.passed for k, r in got.items()} == {
        "inline-1": True,
        "faq-1": True,
        "faq-2": False,
        "j-1": True,
        "inline-2": False,
    }
    assert got["faq-1"].vars["question"] == "Open?" and "q" not in got["faq-1"].vars
    assert "faq" in got["faq-2"].tags and "faq" not in got["j-1"].tags
    assert scores(got["j-1"]) == {"contains": True}
    # validate agrees and counts every source's cases
    assert main(["validate", str(suite)]) == 0


def test_an_inline_case_may_be_named_like_a_datasets_id_column(home: Path) -> None:
    """A dataset's ``id:`` names its column: it is not a case id that an inline one repeats."""
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + """\
defaults: {assert: [{type: exact}]}
cases:
  - id: qid
    vars: {question: "a", out: "a"}
    expected: "a"
  - {file: one.csv, id: qid, expected: answer}
  - {file: two.csv, id: qid, expected: answer}
""",
            "one.csv": "qid,question,out,answer\nx,b,b,b\n",
            "two.csv": "qid,question,out,answer\ny,c,c,c\n",
        },
    )
    assert sorted(results(suite)) == ["qid", "x", "y"]


# --- per-row assertions ---------------------------------------------------------------------


def test_rows_carry_their_own_assertions_in_csv_jsonl_and_yaml(home: Path) -> None:
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + """\
cases:
  - file: rows.csv
    id: qid
    assert_column: checks
    assert: [{type: word_count, max: 20}]
  - file: rows.jsonl
    id: qid
    assert_column: checks
  - file: rows.yaml
    id: id
    assert_column: checks
""",
            "rows.csv": (
                "qid,question,out,checks\n"
                'c-1,Capital?,Paris it is,"[{""type"": ""contains"", ""value"": ""Paris""}]"\n'
                'c-2,Capital?,Lyon,"[{""type"": ""contains"", ""value"": ""Paris""}, '
                '{""type"": ""icontains"", ""value"": ""lyon"", ""name"": ""city""}]"\n'
                "c-3,Anything?,whatever,\n"
            ),
            "rows.jsonl": jsonl(
                {
                    "qid": "j-1",
                    "question": "Bonjour?",
                    "out": "Bonjour",
                    "checks": [{"type": "starts_with", "value": "Bon"}],
                }
            ),
            "rows.yaml": (
                "- id: y-1\n  question: Hi?\n  out: Hello there\n"
                "  checks:\n    - type: contains\n      value: Hello\n"
            ),
        },
    )
    got = results(suite)
    assert {k: scores(r) for k, r in got.items()} == {
        "c-1": {"word_count": True, "contains": True},
        "c-2": {"word_count": True, "contains": False, "city": True},
        "c-3": {"word_count": True},  # an empty cell: the dataset's assertions only
        "j-1": {"starts_with": True},
        "y-1": {"contains": True},
    }
    assert [k for k, r in got.items() if not r.passed] == ["c-2"]
    assert all("checks" not in r.vars for r in got.values())


def test_a_harvested_bad_case_keeps_its_rows_and_its_datasets_assertions(home: Path) -> None:
    suite = write(
        home,
        {
            "suite.yaml": HEAD
            + """\
defaults:
  vars: {product: Acme, tone: brief}
  assert: [{type: word_count, max: 50}]
cases:
  - id: inline
    vars: {question: "a", out: "wrong"}
    expected: "right"
    assert: [{type: exact}]
  - file: rows.jsonl
    id: qid
    assert_column: checks
    assert: [{type: icontains, value: paris}]
""",
            "rows.jsonl": jsonl(
                {
                    "qid": "r-1",
                    "question": "Capital?",
                    "out": "Lyon",
                    "tone": "formal",
                    "checks": [{"type": "contains", "value": "Lyon"}],
                }
            ),
        },
    )
    outcome = run_suite(suite)
    cands = {
        c.case["id"]: c.case
        for c in harvest_candidates(outcome.run, outcome.results, load_suite(suite))
    }
    assert cands["r-1"]["assert"] == [
        {"type": "icontains", "value": "paris"},
        {"type": "contains", "value": "Lyon"},
    ]
    assert cands["inline"]["assert"] == [{"type": "exact"}]
    # the default vars stay defaults; a column that overrides one is kept
    assert cands["r-1"]["vars"] == {"qid": "r-1", "question": "Capital?", "out": "Lyon"} | {
        "tone": "formal"
    }


# --- expected answers from several columns ---------------------------------------------------


def test_expected_answers_from_several_columns_skip_empty_cells(home: Path) -> None:
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + """\
defaults: {assert: [{type: exact}]}
cases:
  - file: rows.csv
    id: qid
    expected: [answer, alias]
  - file: rows.jsonl
    id: qid
    expected: [answer, aliases]
""",
            "rows.csv": (
                "qid,question,out,answer,alias\n"
                "c-1,Who?,NYC,New York City,NYC\n"
                "c-2,Who?,Paris,Paris,\n"
                "c-3,Who?,Rome,Roma,  \n"
            ),
            "rows.jsonl": '{"qid": "j-1", "question": "x", "out": "0.10", "answer": 0.10, '
            '"aliases": ["a", "b"]}\n'
            + jsonl(
                {"qid": "j-2", "question": "x", "out": "b", "answer": "a", "aliases": ["b", ""]},
                {"qid": "j-3", "question": "x", "out": "z", "answer": "a", "aliases": None},
            ),
        },
    )
    got = results(suite)
    assert {k: (r.expected, r.passed) for k, r in got.items()} == {
        "c-1": (["New York City", "NYC"], True),  # the alias column matches
        "c-2": (["Paris"], True),  # an empty cell is no answer, not the answer ""
        "c-3": (["Roma"], False),
        "j-1": (["0.10", "a", "b"], True),  # a number as written; a list is several
        "j-2": (["a", "b"], True),
        "j-3": (["a"], False),
    }


# --- bad input, through `harness validate` --------------------------------------------------


def validate(suite: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``harness validate``'s error line (exit 2, no traceback), whitespace removed."""
    assert main(["validate", str(suite)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    err = "".join(captured.err.split())
    assert err.startswith("error:"), err
    return err


def test_validate_names_an_unknown_expected_column_with_did_you_mean(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + """\
defaults: {assert: [{type: exact}]}
cases:
  - {id: a, vars: {question: q, out: o}, expected: o}
  - file: rows.csv
    expected:
      - answer
      - alais
""",
            "rows.csv": "question,out,answer,alias\nq2,o2,o2,x\n",
        },
    )
    err = validate(suite, capsys)
    assert f"suite.yaml:{line_of(suite, '- alais')}:" in err
    assert "column'alais'notfoundinrows.csv.Didyoumean'alias'?" in err


def test_validate_points_at_the_row_of_a_malformed_assertion_list(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (
        "question,out,checks\n"
        'q1,o1,"[{""type"": ""contains"", ""value"": ""o""}]"\n'
        'q2,o2,"[{type: contains, value: o}]"\n'  # YAML flow, not JSON
    )
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + "cases: {file: rows.csv, assert_column: checks, assert: [{type: exact}]}\n",
            "rows.csv": data,
        },
    )
    err = validate(suite, capsys)
    assert "rows.csv:3:" in err
    assert "theassertionscolumn'checks'isnotJSON" in err


def test_validate_refuses_an_id_repeated_across_two_sources(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write(
        home,
        {
            "suite.yaml": PLAIN
            + """\
defaults: {assert: [{type: exact}]}
cases:
  - id: q7
    vars: {question: a, out: a}
    expected: a
  - file: rows.jsonl
    id: qid
    expected: answer
""",
            "rows.jsonl": jsonl(
                {"qid": "q6", "question": "b", "out": "b", "answer": "b"},
                {"qid": "q7", "question": "c", "out": "c", "answer": "c"},
            ),
        },
    )
    err = validate(suite, capsys)
    assert "rows.jsonl:2:duplicatecaseid'q7'" in err
    assert f"suite.yaml:{line_of(suite, '- id: q7')}" in err
