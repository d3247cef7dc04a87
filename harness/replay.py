"""Replay: a `harness run` whose every input is unchanged since a finished run answers with it.

A fully cached re-run still plans, looks up, scores, stores, summarises and reports every
case to reproduce numbers that are already stored (~0.3 ms a case: half a minute at 100k
cases). So after a plain run that finished without an error, :func:`remember` records in
the response cache (its ``replays`` table) what the run's results were made from; the next
plain run of the suite looks there first (:func:`find`) and, when nothing differs, the CLI
shows the stored run's summary, checks its gates again (baselines may have moved) and
reuses its report, without running a case.

What a run is made from (:func:`inputs`, :func:`watch`) is what the response cache keys on
plus what scoring reads: the suite as loaded, the store and the effective ``--repeat``; each
provider's and judge's identity; every file :func:`harness.suite.yaml_lines.read_text` read
for it (suite, datasets, templates, stored outputs, bad cases), by the path the suite names;
the user's modules the run loaded and the file each module name the suite gives points to;
harness's own files and the installed packages. Files are compared by size, mtime and inode,
and by their bytes' hash where those moved or the stamp is "racy" (git's rule).

It is the cache's own promise applied to a whole run (the same request gets the same answer),
so a run is kept only when the cache would answer all of it (:func:`replayable`), and the CLI
looks up none under ``--no-cache`` or ``--rerun`` or for a run that picks its cases or its
run (a selection, ``--shard``, ``--run-id``, ``--resume``, ``--retry-errors``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from harness.analysis.summary import RunSummary
from harness.locations import opened_cache
from harness.results.models import RunRecord
from harness.results.store import ResultStore
from harness.stamps import FileStamp, harness_code, installed_packages, sha256, stamping
from harness.suite.loader import load_suite
from harness.suite.yaml_lines import watching_reads
from harness.usercode import RESOLVED, is_library, module_file

if TYPE_CHECKING:
    from harness.api import RunOutcome

#: Bumped when what a record holds changes: an older record is then simply not found.
_FORMAT = 1


class Replayable(BaseModel):
    """What is recorded of a finished run: enough to show it again without its cases."""

    format: int = _FORMAT
    run_id: str
    #: Every file the run's results depend on (see the module's docstring), by path as
    #: named (not through its symlinks).
    files: dict[str, FileStamp]
    #: ``[module, suite folder, file]`` for each module the suite named: what it meant.
    modules: list[tuple[str, str, str]]
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

    run: RunRecord
    record: Replayable

    def report_for(self, wanted: Path, gates: str) -> bool:
        """Whether the stored run's report is the one asked for (``wanted``: ``--report``, or
        ``reports/RUN.html`` here) and still as written for these gates' verdicts; if not,
        it is written again."""
        stamp, path = self.record.report_stamp, self.record.report
        if stamp is None or path is None or gates != self.record.gates:
            return False
        return wanted.resolve() == Path(path) and stamp.matches(wanted)


@dataclass
class Inputs:
    """What a run is made from, gathered while it runs (see :func:`watch`)."""

    key: str
    #: Whether every provider and judge answers from the cache (no ``cache: false``).
    cacheable: bool
    #: The suite's folder (absolute), which the names of its modules are resolved from.
    folder: str
    #: The files read to make the key (the ``.env`` files this process read among them).
    looked_up: dict[str, FileStamp]
    #: The files the run read (see :func:`watch`).
    files: dict[str, FileStamp] = field(default_factory=dict)
    #: When the run began: a file modified since may not be what the run used.
    started_ns: int = field(default_factory=time.time_ns)

    def settled(self) -> bool:
        """Whether no stamped file changed after the run began (an edit during a long run:
        the stamp may be of the new text, the results of the old)."""
        return all(stamp.mtime_ns < self.started_ns for stamp in self.files.values())

    def add_user_code(self) -> None:
        """Stamp the user's modules loaded by now that are not stamped yet."""
        for path in _user_code():
            if path not in self.files and (stamp := FileStamp.now(Path(path))) is not None:
                self.files[path] = stamp


