"""bleu and chrf, checked against sacrebleu's own sentence_/corpus_ functions."""

from __future__ import annotations

import importlib.util
import random

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU

from harness.errors import ScorerError
from harness.scorers import get_scorer
from harness.scorers.cjk import has_cjk

_EN = [
    "The", "the", "cat", "Cat", "sat", "on", "mat", "a", "dog", "barked", "loudly", "2016", "U.S.",
    "isn't", "e-mail", "3.5", "(quoted)", "naïve", "café", "runs", "running", "quickly",
]  # fmt: skip
_ZH = list("今天天气很好不错我们的学习中文大家你好世界北京上海。，")
_GLUE = [" ", " ", " ", ", ", ". ", "! ", "? ", " - "]


def unit(score: float) -> float:
    """sacrebleu's 0..100 as a 0..1 value (a perfect BLEU is 100.00000000000004 there)."""
    return min(score / 100, 1.0)


def _sentence(rng: random.Random, words: list[str], glue: list[str]) -> str:
    tokens = rng.choices(words, k=rng.randint(0, 15))
    return "".join(t + rng.choice(glue) for t in tokens).strip()


def _case(rng: random.Random, words: list[str], glue: list[str]) -> tuple[str, list[str]]:
    """An output and 1-3 references, the output often a noisy copy of a reference."""
    refs = [_sentence(rng, words, glue) for _ in range(rng.randint(1, 3))]
    noisy = [w for w in refs[0].split(" ") if rng.random() < 0.8]
    output = rng.choice([_sentence(rng, words, glue), " ".join(noisy), refs[0], ""])
    return output, refs


def _en_case(rng):
    return _case(rng, _EN, _GLUE)


def _zh_case(rng):
    return _case(rng, _ZH, ["", "", "", " "])


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("tokenize", ["auto", "13a", "intl", "char", "none"])
def test_sentence_bleu_equals_sacrebleu_on_english(tokenize, lowercase):
    rng = random.Random(f"{tokenize}{lowercase}")
    scorer = get_scorer("bleu", {"tokenize": tokenize, "lowercase": lowercase})
    used = "13a" if tokenize == "auto" else tokenize
    for _ in range(200):
        output, refs = _en_case(rng)
        expected = sacrebleu.sentence_bleu(output, refs, lowercase=lowercase, tokenize=used)
        result = scorer.score(output, refs, {})
        assert result.value == unit(expected.score)
        assert f"|tok:{used}|" in result.metadata["signature"]


@pytest.mark.parametrize("tokenize", ["auto", "zh"])
def test_sentence_bleu_equals_sacrebleu_zh_on_chinese(tokenize):
    rng = random.Random(2)
    scorer = get_scorer("bleu", {"tokenize": tokenize})
    nonzero = 0
    for _ in range(200):
        output, refs = _zh_case(rng)
        chinese = tokenize == "zh" or any(has_cjk(t) for t in [output, *refs])
        used = "zh" if chinese else "13a"  # auto: text of CJK punctuation only is not Chinese
        expected = sacrebleu.sentence_bleu(output, refs, tokenize=used)
        result = scorer.score(output, refs, {})
        assert result.value == unit(expected.score)
        assert f"|tok:{used}|" in result.metadata["signature"]
        nonzero += result.value > 0
    assert nonzero > 50


def test_auto_picks_zh_when_only_the_reference_is_chinese():
    result = get_scorer("bleu", {}).score("hello", ["你好世界"], {})
    assert "|tok:zh|" in result.metadata["signature"]


def test_chinese_needs_the_zh_tokenizer():
    output, ref = "今天天气很好，我们去学习中文", "今天天气不错，我们去学习中文"
    zh = get_scorer("bleu", {}).score(output, [ref], {}).value
    thirteen_a = get_scorer("bleu", {"tokenize": "13a"}).score(output, [ref], {}).value
    assert zh == unit(sacrebleu.sentence_bleu(output, [ref], tokenize="zh").score)
    assert zh > 0.5 > thirteen_a


