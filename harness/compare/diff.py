"""A word-level diff of two outputs that also reads Chinese, Japanese and Korean.

Text is cut into tokens: each CJK character alone (those scripts put no spaces between
words), runs of other word characters, runs of whitespace, and any other character
alone. The tokens are compared with :mod:`difflib`, and the result is a list of
segments to show: ``equal`` text, text ``delete``-d from A, text ``insert``-ed in B.
Joining the equal and deleted segments gives A back exactly; equal and inserted, B.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from harness.scorers.cjk_chars import split_cjk

Op = Literal["equal", "insert", "delete"]

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
#: Above this many tokens on both sides together, whole lines are compared instead.
_MAX_TOKENS = 20_000
#: Texts sharing less than this (difflib's quick_ratio) are shown as replaced whole: a
#: word diff of unrelated texts is noise, and the slowest case of difflib.
_MIN_SIMILARITY = 0.2


@dataclass(frozen=True, slots=True)
class Segment:
    op: Op
    text: str


def tokenize(text: str) -> list[str]:
    """Words, whitespace runs, single CJK characters and single other characters."""
    tokens: list[str] = []
    for i, part in enumerate(split_cjk(text)):
        if i % 2:
            tokens.append(part)
        elif part:
            tokens.extend(_TOKEN.findall(part))
    return tokens


def word_diff(a: str | None, b: str | None) -> list[Segment]:
    """The segments turning ``a`` into ``b`` (a missing output counts as empty text)."""
    a, b = a or "", b or ""
    if a == b:
        return [Segment("equal", a)] if a else []
    ta, tb = tokenize(a), tokenize(b)
    if len(ta) + len(tb) > _MAX_TOKENS:
        ta, tb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    if matcher.quick_ratio() < _MIN_SIMILARITY:
        return [s for s in (Segment("delete", a), Segment("insert", b)) if s.text]
    runs = [
        (tag == "equal", "".join(ta[i1:i2]), "".join(tb[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]
    # Whitespace alone between two changes joins them: "-the quick+a slow" reads better
    # than "-the+a -quick+slow".
    merged: list[tuple[bool, str, str]] = []
    for k, (equal, text_a, text_b) in enumerate(runs):
        if equal and not text_a.strip() and 0 < k < len(runs) - 1:
            equal = False
        if merged and not equal and not merged[-1][0]:
            _, prev_a, prev_b = merged[-1]
            merged[-1] = (False, prev_a + text_a, prev_b + text_b)
        else:
            merged.append((equal, text_a, text_b))
    segments = []
    for equal, text_a, text_b in merged:
        if equal:
            segments.append(Segment("equal", text_a))
            continue
        if text_a:
            segments.append(Segment("delete", text_a))
        if text_b:
            segments.append(Segment("insert", text_b))
    return segments


def side_a(segments: list[Segment]) -> str:
    """Text A back from its diff."""
    return "".join(s.text for s in segments if s.op != "insert")


def side_b(segments: list[Segment]) -> str:
    """Text B back from its diff."""
    return "".join(s.text for s in segments if s.op != "delete")