def inputs(suite_path: Path, repeat: int | None, store: ResultStore) -> Inputs:
    """The key of a plain run of the suite at ``suite_path`` into ``store``: the suite loaded
    and its providers and judges built as the run builds them (``.env`` read, keys checked),
    but no case planned."""
    from harness.providers.from_suite import prepare_models  # as the run builds them

    looked_up: dict[str, FileStamp] = {}
    with watching_reads(stamping(looked_up)):
        loaded = load_suite(suite_path)
        providers, judges = prepare_models(loaded)
    configs = [*loaded.suite.providers, *loaded.suite.judges]
    made_of = {
        "format": _FORMAT,
        "harness": harness_code(),
        "packages": installed_packages(),
        "store": store.url,
        "suite": str(loaded.path.absolute()),
        "config": loaded.suite.model_dump(mode="json"),
        "repeat": loaded.suite.repeat if repeat is None else repeat,
        "models": [m.identity() for m in [*providers, *judges]],
    }
    key = sha256(json.dumps(made_of, sort_keys=True, default=str).encode())
    cacheable = all(getattr(c, "cache", True) for c in configs)
    return Inputs(key, cacheable, os.path.abspath(loaded.base_dir), looked_up)


@contextmanager
def watch(found: Inputs) -> Iterator[None]:
    """Record into ``found`` every file the suite's loading and planning read meanwhile."""
    with watching_reads(stamping(found.files)):
        yield


def find(store: ResultStore, key: str) -> Replay | None:
    """The finished run recorded under ``key`` whose files are all unchanged and which the
    store still holds whole, or None."""
    with opened_cache() as cache:
        text = cache.get_replay(key)
    if text is None:
        return None
    try:
        record = Replayable.model_validate_json(text)
    except ValidationError:  # written by another version of harness
        return None
    if record.format != _FORMAT or not all(s.matches(Path(p)) for p, s in record.files.items()):
        return None
    if any(module_file(name, Path(folder)) != file for name, folder, file in record.modules):
        return None  # a name the suite gives now imports another file
    run = _standing(store, record.run_id)
    return None if run is None else Replay(run, record)


def _standing(store: ResultStore, run_id: str) -> RunRecord | None:
    """The stored run if the store still holds it whole and no later run of its suite
    followed (a later run, since reverted to these inputs, is what gates compare with)."""
    if not store.has_run(run_id):
        return None
    run = store.get_run(run_id)
    if run.status != "complete" or store.count_results(run.run_id) != run.n_cases:
        return None
    return None if any(_later(r, run) for r in store.runs_from(run.created_at)) else run


def _later(other: RunRecord, run: RunRecord) -> bool:
    return other.suite_name == run.suite_name and other.created_at > run.created_at


def modules_named(folder: str) -> list[tuple[str, str, str]]:
    """What each module a suite in ``folder`` named meant in this process (see :func:`find`;
    a long-lived process, such as a test session, has resolved other suites' too)."""
    named = sorted(dict(RESOLVED).items())
    return [(name, where, file) for (name, where), file in named if where == folder]


def replayable(run: RunRecord, summary: RunSummary, outcome: RunOutcome, found: Inputs) -> bool:
    """Whether a new run of the same inputs would only repeat ``run``: it finished, every
    answer can come from the cache, nothing errored (errors are tried again), no input
    changed while it ran, and no embedder scored it (its weights are not tracked)."""
    clean = all(g.n_errors == 0 and g.n_score_errors == 0 for g in summary.groups)
    analysed = all(a.error is None for a in outcome.analyses)
    tracked = found.cacheable and found.settled() and not outcome.used_embedders
    return run.status == "complete" and clean and analysed and tracked


def remember(
    found: Inputs,
    run: RunRecord,
    summary: RunSummary,
    repeated: bool,
    gates: Sequence[Any],
    report: Path,
) -> Replayable:
    """Record a finished run under its inputs' key (a later run of the same replaces it);
    returns what is recorded."""
    found.add_user_code()  # modules first imported while scoring
    record = Replayable(
        run_id=run.run_id,
        files=found.files,
        modules=modules_named(found.folder),
        summary=summary,
        repeated=repeated,
        gates=gates_digest(gates),
        report=str(report.resolve()),
        report_stamp=FileStamp.now(report),
    )
    with opened_cache() as cache:
        cache.put_replay(found.key, record.model_dump_json())
    return record