def test_bleu_signature_in_metadata_and_version_string():
    scorer = get_scorer("bleu", {"tokenize": "13a"})
    result = scorer.score("the cat sat", ["the cat sat", "a cat sat"], {})
    metric = BLEU(tokenize="13a", effective_order=True)
    metric.sentence_score("the cat sat", ["the cat sat", "a cat sat"])
    signature = metric.get_signature().format()
    assert result.metadata["signature"] == signature
    assert signature.startswith("nrefs:2|")
    assert scorer.version_string == f"bleu@1+sacrebleu[{signature.removeprefix('nrefs:2|')}]"
    auto = "case:mixed|eff:yes|tok:auto(13a/zh)|smooth:exp|version:" + sacrebleu.__version__
    assert get_scorer("bleu", {}).version_string == f"bleu@1+sacrebleu[{auto}]"


@pytest.mark.parametrize("word_order", [0, 2])
def test_sentence_chrf_equals_sacrebleu(word_order):
    rng = random.Random(word_order)
    scorer = get_scorer("chrf", {"word_order": word_order})
    for case in (_en_case, _zh_case):
        for _ in range(200):
            output, refs = case(rng)
            expected = sacrebleu.sentence_chrf(output, refs, word_order=word_order)
            assert scorer.score(output, refs, {}).value == unit(expected.score)


def test_chrf_lowercase_equals_chrf_of_lowercased_text():
    rng = random.Random(4)
    scorer = get_scorer("chrf", {"lowercase": True})
    for _ in range(200):
        output, refs = _en_case(rng)
        expected = sacrebleu.sentence_chrf(output.lower(), [r.lower() for r in refs])
        result = scorer.score(output, refs, {})
        assert result.value == unit(expected.score)
        assert "|case:lc|" in result.metadata["signature"]


def test_perfect_match_is_exactly_one():
    assert sacrebleu.sentence_bleu("a b c d", ["a b c d"]).score > 100
    for name in ("bleu", "chrf"):
        assert get_scorer(name, {}).score("a b c d", ["a b c d"], {}).value == 1.0
        assert get_scorer(name, {}).corpus_score(["a b c d"], [["a b c d"]])[0] == 1.0


def test_empty_output_scores_zero():
    for name in ("bleu", "chrf"):
        assert get_scorer(name, {}).score("", ["a reference"], {}).value == 0.0
        assert get_scorer(name, {}).default_threshold == 0.3


def _streams(references: list[list[str]]) -> list[list[str]]:
    return [list(stream) for stream in zip(*references, strict=True)]


@pytest.mark.parametrize(
    ("name", "case", "params", "reference_fn"),
    [
        ("bleu", _en_case, {}, lambda h, r: sacrebleu.corpus_bleu(h, r)),
        (
            "bleu",
            _en_case,
            {"lowercase": True},
            lambda h, r: sacrebleu.corpus_bleu(h, r, lowercase=True),
        ),
        ("bleu", _zh_case, {}, lambda h, r: sacrebleu.corpus_bleu(h, r, tokenize="zh")),
        ("chrf", _en_case, {}, lambda h, r: sacrebleu.corpus_chrf(h, r)),
        (
            "chrf",
            _zh_case,
            {"word_order": 2},
            lambda h, r: sacrebleu.corpus_chrf(h, r, word_order=2),
        ),
    ],
)
def test_corpus_score_equals_sacrebleu_corpus_functions(name, case, params, reference_fn):
    rng = random.Random(name)
    scorer = get_scorer(name, params)
    for _ in range(20):
        depth = rng.randint(1, 3)
        outputs, references = [], []
        for _ in range(rng.randint(1, 30)):
            output, refs = case(rng)
            outputs.append(output)
            references.append((refs * 3)[:depth])
        value, signature = scorer.corpus_score(outputs, references)
        assert value == unit(reference_fn(outputs, _streams(references)).score)
        assert signature.startswith(f"nrefs:{depth}|")
    if name == "bleu":
        assert "|eff:no|" in signature  # corpus BLEU, like sacrebleu.corpus_bleu


