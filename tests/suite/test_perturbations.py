"""Perturbations: deterministic by seed, each a real change, expanded into linked rows."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from opencc import OpenCC

from harness.api import prepare
from harness.errors import SuiteError
from harness.perturb import text
from harness.perturb.registry import build_perturber
from harness.suite.schema import PerturbationSpec

SENTENCES = [
    "What is the capital of Australia?",
    "How many legs does a spider have, roughly?",
    "中国的首都是哪座城市？",
    "《红楼梦》的作者是谁",
    "Hi",
]
SPECS = [
    {"type": "typo", "rate": 0.2},
    {"type": "case"},
    {"type": "case", "mode": "upper"},
    {"type": "whitespace"},
    {"type": "punctuation", "mode": "add"},
    {"type": "width"},
]


def _apply(spec: dict, sentence: str, seed: int = 0, row: str = "r1") -> str:
    perturber = build_perturber(PerturbationSpec(vars=["q"], seed=seed, **spec))
    return perturber.apply({"q": sentence, "n": 3}, row)["q"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(map(str, s.values())))
def test_same_seed_same_text_and_a_real_change(spec: dict) -> None:
    for sentence in SENTENCES:
        first = _apply(spec, sentence)
        assert first == _apply(spec, sentence)
        no_case = spec["type"] == "case" and sentence.upper() == sentence.lower()
        no_ascii = spec["type"] == "width" and not any("!" <= c <= "~" for c in sentence)
        if no_case or no_ascii:  # Chinese has no case; full-width text nothing to widen
            assert first == sentence
            continue
        assert first != sentence, (spec, sentence)


def test_other_seeds_or_rows_give_other_typos() -> None:
    sentence = SENTENCES[1]
    variants = {_apply({"type": "typo"}, sentence, seed) for seed in range(20)}
    assert len(variants) > 10
    assert _apply({"type": "typo"}, sentence, row="r1") != _apply(
        {"type": "typo"}, sentence, row="r2"
    )


def test_typos_swap_or_drop_letters_only() -> None:
    rng = random.Random(0)
    for _ in range(300):
        word = "".join(rng.choice("abcdefgh xyz,.") for _ in range(rng.randint(1, 30)))
        out = text.typos(word, random.Random(rng.random()), 0.1, ["swap", "drop"])
        letters = sum(c.isalnum() for c in word)
        assert Counter(out) <= Counter(word)
        assert [c for c in out if not c.isalnum()] == [c for c in word if not c.isalnum()]
        assert len(word) - len(out) <= max(1, round(0.1 * letters))
        assert (out != word) == (letters > 0)


def test_width_punctuation_whitespace_and_chinese() -> None:
    assert text.width("Hi, 42!", "full") == "Ｈｉ，\u3000４２！"
    assert text.width(text.width("Any text ~ok~", "full"), "half") == "Any text ~ok~"
    assert (
        text.punctuation("Hi, there! OK?", random.Random(0), "remove", 1.0, None) == "Hi there OK"
    )
    added = text.punctuation("今天天气很好", random.Random(0), "add", 0.3, None)
    assert len(added) > 6 and set(added) - set("今天天气很好") <= set("，。！？、")
    assert text.extra_whitespace("a b c", random.Random(0), 1.0, " ") == "a  b  c"
    simplified = "这是简体中文的问题"
    assert text.chinese_variant(simplified, "s2t") == OpenCC("s2t").convert(simplified)
    assert text.chinese_variant(simplified, "s2t") == "這是簡體中文的問題"


def test_only_named_variables_change_lists_too() -> None:
    perturber = build_perturber(PerturbationSpec(type="case", mode="upper", vars=["q", "opts"]))
    out = perturber.apply({"q": "hi", "opts": ["a", "b"], "keep": "x", "n": 1}, "r")
    assert out == {"q": "HI", "opts": ["A", "B"], "keep": "x", "n": 1}


SUITE = """name: p
prompts:
  - {id: v1, family: qa, template: "Q: {{ q }}"}
  - {id: v2, family: qa, template: "Question: {{ q }}"}
