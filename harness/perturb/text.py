"""Text perturbations: each a pure function of the text and a seeded ``random.Random``.

Every function changes the text when it can (at least one edit), so a perturbed case
measures something; the same seed always gives the same text. Numbers are left whole
(no typo in a digit, no mark removed from or put into "3.14", "1,000", "-5" or "50%"), so
the expected answer still holds for the perturbed text.
"""

from __future__ import annotations

import random
import re
import unicodedata
from functools import cache
from typing import Literal

from opencc import OpenCC

CaseMode = Literal["upper", "lower", "title", "swap", "random"]
TypoOp = Literal["swap", "drop"]
#: opencc-python-reimplemented's conversions (s: simplified, t: traditional, tw/hk: regional).
ZhConfig = Literal["s2t", "t2s", "s2tw", "tw2s", "s2hk", "hk2s", "s2twp", "tw2sp", "t2tw", "t2hk"]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_FULL_SPACE = "\u3000"
#: Printable ASCII ! .. ~ and their full-width forms U+FF01 .. U+FF5E differ by this.
_WIDTH_OFFSET = 0xFEE0


def _count(rate: float, n: int) -> int:
    """How many of ``n`` places to edit: ``rate`` of them, at least one when there are any."""
    return min(n, max(1, round(rate * n))) if n else 0


def _in_number(text: str, i: int) -> bool:
    """Whether ``text[i]`` is a digit or a mark that belongs to a number: a separator
    between digits ("3.14", "1,000", "12:30"), a sign before one ("-5"), a percent sign."""
    c = text[i]
    if c.isdigit():
        return True
    before = i > 0 and text[i - 1].isdigit()
    after = i + 1 < len(text) and text[i + 1].isdigit()
    if c in "+-\u2212\uff0b\uff0d":
        return after and not (i > 0 and text[i - 1].isalnum())
    if c in "%\uff05":
        return before
    return before and after


def _splits_number(text: str, i: int) -> bool:
    """Whether inserting at ``i`` (between ``text[i - 1]`` and ``text[i]``) splits a number."""
    return 0 < i < len(text) and _in_number(text, i - 1) and _in_number(text, i)


def typos(text: str, rng: random.Random, rate: float, ops: list[TypoOp]) -> str:
    """Swap a letter with the next one, or drop it, at ``rate`` of the letters/CJK characters
    (never a digit)."""
    chars = list(text)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for i in sorted(rng.sample(letters, _count(rate, len(letters))), reverse=True):
        op = rng.choice(ops)
        nxt = i + 1
        if op == "swap" and nxt < len(chars) and chars[nxt].isalpha() and chars[nxt] != chars[i]:
            chars[i], chars[nxt] = chars[nxt], chars[i]
        else:
            del chars[i]
    return "".join(chars)


def change_case(text: str, rng: random.Random, mode: CaseMode, rate: float) -> str:
    """Upper/lower/title/swapped case, or ``random``: flip the case of ``rate`` of the letters."""
    if mode == "upper":
        return text.upper()
    if mode == "lower":
        return text.lower()
    if mode == "title":
        return text.title()
    if mode == "swap":
        return text.swapcase()
    cased = [i for i, c in enumerate(text) if c.swapcase() != c]
    flip = set(rng.sample(cased, _count(rate, len(cased))))
    return "".join(c.swapcase() if i in flip else c for i, c in enumerate(text))


def extra_whitespace(text: str, rng: random.Random, rate: float, fill: str) -> str:
    """Insert ``fill`` after ``rate`` of the spaces (between characters in unspaced text)."""
    gaps = [i + 1 for i, c in enumerate(text) if c.isspace()] or [
        i for i in range(1, len(text)) if not _splits_number(text, i)
    ]
    chosen = sorted(rng.sample(gaps, _count(rate, len(gaps))), reverse=True)
    for i in chosen:
        text = text[:i] + fill + text[i:]
    return text


def _is_punct(c: str) -> bool:
    return unicodedata.category(c).startswith("P")


def punctuation(
    text: str, rng: random.Random, mode: Literal["remove", "add"], rate: float, marks: str | None
) -> str:
    """Remove ``rate`` of the punctuation marks, or add marks after ``rate`` of the words
    (Chinese text: between characters; marks default to the script's own)."""
    if mode == "remove":
        places = [i for i, c in enumerate(text) if _is_punct(c) and not _in_number(text, i)]
        drop = set(rng.sample(places, _count(rate, len(places))))
        return "".join(c for i, c in enumerate(text) if i not in drop)
    pool = marks or ("，。！？、" if _CJK.search(text) else ",.!?;")
    ends = [m.end() for m in re.finditer(r"\w+", text)]
    places = ends if len(ends) > 1 or not _CJK.search(text) else list(range(1, len(text) + 1))
    places = [i for i in places if not _splits_number(text, i)]
    for i in sorted(rng.sample(places, _count(rate, len(places))), reverse=True):
        text = text[:i] + rng.choice(pool) + text[i:]
    return text


def width(text: str, to: Literal["full", "half"]) -> str:
    """ASCII letters, digits, marks and space to their full-width forms, or back."""
    if to == "full":
        return "".join(
            _FULL_SPACE if c == " " else chr(ord(c) + _WIDTH_OFFSET) if "!" <= c <= "~" else c
            for c in text
        )
    return "".join(
        " " if c == _FULL_SPACE else chr(ord(c) - _WIDTH_OFFSET) if "！" <= c <= "～" else c
        for c in text
    )


@cache
def _converter(config: ZhConfig) -> OpenCC:
    return OpenCC(config)


def chinese_variant(text: str, config: ZhConfig) -> str:
    """Simplified <-> traditional Chinese (and regional variants) through OpenCC."""
    return _converter(config).convert(text)
