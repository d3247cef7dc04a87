"""The word-level diff: lossless on both sides, one token per CJK character."""

from __future__ import annotations

import itertools
import random

import pytest

from harness.compare.diff import Segment, side_a, side_b, tokenize, word_diff


def test_tokens_are_words_spaces_punctuation_and_single_cjk_characters() -> None:
    assert tokenize("Hello, 世界! 東京 x_y3") == [
        "Hello", ",", " ", "世", "界", "!", " ", "東", "京", " ", "x_y3"
    ]  # fmt: skip
    assert tokenize("한국어 텍스트") == ["한", "국", "어", " ", "텍", "스", "트"]
    assert tokenize("ひらがなカタカナ") == list("ひらがなカタカナ")
    assert tokenize("") == []


def test_english_words_replaced_as_one_change() -> None:
    assert word_diff("the quick brown fox", "a slow brown fox") == [
        Segment("delete", "the quick"),
        Segment("insert", "a slow"),
        Segment("equal", " brown fox"),
    ]


def test_chinese_is_diffed_character_by_character() -> None:
    assert word_diff("北京是中国的首都", "上海是中国的城市") == [
        Segment("delete", "北京"),
        Segment("insert", "上海"),
        Segment("equal", "是中国的"),
        Segment("delete", "首都"),
        Segment("insert", "城市"),
    ]


def test_mixed_text_keeps_shared_words() -> None:
    segments = word_diff("答案是 Paris。", "答案是 London。")
    assert Segment("equal", "答案是 ") in segments
    assert Segment("delete", "Paris") in segments and Segment("insert", "London") in segments


def test_identical_missing_and_empty() -> None:
    assert word_diff("same text", "same text") == [Segment("equal", "same text")]
    assert word_diff(None, None) == []
    assert word_diff(None, "new") == [Segment("insert", "new")]
    assert word_diff("old", "") == [Segment("delete", "old")]


def test_unrelated_texts_are_replaced_whole() -> None:
    assert word_diff("alpha beta gamma", "12 34 56") == [
        Segment("delete", "alpha beta gamma"),
        Segment("insert", "12 34 56"),
    ]


def test_long_texts_fall_back_to_lines() -> None:
    a = "\n".join(f"line {i} " + "word " * 5 for i in range(2000))
    b = a.replace("line 1000 ", "line one thousand ")
    segments = word_diff(a, b)
    assert side_a(segments) == a and side_b(segments) == b
    assert any(s.op == "insert" and "one thousand" in s.text for s in segments)


_ALPHABET = list("ab c,.!\n\t") + list("中文字日本語한국") + ["😀", "é", "\u0301", "ß"]


@pytest.mark.parametrize("seed", range(5))
def test_both_sides_rebuild_exactly_on_random_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        a = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40)))
        b = list(a)
        for _ in range(rng.randint(0, 6)):
            at = rng.randint(0, len(b))
            if b and rng.random() < 0.5:
                del b[min(at, len(b) - 1)]
            else:
                b.insert(at, rng.choice(_ALPHABET))
        b = "".join(b)
        assert "".join(tokenize(a)) == a
        segments = word_diff(a, b)
        assert side_a(segments) == a
        assert side_b(segments) == b
        assert all(s.text for s in segments)
        for x, y in itertools.pairwise(segments):
            assert not (x.op == y.op == "equal")
