"""extract_choice on English and Chinese phrasings, and the choice scorer."""

from __future__ import annotations

import pytest

from harness.errors import ScorerError
from harness.scorers import get_scorer
from harness.scorers.choice import extract_choice

FOUND = [
    # bare letters and decorations
    ("B", "B"),
    (" b \n", "B"),
    ("(B)", "B"),
    ("B.", "B"),
    ("B)", "B"),
    ("[C]", "C"),
    ("**B**", "B"),
    ("D: 42", "D"),
    ("C) foo", "C"),
    ("A. Paris is the capital.", "A"),
    ("C\n\nExplanation: A is wrong, B is off topic.", "C"),
    ("A, because it is the capital", "A"),
    ("（B）", "B"),
    ("Ｃ", "C"),
    # explicit English phrasing
    ("The answer is B", "B"),
    ("The answer is B.", "B"),
    ("the answer is b", "B"),
    ("Answer: C) foo", "C"),
    ("Answer: (D)", "D"),
    ("Final answer: **A**", "A"),
    ("The correct answer is: C", "C"),
    ("The answer would be D because the others are wrong.", "D"),
    ("The answer is A because Paris is in France.", "A"),
    ("I choose option B.", "B"),
    ("I'll go with C.", "C"),
    ("Let me pick D", "D"),
    ("ANSWER: c", "C"),
    ("**Answer:** C", "C"),
    ("The answer is: Option B", "B"),
    ('The answer is "B"', "B"),
    ("So the final answer is $\\boxed{B}$ (not A)", "B"),
    ("A good question. The answer is C", "C"),
    ("Option A is tempting, but the answer is D.", "D"),
    ("The answer is B. Option A is wrong because it ignores friction.", "B"),
    ("The answer is B. Wait, no: the answer is C.", "C"),
    ("Reasoning: A and B are wrong, D is irrelevant.\nAnswer: C", "C"),
    ("the answer is (a).", "A"),
    ("the answer is a", "A"),
    # weaker phrasing and lone letters
    ("I think B is right", "B"),
    ("Option C.", "C"),
    ("C is correct.", "C"),
    ("A is the best choice here", "A"),
    ("I'd say it's probably D", "D"),
    ("Based on the passage, C", "C"),
    ("I think option B is correct; A is close but misses the point.", "B"),
    # Chinese
    ("答案是 B", "B"),
    ("答案是B", "B"),
    ("答案：C", "C"),
    ("答案: D", "D"),
    ("正确答案为D。", "D"),
    ("选B", "B"),
    ("故选C。", "C"),
    ("我选择A", "A"),
    ("答案应该是A，因为……", "A"),
    ("本题答案为（C）", "C"),
    ("答案是B项", "B"),
    ("B选项正确", "B"),
    ("选项D是正确的", "D"),
    ("C正确，其余错误", "C"),
    ("分析：A、B都不对，故选D", "D"),
    ("我认为B", "B"),
    ("答案是b", "B"),
    ("【答案】C", "C"),
]

NOT_FOUND = [
    "",
    "   ",
    "I don't know.",
    "A good question.",
    "I think it is a trick question.",
    "None of the above",
    "The answer is 42.",
    "The answer is E",
    "Between A and C, hard to say.",
    "A, B or C could all be right.",
    "I am not sure, maybe B or C",
    "A、B都对",
    "Bob said yes",
    "Vitamin B12 matters",
    "我不知道",
    "答案不是A，是C",
    "the answer is a good one",
]


@pytest.mark.parametrize(("text", "letter"), FOUND)
def test_extract_choice_finds_the_letter(text, letter):
    assert extract_choice(text) == letter


@pytest.mark.parametrize("text", NOT_FOUND)
def test_extract_choice_returns_none_when_unsure(text):
    assert extract_choice(text) is None


def test_enough_cases():
    assert len(FOUND) + len(NOT_FOUND) >= 60


@pytest.mark.parametrize(
    ("text", "choices", "letter"),
    [
        ("The answer is E", "ABCDE", "E"),
        ("I think this is right: I", "ABCDEFGHIJ", "I"),
        ("I think J is right", "ABCDEFGHIJ", "J"),
        ("The answer is D", "ABC", None),
        ("答案是F", "abcdef", "F"),
    ],
)
def test_extract_choice_respects_choices(text, choices, letter):
    assert extract_choice(text, choices) == letter


@pytest.mark.parametrize("choices", ["", "AAB", "A1", "甲乙"])
def test_bad_choices_are_rejected(choices):
    with pytest.raises(ScorerError, match="distinct letters"):
        get_scorer("choice", {"choices": choices})


@pytest.mark.parametrize(
    ("output", "expected", "value", "answer"),
    [
        ("The answer is B", ["B"], 1.0, "B"),
        ("The answer is B", ["B. Paris"], 1.0, "B"),
        ("答案：C", ["(C) 北京"], 1.0, "C"),
        ("The answer is B", ["c"], 0.0, "B"),
        ("The answer is B", ["A", "B"], 1.0, "B"),
    ],
)
def test_choice_scorer(output, expected, value, answer):
    result = get_scorer("choice", {}).score(output, expected, {})
    assert (result.value, result.answer) == (value, answer)


def test_choice_scorer_explains_a_miss():
    scorer = get_scorer("choice", {})
    wrong = scorer.score("B", ["C"], {})
    assert wrong.explanation == "chose B, expected ['C']"
    missing = scorer.score("no idea", ["C"], {})
    assert (missing.value, missing.answer) == (0.0, None)
    assert "no answer letter (ABCD)" in missing.explanation


@pytest.mark.parametrize("expected", [["Paris"], ["E"], ["42"]])
def test_choice_scorer_rejects_expected_without_a_choice_letter(expected):
    with pytest.raises(ScorerError, match="does not start with one of"):
        get_scorer("choice", {}).score("B", expected, {})
