"""Where an API key must never show up: an error (its text, repr and traceback), a file."""

from __future__ import annotations

import base64
import traceback
import urllib.parse
from pathlib import Path


def key_forms(key: str) -> list[str]:
    """The key as a server may echo it: as-is, percent-encoded, base64 (padded or not)."""
    raw = key.encode()
    b64 = base64.b64encode(raw).decode()
    return [key, urllib.parse.quote(key, safe=""), b64, b64.rstrip("="), b64.rstrip("=")[:-1]]


def assert_no_key(found: BaseException | str | bytes, key: str, *, partial: bool = False) -> None:
    """No form of ``key`` in ``found``; with ``partial``, not even its first 6 characters'
    worth beyond the common ``sk-`` prefix (a message cut in the middle of the key)."""
    if isinstance(found, BaseException):
        texts = [str(found), repr(found), "".join(traceback.format_exception(found))]
    else:
        texts = [found.decode("utf-8", "surrogatepass") if isinstance(found, bytes) else found]
    needles = key_forms(key) + ([key[: len(key) // 2]] if partial else [])
    for text in texts:
        for needle in needles:
            assert needle not in text, f"{needle!r} leaked into {text[:300]!r}"


def assert_no_key_in_files(folder: Path, key: str) -> None:
    """No form of ``key`` in the bytes of any file under ``folder`` (SQLite WAL files too)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for needle in key_forms(key):
            assert needle.encode() not in data, f"{needle!r} leaked into {path}"