def test_corpus_bleu_with_ragged_references_sums_segment_statistics():
    """Independent check of the None padding: corpus BLEU is computed from the sums of
    per-segment n-gram statistics, each segment scored against its own references."""
    rng = random.Random(9)
    scorer = get_scorer("bleu", {"tokenize": "13a"})
    segment_metric = BLEU(tokenize="13a", effective_order=True)  # counts do not depend on it
    for _ in range(30):
        outputs, references = [], []
        for _ in range(rng.randint(2, 25)):
            output, refs = _en_case(rng)
            outputs.append(output)
            references.append(refs)
        value, signature = scorer.corpus_score(outputs, references)
        stats = [
            segment_metric.sentence_score(o, r) for o, r in zip(outputs, references, strict=True)
        ]
        expected = BLEU.compute_bleu(
            correct=[sum(s.counts[n] for s in stats) for n in range(4)],
            total=[sum(s.totals[n] for s in stats) for n in range(4)],
            sys_len=sum(s.sys_len for s in stats),
            ref_len=sum(s.ref_len for s in stats),
            smooth_method="exp",
        )
        assert value == pytest.approx(unit(expected.score), rel=1e-12, abs=1e-15)
        if len({len(r) for r in references}) > 1:
            assert signature.startswith("nrefs:var|")


def test_ragged_references_differ_from_padding_with_empty_strings():
    outputs = ["the cat sat on the mat", "dog"]
    references = [["the cat sat on the mat", "a cat was sitting on the mat"], ["a dog barked"]]
    value, _ = get_scorer("bleu", {}).corpus_score(outputs, references)
    padded = sacrebleu.corpus_bleu(outputs, _streams([references[0], [*references[1], ""]]))
    assert value != unit(padded.score)


@pytest.mark.parametrize(
    ("name", "reference_fn"),
    [("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)],
)
def test_ragged_references_equal_padding_with_own_duplicates(name, reference_fn):
    """Both metrics take the best match over a segment's references, so repeating one
    of its own references changes no statistic: the rectangular sacrebleu call must
    agree with our None-padded one (only nrefs in the signature differs)."""
    rng = random.Random(name)
    scorer = get_scorer(name, {})
    for _ in range(30):
        outputs, references = [], []
        for _ in range(rng.randint(2, 25)):
            output, refs = _en_case(rng)
            outputs.append(output)
            references.append(refs)
        value, _ = scorer.corpus_score(outputs, references)
        padded = [(refs * 3)[:3] for refs in references]
        assert value == unit(reference_fn(outputs, _streams(padded)).score)


@pytest.mark.parametrize(
    ("outputs", "references", "message"),
    [
        ([], [], "one reference list per output"),
        (["a"], [["a"], ["b"]], "one reference list per output"),
        (["a", "b"], [["a"], []], "at least one reference"),
    ],
)
def test_corpus_score_rejects_bad_shapes(outputs, references, message):
    with pytest.raises(ScorerError, match=message):
        get_scorer("bleu", {}).corpus_score(outputs, references)


def test_bleu_rejects_unknown_or_unavailable_tokenizers():
    with pytest.raises(ScorerError, match="unknown tokenize 'zh-jieba'"):
        get_scorer("bleu", {"tokenize": "zh-jieba"})
    if importlib.util.find_spec("MeCab") is None:
        with pytest.raises(ScorerError, match="tokenizer 'ja-mecab' is unavailable"):
            get_scorer("bleu", {"tokenize": "ja-mecab"})


def test_chrf_rejects_negative_word_order():
    with pytest.raises(ScorerError, match="word_order"):
        get_scorer("chrf", {"word_order": -1})
