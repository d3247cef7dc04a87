"""Corpus BLEU and chrF in the run summary: equal to sacrebleu's corpus functions on the
cells' outputs, with the assertion's own parameters, ragged references, errored cases
counted, and shown (with sacrebleu's signature) by the CLI, the Markdown summary and the
HTML report."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU

from harness.analysis.summary import summarize
from harness.cli import main
from harness.errors import ScorerError
from harness.scorers import get_scorer
from harness.scorers.sacre import scorer_from_version
from tests.scorers.corpus_cases import case_texts, padded, result, sacrebleu_corpus


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("bleu", {}),
        ("bleu", {"tokenize": "zh", "lowercase": True}),
        ("bleu", {"tokenize": "13a"}),
        ("bleu", {"tokenize": "intl", "lowercase": True}),
        ("bleu", {"tokenize": "char"}),
        ("bleu", {"tokenize": "none"}),
        ("chrf", {}),
        ("chrf", {"word_order": 2}),
        ("chrf", {"word_order": 1, "lowercase": True}),
    ],
)
def test_the_stored_version_rebuilds_the_assertion_scorer(kind, params):
    scorer = get_scorer(kind, params)
    assert scorer_from_version(scorer.version_string).version_string == scorer.version_string


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("rougeL@1", "not a bleu or chrf version string"),
        ("bleu@1+sacrebleu[case:mixed|eff:yes|tok:13a|smooth:floor-0.1|version:2.0.0]", "give"),
        ("chrf@1+sacrebleu[case:mixed|eff:yes|nc:4|nw:0|space:no|version:2.0.0]", "give"),
        ("bleu@1+sacrebleu[case:mixed|eff:yes|tok:ja-mecab-0.996-IPA|smooth:exp]", "unknown"),
        ("chrf@1+sacrebleu[case:mixed|nw:two]", "cannot rebuild"),
    ],
)
def test_a_signature_the_scorers_cannot_reproduce_is_an_error(version, message):
    with pytest.raises(ScorerError, match=message):
        scorer_from_version(version)


@pytest.mark.parametrize(
    ("kind", "params", "zh"),
    [
        ("bleu", {}, False),
        ("bleu", {"lowercase": True}, False),
        ("bleu", {"tokenize": "intl"}, False),
        ("bleu", {"tokenize": "zh"}, True),
        ("bleu", {}, True),  # auto: zh for a Chinese cell
        ("chrf", {}, False),
        ("chrf", {"word_order": 2}, True),
        ("chrf", {"word_order": 2, "lowercase": True}, False),
    ],
)
def test_corpus_scores_equal_sacrebleu_per_cell(kind, params, zh):
    rng = random.Random(f"{kind}{params}{zh}")
    results, cells = [], {}
    for row in range(240):
        prompt, provider = rng.choice(["v1", "v2"]), rng.choice(["p", "q"])
        output, refs = case_texts(rng, zh)
        error = "timeout" if rng.random() < 0.1 else None
        results.append(
            result(row, output, refs, {"m": (kind, params)}, prompt=prompt, provider=provider,
                   error=error)
        )  # fmt: skip
        if error is None:
            hyps, references = cells.setdefault((prompt, provider), ([], []))
            hyps.append(output)
            references.append(refs)
    summary = summarize(results)
    assert summary.corpus_metrics == ["m"]
    assert len(summary.groups) == 4
    for g in summary.groups:
        hyps, references = cells[(g.prompt_id, g.provider_id)]
        value, signature = sacrebleu_corpus(kind, params, hyps, references)
        corpus = g.corpus["m"]
        assert (corpus.value, corpus.signature, corpus.n) == (value, signature, len(hyps))
        assert corpus.signature.startswith("nrefs:var|")
        assert g.corpus_note("m") == (None if len(hyps) == g.n else f"{len(hyps)} of {g.n} scored")
        assert corpus.value != g.metrics["m"]  # a corpus score is no mean of sentence scores


@pytest.mark.parametrize(
    ("kind", "function"), [("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)]
)
def test_ragged_references_score_as_if_padded_with_their_own_duplicates(kind, function):
    """Independent of the None padding: both metrics take the best of a case's references, so
    repeating one of its own references changes nothing (only nrefs in the signature)."""
    rng = random.Random(kind)
    texts = [case_texts(rng, zh=False) for _ in range(80)]
    results = [result(i, out, refs, {kind: (kind, {})}) for i, (out, refs) in enumerate(texts)]
    rectangular = [list(s) for s in zip(*[(refs * 3)[:3] for _, refs in texts], strict=True)]
    (group,) = summarize(results).groups
    assert group.corpus[kind].value == function([o for o, _ in texts], rectangular).score / 100


def test_a_reference_stream_may_hold_none_in_sacrebleu():
    """What the padding relies on: sacrebleu drops a segment's None reference, so corpus BLEU's
    statistics are the sums of each segment's against its own references ("" would not be:
    it is a reference of length 0 for the brevity penalty)."""
    rng = random.Random(3)
    texts = [case_texts(rng, zh=False) for _ in range(60)]
    hyps, refs = [o for o, _ in texts], [r for _, r in texts]
    corpus = sacrebleu.corpus_bleu(hyps, padded(refs))
    segments = [BLEU(effective_order=True).sentence_score(h, r) for h, r in texts]
    assert corpus.sys_len == sum(s.sys_len for s in segments)
    assert corpus.ref_len == sum(s.ref_len for s in segments)
    assert corpus.counts == [sum(s.counts[n] for s in segments) for n in range(4)]
    assert corpus.totals == [sum(s.totals[n] for s in segments) for n in range(4)]
    empty = [[r or "" for r in stream] for stream in padded(refs)]
    assert sacrebleu.corpus_bleu(hyps, empty).ref_len != corpus.ref_len


def test_tags_have_their_own_corpus_and_perturbed_copies_stay_out_of_the_group():
    rng = random.Random(5)
    asserts = {"bleu": ("bleu", {"tokenize": "13a"})}
    results, by_tag, clean = [], {"x": [], "y": []}, []
    for row in range(60):
        output, refs = case_texts(rng, zh=False)
        tag = "x" if row % 3 else "y"
        perturbation = "typos" if row % 5 == 0 else None
        results.append(result(row, output, refs, asserts, tags=(tag,), perturbation=perturbation))
        by_tag[tag].append((output, refs))
        if perturbation is None:
            clean.append((output, refs))
    summary = summarize(results)
    (group,) = summary.groups
    assert (
        group.corpus["bleu"].value
        == sacrebleu_corpus(
            "bleu", {"tokenize": "13a"}, [o for o, _ in clean], [r for _, r in clean]
        )[0]
    )
    for g in summary.by_tag:
        cases = by_tag[g.tag]
        value, signature = sacrebleu_corpus(
            "bleu", {"tokenize": "13a"}, [o for o, _ in cases], [r for _, r in cases]
        )
        assert (g.corpus["bleu"].value, g.corpus["bleu"].signature) == (value, signature)


def test_a_cell_scored_with_two_parameter_sets_gets_no_corpus_score():
    results = [
        result(0, "the cat sat", ["the cat sat"], {"bleu": ("bleu", {"tokenize": "13a"})}),
        result(1, "a dog", ["a dog barked"], {"bleu": ("bleu", {"tokenize": "intl"})}),
    ]
    (group,) = summarize(results).groups
    corpus = group.corpus["bleu"]
    assert corpus.value is None and corpus.signature is None and corpus.n == 2
    assert "different parameters" in (corpus.note or "") and "tok:intl" in (corpus.note or "")


def test_other_scorers_have_no_corpus_score_and_it_can_be_skipped():
    results = [
        result(0, "the cat", ["the cat sat"], {"f1": ("f1", {}), "chrf": ("chrf", {})}),
    ]
    (group,) = summarize(results).groups
    assert set(group.corpus) == {"chrf"}
    (skipped,) = summarize(results, corpus=False).groups
    assert skipped.corpus == {} and skipped.metrics == group.metrics


SUITE = """name: corpus
prompts:
  - id: v1
    template: "Say: {{ q }}"
