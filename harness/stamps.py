"""Whether a file, harness's own code and the installed packages are as they were.

The two kinds of replay (:mod:`harness.replay`, :mod:`harness.quick_replay`) trust a stored
run only while everything it was made from is unchanged; this is how they tell. Standard
library only: the quick replay answers before anything heavier is imported.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A file modified this close to its stamp may have changed again within the same mtime
#: tick (coarse on some file systems): it is hashed, never trusted by its stat (git's rule).
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class FileStamp:
    """A file as it was read: its size, modification time and inode (a symlink pointed
    elsewhere is another inode), its bytes' hash, and when it was stamped."""

    size: int
    mtime_ns: int
    inode: int
    sha256: str
    taken_ns: int

    @classmethod
    def of(cls, stat: os.stat_result, data: bytes) -> FileStamp:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ino, sha256(data), time.time_ns())

    @classmethod
    def now(cls, path: Path) -> FileStamp | None:
        """The file as it is now, or None when it cannot be read."""
        try:
            stat = path.stat()
            return cls.of(stat, path.read_bytes())
        except OSError:
            return None

    def matches(self, path: Path) -> bool:
        """Whether ``path`` still holds the same bytes (hashed only if its size, mtime or
        inode moved, or the stamp is racy)."""
        if self.same_stat(path) and not self.racy():
            return True
        found = FileStamp.now(path)
        return found is not None and found.sha256 == self.sha256

    def same_stat(self, path: Path) -> bool:
        """Whether ``path`` has the stamped size, mtime and inode."""
        try:
            stat = path.stat()
        except OSError:
            return False
        return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (
            self.size,
            self.mtime_ns,
            self.inode,
        )

    def racy(self) -> bool:
        return self.mtime_ns >= self.taken_ns - RACY_NS


def stamping(files: dict[str, FileStamp]) -> Callable[[Path, os.stat_result, bytes], None]:
    """A read hook (:func:`harness.suite.yaml_lines.watching_reads`) that stamps each file
    into ``files`` by its absolute name as given, the first read of it kept."""

    def read(path: Path, stat: os.stat_result, data: bytes) -> None:
        files.setdefault(os.path.abspath(path), FileStamp.of(stat, data))

    return read


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def harness_code() -> list[Any]:
    """harness's version and each of its files' size and mtime (code, templates, rubrics):
    an edited checkout (an editable install keeps the version) is other code. Read once a
    process (the quick replay's key and the replay's both name it): the code that runs is
    the code that was loaded, whatever is edited later."""
    from harness import __version__

    root = Path(__file__).resolve().parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [__version__, [[str(p.relative_to(root)), *_size_mtime(p)] for p in files]]


@functools.cache
def installed_packages() -> list[str]:
    """The installed distributions and their versions (the ``*.dist-info`` folders of every
    site-packages folder on the path): an upgraded scorer library may score differently.
    Read once a process, as :func:`harness_code`."""
    found: set[str] = set()
    places = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *sys.path}
    for folder in places:
        if Path(folder).name not in ("site-packages", "dist-packages"):
            continue
        try:
            found.update(f"{folder}/{n}" for n in os.listdir(folder) if n.endswith(".dist-info"))
        except OSError:
            continue
    return sorted(found)


def _size_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