providers: [{id: o, type: outputs, column: q}]
cases:
  - {id: a, vars: {q: "What is two plus two?"}, expected: "4"}
  - {id: b, vars: {q: "水的沸点是多少？"}, expected: "100"}
bad_cases: [{name: old, file: bad.yaml}]
defaults: {assert: [{type: contains}]}
perturbations:
%s
"""


def _plan(tmp_path: Path, perturbations: str):
    (tmp_path / "bad.yaml").write_text('cases: [{id: z, vars: {q: "old"}, expected: "x"}]\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE % perturbations)
    return prepare(suite).plan


def test_build_plan_adds_linked_perturbed_rows(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        "  - {type: typo, vars: [q], seed: 3}\n  - {id: trad, type: chinese, vars: [q]}",
    )
    rows = {(c.prompt_id, c.row.row_id): c for c in plan.cases}
    assert len(plan.cases) == 2 * (2 + 1 + 2 * 2)  # prompts x (clean, bad case, perturbed)
    typo = rows[("v1", "a~typo")]
    assert typo.row.clean_row_id == "a" and typo.row.perturbation == "typo"
    assert typo.row.expected == ["4"] and "perturbed:typo" in typo.row.tags
    assert typo.row.vars["q"] != "What is two plus two?"
    assert typo.request.messages[-1].content == f"Q: {typo.row.vars['q']}"
    assert rows[("v1", "b~trad")].row.vars["q"] == "水的沸點是多少？"
    assert rows[("v1", "a")].row.perturbation is None and rows[("v2", "a")].prompt_family == "qa"
    assert not any(r.startswith("z~") for _, r in rows)  # bad-case sets stay as they are
    again = _plan(tmp_path, "  - {type: typo, vars: [q], seed: 3}")
    assert {c.row.row_id: c.row.vars for c in again.cases}["a~typo"] == typo.row.vars


def test_bad_perturbations_point_at_the_suite(tmp_path: Path) -> None:
    with pytest.raises(
        SuiteError, match=r"unknown perturbation type 'typos'\. Did you mean 'typo'"
    ):
        _plan(tmp_path, "  - {type: typos, vars: [q]}")
    with pytest.raises(SuiteError, match=r"suite.yaml:\d+: .*needs variable\(s\) question"):
        _plan(tmp_path, "  - {type: typo, vars: [question]}")
    with pytest.raises(SuiteError, match="rate"):
        _plan(tmp_path, "  - {type: typo, vars: [q], rate: 2}")
    with pytest.raises(SuiteError, match="duplicate perturbation"):
        _plan(tmp_path, "  - {type: case, vars: [q]}\n  - {type: case, vars: [q]}")


def test_numbers_stay_whole() -> None:
    numbers = ["3.14", "1,000", "12:30", "-5", "50%", "2023"]
    sentence = "Pay 1,000 at 12:30, -5 degrees, 50% of 3.14 in 2023?"
    for seed in range(30):
        for out in (
            text.typos(sentence, random.Random(seed), 0.5, ["swap", "drop"]),
            text.punctuation(sentence, random.Random(seed), "remove", 1.0, None),
            text.punctuation(sentence, random.Random(seed), "add", 1.0, None),
        ):
            assert all(n in out for n in numbers), out
        spaced = text.extra_whitespace("圆周率约为3.14吗2023", random.Random(seed), 1.0, " ")
        assert "3.14" in spaced and "2023" in spaced, spaced
        added = text.punctuation("约为3.14吗", random.Random(seed), "add", 1.0, None)
        assert "3.14" in added, added
    assert text.punctuation("e-mail, ok.", random.Random(0), "remove", 1.0, None) == "email ok"


def test_a_lone_surrogate_in_a_row_id_is_perturbed_like_any_text() -> None:
    # Random(str) encodes the str as UTF-8, which a lone surrogate (valid in JSON) refuses
    first = _apply({"type": "typo"}, SENTENCES[0], row="r\ud800")
    assert first == _apply({"type": "typo"}, SENTENCES[0], row="r\ud800") != SENTENCES[0]
