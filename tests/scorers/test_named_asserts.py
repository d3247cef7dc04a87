"""One assertion, one name, one number: two assertions of one type (chrF and chrF++) stay two
columns in the summary, export, comparison, gates, analyses, failure texts and the report;
clashing names are a load-time error; stores written before names still load."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from harness.analysis.outcomes import value
from harness.analysis.summary import summarize
from harness.api import run_suite
from harness.ci._format import failure_summary
from harness.ci.badcases import harvest_candidates
from harness.ci.summary_md import summary_markdown
from harness.cli import main
from harness.compare import from_store
from harness.errors import SuiteError
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import ResultStore
from harness.suite.loader import load_suite

#: (id, output, reference): chrF passes 0.75 on "reorder" where chrF++ (word bigrams) does not.
CASES = [
    ("reorder", "Paris is the capital of France", "The capital of France is Paris"),
    ("same", "the cat sat on the mat", "the cat sat on the mat"),
]

SUITE = """name: named
prompts:
  - id: v1
    template: "Say: {{{{ q }}}}"
providers:
  - id: dump
    type: outputs
    column: out
cases:
{cases}
defaults:
  assert:
    - type: chrf
      name: chrf
      threshold: 0.75
    - type: chrf
      name: chrf++
      word_order: 2
      threshold: 0.75
gates:
  - metric: chrf
    min_pass_rate: 1.0
  - metric: chrf++
    min_pass_rate: 1.0
"""


def suite_text(cases: list[tuple[str, str, str]]) -> str:
    rows = "".join(
        f"  - id: {cid}\n    vars: {{q: {cid}, out: {json.dumps(out)}}}\n"
        f"    expected: {json.dumps(ref)}\n"
        for cid, out, ref in cases
    )
    return SUITE.format(cases=rows)


def chrf(out: str, ref: str, word_order: int = 0) -> float:
    """sacrebleu's own sentence chrF on the 0-1 scale, to check every shown number against."""
    return CHRF(word_order=word_order).sentence_score(out, [ref]).score / 100


def means(cases: list[tuple[str, str, str]], word_order: int) -> float:
    return sum(chrf(out, ref, word_order) for _, out, ref in cases) / len(cases)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["run", str(path)])
    captured = capsys.readouterr()
    return code, captured.err.split("run ", 1)[1].split()[0], captured.out