providers:
  - id: dump
    type: outputs
    column: out
cases:
{cases}
defaults:
  assert:
    - type: bleu
      name: bleu-zh
      tokenize: zh
      transform: "output | replace('答：', '')"
    - type: chrf
      name: chrf++
      word_order: 2
"""


def test_cli_markdown_and_report_show_corpus_scores_and_signatures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    rng = random.Random(11)
    rows, scored = [], []
    for i in range(12):
        output, refs = case_texts(rng, zh=True)
        vars_ = {"q": i, "out": "答：" + output} if i != 3 else {"q": i}  # case 3 errors
        tags = ["even"] if i % 2 == 0 else []
        rows.append(
            f"  - id: c{i}\n    vars: {json.dumps(vars_, ensure_ascii=False)}\n"
            f"    expected: {json.dumps(refs, ensure_ascii=False)}\n    tags: {json.dumps(tags)}\n"
        )
        if i != 3:
            scored.append((output, refs, "答：" + output, i % 2 == 0))
    (tmp_path / "suite.yaml").write_text(SUITE.format(cases="".join(rows)), encoding="utf-8")
    main(["run", "suite.yaml", "--summary-md", "s.md", "--report", "r.html"])
    out = capsys.readouterr().out

    outputs, refs = [s[0] for s in scored], [s[1] for s in scored]
    bleu, bleu_sig = sacrebleu_corpus("bleu", {"tokenize": "zh"}, outputs, refs)
    raw = [s[2] for s in scored]  # chrf++ has no transform: it scores the output as returned
    chrf, chrf_sig = sacrebleu_corpus("chrf", {"word_order": 2}, raw, refs)
    even = [s for s in scored if s[3]]
    chrf_even, _ = sacrebleu_corpus(
        "chrf", {"word_order": 2}, [s[2] for s in even], [s[1] for s in even]
    )

    header = next(line for line in out.splitlines() if "pass rate" in line)
    assert "bleu-zh corpus" in header and "chrf++ corpus" in header
    row = next(line for line in out.splitlines() if "dump" in line and "%" in line)
    assert f"{bleu:.3f} (11 of 12 scored)" in row and f"{chrf:.3f} (11 of 12 scored)" in row
    assert f"bleu-zh corpus: sacrebleu {bleu_sig}" in out
    assert f"chrf++ corpus: sacrebleu {chrf_sig}" in out
    assert "tok:zh" in bleu_sig and "nw:2" in chrf_sig

    markdown = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert "| bleu-zh corpus |" in markdown
    assert f"| {bleu:.3f} (11 of 12 scored) |" in markdown
    assert f"- chrf++ corpus: sacrebleu `{chrf_sig}`" in markdown

    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert ">bleu-zh corpus ↑</th>" in html
    assert f">{bleu:.3f} <span" in html and f"<code>{bleu_sig}</code>" in html
    assert f"chrf++ corpus {chrf_even:.3f}</div>" in html  # the tag table
