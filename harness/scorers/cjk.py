"""A rouge-score tokenizer that keeps Chinese, Japanese and Korean text.

rouge-score's default tokenizer replaces every character outside ``[a-z0-9]``
with a space, so a Chinese answer has no tokens at all and scores 0 against any
reference. This tokenizer makes each CJK character one token (the usual practice
for Chinese ROUGE) and hands everything between CJK characters to rouge-score's
own tokenizer, so text without CJK characters tokenizes exactly as by default.
"""

from __future__ import annotations

import re

from rouge_score import tokenizers

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
_CJK_CHAR = re.compile(f"([{_CJK_RANGES}])")


def has_cjk(text: str) -> bool:
    """True when ``text`` contains at least one character this tokenizer splits out."""
    return _CJK_CHAR.search(text) is not None


class CJKTokenizer(tokenizers.Tokenizer):
    """rouge-score's ``DefaultTokenizer`` plus one token per CJK character.

    ``use_stemmer`` is passed to the default tokenizer (Porter stemming of English
    tokens longer than 3 characters); CJK tokens are never stemmed.
    """

    def __init__(self, use_stemmer: bool = False):
        self._default = tokenizers.DefaultTokenizer(use_stemmer)

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = []
        # With a capturing group, odd positions hold the CJK characters themselves.
        for i, part in enumerate(_CJK_CHAR.split(text)):
            if i % 2:
                tokens.append(part)
            else:
                tokens.extend(self._default.tokenize(part))
        return tokens
