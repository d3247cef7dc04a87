"""A rouge-score tokenizer that keeps Chinese, Japanese and Korean text.

rouge-score's default tokenizer replaces every character outside ``[a-z0-9]``
with a space, so a Chinese answer has no tokens at all and scores 0 against any
reference. This tokenizer makes each CJK character one token (the usual practice
for Chinese ROUGE) and hands everything between CJK characters to rouge-score's
own tokenizer, so text without CJK characters tokenizes exactly as by default.
"""

from __future__ import annotations

from rouge_score import tokenizers

from harness.scorers.cjk_chars import CJK_CHAR as _CJK_CHAR
from harness.scorers.cjk_chars import has_cjk

__all__ = ["CJKTokenizer", "has_cjk"]


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
