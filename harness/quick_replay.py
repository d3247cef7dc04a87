"""The quick replay: the same `harness run` command, with nothing changed, answered at once.

A replay (:mod:`harness.replay`) still loads the suite, its providers, the store and the
cache (SQLAlchemy, pydantic and rich: ~0.5 s of imports) only to find that nothing changed.
So whenever the CLI shows a replayable run (at the end of the run itself, and on each
replay), it also records here what that replay prints and its exit code (:class:`Recording`,
:func:`keep`), under the *invocation*: the command line, the working folder, the whole
environment, the terminal, the Python, harness's own files and the installed packages. The
same invocation later, with every file the replay reads unchanged (the suite's files, the
user's code, the ``.env`` files, gate baselines, the report and the results store's SQLite
files), prints the same and exits with the same code (:func:`replayed`) before anything but
the standard library is imported.

It is a shortcut in front of the replay, never a second opinion: anything it cannot check
by a file's stamp sends the command the long way, which may still replay. So the CLI keeps
no record for a store or cache that is not a SQLite file, a suite that names Python modules
(what a name imports depends on files elsewhere), providers whose identity reads files
(local weights, scripts: see :data:`CONFIG_IDENTITY`) or a command that writes CI files.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from harness.locations import cache_file
from harness.stamps import FileStamp, harness_code, installed_packages, sha256, stamping

#: Bumped when what a record holds changes: an older record is then simply not found.
_FORMAT = 1

#: Provider types whose identity is their configuration (in the suite's stamped files) and
#: the environment (in the invocation): a replay of theirs is decided by what is checked here.
CONFIG_IDENTITY = frozenset({"openai", "http", "outputs"})

#: The record in the cache's ``replays`` table (harness.runner.cache.REPLAYS).
_SELECT = "SELECT run FROM replays WHERE key = ?"


@dataclass(frozen=True)
class Invocation:
    """One `harness` command as it was started."""

    argv: tuple[str, ...]
    key: str


_current: Invocation | None = None


@contextmanager
def invoked(argv: list[str]) -> Iterator[Invocation]:
    """This process's command while it runs (the CLI keeps records only for it, never for
    a call of :func:`harness.cli.main` from Python, whose environment is not its own)."""
    global _current
    _current = Invocation(tuple(argv), _key(argv) if argv[:1] == ["run"] else "")
    try:
        yield _current
    finally:
        _current = None


def current(argv: Sequence[str]) -> Invocation | None:
    """The running invocation when it is the command ``argv``."""
    return _current if _current is not None and _current.argv == tuple(argv) else None


def replayed(invocation: Invocation) -> int | None:
    """Print what this invocation printed when it last showed a replay, and return its
    exit code; None (the command runs) when there is no record or anything it read moved."""
    if not invocation.key or sys.stdout is None or sys.stderr is None:
        return None
    found = _read(invocation.key)
    if found is None:
        return None
    output, code = found
    try:
        for fd, text in output:  # in order, as the two streams interleaved (2>&1)
            stream = sys.stdout if fd == 1 else sys.stderr
            stream.write(text)
            stream.flush()
    except BrokenPipeError:  # `| head`: as rich's console ends, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


def _read(key: str) -> tuple[list[tuple[int, str]], int] | None:
    """The output and exit code recorded under ``key`` if every file the record names is
    as stamped; None for anything else (no cache, no table yet, another format)."""
    import sqlite3  # here: `harness --help` does without

    try:
        cache = cache_file()
        if cache is None or not cache.is_file():
            return None
        with closing(sqlite3.connect(f"file:{cache}?mode=rw", uri=True)) as db:
            row = db.execute(_SELECT, (key,)).fetchone()
        record = json.loads(row[0]) if row is not None else None
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            return None
        output = [(int(fd), str(text)) for fd, text in record["output"]]
        code = int(record["exit"])
        files: Mapping[str, dict | None] = record["files"]
        return (output, code) if all(_unchanged(Path(p), s) for p, s in files.items()) else None
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError):
        return None


def _unchanged(path: Path, stamp: dict | None) -> bool:
    if stamp is None:  # a file that must still not exist (a .env, a store's WAL)
        return not os.path.lexists(path)
    return FileStamp(**stamp).matches(path)


def _key(argv: Sequence[str]) -> str:
    """What the command's output is made of beside its files; "" (no quick replay) when
    it cannot be told (a working folder deleted, harness's files moving meanwhile)."""
    try:
        return sha256(json.dumps(_made_of(argv)).encode())
    except (OSError, ValueError):
        return ""


def _made_of(argv: Sequence[str]) -> dict[str, object]:
    return {
        "format": _FORMAT,
        "argv": list(argv),
        "cwd": os.getcwd(),
        "path": sys.path,  # `python -m harness` puts the working folder first
        "env": sorted(os.environ.items()),  # hashed: no value is stored
        "terminal": [_terminal(fd) for fd in (0, 1, 2)],
        "python": [sys.executable, sys.version],
        "harness": harness_code(),
        "packages": installed_packages(),
    }


def _terminal(fd: int) -> list[object]:
    """Whether ``fd`` is a terminal and its size: what rich lays the output out for."""
    try:
        size: list[int] | None = list(os.get_terminal_size(fd))
    except OSError:
        size = None
    return [os.isatty(fd), size]


class _Recorder:
    """A stream's stand-in that keeps what is written (and passes it on when ``echo``), and
    answers for the terminal as the stream does, so output is laid out as it would be."""

    def __init__(self, stream: IO[str], fd: int, chunks: list[tuple[int, str]], echo: bool):
        self._stream, self._fd, self._chunks, self._echo = stream, fd, chunks, echo

    def write(self, text: str) -> int:
        self._chunks.append((self._fd, text))
        return self._stream.write(text) if self._echo else len(text)

    def flush(self) -> None:
        if self._echo:
            self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


@dataclass
class Recording:
    """What a replay printed (stdout and stderr, in order) and the files it read."""

    output: list[tuple[int, str]] = field(default_factory=list)
    files: dict[str, FileStamp] = field(default_factory=dict)

    @contextmanager
    def capturing(self, *, echo: bool) -> Iterator[None]:
        """Record the output (printed too when ``echo``) and the files read meanwhile."""
        from harness.suite.yaml_lines import watching_reads

        stdout = _Recorder(sys.stdout, 1, self.output, echo)
        stderr = _Recorder(sys.stderr, 2, self.output, echo)
        reads = watching_reads(stamping(self.files))
        with redirect_stdout(stdout), redirect_stderr(stderr), reads:  # type: ignore[type-var]
            yield


def keep(
    invocation: Invocation,
    recording: Recording,
    files: Mapping[str, FileStamp | None],
    exit_code: int,
) -> None:
    """Record ``recording`` (and ``files``: None for one that must not exist) as what
    ``invocation`` prints while all of them stay as they are."""
    from harness.locations import opened_cache

    stamps = {path: asdict(s) if s else None for path, s in {**recording.files, **files}.items()}
    record = {"format": _FORMAT, "files": stamps, "output": recording.output, "exit": exit_code}
    with opened_cache() as cache:
        cache.put_replay(invocation.key, json.dumps(record))
