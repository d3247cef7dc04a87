"""ROUGE scorers and the CJK tokenizer, checked against rouge-score itself.

English: our scorers must give rouge-score's default numbers exactly. Chinese:
rouge-score's default finds no tokens; ours is checked against an independent
character-level implementation written here, and against rouge-score run on text
where every CJK character was replaced by an ASCII placeholder word.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from importlib.metadata import version

import pytest
from rouge_score import rouge_scorer, tokenizers

from harness.scorers import get_scorer
from harness.scorers.cjk import CJKTokenizer, has_cjk

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
MEASURES = {"f": "fmeasure", "p": "precision", "r": "recall"}

_EN_WORDS = [
    "the", "The", "a", "of", "cat", "cats", "Cats", "CAT", "running", "runs", "ran", "runner",
    "generously", "generous", "happily", "happiness", "is", "was", "2016", "24-10", "3.14", "U.S.",
    "e-mail", "don't", "naïve", "café", "Straße", "x1", "ABC123", "go", "went", "going",
    "connection", "connected", "relational", "it's", "(NFL)", "“quoted”", "—", "#1", "50%",
]  # fmt: skip
_ZH_CHARS = list("今天天气很好不错我们的学习中文大家你好世界北京上海")
_PUNCT = [" ", " ", " ", ", ", ". ", "! ", "? ", "; ", " - ", "\t", "  "]


def _text(rng: random.Random, words: list[str], lines: int = 1) -> str:
    """Random text; several lines when ``lines`` > 1 (sentences for rougeLsum)."""
    out = []
    for _ in range(rng.randint(1, lines)):
        tokens = rng.choices(words, k=rng.randint(0, 12))
        out.append("".join(t + rng.choice(_PUNCT) for t in tokens).strip())
    return "\n".join(out)


# --- the tokenizer ---


def test_tokenizer_is_byte_identical_to_default_on_text_without_cjk():
    rng = random.Random(3)
    alphabet = (
        "abcxyzABCXYZ0189 \t\n.,;:!?'\"-_()[]{}/\\@#$%^&*+=~`"
        "éèÀÇñüßøÆœİıſK™½²€—–…“”‘’🙂\u00a0\u2009"
    )
    for stem in (False, True):
        ours, theirs = CJKTokenizer(stem), tokenizers.DefaultTokenizer(stem)
        for _ in range(2000):
            text = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
            assert ours.tokenize(text) == theirs.tokenize(text), repr(text)
        for _ in range(500):
            text = _text(rng, _EN_WORDS, lines=3)
            assert ours.tokenize(text) == theirs.tokenize(text), repr(text)


@pytest.mark.parametrize(
    ("char", "block"),
    [
        ("中", "CJK Unified Ideographs"),
        ("㐀", "Extension A"),
        ("𠀀", "Extension B"),
        ("𰀀", "Extension G"),
        ("⼀", "Kangxi Radicals"),
        ("⺀", "CJK Radicals Supplement"),
        ("豈", "CJK Compatibility Ideographs"),
        ("あ", "Hiragana"),
        ("カ", "Katakana"),
        ("ｶ", "Halfwidth Katakana"),
        ("한", "Hangul Syllables"),
        ("々", "iteration mark"),
    ],
)
def test_tokenizer_keeps_each_cjk_character(char, block):
    assert has_cjk(char), block
    assert CJKTokenizer().tokenize(f"ab{char}{char}cd") == ["ab", char, char, "cd"]


@pytest.mark.parametrize("text", ["，。！？「」", "１２３", "abc", "é", ""])
def test_has_cjk_ignores_punctuation_and_fullwidth_ascii(text):
    assert not has_cjk(text)


def test_tokenizer_mixed_text_and_stemming_of_english_only():
    tokens = CJKTokenizer(use_stemmer=True).tokenize("Running 测试, the cats 走了 123abc")
    assert tokens == ["run", "测", "试", "the", "cat", "走", "了", "123abc"]


# --- English: identical to rouge-score's default scorer ---


@pytest.mark.parametrize("stem", [False, True])
def test_rouge_equals_rouge_score_default_on_english(stem):
    rng = random.Random(11 + stem)
    reference = rouge_scorer.RougeScorer(TYPES, use_stemmer=stem)
    ours = {t: get_scorer(t, {"use_stemmer": stem}) for t in TYPES}
    for _ in range(300):
        targets = [_text(rng, _EN_WORDS, lines=4) for _ in range(rng.randint(1, 3))]
        prediction = rng.choice([_text(rng, _EN_WORDS, lines=4), targets[0].upper(), ""])
        expected = reference.score_multi(targets, prediction)
        for rouge_type, scorer in ours.items():
            result = scorer.score(prediction, targets, {})
            assert result.value == expected[rouge_type].fmeasure
            assert result.metadata == expected[rouge_type]._asdict()


@pytest.mark.parametrize("rouge_type", TYPES)
@pytest.mark.parametrize("measure", list(MEASURES))
def test_measure_selects_precision_recall_or_f(rouge_type, measure):
    scorer = get_scorer(rouge_type, {"measure": measure})
    result = scorer.score("the cat sat\non a mat", ["a cat sat on the mat today"], {})
    assert result.value == result.metadata[MEASURES[measure]]
    assert len(set(result.metadata.values())) == 3


def test_multi_reference_reports_the_best_f_reference():
    targets = ["the cat sat on the mat", "a cat"]
    result = get_scorer("rouge1", {"measure": "r"}).score("cat", targets, {})
    # "a cat" has the higher F (2/3 vs 2/7), so recall is that reference's 1/2, not 1/6
    assert result.value == 0.5
    assert result.metadata["fmeasure"] == pytest.approx(2 / 3)


# --- Chinese ---


def test_chinese_scores_zero_by_default_and_correctly_with_cjk_tokens():
    default = rouge_scorer.RougeScorer(["rouge1"]).score("今天天气很好", "今天天气不错")
    assert default["rouge1"].fmeasure == 0.0
    result = get_scorer("rouge1", {}).score("今天天气不错", ["今天天气很好"], {})
    # 4 of 6 characters shared: P = R = F = 2/3
    assert result.value == pytest.approx(2 / 3, rel=1e-12)
    assert result.metadata["precision"] == result.metadata["recall"] == pytest.approx(2 / 3)


def _char_tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower())


def _f(overlap: int, predicted: int, target: int) -> float:
    p, r = overlap / max(predicted, 1), overlap / max(target, 1)
    return 2 * p * r / (p + r) if p + r else 0.0


def _ngram_f(pred: list[str], target: list[str], n: int) -> float:
    def grams(tokens):
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    p, t = grams(pred), grams(target)
    return _f(sum((p & t).values()), sum(p.values()), sum(t.values()))


def _lcs_f(pred: list[str], target: list[str]) -> float:
    table = [[0] * (len(pred) + 1) for _ in range(len(target) + 1)]
    for i, t in enumerate(target, 1):
        for j, p in enumerate(pred, 1):
            table[i][j] = (
                table[i - 1][j - 1] + 1 if t == p else max(table[i - 1][j], table[i][j - 1])
            )
    return _f(table[-1][-1], len(pred), len(target))


def test_mixed_chinese_english_against_independent_implementation():
    rng = random.Random(5)
    words = [*_ZH_CHARS, "AI", "model", "GPT4", "2024", "ok"]
    scorers = {t: get_scorer(t, {}) for t in ("rouge1", "rouge2", "rougeL")}
    for _ in range(400):
        target, prediction = _text(rng, words), _text(rng, words)
        pred, tgt = _char_tokens(prediction), _char_tokens(target)
        independent = {
            "rouge1": _ngram_f(pred, tgt, 1),
            "rouge2": _ngram_f(pred, tgt, 2),
            "rougeL": _lcs_f(pred, tgt),
        }
        for rouge_type, scorer in scorers.items():
            value = scorer.score(prediction, [target], {}).value
            assert value == pytest.approx(independent[rouge_type], rel=1e-12, abs=1e-15)


def _placeholders(text: str) -> str:
    """Each CJK character -> an ASCII word that rouge-score's default tokenizer keeps."""
    return re.sub(r"[\u4e00-\u9fff]", lambda m: f" cjk{ord(m.group()):x} ", text)


