"""Replay: a `harness run` whose every input is unchanged since a finished run answers with it.

A fully cached re-run still plans, looks up, scores, stores, summarises and reports every
case to reproduce numbers that are already stored (~0.3 ms a case: half a minute at 100k
cases). So after a plain run that finished without an error, :func:`remember` records in
the response cache (its ``replays`` table) what the run's results were made from; the next
plain run of the suite looks there first (:func:`find`) and, when nothing differs, the CLI
shows the stored run's summary, checks its gates again (baselines may have moved) and
reuses its report, without running a case.

What a run is made from, which is what the response cache keys on plus what scoring reads:

- the suite as loaded (prompts, cases, assertions, gates, settings), its path and
  ``--repeat``; each provider's and judge's identity (model, weights' fingerprint, a
  Python function's file); harness's own code and the installed packages;
- every file its cases were read from (suite, datasets, templates, stored outputs, bad
  cases: whatever :func:`harness.suite.yaml_lines.read_text` read) and every module of the
  user's own Python code the run had loaded (providers, assertions and what they import),
  each by size and modification time and, where those differ, by the hash of its bytes.

It is the cache's own promise applied to a whole run (the same request gets the same answer),
so nothing is replayed where the cache would not answer everything: under ``--no-cache``,
with a provider or judge that has ``cache: false``, after a run with an errored case, a
score that could not be computed or an analysis that could not run (those are tried
again), or for a run that picks its cases or its run (a selection, ``--repeat``'s are
fine, ``--shard``, ``--run-id``, ``--resume``, ``--retry-errors``). ``--rerun`` runs every
case again (the answers still come from the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness import __version__
from harness.analysis.summary import RunSummary
from harness.results.models import RunRecord
from harness.results.store import ResultStore
from harness.runner.cache import ResponseCache
from harness.suite.loader import load_suite
from harness.suite.yaml_lines import watching_reads

#: Bumped when what a record holds changes: an older record is then simply not found.
_FORMAT = 1


class FileStamp(BaseModel):
    """A file as the run read it: its size and modification time, and its bytes' hash."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, stat: os.stat_result, data: bytes) -> FileStamp:
        return cls(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=_sha256(data))

    @classmethod
    def now(cls, path: Path) -> FileStamp | None:
        """The file as it is now, or None when it cannot be read."""
        try:
            stat = path.stat()
            return cls.of(stat, path.read_bytes())
        except OSError:
            return None

    def matches(self, path: Path) -> bool:
        """Whether ``path`` still holds the same bytes (hashed only if size or mtime moved)."""
        try:
            stat = path.stat()
        except OSError:
            return False
        if (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns):
            return True
        found = FileStamp.now(path)
        return found is not None and found.sha256 == self.sha256


class Replayable(BaseModel):
    """What is recorded of a finished run: enough to show it again without its cases."""

    format: int = _FORMAT
    run_id: str
    #: Every file the run's results depend on (see the module's docstring), by path.
    files: dict[str, FileStamp]
    summary: RunSummary
    #: Whether the run repeated cases (its pass@k table is then computed again).
    repeated: bool
    #: A hash of the gates' verdicts when the report was written, and that report.
    gates: str
    report: str | None = None
    report_stamp: FileStamp | None = None


@dataclass
class Replay:
    """A stored run that a new run of the same inputs would only repeat."""

    key: str
    run: RunRecord
    record: Replayable

    def report_for(self, wanted: Path | None, gates: str) -> Path | None:
        """The stored run's report, if it is the one asked for (``wanted``, or the default:
        None) and still as written for these gates' verdicts; None: render it again."""
        path = self.record.report
        if path is None or self.record.report_stamp is None or gates != self.record.gates:
            return None
        if wanted is not None and wanted.resolve() != Path(path):
            return None
        return Path(path) if self.record.report_stamp.matches(Path(path)) else None