def test_chrf_and_chrf_plus_plus_keep_their_own_numbers_everywhere(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = home / "suite.yaml"
    suite.write_text(suite_text(CASES))
    code, first, out = run(suite, capsys)

    # CLI summary: one column per name, each with its own mean; a gate on each name
    assert code == 1  # the chrf++ gate fails, the chrf one passes
    header = next(line for line in out.splitlines() if "pass rate" in line)
    assert "chrf " in header and "chrf++" in header
    row = next(line for line in out.splitlines() if "dump" in line and "%" in line)
    assert f"{means(CASES, 0):.3f}" in row and f"{means(CASES, 2):.3f}" in row
    assert means(CASES, 0) != means(CASES, 2)
    gates = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(gates) == 2
    assert gates[0].startswith("PASS") and "chrf pass rate" in gates[0]
    assert gates[1].startswith("FAIL") and "chrf++ pass rate" in gates[1] and "50.0%" in gates[1]

    # JSONL export: score.<name> columns, full precision, equal to sacrebleu's numbers
    target = home / "out.jsonl"
    assert main(["export", first, "--format", "jsonl", "-o", str(target)]) == 0
    rows = {r["row_id"]: r for r in map(json.loads, target.read_text().splitlines())}
    for cid, output, ref in CASES:
        assert rows[cid]["score.chrf"] == pytest.approx(chrf(output, ref), rel=1e-12)
        assert rows[cid]["score.chrf++"] == pytest.approx(chrf(output, ref, 2), rel=1e-12)
    assert rows["reorder"]["passed.chrf"] is True and rows["reorder"]["passed.chrf++"] is False

    # harness compare of two runs: a row per name, each with its own means
    changed = [("reorder", "France has Paris as its capital", CASES[0][2]), CASES[1]]
    suite.write_text(suite_text(changed))
    _, second, _ = run(suite, capsys)
    assert main(["compare", first, second, "-o", str(home / "cmp.html")]) == 0
    table = capsys.readouterr().out.splitlines()
    for name, order in (("chrf", 0), ("chrf++", 2)):
        (line,) = [ln for ln in table if [c.strip() for c in ln.split("│")[1:2]] == [name]]
        assert f"{means(CASES, order):.3f}" in line and f"{means(changed, order):.3f}" in line

    # the report: one column per name in the matrix, named scores in the case table
    assert main(["report", first, "-o", str(home / "r.html")]) == 0
    html = (home / "r.html").read_text()
    assert ">chrf ↑</th>" in html and ">chrf++ ↑</th>" in html
    assert f">{means(CASES, 0):.3f}<" in html and f">{means(CASES, 2):.3f}<" in html
    assert '["chrf",0.75,"≥"]' in html and '["chrf++",0.75,"≥"]' in html


def write_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


BASE = """name: clash
prompts: [{id: v1, template: "{{ q }}"}]
providers: [{id: dump, type: outputs, column: out}]
"""


def line_of(text: str, marker: str) -> int:
    """The line of ``text`` holding ``marker`` (once)."""
    (line,) = [i for i, t in enumerate(text.splitlines(), 1) if marker in t]
    return line


@pytest.mark.parametrize(
    ("text", "second"),
    [
        (  # two assertions of one type in one list (two judge rubrics, chrF and chrF++)
            BASE + "cases:\n  - vars: {q: a, out: a}\n    expected: a\n    assert:\n"
            "      - {type: chrf}\n      - {type: chrf, word_order: 2}\n",
            "word_order: 2",
        ),
        (  # the defaults' assertion and the case's own
            BASE + "defaults:\n  assert:\n    - type: exact\n"
            "cases:\n  - vars: {q: a, out: a}\n    expected: a\n    assert:\n"
            "      - type: exact  # the second\n        normalize: lower\n",
            "the second",
        ),
        (  # the defaults' and a dataset's, named alike
            BASE + "defaults:\n  assert: [{type: f1, name: overlap}]\n"
            "cases:\n  file: rows.csv\n  expected: out\n  assert:\n"
            "    - {type: exact, name: overlap}  # the second\n",
            "the second",
        ),
    ],
    ids=["one-list", "defaults-and-case", "defaults-and-dataset"],
)
def test_two_assertions_of_one_name_are_an_error_at_the_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, second: str
) -> None:
    (tmp_path / "rows.csv").write_text("q,out\na,a\n")
    path = write_suite(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"suite.yaml:{line_of(text, second)}: two assertions of one case are named" in err
    assert "give each its own 'name:'" in err


def test_names_resolve_a_clash_and_pass_is_reserved(tmp_path: Path) -> None:
    ok = BASE + (
        "cases:\n  - vars: {q: a, out: a}\n    expected: a\n    assert:\n"
        "      - {type: chrf}\n      - {type: chrf, word_order: 2, name: chrf++}\n"
    )
    load_suite(write_suite(tmp_path, ok))  # parses; the plan is checked end to end above
    with pytest.raises(SuiteError, match="'pass' names the case verdict") as info:
        load_suite(write_suite(tmp_path, ok.replace("name: chrf++", "name: pass")))
    assert info.value.line == line_of(ok, "name: chrf++")


def score(name: str, value: float | None, passed: bool, scorer: str = "chrf") -> Score:
    error = None if value is not None else "TemplateRenderError: boom"
    return Score(
        name=name, scorer=scorer, version=f"{scorer}@1", value=value, threshold=0.75,
        passed=passed, error=error,
    )  # fmt: skip


def result(row: str, scores: list[Score], *, error: str | None = None) -> CaseResult:
    return CaseResult(
        run_id="r1", case_id=row, request_key=row, prompt_id="v1", provider_id="dump",
        model="m", row_id=row, messages=[], scores=scores, error=error,
        passed=error is None and all(s.passed for s in scores), finished_at=datetime.now(UTC),
    )  # fmt: skip


def test_analyses_and_failure_texts_read_each_name() -> None:
    r = result("a", [score("chrf", 0.77, True), score("chrf++", 0.73, False)])
    assert value(r, "chrf") == 0.77 and value(r, "chrf++") == 0.73
    assert failure_summary(r) == "chrf++ = 0.730 < 0.750"


def test_a_mean_says_over_how_many_cases_it_was_computed() -> None:
    results = [
        result("a", [score("chrf", 0.5, False), score("chrf++", 0.4, False)]),
        result("b", [score("chrf", 0.9, True), score("chrf++", None, False)]),  # scoring error
        result("c", [], error="ProviderError: 503"),  # the call failed: no scores at all
    ]
    (group,) = summarize(results).groups
    assert group.n == 3
    assert group.metrics == {"chrf": pytest.approx(0.7), "chrf++": pytest.approx(0.4)}
    assert group.metric_n == {"chrf": 2, "chrf++": 1}
    assert group.scored_note("chrf") == "2 of 3 scored"
    assert group.scored_note("chrf++") == "1 of 3 scored"
    run = RunRecord(
        run_id="r1", suite_name="s", suite_path="s.yaml", suite_hash="h",
        created_at=datetime.now(UTC), harness_version="0", prompts=["v1"],
    )  # fmt: skip
    markdown = summary_markdown(run, results)
    assert "| 0.700 (2 of 3 scored) | 0.400 (1 of 3 scored) |" in markdown
    (full,) = summarize(results[:1]).groups
    assert full.scored_note("chrf") is None and "scored" not in summary_markdown(run, results[:1])


def test_records_stored_before_names_load_by_their_scorer_name(tmp_path: Path) -> None:
    record = result("a", [score("chrf", 0.5, False)]).model_dump(mode="json")
    for s in record["scores"]:
        del s["name"]  # as written before assertions had names
    old = CaseResult.model_validate(record)
    assert [s.name for s in old.scores] == ["chrf"]

    store = ResultStore(tmp_path / "results.db")
    run = RunRecord(
        run_id="old", suite_name="s", suite_path="s.yaml", suite_hash="h",
        created_at=datetime.now(UTC), harness_version="0",
    )  # fmt: skip
    store.save_run(run)
    store.close()
    with sqlite3.connect(tmp_path / "results.db") as db:  # a row of a store before digests
        db.execute(
            "INSERT INTO results (run_id, case_id, errored, digest, record) "
            "VALUES (?, ?, 0, NULL, ?)",
            ("old", "a", json.dumps(record | {"run_id": "old"})),
        )
    store = ResultStore(tmp_path / "results.db")
    assert [s.name for s in store.results("old")[0].scores] == ["chrf"]
    assert from_store(store, "old").records[0].scores == {"chrf": 0.5}


def test_a_harvested_bad_case_keeps_names_and_its_threshold(home: Path) -> None:
    (home / "rows.jsonl").write_text(
        "".join(
            json.dumps({"id": cid, "q": cid, "out": out, "ref": ref}) + "\n"
            for cid, out, ref in CASES
        )
    )
    suite = home / "ds.yaml"
    suite.write_text(
        "name: ds\nprompts: [{id: v1, template: '{{ q }}'}]\n"
        "providers: [{id: stored, type: outputs, column: out}]\n"
        "cases:\n  file: rows.jsonl\n  id: id\n  expected: ref\n  threshold: 1\n"
        "  assert: [{type: chrf}, {type: chrf, name: chrf++, word_order: 2, threshold: 0.75}]\n"
    )
    outcome = run_suite(suite)
    (cand,) = harvest_candidates(outcome.run, outcome.results, load_suite(suite))
    assert cand.case["id"] == "reorder"
    assert cand.case["assert"] == [
        {"type": "chrf"},
        {"type": "chrf", "name": "chrf++", "threshold": 0.75, "word_order": 2},
    ]
    assert cand.case["threshold"] == 1.0
    failing = cand.case["provenance"]["failing_scores"]
    assert [(s["name"], s["scorer"]) for s in failing] == [("chrf++", "chrf")]