def test_multiline_chinese_equals_rouge_score_on_placeholder_text():
    rng = random.Random(8)
    words = [*_ZH_CHARS, "AI", "model", "2024"]
    reference = rouge_scorer.RougeScorer(TYPES)
    ours = {t: get_scorer(t, {}) for t in TYPES}
    for _ in range(200):
        targets = [_text(rng, words, lines=4) for _ in range(rng.randint(1, 2))]
        prediction = _text(rng, words, lines=4)
        expected = reference.score_multi(
            [_placeholders(t) for t in targets], _placeholders(prediction)
        )
        for rouge_type, scorer in ours.items():
            assert scorer.score(prediction, targets, {}).value == expected[rouge_type].fmeasure


def test_rouge_lsum_splits_sentences_on_newlines():
    scorer = get_scorer("rougeLsum", {})
    one_line = scorer.score("b a", ["a b"], {}).value
    two_lines = scorer.score("b\na", ["a\nb"], {}).value
    assert (one_line, two_lines) == (0.5, 1.0)


def test_rouge_metadata_and_version():
    scorer = get_scorer("rougeL", {"use_stemmer": True})
    assert scorer.default_threshold == 0.5
    assert scorer.higher_is_better
    assert scorer.version_string == f"rougeL@1+rouge-score-{version('rouge-score')}+cjk"
    empty = scorer.score("", ["something"], {})
    assert empty.value == 0.0