@dataclass
class Inputs:
    """What a run is made from, gathered while it runs (see :func:`watch`)."""

    key: str
    #: Whether every provider and judge answers from the cache (no ``cache: false``).
    cacheable: bool
    files: dict[str, FileStamp] = field(default_factory=dict)

    def add_user_code(self) -> None:
        """Stamp the user's modules loaded by now that are not stamped yet."""
        for path in _user_code():
            if str(path) not in self.files and (stamp := FileStamp.now(path)) is not None:
                self.files[str(path)] = stamp


def inputs(suite_path: Path, repeat: int | None) -> Inputs:
    """The key of a plain run of the suite at ``suite_path``: the suite loaded and its
    providers and judges built as the run builds them (``.env`` read, keys checked), but no
    case planned."""
    from harness.providers.from_suite import prepare_models  # as the run builds them

    loaded = load_suite(suite_path)
    providers, judges = prepare_models(loaded)
    configs = [*loaded.suite.providers, *loaded.suite.judges]
    made_of = {
        "format": _FORMAT,
        "harness": _harness_code(),
        "packages": _installed_packages(),
        "suite": str(loaded.path.resolve()),
        "config": loaded.suite.model_dump(mode="json"),
        "repeat": repeat,
        "models": [m.identity() for m in [*providers, *judges]],
    }
    key = _sha256(json.dumps(made_of, sort_keys=True, default=str).encode())
    return Inputs(key, cacheable=all(getattr(c, "cache", True) for c in configs))


@contextmanager
def watch(found: Inputs) -> Iterator[None]:
    """Record into ``found`` every file the suite's loading and planning read meanwhile."""

    def read(path: Path, stat: os.stat_result, data: bytes) -> None:
        found.files.setdefault(str(path.resolve()), FileStamp.of(stat, data))

    with watching_reads(read):
        yield


def find(cache: ResponseCache, store: ResultStore, key: str) -> Replay | None:
    """The finished run recorded under ``key`` whose files are all unchanged and which the
    store still holds whole, or None."""
    text = cache.get_replay(key)
    if text is None:
        return None
    try:
        record = Replayable.model_validate_json(text)
    except ValidationError:  # written by another version of harness
        return None
    if record.format != _FORMAT or not all(s.matches(Path(p)) for p, s in record.files.items()):
        return None
    if not store.has_run(record.run_id):
        return None
    run = store.get_run(record.run_id)
    if run.status != "complete" or store.count_results(run.run_id) != run.n_cases:
        return None
    return Replay(key, run, record)


def remember(cache: ResponseCache, found: Inputs, record: Replayable) -> None:
    """Record a finished run under its inputs' key (a later run of the same replaces it)."""
    cache.put_replay(found.key, record.model_dump_json())


def gates_digest(gates: list[Any]) -> str:
    """A hash of the gates' verdicts and messages: a report shows them, so a change in
    any means writing the report again."""
    verdicts = [[g.name, g.passed, g.message, getattr(g, "details", None)] for g in gates]
    return _sha256(json.dumps(verdicts, default=str).encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _library_roots() -> list[Path]:
    """Where installed code lives (the standard library, site-packages), and harness itself."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    roots.add(str(Path(__file__).resolve().parent))
    return [Path(r).resolve() for r in roots]


def _user_code() -> Iterator[Path]:
    """The source files of loaded modules that are neither installed nor harness's."""
    roots = _library_roots()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name or not name.endswith(".py"):
            continue
        path = Path(name).resolve()
        if not any(path.is_relative_to(root) for root in roots):
            yield path


def _harness_code() -> list[Any]:
    """harness's version and each of its files' size and mtime: an edited checkout (an
    editable install keeps the version) is other code."""
    root = Path(__file__).resolve().parent
    files = sorted(root.rglob("*.py"))
    return [__version__, [[str(p.relative_to(root)), *_size_mtime(p)] for p in files]]


def _installed_packages() -> list[str]:
    """The installed distributions and their versions (their ``*.dist-info`` folders):
    an upgraded scorer library may score differently."""
    found: set[str] = set()
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        try:
            found.update(n for n in os.listdir(folder) if n.endswith(".dist-info"))
        except OSError:
            continue
    return sorted(found)


def _size_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
