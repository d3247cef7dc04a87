"""Multiple-choice accuracy: find the chosen letter in free text (English or Chinese).

Models rarely answer with a bare letter. :func:`extract_choice` looks for evidence
in order of strength and takes the first kind it finds:

1. explicit phrasing: "the answer is B", "Answer: (C)", "I choose D", "\\boxed{A}", "答案是B",
   "正确答案为D", "选B" (the last such phrase wins: models correct themselves);
2. a letter opening the reply: "B", "(B)", "B.", "C) foo", "**B**";
3. weaker phrasing: "option B", "B is correct", "选项B", "B正确";
4. a lone capital letter anywhere ("I think B is right"), only when exactly one
   distinct letter appears, so a reply that discusses several options is not
   credited with a guess.

"A"/"a" and "I" followed by a word ("A good question", "I think") are English
words, not choices. Full-width letters and punctuation are folded first (NFKC).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue

# ``{L}`` is replaced by a named group matching one allowed letter (either case).
_OPEN = r"[\s*(\[【\"'“‘]*"
_STRONG = (
    r"(?:\b(?:answer(?:\s+(?:is|would\s+be|should\s+be|will\s+be|must\s+be))?"
    r"|choose|chose|pick|select|go\s+with)|\\boxed\s*\{)"
    r"\s*[:=\-]?(?:\s*(?:option|choice|letter)\b)?" + _OPEN + "{L}",
    r"(?:答案|选择|选)\s*(?:应该|应当|应)?\s*(?:是|为|选)?\s*:?" + _OPEN + "{L}",
)
_LEADING = (r"^[\s*(\[【]*{L}(?:\s*[.:]|[*)\]】]|[ \t]*(?:\n|$))",)
_WEAK = (
    r"(?:\b(?:option|choice)|选项)\s*(?:是|为)?\s*:?" + _OPEN + "{L}",
    r"{L}\s*[)\].]?\s*(?:is|seems|looks)\s+(?:the\s+)?(?:correct|right|best)\b",
    r"{L}\s*(?:选项|项)?\s*(?:是|为)?\s*(?:正确|对)",
)
_LETTER = r"(?<![A-Za-z0-9])(?P<L>[{letters}])(?![A-Za-z0-9'’])"
_WORD_AFTER = re.compile(r"\s+([a-z]+)")
#: Words after "A"/"I" that show the letter is a choice ("A is", "A and B").
_CHOICE_FOLLOWERS = frozenset({"is", "was", "and", "or", "seems", "looks", "appears", "sounds"})
_EXPECTED = re.compile(r"^\W*([A-Za-z])(?![A-Za-z])")


def _check_choices(choices: str) -> str:
    letters = choices.upper()
    if not (letters.isascii() and letters.isalpha()) or len(set(letters)) != len(letters):
        raise ScorerError(f"choice: choices must be distinct letters like 'ABCD', got {choices!r}")
    return letters


@lru_cache(maxsize=32)
def _tiers(letters: str) -> tuple[tuple[re.Pattern[str], ...], ...]:
    group = _LETTER.format(letters=letters + letters.lower())
    return tuple(
        tuple(re.compile(p.replace("{L}", group), re.IGNORECASE) for p in tier)
        for tier in (_STRONG, _LEADING, _WEAK)
    )


def _used_as_word(letter: str, rest: str) -> bool:
    """'a'/'A'/'I' followed by a word is the English article or pronoun."""
    if letter.lower() not in "ai":
        return False
    word = _WORD_AFTER.match(rest)
    return word is not None and word.group(1) not in _CHOICE_FOLLOWERS


def extract_choice(text: str, choices: str = "ABCD") -> str | None:
    """The upper-case letter from ``choices`` that ``text`` answers, or ``None``."""
    letters = _check_choices(choices)
    text = unicodedata.normalize("NFKC", text)
    for tier in _tiers(letters):
        found = [
            (m.start("L"), m.group("L"))
            for pattern in tier
            for m in pattern.finditer(text)
            if m.group("L").isupper() or not _used_as_word(m.group("L"), text[m.end("L") :])
        ]
        if found:
            return max(found)[1].upper()
    loose = {
        m.group("L")
        for m in re.finditer(_LETTER.format(letters=letters), text)
        if not _used_as_word(m.group("L"), text[m.end("L") :])
    }
    return loose.pop() if len(loose) == 1 else None


class ChoiceScorer(Scorer):
    """1 when the letter extracted from the output is an expected letter.

    Expected answers may be a letter ("B") or an option text that starts with its
    letter ("B. Paris"). ``choices`` lists the allowed letters.
    """

    name = "choice"
    version = "1"
    needs_expected = True

    def __init__(self, *, choices: str = "ABCD"):
        self._choices = _check_choices(choices)

    def _expected_letters(self, expected: Sequence[str]) -> set[str]:
        letters = set()
        for text in self.require_expected(expected):
            match = _EXPECTED.match(unicodedata.normalize("NFKC", text))
            if match is None or match.group(1).upper() not in self._choices:
                raise ScorerError(
                    f"choice: expected answer {text!r} does not start with one of {self._choices!r}"
                )
            letters.add(match.group(1).upper())
        return letters

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        targets = self._expected_letters(expected)
        answer = extract_choice(output, self._choices)
        if answer is None:
            return ScoreValue(
                value=0.0, explanation=f"no answer letter ({self._choices}) found in the output"
            )
        if answer in targets:
            return ScoreValue(value=1.0, answer=answer)
        return ScoreValue(
            value=0.0, answer=answer, explanation=f"chose {answer}, expected {sorted(targets)}"
        )
