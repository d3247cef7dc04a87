"""Which characters are Chinese, Japanese or Korean: one token each, wherever text is cut.

Kept apart from :mod:`harness.scorers.cjk` (rouge-score's tokenizer, which imports nltk)
so that cutting text into tokens, as the comparison's word diff does, stays cheap to import.
"""

from __future__ import annotations

import re

#: One token per character of these blocks.
_CJK_RANGES = (
    "\u2e80-\u2fdf"  # CJK Radicals Supplement, Kangxi Radicals
    "\u3005-\u3007"  # 々 〆 〇
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u31f0-\u31ff"  # Katakana Phonetic Extensions
    "\u3400-\u4dbf"  # CJK Unified Ideographs Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uac00-\ud7af"  # Hangul Syllables
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\uff66-\uff9f"  # Halfwidth Katakana
    "\U00020000-\U0003ffff"  # Ideographic planes: Extensions B-H, Compatibility Supplement
)
CJK_CHAR = re.compile(f"([{_CJK_RANGES}])")


def split_cjk(text: str) -> list[str]:
    """``text`` cut around each CJK character: the CJK characters sit at the odd positions."""
    return CJK_CHAR.split(text)


def has_cjk(text: str) -> bool:
    """True when ``text`` contains at least one CJK character."""
    return CJK_CHAR.search(text) is not None
