"""Comparing two systems on corpus BLEU / chrF: rows equal to calling sacrebleu's own
``PairedTest`` on the paired cases, reproducible, from memory and from the store, with what
cannot be paired left out and said; shown by ``harness compare`` and its HTML report."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

import harness.compare.corpus as corpus_module
from harness.api import default_store
from harness.cli import main
from harness.compare import (
    ALL,
    Comparison,
    baseline_from,
    baseline_records,
    compare,
    from_results,
    from_store,
    join_prompts,
    join_runs,
)
from harness.errors import CompareError
from harness.report.compare_html import render_compare_html
from harness.results.models import CaseResult
from harness.results.store import ResultStore
from harness.scorers.cjk import has_cjk
from tests.compare.helpers import run_record
from tests.scorers.corpus_cases import case_texts, padded, result, sacrebleu_corpus


def two_runs(
    kind: str, params: dict[str, Any], zh: bool, n: int = 60, seed: int = 0
) -> tuple[list[CaseResult], list[CaseResult]]:
    """The same cases in runs A and B (B's outputs changed at random, some errored)."""
    rng = random.Random(f"{kind}{params}{zh}{seed}")
    asserts = {"m": (kind, params)}
    a, b = [], []
    for row in range(n):
        output, refs = case_texts(rng, zh)
        other = rng.choice([output, case_texts(rng, zh)[0], refs[-1]])
        error = "timeout" if rng.random() < 0.1 else None
        a.append(result(row, output, refs, asserts, run_id="A"))
        b.append(result(row, other, refs, asserts, run_id="B", error=error))
    return a, b


def compared(a: list[CaseResult], b: list[CaseResult], **options: Any) -> Comparison:
    """Run B against run A, every metric."""
    x, y = from_results(a, "A"), from_results(b, "B")
    return compare(join_runs(x, y), x.higher_is_better | y.higher_is_better, **options)


def direct(
    kind: str, params: dict[str, Any], a: list[CaseResult], b: list[CaseResult], test: str
) -> tuple[dict, list]:
    """sacrebleu's PairedTest called by hand on the pairs both sides scored, in row order."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if y.error is None]
    pairs.sort(key=lambda pair: pair[0].row_id)
    hyps_a, hyps_b = [x.output for x, _ in pairs], [y.output for _, y in pairs]
    refs = [x.expected for x, _ in pairs]
    if kind == "bleu":
        texts = [*hyps_a, *hyps_b, *(r for rs in refs for r in rs)]
        tok = params.get("tokenize", "auto")
        if tok == "auto":
            tok = "zh" if any(has_cjk(t) for t in texts) else "13a"
        metric = BLEU(tokenize=tok, lowercase=params.get("lowercase", False))
    else:
        metric = CHRF(**params)
    test_ = PairedTest(
        [("A", hyps_a), ("B", hyps_b)],
        {"m": metric},
        padded(refs),
        test_type=test,
        n_ar_confidence=0 if test == "ar" else -1,
    )
    signatures, scores = test_()
    (results,) = (v for k, v in scores.items() if k != "System")
    return next(iter(signatures.values())).format(), results


@pytest.mark.parametrize(
    ("kind", "params", "zh", "test"),
    [
        ("bleu", {}, False, "bs"),
        ("bleu", {"tokenize": "zh"}, True, "bs"),
        ("bleu", {"lowercase": True}, False, "ar"),
        ("chrf", {"word_order": 2}, True, "bs"),
        ("chrf", {}, False, "ar"),
    ],
)
def test_corpus_rows_equal_sacrebleu_paired_test(kind, params, zh, test):
    a, b = two_runs(kind, params, zh)
    c = compared(a, b, corpus_test=test)
    row = c.corpus_row("m", ALL)
    assert row is not None
    signature, (res_a, res_b) = direct(kind, params, a, b, test)
    n_errors = sum(r.error is not None for r in b)
    assert n_errors and row.n == len(a) - n_errors
    assert row.note == f"{n_errors} pair(s) that one side did not score left out"
    assert (row.score_a, row.score_b) == (res_a.score / 100, res_b.score / 100)
    assert row.p_value == res_b.p_value and row.test == f"paired-{test}"
    assert (row.mean_a, row.ci_a) == (res_a.mean / 100, res_a.ci / 100)
    assert (row.mean_b, row.ci_b) == (res_b.mean / 100, res_b.ci / 100)
    assert row.signature == signature and "|seed:12345|" in signature
    assert f"|{test}:" in signature
    again = compared(a, b, corpus_test=test)
    assert again.corpus == c.corpus  # seeded: the same test gives the same p-value and CI


def test_stored_runs_compare_as_in_memory(tmp_path: Path):
    a, b = two_runs("bleu", {"tokenize": "13a"}, zh=False, n=40)
    for r in a[:5]:
        r.tags = ["t"]
    store = ResultStore(tmp_path / "h.sqlite")
    for run_id, results in (("A", a), ("B", b)):
        store.save_run(run_record(run_id, n=len(results)))
        for r in results:
            store.add_result(r)
    x, y = from_store(store, "A"), from_store(store, "B")
    stored = compare(join_runs(x, y), x.higher_is_better | y.higher_is_better)
    random.Random(4).shuffle(a)  # the stored runs are read in case id order: no matter
    memory = compared(a, b)
    assert stored.corpus == memory.corpus
    assert {r.slice for r in stored.corpus} == {ALL, "tag:t"}
    store.close()


def test_pairs_whose_references_differ_are_left_out():
    a, _ = two_runs("chrf", {}, zh=False, n=30, seed=1)
    b = [result(i, r.expected[-1], r.expected, {"m": ("chrf", {})}, run_id="B")
         for i, r in enumerate(a)]  # fmt: skip
    b[0] = result(0, "a cat", ["another reference"], {"m": ("chrf", {})}, run_id="B")
    row = compared(a, b).corpus_row("m")
    assert row is not None and row.n == 29 and row.p_value is not None
    assert row.note == "1 pair(s) whose references differ left out"


def test_sides_scored_with_different_parameters_get_no_test():
    a, _ = two_runs("bleu", {"tokenize": "13a"}, zh=False, n=10)
    b = [result(i, r.output, r.expected, {"m": ("bleu", {"tokenize": "intl"})}, run_id="B")
         for i, r in enumerate(a)]  # fmt: skip
    row = compared(a, b).corpus_row("m")
    assert row is not None and row.p_value is None and row.score_a is None
    assert "different parameters" in (row.note or "")


def test_a_baseline_file_has_no_outputs_to_score(tmp_path: Path):
    a, b = two_runs("bleu", {}, zh=False, n=10)
    baseline = baseline_records(baseline_from(from_results(a, "A", run_record("A"))), "base")
    row = compare(join_runs(baseline, from_results(b, "B")), {"m": True}).corpus_row("m")
    assert row is not None and row.score_a is None and row.p_value is None
    assert row.note == "side A holds no outputs (a baseline file): no corpus score"


def test_above_the_cap_the_scores_are_shown_without_a_test(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(corpus_module, "MAX_TEST_CASES", 10)
    a, b = two_runs("bleu", {"tokenize": "13a"}, zh=False, n=20)
    row = compared(a, b).corpus_row("m")
    assert row is not None and row.p_value is None and row.test is None
    kept = [(x, y) for x, y in zip(a, b, strict=True) if y.error is None]
    for side, score in ((0, row.score_a), (1, row.score_b)):
        hyps = [pair[side].output for pair in kept]
        value, _ = sacrebleu_corpus(
            "bleu", {"tokenize": "13a"}, hyps, [x.expected for x, _ in kept]
        )
        assert score == value
    assert "no paired test above 10 cases" in (row.note or "")


def test_repeated_cases_say_that_sacrebleu_resamples_samples():
    rng = random.Random(2)
    a, b = [], []
    for row in range(10):
        output, refs = case_texts(rng, zh=False)
        for repeat in (0, 1):
            a.append(result(row, output, refs, {"b": ("bleu", {})}, run_id="A", repeat=repeat))
            b.append(result(row, refs[0], refs, {"b": ("bleu", {})}, run_id="B", repeat=repeat))
    row = compared(a, b).corpus_row("b")
    assert row is not None and row.n == 20 and row.p_value is not None
    assert row.note == "sacrebleu resamples the samples of a repeated case apart"


def test_only_chosen_bleu_and_chrf_metrics_get_rows_and_a_bad_test_is_refused():
    a, b = two_runs("chrf", {}, zh=False, n=10)
    joined = join_runs(from_results(a, "A"), from_results(b, "B"))
    assert compare(joined, {"m": True}, metrics=[]).corpus == []
    assert [r.metric for r in compare(joined, {"m": True}).corpus] == ["m"]
    with pytest.raises(CompareError, match="unknown corpus test 'bootstrap'"):
        compare(joined, {"m": True}, corpus_test="bootstrap")


SUITE = """name: cc
prompts:
  - id: v1
    template: "Say: {{ q }}"
  - id: v2
    template: "Tell: {{ q }}"
providers:
  - id: dump
    type: outputs
    column: out
cases:
{cases}
defaults:
  assert:
    - type: bleu
      tokenize: zh
"""


def test_harness_compare_shows_corpus_rows_and_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    rng = random.Random(7)
    rows = []
    for i in range(15):
        output, refs = case_texts(rng, zh=True)
        rows.append(
            f"  - id: c{i}\n    vars: {json.dumps({'q': i, 'out': output}, ensure_ascii=False)}\n"
            f"    expected: {json.dumps(refs, ensure_ascii=False)}\n"
        )
    (tmp_path / "suite.yaml").write_text(SUITE.format(cases="".join(rows)), encoding="utf-8")
    main(["run", "suite.yaml"])
    run_id = capsys.readouterr().err.split("run ", 1)[1].split()[0]
    store = default_store()
    records = from_store(store, run_id)
    (joined,) = join_prompts(records, "v1")
    row = compare(joined, records.higher_is_better, corpus_test="ar").corpus_row("bleu")
    store.close()
    assert row is not None and row.score_a == row.score_b and row.signature is not None

    out_html = tmp_path / "cmp.html"
    args = ["compare", run_id, "--prompts", "v1", "--corpus-test", "ar", "-o", str(out_html)]
    assert main(args) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "bleu corpus" in ln and "│" in ln]
    assert f"{row.score_a:.3f}" in line and "paired-ar" in line and f"{row.p_value:.3g}" in line
    assert f"bleu corpus: sacrebleu {row.signature}" in out
    html = out_html.read_text(encoding="utf-8")
    assert 'data-corpus="1"' in html and f"<code>{row.signature}</code>" in html


@pytest.mark.parametrize(("higher", "tone"), [(True, "good"), (False, "bad")])
def test_a_significant_rise_is_good_unless_the_assertion_is_inverted(higher, tone):
    rng = random.Random(8)
    a, b = [], []
    for row in range(60):
        output, refs = case_texts(rng, zh=False)
        a.append(result(row, output, refs, {"m": ("bleu", {})}, run_id="A"))
        b.append(result(row, refs[0], refs, {"m": ("bleu", {})}, run_id="B"))
    for r in (*a, *b):  # `not: true` flips what the assertion counts as better
        r.scores[0].higher_is_better = higher
    c = compared(a, b)
    row = c.corpus_row("m")
    assert row is not None and row.diff is not None and row.diff > 0 and row.significant(0.05)
    html = render_compare_html([c], title="t")
    corpus_row = html.split('data-corpus="1"', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="num {tone}">{row.diff:+.3f}</td>' in corpus_row
    assert ("corpus ↑" if higher else "corpus ↓") in corpus_row