def gates_digest(gates: Sequence[Any]) -> str:
    """A hash of the gates' verdicts and messages: a report shows them, so a change in
    any means writing the report again."""
    verdicts = [[g.name, g.passed, g.message, getattr(g, "details", None)] for g in gates]
    return sha256(json.dumps(verdicts, default=str).encode())


def _user_code() -> Iterator[str]:
    """The source files (absolute paths) of loaded modules that are not library code."""
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name and name.endswith(".py") and not is_library(name):
            yield os.path.abspath(name)


# --- what the quick replay (harness.quick_replay) checks beyond the files read ---

#: A results store larger than this is not hashed for a quick replay (its stamp is racy
#: right after a run): such a run is replayed the long way.
_QUICK_STORE_BYTES = 256 * 2**20


def quickly_replayable(found: Replay, store: ResultStore, suite_path: Path) -> bool:
    """Whether file stamps alone can tell that this replay still holds (see
    :mod:`harness.quick_replay`): SQLite store and cache, no module names, providers and
    judges whose identity is their configuration, the report where it was written."""
    from harness.locations import cache_file
    from harness.quick_replay import CONFIG_IDENTITY

    record = found.record
    if record.modules or record.report_stamp is None or store.path is None or not cache_file():
        return False
    loaded = load_suite(suite_path)
    return all(c.type in CONFIG_IDENTITY for c in [*loaded.suite.providers, *loaded.suite.judges])


@dataclass
class StampedStore:
    """A SQLite results store closed (its last writes checkpointed into its file), its
    files stamped, and opened again (``store``) for a replay to print from."""

    store: ResultStore
    #: Its files' stamps (None: must not exist); empty when too large to hash.
    files: dict[str, FileStamp | None]
    #: Whether, once printed, it still held the run as found and nothing wrote to it.
    held: bool = False


@contextmanager
def stamped_store(store: ResultStore, run: RunRecord) -> Iterator[StampedStore]:
    """``store`` closed and stamped, then opened again while the block prints from it;
    afterwards ``held`` says whether the stamps are of what was printed: the run still
    as found (:func:`_standing`) and the files unmoved (another process writing)."""
    assert store.path is not None
    store.close()
    files: dict[str, FileStamp | None] = {}
    if store.path.stat().st_size <= _QUICK_STORE_BYTES:  # else not hashed: never quick
        for path in _sqlite_files(store.path):
            files[str(path.absolute())] = FileStamp.now(path) if os.path.lexists(path) else None
    stamped = StampedStore(ResultStore(store.path, create=False), files)
    try:
        yield stamped
        standing = _standing(stamped.store, run.run_id) == run
    finally:
        stamped.store.close()
    unmoved = all(_unmoved(Path(p), stamp) for p, stamp in files.items())
    stamped.held = bool(stamped.files) and standing and unmoved


def quick_files(
    found: Replay, stamped: StampedStore, inputs: Inputs
) -> dict[str, FileStamp | None]:
    """The files a replay of ``found`` depends on, stamped (None: must not exist), for the
    quick replay: those the run read, its report, the results store's files and the
    ``.env`` files as this process read them (``inputs``) or as absent; empty when the
    store did not hold (see :func:`stamped_store`) or a ``.env`` appeared meanwhile."""
    from harness.providers.from_suite import dotenv_paths

    assert found.record.report is not None
    if not stamped.held:
        return {}
    files: dict[str, FileStamp | None] = {**found.record.files, **stamped.files}
    files[found.record.report] = found.record.report_stamp
    for path in map(str, dotenv_paths(Path(inputs.folder))):
        if path in inputs.looked_up:
            files[path] = inputs.looked_up[path]
        elif os.path.lexists(path):
            return {}
        else:
            files[path] = None
    return files


def _sqlite_files(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _unmoved(path: Path, stamp: FileStamp | None) -> bool:
    return not os.path.lexists(path) if stamp is None else stamp.same_stat(path)
